#!/usr/bin/env bash
# mutants.sh MUTANT... - builds each deliberately broken variant (CMake
# VMS_MUTANT) and runs the test src/base/mutants.def names for it.
# notifier-stress runs twice: with the guest-visible oracle alone
# (--oracle-only) and with the debug build's invariant checks, race
# windows widened (--race-ns).  The I/O error paths' mutants run the fault
# sweep of their site (test-fault), whose oracle is the guest data; the KVM
# pager's a real guest (kvm-stress, skipped where /dev/kvm cannot be used);
# the tiers' their unit tests.  Exits 0 only if every mutant is caught.
set -u
build=${BUILD:-build}
jobs=${JOBS:-2}
seconds=${MUTANT_SECONDS:-60}
survivors=0

catch() {    # catch DIR LABEL PATTERN ARGS...: runs the stress test, says how it failed
	local dir=$1 label=$2 pattern=$3; shift 3
	local out rc how when
	out=$(timeout $((seconds + 60)) "$dir/tests/notifier-stress" --seconds "$seconds" \
		--race-ns 200000 "$@" 2>&1); rc=$?
	if [ $rc -eq 0 ]; then
		echo "  $label: NOT CAUGHT in ${seconds}s"
		return 1
	fi
	how=$(grep -m1 -E "$pattern" <<<"$out")
	when=$(grep -m1 -o 'after [0-9.]* s' <<<"$out")
	echo "  $label: caught${when:+ $when} (exit $rc): ${how:-see output}"
}

judge() {    # judge MUTANT WHAT CMD...: the mutant is caught if CMD fails
	local m=$1 what=$2 out rc; shift 2
	out=$("$@" 2>&1); rc=$?
	if [ $rc = 77 ]; then
		echo "mutant $m: skipped: $(grep -m1 '^skip' <<<"$out")"
	elif [ $rc = 0 ]; then
		echo "mutant $m: NOT CAUGHT by $what"
		survivors=$((survivors + 1))
	else
		echo "mutant $m: caught by $what:" \
		     "$(grep -m1 'check failed' <<<"$out" | sed 's/.*check failed: //' | cut -c1-160)"
	fi
}

# What must catch a mutant, from the table.
table=$(dirname "$0")/../src/base/mutants.def
row() {      # row MUTANT FIELD: 1 the test, 2 its arguments
	sed -n "s/^MUTANT($1, *\([^,]*\), *\"\([^\"]*\)\".*/\\$2/p" "$table"
}

for m in "$@"; do
	dir=$build-mutant-$m
	target=$(row "$m" 1)
	read -r -a more <<<"$(row "$m" 2)"
	[ -n "$target" ] || { echo "mutant $m: not in $table"; exit 2; }
	if ! { cmake -S . -B "$dir" -DVMS_MUTANT="$m" >/dev/null &&
	       cmake --build "$dir" -j "$jobs" --target $target >/dev/null; }; then
		echo "mutant $m: does not build"
		exit 2
	fi
	case $target in
	kvm-stress)
		out=$(timeout $((seconds + 90)) "$dir/tests/kvm-stress" --seconds "$seconds" \
			"${more[@]}" 2>&1); rc=$?
		if [ $rc -eq 77 ]; then
			echo "mutant $m: skipped: $(grep -m1 '^skip' <<<"$out")"
		elif [ $rc -eq 0 ]; then
			echo "mutant $m: NOT CAUGHT by kvm-stress in ${seconds}s ${more[*]}"
			survivors=$((survivors + 1))
		else
			echo "mutant $m: caught by kvm-stress ${more[*]}:" \
			     "$(grep -m1 -E 'MISMATCH|check failed' <<<"$out" | cut -c1-160)"
		fi ;;
	test-fault)
		judge "$m" "the fault sweep ${more[*]}" timeout 600 \
			"$dir/tests/test-fault" "${more[@]}" ;;
	notifier-stress)
		echo "mutant $m: ${more[*]}"
		catch "$dir" "oracle only " 'MISMATCH|unexpected exit|check failed' \
			--oracle-only "${more[@]}" || survivors=$((survivors + 1))
		catch "$dir" "debug checks" 'invariant violated|MISMATCH|check failed|assertion' \
			"${more[@]}" || true ;;
	*)
		judge "$m" "$target" timeout 300 "$dir/tests/$target" "${more[@]}" ;;
	esac
done
if [ $survivors -eq 0 ]; then
	echo "mutants: all $# caught"
else
	echo "mutants: $survivors of $# survived"
	exit 1
fi
