#!/bin/bash
# soak.sh BUILDDIR - the stress tests for SOAK_SECONDS in all (default
# 3600), a quarter each: notifier-stress as it is, overcommitted 4x (swap,
# reclaim, migration), with a compressed tier in front of the swap file,
# and kvm-stress (a real guest, where /dev/kvm opens).  Not in CI.  Prints,
# per run and in all, the verified accesses, the host operations and the
# violations; exits 1 if any run did not verify.
set -u
build=${1:-build}
secs=$(( ${SOAK_SECONDS:-3600} / 4 ))
[ "$secs" -ge 1 ] || secs=1
fail=0 total_acc=0 total_ops=0

run() {     # run LABEL CMD...
	local label=$1; shift
	local out rc acc ops viol
	echo "== $label: $* (${secs} s)"
	out=$(timeout $((secs + 300)) "$@" --seconds "$secs" 2>&1); rc=$?
	if [ $rc -eq 77 ]; then
		echo "   skipped: $(grep -m1 '^skip' <<<"$out")"
		return
	fi
	case $label in
	kvm-stress)
		acc=$(sed -n 's/.*guest: \([0-9]*\) verified page reads, \([0-9]*\) writes.*/\1 \2/p' <<<"$out" |
		      awk '{print $1 + $2}')
		ops=$(sed -n 's/.*host: \([0-9]*\) operations.*/\1/p' <<<"$out")
		viol=$(sed -n 's/.*mismatches: guest \([0-9]*\), host check \([0-9]*\).*/\1 \2/p' <<<"$out" |
		       awk '{print $1 + $2}') ;;
	*)
		acc=$(sed -n 's/.*guest accesses \([0-9]*\).*/\1/p' <<<"$out")
		ops=$(sed -n 's/.*host ops:\(.*\)/\1/p' <<<"$out" | tr ' ' '\n' |
		      awk '/^[0-9]+$/ {n += $1} END {print n}')
		viol=$(grep -c -E 'violated|MISMATCH' <<<"$out") ;;
	esac
	echo "   verified accesses ${acc:-?}, host operations ${ops:-?}, violations ${viol:-?}, exit $rc"
	[ $rc -eq 0 ] || { fail=1; grep -m3 -E 'MISMATCH|violated|assertion|check failed' <<<"$out"; }
	total_acc=$((total_acc + ${acc:-0}))
	total_ops=$((total_ops + ${ops:-0}))
}

run notifier-stress "$build/tests/notifier-stress"
run swap-stress "$build/tests/notifier-stress" --overcommit 4
run zswap-stress "$build/tests/notifier-stress" --overcommit 4 --zswap 64
run kvm-stress "$build/tests/kvm-stress"
echo "soak: $((secs * 4)) s, ${secs} s each: ${total_acc} verified accesses, ${total_ops} host operations, $([ $fail = 0 ] && echo "0 violations, all verified" || echo "FAILED")"
exit $fail
