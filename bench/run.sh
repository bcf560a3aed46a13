#!/bin/sh
# bench/run.sh - build the release preset and run every benchmark, then draw
# the plots (bench/plot.sh, into docs/bench/) and write docs/BENCHMARKS.md
# (bench/report.py). Results: bench/out/*.tsv (not in git).
#
#   bench/run.sh [--quick] [--no-build] [--no-report]
#
#   --quick      skip the 1M-peer sizes (a few minutes less) and make
#                fewer calls in bench_fenced
#   --no-build   use the binaries already in build/release
#   --no-report  only run: leave docs/BENCHMARKS.md and docs/bench/ alone
#                (bench/plot.sh and bench/report.py can be run afterwards)
#
# Benchmarks run under nice: the numbers are medians of repeated runs, but
# a busy machine still shows in them. The libSQL remote rows need Node.js
# and the packages of tests/hrana-server (npm ci --prefix
# tests/hrana-server); the PostgreSQL rows need the server's binaries
# (postgresql-15, or PG_BINDIR: bench/pg.sh starts a throwaway server with
# the default durability settings), or MTS_PG_CONNINFO naming a server of
# your own; the Telethon rows need /usr/bin/python3 with python3-telethon;
# the plots need gnuplot. Whatever is missing is skipped and said so in the
# report.
set -eu
cd "$(dirname "$0")/.."

quick=""
build=1
report=1
for arg in "$@"; do
    case $arg in
    --quick) quick=--quick ;;
    --no-build) build=0 ;;
    --no-report) report=0 ;;
    *)
        echo "usage: bench/run.sh [--quick] [--no-build] [--no-report]" >&2
        exit 2
        ;;
    esac
done

bin=build/release/bench
if [ $build = 1 ]; then
    cmake --preset release >/dev/null
    cmake --build --preset release -j "$(nproc 2>/dev/null || echo 2)" \
        --target bench/all >/dev/null
fi

