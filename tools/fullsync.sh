#!/usr/bin/env bash
# fullsync.sh [CINNABAR_BINARY] [REDIS_SERVER_BINARY]
#
# Replication cost, Cinnabar against Redis in the same run. For each server: fills a primary
# with KEYS keys (DEBUG POPULATE, which both have), measures its SET throughput
# (redis-benchmark -P 16) with no replica, attaches a replica of the same kind and times the
# full sync (from REPLICAOF to `master_link_status:up` with the replica's key count equal to
# the primary's), then measures SET throughput again with the replica attached.
#
# Environment (defaults in brackets):
#   KEYS [1000000]   DSIZE [16] (value size of the populated keys and of the benchmark's)
#   N [1000000] SET requests per benchmark run   CLIENTS [50]   KEYSPACE [100000] (-r)
#   ROUNDS [3] benchmark runs (the median is printed)
#   DISKLESS_SYNC [yes] (repl-diskless-sync)   DISKLESS_LOAD [disabled] (repl-diskless-load)
#   PORT [46600] (primary; the replica uses PORT+1)
#   SERVER_CPUS / BENCH_CPUS: taskset CPU lists for the servers / the client
#   REPLICA_CPUS [SERVER_CPUS]: taskset CPU list for the replica (on a 2-core machine, put it
#     beside the client so the primary keeps a core to itself: its CPU per request is then the
#     fair measure of what a replica costs it, since the client slows down instead)
#   REDIS_CLI [redis-cli]   REDIS_BENCHMARK [redis-benchmark]
# Output: per server, `full sync: <ms> ms (<keys> keys)`, the SET rates and the primary's CPU
# per request (user+system, all its threads); last, one summary line per server:
# `FULLSYNC name keys ms set_p16_alone set_p16_with_replica cpu_us_alone cpu_us_with_replica`.
set -uo pipefail

CIN=${1:-target/release/cinnabar-server}
RED=${2:-$HOME/redis-7.2.4/src/redis-server}
[ -x "$CIN" ] || { echo "no cinnabar-server at $CIN (cargo build --release)" >&2; exit 2; }
[ -x "$RED" ] || RED=$(command -v redis-server || true)
[ -n "$RED" ] && [ -x "$RED" ] || { echo "no redis-server (give its path)" >&2; exit 2; }
KEYS=${KEYS:-1000000}
DSIZE=${DSIZE:-16}
N=${N:-1000000}
CLIENTS=${CLIENTS:-50}
KEYSPACE=${KEYSPACE:-100000}
ROUNDS=${ROUNDS:-3}
DISKLESS_SYNC=${DISKLESS_SYNC:-yes}
DISKLESS_LOAD=${DISKLESS_LOAD:-disabled}
PORT=${PORT:-46600}
RPORT=$((PORT + 1))
CLI=${REDIS_CLI:-redis-cli}
RB=${REDIS_BENCHMARK:-redis-benchmark}
srv_pin=(); [ -n "${SERVER_CPUS:-}" ] && srv_pin=(taskset -c "$SERVER_CPUS")
cli_pin=(); [ -n "${BENCH_CPUS:-}" ] && cli_pin=(taskset -c "$BENCH_CPUS")
rep_pin=("${srv_pin[@]}"); [ -n "${REPLICA_CPUS:-}" ] && rep_pin=(taskset -c "$REPLICA_CPUS")
TICK=$(getconf CLK_TCK)

