#!/usr/bin/env bash
# cli.sh - the vmsync command: defaults run and verify, every option parses
# good values and refuses bad ones with one line and exit code 2, injected
# failures end a run with exit 3 and the error named.
set -u
bin=$1
pass=0 fail=0

expect() {    # expect CODE DESCRIPTION -- ARGS...
	local want=$1 what=$2; shift 3
	local out rc
	out=$("$bin" "$@" 2>&1); rc=$?
	if [ "$rc" = "$want" ]; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		echo "FAIL: $what: 'vmsync $*' exited $rc, want $want"
		printf '%s\n' "$out" | tail -5
	fi
	LAST=$out
}

expect 0 "defaults (short)" -- run --duration 2s --quiet
grep -q '^verdict: verified$' <<<"$LAST" || { echo "FAIL: no verified verdict"; fail=$((fail + 1)); }
expect 0 "all options" -- run --vcpus 3 --guest-mem 8M --duration 500ms --seed 7 --quiet
expect 0 "help" -- run --help
grep -q -- '--guest-mem' <<<"$LAST" || { echo "FAIL: help lacks --guest-mem"; fail=$((fail + 1)); }
expect 0 "top help" -- --help
expect 2 "no command" --
expect 2 "unknown command" -- frobnicate
expect 2 "unknown option" -- run --frob
expect 2 "missing value" -- run --vcpus
expect 2 "vcpus 0" -- run --vcpus 0
expect 2 "vcpus 65" -- run --vcpus 65
expect 2 "vcpus text" -- run --vcpus two
expect 2 "guest-mem unit" -- run --guest-mem 8Q
expect 2 "guest-mem small" -- run --guest-mem 1M
expect 2 "guest-mem unaligned" -- run --guest-mem 5M
expect 2 "duration unit" -- run --duration 5 parsecs
expect 2 "duration unit 2" -- run --duration 5x
expect 2 "duration zero" -- run --duration 0
expect 2 "seed negative" -- run --seed -1
expect 2 "stray argument" -- run extra
expect 0 "host-mem and swap size" -- run --guest-mem 16M --host-mem 4M --swap 32M --duration 300ms --quiet
expect 0 "swap in a directory" -- run --guest-mem 8M --swap "${TMPDIR:-/tmp}" --duration 300ms --quiet
expect 2 "host-mem above guest" -- run --guest-mem 8M --host-mem 16M
expect 2 "host-mem unaligned" -- run --host-mem 1000000
expect 2 "swap too small" -- run --swap 4K
expect 0 "zswap lz4" -- run --guest-mem 16M --host-mem 4M --zswap 1M --duration 500ms --quiet
grep -q "^  compressed tier " <<<"$LAST" || { echo "FAIL: no compressed tier line"; fail=$((fail + 1)); }
expect 0 "zswap zstd" -- run --guest-mem 16M --zswap 512K --compressor zstd:9 --duration 300ms --quiet
# Swap on Redis: a server of the test's own on a unix socket, where
# redis-server is installed (make test installs it as root).
if command -v redis-server >/dev/null; then
	rdir=$(mktemp -d)
	redis-server --port 0 --unixsocket "$rdir/s" --save "" --appendonly no \
		--daemonize yes --dir "$rdir" --pidfile "$rdir/pid" >/dev/null
	for _ in $(seq 100); do [ -S "$rdir/s" ] && [ -s "$rdir/pid" ] && break; sleep 0.05; done
	expect 0 "swap on redis" -- run --guest-mem 16M --host-mem 4M --swap "unix:$rdir/s" --duration 500ms --quiet
	expect 0 "zswap, then redis" -- run --guest-mem 16M --host-mem 4M --zswap 1M --swap "unix:$rdir/s" --duration 500ms --quiet
	[ "$(redis-cli -s "$rdir/s" dbsize 2>/dev/null || echo 0)" = 0 ] ||
		{ echo "FAIL: keys left in Redis after the runs"; fail=$((fail + 1)); }
	kill "$(cat "$rdir/pid")"
	rm -rf "$rdir"
else
	echo "redis part skipped: no redis-server"
fi
expect 3 "redis unreachable" -- run --swap unix:/nonexistent/vmsync.sock --duration 300ms
[ "$(wc -l <<<"$LAST")" = 1 ] || { echo "FAIL: redis unreachable: not one line"; fail=$((fail + 1)); }
expect 3 "redis bad url" -- run --swap redis://nohost --duration 300ms
for c in mixed zero text binary random; do
	expect 0 "content $c" -- run --guest-mem 16M --host-mem 4M --zswap 1M --content $c --duration 300ms --quiet
