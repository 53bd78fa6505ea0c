#!/usr/bin/env bash
# fullsync-rss.sh [CINNABAR_BINARY] [REDIS_SERVER_BINARY]
#
# A Cinnabar replica's peak memory during a full sync: a Redis primary filled with KEYS keys
# (DEBUG POPULATE KEYS key DSIZE), a Cinnabar replica with `repl-diskless-load LOAD`; prints
# the replica's VmHWM (peak RSS) and VmRSS once `master_link_status:up`, and the sync time.
#
# Environment (defaults in brackets): KEYS [1000000]  DSIZE [100]  LOAD [swapdb]
#   DISKLESS_SYNC [yes] (the primary's repl-diskless-sync: yes sends $EOF:<mark>, no $<len>)
#   COMPRESSION [yes] (the primary's rdbcompression)  PORT [46610] (replica: PORT+1)
set -uo pipefail
CIN=${1:-target/release/cinnabar-server}
RED=${2:-$HOME/redis-7.2.4/src/redis-server}
[ -x "$CIN" ] || { echo "no cinnabar-server at $CIN (cargo build --release)" >&2; exit 2; }
[ -x "$RED" ] || RED=$(command -v redis-server || true)
[ -n "$RED" ] && [ -x "$RED" ] || { echo "no redis-server (give its path)" >&2; exit 2; }
KEYS=${KEYS:-1000000}; DSIZE=${DSIZE:-100}; LOAD=${LOAD:-swapdb}
DISKLESS_SYNC=${DISKLESS_SYNC:-yes}; COMPRESSION=${COMPRESSION:-yes}
PORT=${PORT:-46610}; RPORT=$((PORT + 1))
D=$(mktemp -d)
trap 'kill "$RPID" "$PPID_" 2>/dev/null; wait 2>/dev/null; rm -rf "$D"' EXIT
"$RED" --port "$PORT" --save '' --dir "$D" --repl-diskless-sync "$DISKLESS_SYNC" \
  --repl-diskless-sync-delay 0 --enable-debug-command yes --rdbcompression "$COMPRESSION" \
  --logfile "$D/primary.log" &
PPID_=$!
until redis-cli -p "$PORT" ping >/dev/null 2>&1; do sleep 0.1; done
redis-cli -p "$PORT" debug populate "$KEYS" key "$DSIZE" >/dev/null
"$CIN" --port "$RPORT" --save '' --dir "$D" --repl-diskless-load "$LOAD" \
  --logfile "$D/replica.log" &
RPID=$!
until redis-cli -p "$RPORT" ping >/dev/null 2>&1; do sleep 0.1; done
start=$(date +%s%N)
redis-cli -p "$RPORT" replicaof 127.0.0.1 "$PORT" >/dev/null
until redis-cli -p "$RPORT" info replication | grep -q 'master_link_status:up'; do
  kill -0 "$RPID" 2>/dev/null || { echo "the replica exited" >&2; exit 1; }
  sleep 0.1
done
ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "load=$LOAD diskless_sync=$DISKLESS_SYNC compression=$COMPRESSION keys=$(redis-cli -p "$RPORT" dbsize)" \
  "sync_ms=$ms peak_rss_kb=$(awk '/VmHWM/ {print $2}' /proc/$RPID/status)" \
  "rss_kb=$(awk '/VmRSS/ {print $2}' /proc/$RPID/status)"
