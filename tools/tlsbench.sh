#!/usr/bin/env bash
# tlsbench.sh [CINNABAR_BINARY] [REDIS_SERVER_BINARY]
#
# Throughput over TLS, Cinnabar against a redis-server built with TLS (`make BUILD_TLS=yes`),
# in the same run. Both serve TLS only (`--port 0 --tls-port`) with one throwaway CA and
# certificate made here by openssl; redis-benchmark --tls drives each, SET and GET at each
# pipeline depth, in the order ours, theirs, theirs, ours (drift cancels in the mean).
#
# Environment (defaults in brackets):
#   N [200000] requests per run   CLIENTS [50]   PIPELINES ["1 16"]   TESTS ["set get"]
#   PORT [46700] (ours; Redis's is PORT+1)
#   SERVER_CPUS / BENCH_CPUS: taskset CPU lists for the servers / the client
#   REDIS_BENCHMARK [redis-benchmark] (must support --tls; Debian's does)
# Output: a row per test and depth with both rates (mean of two runs) and ours/theirs; last,
# one line per row: `TLSBENCH test pipeline ours theirs ratio`.
set -uo pipefail

CIN=${1:-target/release/cinnabar-server}
RED=${2:-$HOME/redis-7.2.4-tls/src/redis-server}
[ -x "$CIN" ] || { echo "no cinnabar-server at $CIN (cargo build --release)" >&2; exit 2; }
[ -x "$RED" ] || { echo "no TLS-built redis-server at $RED (give its path)" >&2; exit 2; }
N=${N:-200000}
CLIENTS=${CLIENTS:-50}
PIPELINES=${PIPELINES:-1 16}
TESTS=${TESTS:-set get}
PORT=${PORT:-46700}
BENCH=${REDIS_BENCHMARK:-redis-benchmark}
on() { # cpus command...
    local cpus=$1
    shift
    if [ -n "$cpus" ]; then taskset -c "$cpus" "$@"; else "$@"; fi
}

dir=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM # through the EXIT trap: no server left behind

# A CA and a server certificate for 127.0.0.1.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$dir/ca.key" -out "$dir/ca.crt" -days 2 \
    -subj "/CN=tlsbench-ca" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout "$dir/server.key" -out "$dir/server.csr" \
    -subj "/CN=127.0.0.1" 2>/dev/null
printf "subjectAltName=IP:127.0.0.1,DNS:localhost\n" >"$dir/ext.cnf"
openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
    -CAcreateserial -out "$dir/server.crt" -days 2 -extfile "$dir/ext.cnf" 2>/dev/null \
    || { echo "openssl could not make the certificates" >&2; exit 2; }

start() { # binary port
    local pin=()
    [ -n "${SERVER_CPUS:-}" ] && pin=(taskset -c "$SERVER_CPUS")
    # Started directly (not through a function) so that $! is the server, killed at exit.
    "${pin[@]}" "$1" --port 0 --tls-port "$2" --bind 127.0.0.1 \
        --tls-cert-file "$dir/server.crt" --tls-key-file "$dir/server.key" \
        --tls-ca-cert-file "$dir/ca.crt" --tls-auth-clients no \
        --save "" --appendonly no >"$dir/server-$2.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 100); do
        if redis-cli --tls --cacert "$dir/ca.crt" -p "$2" PING 2>/dev/null | grep -q PONG; then
            return 0
        fi
        sleep 0.1
    done
    echo "$1 did not answer over TLS on port $2:" >&2
    cat "$dir/server-$2.log" >&2
    exit 1
}
start "$CIN" "$PORT"
start "$RED" $((PORT + 1))

rate() { # port test pipeline
    on "${BENCH_CPUS:-}" "$BENCH" --tls --cacert "$dir/ca.crt" -h 127.0.0.1 -p "$1" \
        -c "$CLIENTS" -n "$N" -P "$3" -t "$2" -q 2>/dev/null |
        tr '\r' '\n' | grep -o '[0-9.]* requests per second' | tail -1 | cut -d' ' -f1
}

printf "%-5s %-3s %12s %12s %7s\n" test P cinnabar redis ratio
summary=()
for t in $TESTS; do
    for p in $PIPELINES; do
        a1=$(rate "$PORT" "$t" "$p")
        b1=$(rate $((PORT + 1)) "$t" "$p")
        b2=$(rate $((PORT + 1)) "$t" "$p")
        a2=$(rate "$PORT" "$t" "$p")
        line=$(awk -v a1="$a1" -v a2="$a2" -v b1="$b1" -v b2="$b2" \
            'BEGIN { a = (a1 + a2) / 2; b = (b1 + b2) / 2; printf "%.0f %.0f %.2f", a, b, a / b }')
        read -r ours theirs ratio <<<"$line"
        printf "%-5s %-3s %12s %12s %7s\n" "$t" "$p" "$ours" "$theirs" "$ratio"
        summary+=("TLSBENCH $t $p $ours $theirs $ratio")
    done
done
printf "%s\n" "${summary[@]}"
