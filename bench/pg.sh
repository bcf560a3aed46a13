#!/bin/sh
# bench/pg.sh - a throwaway PostgreSQL server for the benchmarks, with the
# durability settings PostgreSQL ships with (fsync, full_page_writes and
# synchronous_commit on), unlike the test suite's server
# (tests/postgres/ctl.sh), which turns fsync off for speed.
#
#   pg.sh start DIR   initdb a new cluster in a fresh temp directory, start
#                     it on a unix socket only (no TCP), and write into DIR:
#                       conninfo  "host=<socket dir> user=bench dbname=postgres"
#                       pid       the postmaster's pid
#                       tmp       the temp directory (data, socket, log)
#                       version   the server's version
#   pg.sh stop DIR    stop the server recorded in DIR (by its pid) and
#                     remove its temp directory
#
# As root the server runs as the "postgres" user (runuser): PostgreSQL
# refuses to run as root. PG_BINDIR names the server's binaries (default:
# the newest /usr/lib/postgresql/*/bin with an initdb). A watchdog stops
# the server after MTS_PG_MAX_SECONDS (default 3600) if nobody did.
set -u
cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: pg.sh start|stop DIR" >&2; exit 2; }

bindir=${PG_BINDIR:-}
if [ -z "$bindir" ]; then
    for d in /usr/lib/postgresql/*/bin; do
        [ -x "$d/initdb" ] && bindir=$d
    done
fi

run_as_pg() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# Whether the process runs and is a postgres server (not a zombie, nor
# another process that reuses the recorded pid).
is_server() {
    kill -0 "$1" 2>/dev/null || return 1
    [ -r "/proc/$1/stat" ] || return 0
    case $(cut -d ' ' -f 3 "/proc/$1/stat" 2>/dev/null) in
    Z | X | "") return 1 ;;
    esac
    case $(cat "/proc/$1/comm" 2>/dev/null) in
    postgres* | postmaster*) return 0 ;;
    esac
    return 1
}

stop() {
    tmp=""
    [ -f "$dir/tmp" ] && tmp=$(cat "$dir/tmp")
    if [ -f "$dir/pid" ]; then
        pid=$(cat "$dir/pid")
        if is_server "$pid"; then
            kill -INT "$pid" 2>/dev/null # fast shutdown
            i=0
            while is_server "$pid" && [ $i -lt 100 ]; do
                sleep 0.1
                i=$((i + 1))
            done
            if is_server "$pid"; then
                kill -QUIT "$pid" 2>/dev/null
                sleep 0.5
            fi
        fi
    fi
    case "$tmp" in
    /*/mts-bench-pg.*) rm -rf "$tmp" ;;
    esac
    rm -f "$dir/pid" "$dir/tmp" "$dir/conninfo" "$dir/version"
    return 0
}

case "$cmd" in
start)
    if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ] || [ ! -x "$bindir/pg_ctl" ]; then
        echo "pg.sh: no PostgreSQL server binaries (Debian: postgresql-15, or set PG_BINDIR)" >&2
        exit 1
    fi
    mkdir -p "$dir"
    stop
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/mts-bench-pg.XXXXXX") || exit 1
    echo "$tmp" >"$dir/tmp"
    if [ "$(id -u)" = 0 ]; then
        chown postgres: "$tmp" || { stop; exit 1; }
    fi
    chmod 700 "$tmp"
    if ! run_as_pg "$bindir/initdb" -D "$tmp/data" -U bench -A trust -E UTF8 \
        --no-instructions >"$tmp/initdb.log" 2>&1; then
        echo "pg.sh: initdb failed:" >&2
        cat "$tmp/initdb.log" >&2
        stop
        exit 1
    fi
    if ! run_as_pg "$bindir/pg_ctl" -D "$tmp/data" -l "$tmp/log" -w -s -t 30 \
        -o "-c listen_addresses='' -k $tmp -c max_connections=20" start; then
        echo "pg.sh: the server did not start:" >&2
        cat "$tmp/log" >&2
        stop
        exit 1
    fi
    head -n 1 "$tmp/data/postmaster.pid" >"$dir/pid"
    echo "host=$tmp user=bench dbname=postgres" >"$dir/conninfo"
    "$bindir/postgres" --version 2>/dev/null | sed 's/^postgres (PostgreSQL) //' >"$dir/version"
    nohup sh "$0" watchdog "$dir" "$(cat "$dir/pid")" </dev/null >/dev/null 2>&1 &
    echo "postgres bench server: pid $(cat "$dir/pid"), $(cat "$dir/conninfo")"
    ;;
stop)
    stop
    echo "postgres bench server stopped"
    ;;
watchdog)
    pid=${3:-}
    left=${MTS_PG_MAX_SECONDS:-3600}
    while [ "$left" -gt 0 ]; do
        sleep 1
        left=$((left - 1))
        [ -f "$dir/pid" ] && [ "$(cat "$dir/pid" 2>/dev/null)" = "$pid" ] || exit 0
    done
    stop
    ;;
*)
    echo "usage: pg.sh start|stop DIR" >&2
    exit 2
    ;;
esac
