#!/usr/bin/env bash
# mutants.sh - builds each deliberately broken variant (CMake VMS_MUTANT)
# and runs notifier-stress on it twice: with the guest-visible oracle alone
# (--oracle-only) and with the debug build's invariant checks.  Exits 0 only
# if the oracle catches every mutant.  Race windows are widened (--race-ns).
# Mutants of the I/O error paths run the fault sweep of their site instead
# (test-fault), whose oracle is the guest data; those of the KVM pager run
# a real guest (kvm-stress), and skip where /dev/kvm cannot be used; those
# of the compressed tier and the Redis tier run their unit tests.
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

# The swap mutants break swap paths: they run overcommitted.
extra_args() {
	case $1 in
	no_secondary_dirty|no_swapcache) echo "--overcommit 4" ;;
	*) echo "" ;;
	esac
}

# The KVM pager's mutants run a real guest (kvm-stress), with what makes
# their bug show: a window between the two dirty harvests, a failed read.
kvm_args() {
	case $1 in
	kvm_no_writeback) echo "" ;;
	kvm_single_harvest) echo "--race-ns 200000" ;;
	kvm_zero_fill) echo "--inject swap-read:400" ;;
	esac
}

# The fault-injection site whose failures the mutant mishandles.
fault_site() {
	case $1 in
	swallow_read_error) echo swap-read ;;
	swallow_write_error) echo swap-write ;;
	ignore_short_io) echo swap-short ;;
	esac
}

for m in "$@"; do
	dir=$build-mutant-$m
	site=$(fault_site "$m")
	target=notifier-stress
	[ -n "$site" ] && target=test-fault
	case $m in kvm_*) target=kvm-stress ;; zswap_*) target=test-zswap ;; skip_checksum) target=test-redis ;; esac
	if ! { cmake -S . -B "$dir" -DVMS_MUTANT="$m" >/dev/null &&
	       cmake --build "$dir" -j "$jobs" --target $target >/dev/null; }; then
		echo "mutant $m: does not build"
		exit 2
	fi
	if [ $target = kvm-stress ]; then
		read -r -a more <<<"$(kvm_args "$m")"
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
		fi
		continue
	fi
	if [ $target = test-zswap ] || [ $target = test-redis ]; then
		judge "$m" "$target" timeout 300 "$dir/tests/$target"
		continue
	fi
	if [ -n "$site" ]; then
		judge "$m" "the $site fault sweep" timeout 600 \
			"$dir/tests/test-fault" --site "$site" --points 8
		continue
	fi
	read -r -a more <<<"$(extra_args "$m")"
	echo "mutant $m: ${more[*]}"
	catch "$dir" "oracle only " 'MISMATCH|unexpected exit|check failed' \
		--oracle-only "${more[@]}" || survivors=$((survivors + 1))
	catch "$dir" "debug checks" 'invariant violated|MISMATCH|check failed|assertion' \
		"${more[@]}" || true
done
if [ $survivors -eq 0 ]; then
	echo "mutants: all $# caught"
else
	echo "mutants: $survivors of $# survived"
	exit 1
fi