done
expect 2 "content unknown" -- run --content pictures
expect 2 "zswap small" -- run --zswap 4K
expect 2 "zswap unaligned" -- run --zswap 100000
expect 2 "zswap not less than host-mem" -- run --guest-mem 16M --host-mem 4M --zswap 4M
expect 2 "compressor unknown" -- run --zswap 1M --compressor gzip
expect 2 "compressor level" -- run --zswap 1M --compressor zstd:23
expect 2 "compressor lz4 level" -- run --zswap 1M --compressor lz4:3
expect 3 "swap in a missing dir" -- run --swap /nonexistent/dir/x --duration 300ms --quiet
for w in verify zipf stream kv idle; do
	expect 0 "workload $w" -- run --workload $w --guest-mem 8M --ops 2000 --quiet
	grep -q "^verdict: verified$" <<<"$LAST" || { echo "FAIL: $w did not verify"; fail=$((fail + 1)); }
done
expect 0 "no churn, tiering, theta" -- run --workload zipf --no-churn --tiering --zipf-theta 0.5 --guest-mem 8M --duration 300ms --quiet
grep -q "dontneed 0 remap 0 free 0 mprotect 0" <<<"$LAST" || { echo "FAIL: --no-churn churned"; fail=$((fail + 1)); }
# --json validates against its schema; --report writes a page.
tmp=$(mktemp -d)
expect 0 "json and report" -- run --guest-mem 8M --duration 600ms --quiet --json "$tmp/r.json" --report "$tmp/r.html"
python3 "$(dirname "$0")/json-check.py" "$(dirname "$0")/../doc/run.schema.json" "$tmp/r.json" ||
	{ echo "FAIL: the JSON does not fit its schema"; fail=$((fail + 1)); }
grep -q "<svg" "$tmp/r.html" || { echo "FAIL: no plot in the report"; fail=$((fail + 1)); }
rm -rf "$tmp"
expect 2 "json unwritable" -- run --json /nonexistent/dir/r.json
expect 2 "report unwritable" -- run --report /nonexistent/dir/r.html
expect 0 "nodes, balloon, churn" -- run --nodes 3 --balloon 16M --churn --guest-mem 16M --duration 500ms --quiet
grep -q "(3 nodes)" <<<"$LAST" || { echo "FAIL: --nodes 3 not taken"; fail=$((fail + 1)); }
grep -Eq "balloon [1-9]" <<<"$LAST" || { echo "FAIL: the balloon took nothing"; fail=$((fail + 1)); }
expect 0 "node sizes" -- run --nodes 3M,1M --guest-mem 16M --duration 300ms --quiet
grep -q "on 4 MiB of host frames (2 nodes)" <<<"$LAST" || { echo "FAIL: node sizes not taken"; fail=$((fail + 1)); }
expect 2 "nodes 9" -- run --nodes 9
expect 2 "nodes small" -- run --nodes 16K,1M
expect 2 "nodes vs host-mem" -- run --nodes 2M,2M --host-mem 8M
expect 2 "balloon zero" -- run --balloon 0
expect 2 "balloon needs verify" -- run --workload zipf --balloon 8M
expect 2 "unknown workload" -- run --workload nope
expect 2 "theta 1" -- run --zipf-theta 1
expect 2 "theta text" -- run --zipf-theta x
expect 2 "ops 0" -- run --ops 0
expect 0 "bench help" -- bench --help
expect 2 "bench bad pages" -- bench --pages 10
expect 2 "bench bad reps" -- bench --reps 0
expect 2 "bench stray" -- bench now
# The bench's smoke run: every row there, nothing asserted of its speed.
btmp=$(mktemp -d)
expect 0 "bench quick" -- bench --quick --reps 1 --json "$btmp/b.json"
python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); assert len(d["figures"]) == 29, d' "$btmp/b.json" ||
	{ echo "FAIL: bench JSON lacks figures"; fail=$((fail + 1)); }
rm -rf "$btmp"
for row in "swap-out" "swap-in, sequential" "swap-in, random" "migration" \
	   "guest access, resident" "first-touch fault" "DONTNEED, 2 vCPUs" \
	   "metadata per 4 KiB" "fault, 2 vCPUs" "access, 2 vCPUs" \
	   "zipf, 100% resident" "zipf, 25% resident" "kvm first touch" \
	   "kvm refault, seq" "kvm refault, random" "kvm re-evict, read" \
	   "kvm zipf, 25%" "zswap tier refault" "zswap tier ratio" \
	   "redis tier, swap-out" "redis tier, swap-in" "zipf 25%, tier" \
	   "zipf 25%, tier v zswap" "mprotect under load" \
	   "swap-in random, 2 vCPU" "swap-in random, 2 thr"; do
	grep -q "^$row " <<<"$LAST" || { echo "FAIL: bench lacks row '$row'"; fail=$((fail + 1)); }
done
# The man page documents every option the commands' help lists.
man="$(dirname "$0")/../man/vmsync.1"
for cmd in run bench; do
	for o in $("$bin" $cmd --help | grep -o -- '--[a-z][a-z-]*' | sort -u); do
		grep -qF -- "${o//-/\\-}" "$man" ||
			{ echo "FAIL: man page lacks $cmd $o"; fail=$((fail + 1)); }
	done
