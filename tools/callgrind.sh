#!/usr/bin/env bash
# callgrind.sh SERVER_BINARY [ARGS...]
#
# User-space instructions per request of a RESP server, measured with
# `valgrind --tool=callgrind`: the server runs under callgrind, counters are zeroed once it
# is up, one redis-benchmark run (one connection, so every request of a test is served alike)
# drives one command (after a warm-up that fills the keyspace), and the instructions counted are divided by the requests. Kernel time
# (syscalls, TCP) is not in these figures: callgrind counts only the process's own
# instructions. Works for cinnabar-server and redis-server alike (ARGS are passed through;
# --port is added).
#
# Environment: TESTS [set get sadd hset]  PIPELINES [1 16]  N [20000]  KEYSPACE [100000]
#   PORT [46500]  OUT (keep the callgrind.out files there for callgrind_annotate) [temp dir]
# Output: one line per test and pipeline: `test P=p  Ir/request`.
set -uo pipefail

[ $# -ge 1 ] || { sed -n '2p' "$0" >&2; exit 2; }
BIN=$1; shift
TESTS=${TESTS:-"set get sadd hset"}
PIPELINES=${PIPELINES:-"1 16"}
N=${N:-20000}
KEYSPACE=${KEYSPACE:-100000}
PORT=${PORT:-46500}
OUT=${OUT:-$(mktemp -d /tmp/callgrind.XXXXXX)}
mkdir -p "$OUT"

for p in $PIPELINES; do
    for t in $TESTS; do
        f="$OUT/callgrind.$(basename "$BIN").$t.P$p"
        valgrind --tool=callgrind --callgrind-out-file="$f" --instr-atstart=no \
            "$BIN" --port "$PORT" --save '' --appendonly no --dir "$OUT" "$@" \
            >"$OUT/server.log" 2>&1 &
        vpid=$!
        up=
        for _ in $(seq 300); do
            redis-cli -p "$PORT" ping >/dev/null 2>&1 && { up=1; break; }
            sleep 0.2
        done
        [ -n "$up" ] || { echo "server did not start" >&2; cat "$OUT/server.log" >&2; kill "$vpid"; exit 1; }
        # Warm up: fill the keyspace (as throughput.sh's runs find it: mostly overwrites and
        # hits, no table growth), fault the command's code in, then count only the run.
        redis-benchmark -p "$PORT" -t set -P 16 -c 4 -n $((KEYSPACE * 4)) -r "$KEYSPACE" -d 16 -q >/dev/null 2>&1
        redis-benchmark -p "$PORT" -t "$t" -P "$p" -c 1 -n 2000 -r "$KEYSPACE" -d 16 -q >/dev/null 2>&1
        callgrind_control -i on "$vpid" >/dev/null 2>&1
        redis-benchmark -p "$PORT" -t "$t" -P "$p" -c 1 -n "$N" -r "$KEYSPACE" -d 16 -q >/dev/null 2>&1
        callgrind_control -i off "$vpid" >/dev/null 2>&1
        callgrind_control -d "$vpid" >/dev/null 2>&1
        redis-cli -p "$PORT" shutdown nosave >/dev/null 2>&1 || kill "$vpid"
        wait "$vpid" 2>/dev/null
        total=0
        for g in "$f"*; do
            ir=$(awk '/^totals:/ {print $2}' "$g")
            total=$((total + ${ir:-0}))
        done
        printf '%-6s P=%-3s %10.0f Ir/request\n' "$t" "$p" "$(awk -v a="$total" -v n="$N" 'BEGIN {print a / n}')"
    done
done
echo "callgrind files in $OUT"
