#!/usr/bin/env bash
# redis-cluster.sh - vmsync's swap on a real Redis Cluster the test makes on
# loopback (3 masters, 3 replicas, on free ports): a run verifies while a
# master is killed with SIGKILL mid-run, its replica takes over and the
# killed node comes back as a replica; every page read back is checked by
# the guest's oracle, so a lost page is a mismatch.  Skips (77) where
# redis-server or redis-cli is missing.  Then slots are moved between
# masters while the run goes on (MOVED and ASK).
set -u
bin=$1
for t in redis-server redis-cli python3; do
	command -v $t >/dev/null || { echo "skip: no $t"; exit 77; }
done
tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT

# Six ports whose cluster-bus ports (+10000) are free too.
read -r -a ports <<<"$(python3 - <<'EOF'
import socket, random
got = []
while len(got) < 6:
    p = random.randrange(20000, 30000)
    ok = True
    for q in (p, p + 10000):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", q))
        except OSError:
            ok = False
        s.close()
    if ok and p not in got:
        got.append(p)
print(" ".join(map(str, got)))
EOF
)"

start() {    # start PORT: a cluster node, its pid in $tmp/PORT.pid
	mkdir -p "$tmp/$1"
	redis-server --port "$1" --bind 127.0.0.1 --cluster-enabled yes \
		--cluster-config-file "$tmp/$1/nodes.conf" --cluster-node-timeout 1000 \
		--save "" --appendonly no --dir "$tmp/$1" --daemonize yes \
		--pidfile "$tmp/$1.pid" --logfile "$tmp/$1/log" >/dev/null
	for _ in $(seq 200); do
		[ -s "$tmp/$1.pid" ] && redis-cli -p "$1" ping >/dev/null 2>&1 && break
		sleep 0.05
	done
	pids+=("$(cat "$tmp/$1.pid")")
}
for p in "${ports[@]}"; do start "$p"; done
addrs=()
for p in "${ports[@]}"; do addrs+=("127.0.0.1:$p"); done
redis-cli --cluster create "${addrs[@]}" --cluster-replicas 1 --cluster-yes \
	>"$tmp/create.log" 2>&1 || { echo "FAIL: the cluster could not be made"; cat "$tmp/create.log"; exit 1; }
ok() {    # ok PORT: the cluster is whole, as PORT sees it
	redis-cli -p "$1" cluster info 2>/dev/null | grep -q "cluster_state:ok"
}
for _ in $(seq 200); do ok "${ports[0]}" && break; sleep 0.1; done
ok "${ports[0]}" || { echo "FAIL: the cluster did not come up"; exit 1; }
# A replica of every master, replicating (WAIT needs them).
synced() {    # synced: every master has a replica whose link is up
	local n=0
	for p in "${ports[@]}"; do
		redis-cli -p "$p" info replication 2>/dev/null | grep -q "^role:master" || continue
		redis-cli -p "$p" info replication | grep -q "^slave0:.*state=online" && n=$((n + 1))
	done
	[ $n = 3 ]
}
for _ in $(seq 300); do synced && break; sleep 0.1; done
synced || { echo "FAIL: the replicas did not come up"; exit 1; }

url="redis-cluster://${addrs[0]},${addrs[1]}"
"$bin" run --guest-mem 32M --host-mem 8M --swap "$url" --duration 18s --quiet \
	--json "$tmp/r.json" >"$tmp/run.out" 2>&1 &
run=$!
sleep 4
# Kill a master that holds slots, then bring it back (it rejoins as a
# replica of the one that took over).
victim=$(redis-cli -p "${ports[0]}" cluster nodes | awk '/master/ && !/fail/ { split($2, a, "[:@]"); print a[2]; exit }')
kill -9 "$(cat "$tmp/$victim.pid")"
echo "killed the master on port $victim"
# Bring it back only once a replica took over (marked failed, and three
# masters that are not): a master back too soon without persistence would
# come back empty and hand its replica nothing to keep.
asker=${ports[0]}
[ "$victim" = "$asker" ] && asker=${ports[1]}
for _ in $(seq 300); do
	nodes=$(redis-cli -p "$asker" cluster nodes)
	grep ":$victim@" <<<"$nodes" | grep -q fail &&
		[ "$(grep master <<<"$nodes" | grep -vc fail)" = 3 ] && break
	sleep 0.1
done
echo "a replica took over"
start "$victim"
# Move a thousand slots from one live master to another, keys and all,
# once every node agrees on the configuration again (the node that came
# back must have learnt it is a replica now).
other=${ports[1]}
[ "$victim" = "$other" ] && other=${ports[2]}
moved=
for _ in $(seq 60); do
	if redis-cli --cluster check "127.0.0.1:$other" >"$tmp/check.log" 2>&1 &&
	   ! grep -q "\[ERR\]\|\[WARNING\]" "$tmp/check.log"; then
		live=$(redis-cli -p "$other" cluster nodes | awk '/master/ && !/fail/ { print $1 }' | head -2)
		from=$(head -1 <<<"$live") to=$(tail -1 <<<"$live")
		redis-cli --cluster reshard "127.0.0.1:$other" --cluster-from "$from" \
			--cluster-to "$to" --cluster-slots 1000 --cluster-yes \
			>"$tmp/reshard.log" 2>&1 && { moved=1; break; }
	fi
	sleep 0.2
done
[ -n "$moved" ] || { echo "FAIL: resharding failed"; tail -5 "$tmp/check.log" "$tmp/reshard.log"; cat "$tmp/check.log" "$tmp/reshard.log" | tail -12; kill $run; exit 1; }
echo "moved 1000 slots between masters"
wait $run
rc=$?
cat "$tmp/run.out"
[ $rc = 0 ] || { echo "FAIL: the run exited $rc"; exit 1; }
grep -q "^verdict: verified$" "$tmp/run.out" || { echo "FAIL: not verified"; exit 1; }
python3 - "$tmp/r.json" <<'EOF' || { echo "FAIL: the run did not swap through the cluster"; exit 1; }
import json, sys
t = json.load(open(sys.argv[1]))["totals"]
assert t["pswpout"] > 1000 and t["pswpin"] > 1000, t
print("swapped out %d, in %d pages through the cluster; %d writes failed" %
      (t["pswpout"], t["pswpin"], t["swap_write_errors"]))
EOF
promoted=$(redis-cli -p "${ports[1]}" cluster nodes | grep -c "myself,master\|master" )
echo "1 passed, 0 failed (masters now: $promoted)"
