#!/bin/sh
# bench/plot.sh - draw the benchmark results (bench/out/*.tsv, written by
# bench/run.sh) as log-log plots of time against peer count, one SVG per
# workload, and the fleet section's fenced/unfenced ratios as bars
# (fenced.svg), into docs/bench/. Needs gnuplot (Debian: gnuplot-nox).
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

# The start every chart's gnuplot script shares: an SVG of 860 x height
# pixels written to $dir/<name>.svg, with its title.
svg_head() { # name height title
    printf 'set encoding utf8\n'
    printf 'set terminal svg size 860,%s dynamic noenhanced font "sans,12" background "white"\n' "$2"
    printf 'set output "%s"\n' "$dir/$1.svg"
    printf 'set title "%s"\n' "$3"
}

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
$(svg_head "$name" 560 "$title")
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

# Section 7 (bench_fenced): what holding a lease costs, as grouped bars
# per backend: the fenced median over the unfenced one, for a save of 10k
# peers and for an apply_update_state call (1 = the fence costs nothing).
# Skipped rows leave a gap; the absolute times are in the report's table.
fenced_bars() {
    [ -f "$out/fenced.tsv" ] || return 0
    awk -F '\t' '
        $8 == "s" { v[$1 "|" $2] = $5 }
        function r(w, k) {
            if (((w "_fenced|" k) in v) && ((w "_unfenced|" k) in v) &&
                v[w "_unfenced|" k] > 0)
                return sprintf("%.4f", v[w "_fenced|" k] / v[w "_unfenced|" k])
            return "-"
        }
        END {
            n = split("file sqlite libsql_local libsql_remote postgres", b, " ")
            split("file|SQLite|libSQL local|libSQL remote|PostgreSQL", l, "|")
            for (i = 1; i <= n; i++)
                if (r("save", b[i]) != "-" || r("apply", b[i]) != "-")
                    printf "\"%s\" %s %s\n", l[i], r("save", b[i]), r("apply", b[i])
        }' "$out/fenced.tsv" >"$tmp/fenced.dat"
    if [ ! -s "$tmp/fenced.dat" ]; then
        echo "plot.sh: no data for fenced" >&2
        return 0
    fi
    gnuplot <<END
$(svg_head fenced 480 "Fleet: a write with a lease held, over the same write without one (medians, durable)")
set datafile missing "-"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set ylabel "fenced / unfenced (1: the fence costs nothing)"
set arrow from graph 0, first 1 to graph 1, first 1 nohead dashtype 2 lc rgb "black"
set yrange [0:*]
set grid ytics
set key top left
set xtics nomirror
plot "$tmp/fenced.dat" using 2:xtic(1) title "save of a 10k-peer session" lc rgb "#8da0cb", \
     "" using 3 title "apply_update_state PRIMARY" lc rgb "#fc8d62"
END
    echo "wrote $dir/fenced.svg"
}
fenced_bars