MTS_BENCH_OUT=bench/out
export MTS_BENCH_OUT
mkdir -p "$MTS_BENCH_OUT"
rm -f "$MTS_BENCH_OUT"/*.tsv
rm -rf "$MTS_BENCH_OUT/tmp"
started=$(date +%s)

# ---- the machine -----------------------------------------------------------
{
    printf 'key\tvalue\n'
    printf 'date\t%s\n' "$(date -u '+%Y-%m-%d %H:%M UTC')"
    printf 'command\t%s\n' "bench/run.sh${*:+ $*}"
    printf 'commit\t%s\n' "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- src include 2>/dev/null || echo ' (with uncommitted changes in src/ or include/)')"
    printf 'cpu\t%s\n' "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
    printf 'cores\t%s\n' "$(nproc)"
    printf 'memory\t%s\n' "$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
    printf 'kernel\t%s\n' "$(uname -sr)"
    printf 'filesystem\t%s\n' "$(findmnt -n -o FSTYPE,SOURCE,OPTIONS -T "$MTS_BENCH_OUT" 2>/dev/null || df -T "$MTS_BENCH_OUT" | awk 'NR == 2 { print $2, $1 }')"
    compiler=$(sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' build/release/CMakeCache.txt 2>/dev/null | head -n 1)
    printf 'compiler\t%s\n' "$( ("${compiler:-cc}" --version 2>/dev/null || echo unknown) | head -n 1), -O3 (release preset)"
    printf 'sqlite\t%s\n' "$( (sqlite3 --version 2>/dev/null || echo unknown) | cut -d ' ' -f 1)"
    printf 'loadavg\t%s\n' "$(cut -d ' ' -f 1-3 /proc/loadavg)"
} >"$MTS_BENCH_OUT/machine.tsv"

# ---- the libSQL test server, for the remote rows -----------------------------
hrana_dir=$MTS_BENCH_OUT/hrana
hrana_stop() {
    [ -f "$hrana_dir/pid" ] && sh tests/hrana-server/ctl.sh stop "$hrana_dir" >/dev/null 2>&1
    return 0
}
pg_dir=$MTS_BENCH_OUT/pg
pg_stop() {
    [ -f "$pg_dir/pid" ] && sh bench/pg.sh stop "$pg_dir" >/dev/null 2>&1
    return 0
}
trap 'hrana_stop; pg_stop' EXIT
trap 'exit 130' INT TERM
if command -v "${NODE:-node}" >/dev/null 2>&1 &&
    [ -d tests/hrana-server/node_modules/libsql ] &&
    sh tests/hrana-server/ctl.sh start "$hrana_dir" mts-bench-token >/dev/null 2>&1; then
    MTS_BENCH_HRANA_URL=http://127.0.0.1:$(cat "$hrana_dir/port")
    MTS_BENCH_HRANA_TOKEN=mts-bench-token
    export MTS_BENCH_HRANA_URL MTS_BENCH_HRANA_TOKEN
    echo "libSQL remote: the test server at $MTS_BENCH_HRANA_URL"
else
    echo "libSQL remote: no test server (Node.js or tests/hrana-server packages missing); skipped"
fi

# ---- PostgreSQL, for the fleet rows (started just before bench_fenced) ------
pg_start() {
    if [ -n "${MTS_PG_CONNINFO:-}" ]; then
        echo "PostgreSQL: the server MTS_PG_CONNINFO names"
        printf 'postgres\t%s\n' "the server MTS_PG_CONNINFO names (its own settings)" \
            >>"$MTS_BENCH_OUT/machine.tsv"
    elif pg_err=$(sh bench/pg.sh start "$pg_dir" 2>&1 >/dev/null); then
        MTS_PG_CONNINFO=$(cat "$pg_dir/conninfo")
        export MTS_PG_CONNINFO
        echo "PostgreSQL: a throwaway server, $MTS_PG_CONNINFO"
        printf 'postgres\t%s\n' "$(cat "$pg_dir/version"), throwaway server (bench/pg.sh: default settings, fsync, full_page_writes and synchronous_commit on), data on $(findmnt -n -o FSTYPE,SOURCE -T "$(cat "$pg_dir/tmp")" 2>/dev/null || echo unknown)" \
            >>"$MTS_BENCH_OUT/machine.tsv"
    else
        MTS_BENCH_PG_WHY=$(printf '%s' "$pg_err" | tr '\n\t' '  ' | sed 's/^pg\.sh: //')
        export MTS_BENCH_PG_WHY
        echo "PostgreSQL: $MTS_BENCH_PG_WHY; skipped"
    fi
}

# ---- the benchmarks ----------------------------------------------------------
run() {
    name=$1
    shift
    if [ ! -x "$bin/$name" ]; then
        echo "## $name: not built (see bench/CMakeLists.txt); skipped"
        return 0
    fi
    nice -n 10 "$bin/$name" $quick "$@"
}
run bench_codec
run bench_file
run bench_peers
run bench_apply
run bench_update
run bench_sql
if [ -x "$bin/bench_fenced" ]; then
    pg_start
fi
run bench_fenced
pg_stop
if /usr/bin/python3 -c 'import telethon' 2>/dev/null; then
    nice -n 10 /usr/bin/python3 bench/telethon_bench.py $quick
else
    echo "## telethon_bench: /usr/bin/python3 has no telethon (python3-telethon); skipped"
fi

hrana_stop
pg_stop
rm -rf "$MTS_BENCH_OUT/tmp"
{
    printf 'loadavg_end\t%s\n' "$(cut -d ' ' -f 1-3 /proc/loadavg)"
    printf 'elapsed\t%s s\n' "$(($(date +%s) - started))"
} >>"$MTS_BENCH_OUT/machine.tsv"

# ---- plots and report --------------------------------------------------------
if [ $report = 1 ]; then
    sh bench/plot.sh
    /usr/bin/python3 bench/report.py >docs/BENCHMARKS.md.tmp
    mv docs/BENCHMARKS.md.tmp docs/BENCHMARKS.md
    echo "wrote docs/BENCHMARKS.md"
fi
