#!/usr/bin/env bash
# scaling.sh [SERVER_BINARY]
#
# Multi-core scaling of cinnabar-server: starts the server with 1, 2, 4 ... N worker threads
# (`--threads`), drives each with redis-benchmark using enough client threads, and prints the
# throughput of GET and SET at pipeline 1 and 16 per worker count, with the ratio to the
# 1-thread figure. Meant for big machines (the curve), and on a small one to check that more
# workers do not lose throughput.
#
# Environment (defaults in brackets):
#   THREADS      worker counts to try          [1 2 4 ... up to the number of cores]
#   CLIENT_THREADS redis-benchmark --threads   [max(2, cores/2)]
#   CLIENTS      connections (-c)              [50 * CLIENT_THREADS, at least 50]
#   PIPELINES    [1 16]          TESTS [get set]
#   N_P1 [200000]  N_P16 [2000000]  requests per run (-n)
#   KEYSPACE [100000]  DSIZE [16]  ROUNDS [3] (the median is printed)
#   PORT [46400]   SERVER_CPUS / BENCH_CPUS: taskset CPU lists for the server / the client
#   REDIS_BENCHMARK [redis-benchmark]
# Output: one line per (worker count, test, pipeline): median rps, and rps / rps at 1 thread;
# last lines `SCALING test P=p: t1 -> tN` summarising.
set -uo pipefail

BIN=${1:-target/release/cinnabar-server}
[ -x "$BIN" ] || { echo "no server binary at $BIN (cargo build --release)" >&2; exit 2; }
CORES=$(nproc)
if [ -z "${THREADS:-}" ]; then
    THREADS=""; t=1
    while [ "$t" -le "$CORES" ]; do THREADS="$THREADS $t"; t=$((t * 2)); done
    [ "$((t / 2))" -lt "$CORES" ] && THREADS="$THREADS $CORES"
fi
CLIENT_THREADS=${CLIENT_THREADS:-$(( CORES / 2 > 2 ? CORES / 2 : 2 ))}
CLIENTS=${CLIENTS:-$(( 50 * CLIENT_THREADS ))}
PIPELINES=${PIPELINES:-"1 16"}
TESTS=${TESTS:-"get set"}
N_P1=${N_P1:-200000}
N_P16=${N_P16:-2000000}
KEYSPACE=${KEYSPACE:-100000}
DSIZE=${DSIZE:-16}
ROUNDS=${ROUNDS:-3}
PORT=${PORT:-46400}
RB=${REDIS_BENCHMARK:-redis-benchmark}
srv_pin=(); [ -n "${SERVER_CPUS:-}" ] && srv_pin=(taskset -c "$SERVER_CPUS")
cli_pin=(); [ -n "${BENCH_CPUS:-}" ] && cli_pin=(taskset -c "$BENCH_CPUS")

WORK=$(mktemp -d /tmp/scaling.XXXXXX)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

start_server() {  # $1 = worker threads
    "${srv_pin[@]}" "$BIN" --port "$PORT" --threads "$1" --save '' --appendonly no \
        --dir "$WORK" >"$WORK/server.log" 2>&1 &
    PID=$!
    for _ in $(seq 100); do
        redis-cli -p "$PORT" ping >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "server with --threads $1 did not start:" >&2; cat "$WORK/server.log" >&2; exit 1
}
stop_server() { kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; PID=; }

bench() {  # test pipeline -> rps
    local n=$N_P1; [ "$2" -gt 1 ] && n=$N_P16
    "${cli_pin[@]}" "$RB" -p "$PORT" -t "$1" -P "$2" -c "$CLIENTS" --threads "$CLIENT_THREADS" \
        -n "$n" -r "$KEYSPACE" -d "$DSIZE" -q 2>/dev/null |
        tr '\r' '\n' | awk '/requests per second/ {for (i = 1; i <= NF; i++) if ($i ~ /^[0-9.]+$/) {v = $i; break}} END {print v + 0}'
}
median() { sort -n | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

echo "cores: $CORES  worker counts: $THREADS  client: $CLIENTS connections on $CLIENT_THREADS threads, $ROUNDS rounds"
# Rounds outside, worker counts inside: slow drift of a shared machine hits every count alike.
declare -A runs
for r in $(seq "$ROUNDS"); do
    for t in $THREADS; do
        start_server "$t"
        for p in $PIPELINES; do
            for test in $TESTS; do
                runs[$t,$test,$p]="${runs[$t,$test,$p]:-} $(bench "$test" "$p")"
            done
        done
        stop_server
    done
    echo "round $r done" >&2
done
printf '%-8s %-5s %-4s %12s %8s\n' threads test P rps vs_t1
declare -A base last
for t in $THREADS; do
    for p in $PIPELINES; do
        for test in $TESTS; do
            m=$(printf '%s\n' ${runs[$t,$test,$p]} | median)
            [ -z "${base[$test$p]:-}" ] && base[$test$p]=$m
            last[$test$p]="$t:$m"
            printf '%-8s %-5s %-4s %12.0f %8.2f\n' "$t" "$test" "$p" "$m" \
                "$(awk -v a="$m" -v b="${base[$test$p]}" 'BEGIN {print (b > 0) ? a / b : 0}')"
        done
    done
done
for p in $PIPELINES; do
    for test in $TESTS; do
        echo "SCALING $test P=$p: 1 thread ${base[$test$p]} rps -> ${last[$test$p]%%:*} threads ${last[$test$p]#*:} rps"
    done
done
