#!/bin/sh
# fuzz/run.sh - time-boxed libFuzzer runs over the committed corpora.
#
# Usage: fuzz/run.sh [-t SECONDS] [-b BUILD_DIR] [-w WORK_DIR] [-n] [TARGET...]
#        fuzz/run.sh -M [-b BUILD_DIR] [-w WORK_DIR] [TARGET...]
#
#   -t SECONDS    time per target (default 300)
#   -b BUILD_DIR  a libFuzzer build (default build/fuzz: cmake --preset fuzz)
#   -w WORK_DIR   scratch space (default BUILD_DIR/fuzz-work)
#   -n            do not merge new inputs into fuzz/corpora
#   -M            do not fuzz: minimise the committed corpus instead (the
#                 inputs the fuzzer added, named by their SHA-1, are
#                 replaced by a -merge=1 of the whole corpus into an empty
#                 directory; seeds and crash-* files are always kept)
#   TARGET...     e.g. binary json (default: every fuzz/fuzz_*.c)
#
# Each target runs at nice 10 with one job (-jobs=1) from fuzz/corpora/
# <target>/ into a scratch directory, so the committed corpus is never
# written mid-run. Afterwards the inputs that add coverage (edges and
# comparisons; hit counts are ignored, -use_counters=0, to keep the
# committed corpora small) are merged into the committed corpus
# (-merge=1), any crash, leak, timeout or out-of-memory
# input is copied there as crash-* (it is then replayed by ctest until the
# bug is fixed), and one summary line per target is printed and appended
# to WORK_DIR/summary.txt:
#
#   target  execs  seconds  exec/s  corpus-files  corpus-bytes  crashes
#
# Exit status: 0, or 1 when any target produced a crash input.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
secs=300
build=$root/build/fuzz
work=
merge=1
minimise=0
while getopts t:b:w:nM opt; do
    case $opt in
    t) secs=$OPTARG ;;
    b) build=$OPTARG ;;
    w) work=$OPTARG ;;
    n) merge=0 ;;
    M) minimise=1 ;;
    *) sed -n '2,17p' "$0" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ -n "$work" ] || work=$build/fuzz-work
mkdir -p "$work"
work=$(cd "$work" && pwd)

if [ $# -eq 0 ]; then
    for f in "$here"/fuzz_*.c; do
        t=${f##*/fuzz_}
        set -- "$@" "${t%.c}"
    done
fi

# Files the fuzzer added are named by the SHA-1 of their contents.
is_found() {
    case $1 in
    *[!0-9a-f]*) return 1 ;;
    ????????????????????????????????????????) return 0 ;;
    *) return 1 ;;
    esac
}

status=0
for t in "$@"; do
    bin=$build/fuzz/fuzz_$t
    corpus=$here/corpora/$t
    if [ ! -x "$bin" ]; then
        echo "run.sh: $bin not built (cmake --preset fuzz && ninja -C $build)" >&2
        exit 2
    fi
    dir=$work/$t
    rm -rf "$dir"
    mkdir -p "$dir/new"
    if [ "$minimise" = 1 ]; then
        nice -n 10 "$bin" -merge=1 -use_counters=0 \
            -merge_control_file="$dir/merge.ctl" \
            "$dir/new" "$corpus" >"$dir/merge.out" 2>&1
        for f in "$corpus"/*; do
            is_found "${f##*/}" && rm -f "$f"
        done
        # Seeds the merge picked come back under their SHA-1: skip those.
        kept=$(find "$corpus" -type f -exec sha1sum {} + | cut -c1-40)
        for f in "$dir/new"/*; do
            [ -f "$f" ] || continue
            echo "$kept" | grep -qx "${f##*/}" || cp "$f" "$corpus/"
        done
        files=$(find "$corpus" -type f | wc -l | tr -d ' ')
        bytes=$(find "$corpus" -type f -exec cat {} + | wc -c | tr -d ' ')
        echo "$t minimised: $files files, $bytes bytes"
        continue
    fi
    start=$(date +%s)
    # libFuzzer with -jobs writes its output to fuzz-0.log in the cwd.
    (cd "$dir" && nice -n 10 "$bin" -jobs=1 -workers=1 \
        -max_total_time="$secs" -print_final_stats=1 \
        -artifact_prefix="$dir/" "$dir/new" "$corpus" \
        >"$dir/run.out" 2>&1) || true
    end=$(date +%s)
    log=$dir/fuzz-0.log
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    crashes=0
    for a in "$dir"/crash-* "$dir"/leak-* "$dir"/timeout-* "$dir"/oom-*; do
        [ -f "$a" ] || continue
        crashes=$((crashes + 1))
        name=${a##*/}
        case $name in crash-*) ;; *) name=crash-$name ;; esac
        cp "$a" "$corpus/$name"
        echo "run.sh: $t: $name added to fuzz/corpora/$t (see $log)" >&2
        status=1
    done
    if [ "$merge" = 1 ] && [ "$crashes" = 0 ]; then
        nice -n 10 "$bin" -merge=1 -use_counters=0 \
            -merge_control_file="$dir/merge.ctl" "$corpus" "$dir/new" \
            >"$dir/merge.out" 2>&1 || true
    fi
    files=$(find "$corpus" -type f | wc -l | tr -d ' ')
    bytes=$(find "$corpus" -type f -exec cat {} + | wc -c | tr -d ' ')
    line="$t ${execs:-?} $((end - start)) ${rate:-?} $files $bytes $crashes"
    echo "$line"
    echo "$line" >>"$work/summary.txt"
done
exit $status
