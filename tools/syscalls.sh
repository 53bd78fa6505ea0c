#!/usr/bin/env bash
# syscalls.sh SERVER_BINARY [ARGS...]
#
# System calls per request of a RESP server, counted with the kernel's syscall tracepoints
# (`perf stat -e 'syscalls:sys_enter_*' -p PID`, all threads): the server starts, the keyspace
# is filled, then one redis-benchmark run per test and pipeline depth is counted and every
# syscall that occurred is divided by the requests. Unlike strace this does not stop the
# server at each call, so batching (how many requests one recv carries) stays as it is
# without a tracer. Works for cinnabar-server and redis-server alike (ARGS are passed
# through; --port is added).
#
# Environment: TESTS [set get sadd hset]  PIPELINES [1 16]  CLIENTS [50]  N_P1 [100000]
#   N_P16 [800000]  KEYSPACE [100000]  PORT [46600]
# Output per test and depth: `test P=p  total/request  name=count/request ...`.
set -uo pipefail

[ $# -ge 1 ] || { sed -n '2p' "$0" >&2; exit 2; }
BIN=$1; shift
TESTS=${TESTS:-"set get sadd hset"}
PIPELINES=${PIPELINES:-"1 16"}
CLIENTS=${CLIENTS:-50}
KEYSPACE=${KEYSPACE:-100000}
PORT=${PORT:-46600}
dir=$(mktemp -d /tmp/syscalls.XXXXXX)

"$BIN" --port "$PORT" --save '' --appendonly no --dir "$dir" "$@" >"$dir/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do
    redis-cli -p "$PORT" ping >/dev/null 2>&1 && break
    sleep 0.1
done
redis-benchmark -p "$PORT" -t set -P 16 -c 4 -n $((KEYSPACE * 4)) -r "$KEYSPACE" -d 16 -q >/dev/null 2>&1

for p in $PIPELINES; do
    for t in $TESTS; do
        nvar="N_P$p"
        n=${!nvar:-800000}
        redis-benchmark -p "$PORT" -t "$t" -P "$p" -c "$CLIENTS" -n 20000 -r "$KEYSPACE" -d 16 -q >/dev/null 2>&1
        perf stat -x, -e 'syscalls:sys_enter_*' -p "$pid" -o "$dir/stat" &
        ppid=$!
        sleep 0.5
        redis-benchmark -p "$PORT" -t "$t" -P "$p" -c "$CLIENTS" -n "$n" -r "$KEYSPACE" -d 16 -q >/dev/null 2>&1
        kill -INT "$ppid"
        wait "$ppid" 2>/dev/null
        awk -F, -v n="$n" -v t="$t" -v p="$p" '
            $1 ~ /^[0-9]+$/ && $1 > 0 {
                name = $3; sub(/^syscalls:sys_enter_/, "", name)
                total += $1; line = line sprintf("  %s=%.4f", name, $1 / n)
            }
            END { printf "%-5s P=%-3s %.4f/request%s\n", t, p, total / n, line }' "$dir/stat"
    done
done