done
# A refusal is one line that names the problem.
"$bin" run --vcpus 0 2>&1 >/dev/null | grep -q "bad value '0' for --vcpus" ||
	{ echo "FAIL: refusal does not name the option"; fail=$((fail + 1)); }

# Failures injected into the whole program (VMS_FAULT, debug builds) end a
# run with exit 3 and the error named; short transfers are finished and the
# run verifies.  Never a mismatch, never a hang.
for f in "frame:2000:on:Cannot allocate memory" "swap-slot:100:on:Cannot allocate memory" \
	 "swap-write:100:on:Cannot allocate memory" "swap-read:20:on:Input/output error" \
	 "thread:2::Resource temporarily unavailable" "swap-short:10:on:"; do
	IFS=: read -r site nth on err <<<"$f"
	# An error ends the run at once, so the run may take as long as it
	# needs to reach the failing call; one that went on for its whole
	# duration would overrun the test's timeout.
	want="verdict: error ($err)" code=3 time=120s
	[ -z "$err" ] && want="verdict: verified" code=0 time=2s
	out=$(VMS_FAULT="$site:$nth${on:+:$on}" timeout 300 "$bin" run --duration $time --quiet 2>&1); rc=$?
	if [ "$rc" = $code ] && grep -qF "$want" <<<"$out"; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		echo "FAIL: VMS_FAULT=$site:$nth${on:+:$on}: exit $rc, want '$want'"
		printf '%s\n' "$out" | tail -3
	fi
done
# A real KVM guest where /dev/kvm opens; elsewhere one line and exit 3.
out=$("$bin" run --kvm --guest-mem 8M --ops 2000 --quiet 2>&1); rc=$?
if [ $rc = 3 ] && grep -q '^vmsync run --kvm: /dev/kvm' <<<"$out" && [ "$(wc -l <<<"$out")" = 1 ]; then
	echo "kvm part skipped: $out"
	pass=$((pass + 1))
else
	for w in verify zipf stream idle; do
		expect 0 "kvm $w" -- run --kvm --workload $w --guest-mem 8M --duration 1s --quiet
		grep -q "^verdict: verified$" <<<"$LAST" || { echo "FAIL: kvm $w did not verify"; fail=$((fail + 1)); }
	done
	expect 2 "kvm kv" -- run --kvm --workload kv
	expect 2 "kvm tiering" -- run --kvm --tiering
	expect 2 "kvm content" -- run --kvm --content text
	ktmp=$(mktemp -d)
	expect 0 "kvm report" -- run --kvm --guest-mem 8M --duration 1s --quiet --report "$ktmp/k.html"
	n=$(grep -c "<polyline" "$ktmp/k.html")
	[ "$n" -ge 10 ] || { echo "FAIL: kvm report has $n plot lines, want 10"; fail=$((fail + 1)); }
	expect 2 "kvm vcpus 17" -- run --kvm --vcpus 17
	expect 0 "kvm zswap" -- run --kvm --guest-mem 8M --zswap 512K --duration 1s --quiet --json "$ktmp/z.json"
	python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); z = d["zswap"]; assert d["verdict"] == "verified" and z["stores"] > 0 and z["pool_bytes"] <= 512 * 1024, d' "$ktmp/z.json" ||
		{ echo "FAIL: kvm zswap JSON"; fail=$((fail + 1)); }
	expect 0 "kvm json" -- run --kvm --guest-mem 8M --ops 20000 --quiet --json "$ktmp/k.json"
	python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); s = d["series"]; assert d["kvm"] and d["verdict"] == "verified" and d["pager"]["evictions"] > 0 and s and s[-1]["ops"] <= d["guest"]["ops"] and all(a["t"] < b["t"] and a["ops"] <= b["ops"] for a, b in zip(s, s[1:])), d' "$ktmp/k.json" ||
		{ echo "FAIL: kvm JSON"; fail=$((fail + 1)); }
	rm -rf "$ktmp"
	# The same for a real guest: its vCPUs stop, and the run with them.
	out=$(VMS_FAULT=swap-read:20:on timeout 300 "$bin" run --kvm --guest-mem 8M --duration 120s --quiet 2>&1); rc=$?
	if [ $rc = 3 ] && grep -qF "verdict: error (Input/output error)" <<<"$out"; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		echo "FAIL: kvm with failing swap reads: exit $rc"
		printf '%s\n' "$out" | tail -3
	fi
fi
VMS_FAULT=frame:0 "$bin" run --help 2>&1 | grep -q "VMS_FAULT: ignoring 'frame:0'" ||
	{ echo "FAIL: a bad VMS_FAULT is not reported"; fail=$((fail + 1)); }

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
