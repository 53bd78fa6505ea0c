#!/usr/bin/env bash
# Runs fuzz targets one after another, each until it has used CPU_SECONDS of CPU time
# (not wall time: on a busy machine a wall-clock budget says little about the work done).
#
#   fuzz/run.sh [CPU_SECONDS] [TARGET ...]      # default: 600 s, every target
#
# Needs a nightly toolchain and cargo-fuzz (see fuzz/README.md). Builds the instrumented
# binaries into $FUZZ_TARGET_DIR (default /tmp/target-fuzz), keeps the corpus in
# fuzz/corpus/<target> (seeded from fuzz/seeds/<target>), and prints one line per target:
# CPU seconds, executions, corpus size, and whether libFuzzer reported a crash (then the
# input is under fuzz/artifacts/<target>/ and the script exits non-zero at the end).
set -euo pipefail
cd "$(dirname "$0")"
budget="${1:-600}"
shift || true
target_dir="${FUZZ_TARGET_DIR:-/tmp/target-fuzz}"
targets=("$@")
[ ${#targets[@]} -eq 0 ] && mapfile -t targets < <(cargo +nightly fuzz list)

cargo +nightly fuzz build -O --target-dir "$target_dir"
bin_dir="$target_dir/x86_64-unknown-linux-gnu/release"
ticks=$(getconf CLK_TCK)
failed=0
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "artifacts/$t" logs
    seeds=()
    [ -d "seeds/$t" ] && seeds=("seeds/$t")
    log="logs/$t.log"
    "$bin_dir/$t" "corpus/$t" "${seeds[@]}" -artifact_prefix="artifacts/$t/" \
        -max_len=65536 -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 >"$log" 2>&1 &
    pid=$!
    cpu=0
    while kill -0 "$pid" 2>/dev/null; do
        read -r -a stat <"/proc/$pid/stat" || break
        # Fields 14 and 15 of /proc/PID/stat: utime and stime, in clock ticks.
        cpu=$(( (stat[13] + stat[14]) / ticks ))
        if [ "$cpu" -ge "$budget" ]; then
            kill -INT "$pid"
            break
        fi
        sleep 5
    done
    status=0
    wait "$pid" || status=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    crash="no"
    if compgen -G "artifacts/$t/*" >/dev/null; then
        crash="YES (see fuzz/artifacts/$t, $log)"
        failed=1
    fi
    printf '%-16s cpu %5ss  execs %-10s corpus %-6s exit %-3s crash: %s\n' \
        "$t" "$cpu" "${execs:-?}" "$(ls "corpus/$t" | wc -l)" "$status" "$crash"
done
exit "$failed"