WORK=$(mktemp -d /tmp/fullsync.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

start() {  # $1 binary, $2 port, $3 dir, $4 replica (pinned as one)
    mkdir -p "$3"
    local pin=("${srv_pin[@]}"); [ -n "${4:-}" ] && pin=("${rep_pin[@]}")
    "${pin[@]}" "$1" --port "$2" --bind 127.0.0.1 --save '' --appendonly no --dir "$3" \
        --enable-debug-command yes --repl-diskless-sync "$DISKLESS_SYNC" \
        --repl-diskless-sync-delay 0 --repl-diskless-load "$DISKLESS_LOAD" \
        >"$3/server.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 100); do
        [ "$($CLI -p "$2" ping 2>/dev/null)" = PONG ] && return 0
        sleep 0.1
    done
    echo "$1 did not start on port $2:" >&2; tail -5 "$3/server.log" >&2; exit 1
}
stop_all() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    PIDS=()
}
field() { $CLI -p "$1" info "$2" 2>/dev/null | tr -d '\r' | sed -n "s/^$3://p"; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# Median SET rps at -P 16 against port $1 and the median CPU microseconds per request of the
# server process $2, printed as "rps cpu_us".
set_rate() {
    local rates=() cpus=() c0 r
    for _ in $(seq "$ROUNDS"); do
        c0=$(cpu_ticks "$2")
        r=$("${cli_pin[@]}" "$RB" -p "$1" -t set -P 16 -n "$N" -c "$CLIENTS" -r "$KEYSPACE" \
            -d "$DSIZE" --csv 2>/dev/null | sed -n 's/^"SET","\([0-9.]*\)".*/\1/p')
        rates+=("$r")
        cpus+=("$(awk -v t="$(( $(cpu_ticks "$2") - c0 ))" -v hz="$TICK" -v n="$N" \
            'BEGIN { printf "%.3f", t / hz * 1e6 / n }')")
    done
    local mid=$(( (ROUNDS + 1) / 2 ))
    echo "$(printf '%s\n' "${rates[@]}" | sort -n | sed -n "${mid}p")" \
        "$(printf '%s\n' "${cpus[@]}" | sort -n | sed -n "${mid}p")"
}

SUMMARY=()
run() {  # $1 name, $2 binary
    local name=$1 bin=$2
    echo "== $name ($bin)"
    start "$bin" "$PORT" "$WORK/$name-primary"
    local ppid=${PIDS[-1]}
    local t0; t0=$(now_ms)
    $CLI -p "$PORT" debug populate "$KEYS" key "$DSIZE" >/dev/null
    echo "populate: $(( $(now_ms) - t0 )) ms, dbsize $($CLI -p "$PORT" dbsize)"
    local alone cpu_alone; read -r alone cpu_alone <<<"$(set_rate "$PORT" "$ppid")"
    echo "SET -P 16, no replica: $alone rps, primary $cpu_alone us CPU/request"
    start "$bin" "$RPORT" "$WORK/$name-replica" replica
    local want; want=$($CLI -p "$PORT" dbsize)
    t0=$(now_ms)
    $CLI -p "$RPORT" replicaof 127.0.0.1 "$PORT" >/dev/null
    local deadline=$(( t0 + 600000 ))
    while :; do
        if [ "$(field "$RPORT" replication master_link_status)" = up ] \
            && [ "$($CLI -p "$RPORT" dbsize 2>/dev/null)" = "$want" ]; then
            break
        fi
        [ "$(now_ms)" -gt "$deadline" ] && { echo "no sync within 600 s" >&2; exit 1; }
        sleep 0.02
    done
    local sync_ms=$(( $(now_ms) - t0 ))
    echo "full sync: $sync_ms ms ($want keys)"
    local with cpu_with; read -r with cpu_with <<<"$(set_rate "$PORT" "$ppid")"
    echo "SET -P 16, one replica: $with rps, primary $cpu_with us CPU/request" \
        "(replica lag: $(field "$PORT" replication slave0 | sed 's/.*lag=//'))"
    stop_all
    SUMMARY+=("FULLSYNC $name $want ${sync_ms}ms $alone $with $cpu_alone $cpu_with")
}

run cinnabar "$CIN"
run redis "$RED"
echo "== summary: name keys full_sync set_p16_alone set_p16_with_replica cpu_us_alone cpu_us_with"
printf '%s\n' "${SUMMARY[@]}"
