#!/usr/bin/env bash
# check.sh - spin verifies the models (no access to a freed frame,
# start/end pairing): notifier.pml, the protocol of one invalidation and
# a vCPU, and range.pml, two concurrent invalidations against range-based
# retry; and refutes each broken variant with a counterexample.  Exits 0
# only when the correct models verify and every variant fails.
set -u
here=$(cd "$(dirname "$0")" && pwd)
if ! command -v spin >/dev/null; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq spin >/dev/null 2>&1 ||
			{ apt-get update -qq >/dev/null 2>&1 &&
			  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq spin >/dev/null 2>&1; }
	fi
	command -v spin >/dev/null || { echo "model: spin is missing and cannot be installed"; exit 2; }
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 2
bad=0

verify() {    # verify MODEL LABEL WANT(pass|fail) DEFINES...
	local model=$1 label=$2 want=$3; shift 3
	label="$model: $label"
	spin -a "$@" "$here/$model.pml" >spin.out 2>&1 &&
		gcc -O2 -DSAFETY -DCOLLAPSE -o pan pan.c 2>>spin.out ||
		{ echo "model $label: does not build"; cat spin.out; bad=1; return; }
	./pan -m100000 >pan.out 2>&1
	local errors states
	errors=$(grep -o 'errors: [0-9]*' pan.out | grep -o '[0-9]*')
	states=$(grep -m1 -o '[0-9]* states, stored' pan.out)
	if grep -q 'max search depth too small' pan.out; then
		echo "model $label: search incomplete"; bad=1; return
	fi
	if [ "$want" = pass ] && [ "$errors" = 0 ]; then
		echo "model $label: verified ($states)"
	elif [ "$want" = fail ] && [ "${errors:-0}" -gt 0 ]; then
		echo "model $label: refuted as it must be: $(grep -m1 'assertion violated\|invalid end state' pan.out)"
	else
		echo "model $label: UNEXPECTED ($errors errors, wanted $want)"; bad=1
	fi
}

verify notifier "correct protocol" pass
verify notifier "seq after unlock" fail -DSEQ_AFTER_UNLOCK
verify notifier "count before seq, unlocked" fail -DCOUNT_BEFORE_SEQ
verify notifier "no retry check" fail -DNO_RETRY
verify notifier "no flush wait" fail -DNO_FLUSH_WAIT
verify range "correct range retry" pass
verify range "running pairs only, no ring" fail -DNO_RING
verify range "ring trusted past its wrap" fail -DNO_RING_WRAP
verify range "running record dropped early" fail -DRUNNING_EARLY
verify range "flush after unlock" fail -DFLUSH_UNLOCKED
[ $bad = 0 ] && echo "model: all as expected"
exit $bad
