#!/bin/sh
# bench/plot.sh - draw the benchmark results (bench/out/*.tsv, written by
# bench/run.sh) as log-log plots of time against peer count, one SVG per
# workload, into docs/bench/. Needs gnuplot (Debian: gnuplot-nox).
#
#   bench/plot.sh [OUT_DIR [PLOT_DIR]]     (default: bench/out docs/bench)
set -eu
cd "$(dirname "$0")/.."
out=${1:-bench/out}
dir=${2:-docs/bench}

if ! command -v gnuplot >/dev/null 2>&1; then
    echo "plot.sh: gnuplot is not installed (Debian: gnuplot-nox); no plots" >&2
    exit 0
fi
mkdir -p "$dir"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# plot NAME TITLE YLABEL SERIES...: each SERIES is "file|workload|variant|
# title" and becomes one line, from the measured (not skipped) rows of that
# workload and variant in bench/out/<file>.tsv.
plot() {
    name=$1
    title=$2
    ylabel=$3
    shift 3
    lines=""
    i=0
    for s in "$@"; do
        f=${s%%|*}
        rest=${s#*|}
        w=${rest%%|*}
        rest=${rest#*|}
        v=${rest%%|*}
        t=${rest#*|}
        [ -f "$out/$f.tsv" ] || continue
        i=$((i + 1))
        awk -F '\t' -v w="$w" -v v="$v" \
            '$1 == w && $2 == v && $8 == "s" { print $3, $5 }' \
            "$out/$f.tsv" >"$tmp/$name.$i"
        [ -s "$tmp/$name.$i" ] || continue
        lines="$lines${lines:+, }\"$tmp/$name.$i\" using 1:2 with linespoints title \"$t\""
    done
    if [ -z "$lines" ]; then
        echo "plot.sh: no data for $name" >&2
        return 0
    fi
    gnuplot <<END
set encoding utf8
set terminal svg size 860,560 dynamic noenhanced font "sans,12" background "white"
set output "$dir/$name.svg"
set title "$title"
set logscale xy
set xlabel "cached peers"
set ylabel "$ylabel"
set format x "%.0s%c"
set format y "%.0s %cs"
set xrange [700:1400000]
set key below
set grid
plot $lines
END
    echo "wrote $dir/$name.svg"
}

plot codec "Binary format: encode and decode of a whole session" \
    "time per session (median)" \
    "codec|codec|encode|encode" \
    "codec|codec|decode|decode" \
    "codec|codec|memcpy|memcpy (floor)"

plot file "File backend: durable save and load" "time per call (median)" \
    "file|file_save|mtsession|save" \
    "file|file_save|floor|write+fsync+rename (floor)" \
    "file|file_load|mtsession|load (index built)" \
    "file|file_load|floor|memcpy+scan (floor)"

plot apply "apply_update_state, durable, per call" "time per call (median)" \
    "apply|apply|file|file" \
    "apply|apply|sqlite|SQLite" \
    "apply|apply|libsql_local|libSQL local" \
    "apply|apply|libsql_remote|libSQL remote (test server)" \
    "telethon|apply|telethon|Telethon set_update_state+save" \
    "apply|apply|floor|append 32 B+fdatasync (floor)"

plot peers "Peer cache in memory" "time per operation (median)" \
    "peers|peer_get|mtsession|get_peer" \
    "peers|peer_put|insert|put_peer (insert)" \
    "peers|peer_put|replace|put_peer (replace)" \
    "telethon|peer_get|telethon|Telethon get_entity_rows_by_id"

plot sql "SQLite: save and load" "time per call (median)" \
    "sql|sql_save|full|full save" \
    "sql|sql_save|incremental|save after 1% changed" \
    "sql|sql_save|other_object|1% changed, saved from a copy" \
    "sql|sql_save|floor_plain|plain INSERTs, 1 tx (floor)" \
    "sql|sql_save|floor_keyed|keyed INSERTs, 1 tx" \
    "sql|sql_load|mtsession|load" \
    "telethon|sql_save|telethon|Telethon process_entities+save" \
    "telethon|sql_save|telethon_incremental|Telethon 1% changed+save"
