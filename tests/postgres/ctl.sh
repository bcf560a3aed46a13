#!/bin/sh
# ctl.sh - a throwaway PostgreSQL server for the postgres backend's tests
# (ctest fixture setup and cleanup; also usable by hand).
#
#   ctl.sh start DIR   initdb a new cluster in a fresh temp directory, start
#                      it on a unix socket only (no TCP), and write into DIR:
#                        conninfo  "host=<socket dir> user=test dbname=postgres"
#                        pid       the postmaster's pid
#                        tmp       the temp directory (data, socket, log)
#   ctl.sh stop DIR    stop the server recorded in DIR (by its pid) and
#                      remove its temp directory
#
# A watchdog started with the server stops it after MTS_PG_MAX_SECONDS
# (default 1800), so an interrupted ctest run (whose cleanup fixture never
# ran) does not leave it behind for long; it exits by itself as soon as the
# server is stopped or replaced.
#
# The cluster is for tests only: fsync=off and full_page_writes=off make it
# start and write fast and make it unsafe against an operating-system crash
# (a crash of the machine can lose or corrupt it). synchronous_commit stays
# on, as in production. Never use these settings for a real store.
# MTS_PG_MODE=durable (bench/pg.sh) keeps PostgreSQL's own durability
# settings instead (fsync, full_page_writes, synchronous_commit on), names
# the role "bench" rather than "test", and gives the watchdog an hour.
#
# Besides conninfo, pid and tmp, start writes DIR/version (the server's
# version).
#
# PostgreSQL refuses to run as root. As root the server runs as the
# "postgres" user (runuser), which then owns the temp directory.
# PG_BINDIR names the server's binaries (default: the newest
# /usr/lib/postgresql/*/bin with an initdb).
set -u
cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: ctl.sh start|stop DIR" >&2; exit 2; }

case ${MTS_PG_MODE:-test} in
test)
    role=test what="test server" max_default=1800
    initdb_opts="--no-sync"
    server_opts="-c fsync=off -c full_page_writes=off -c max_connections=60"
    ;;
durable)
    role=bench what="bench server (durable settings)" max_default=3600
    initdb_opts=""
    server_opts="-c max_connections=20"
    ;;
*)
    echo "ctl.sh: MTS_PG_MODE must be test or durable" >&2
    exit 2
    ;;
esac

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

# Whether the process runs and is a postgres server (a zombie, or another
# process that reuses the recorded pid, is not).
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
            # SIGINT: "fast" shutdown (sessions are ended, no waiting)
            kill -INT "$pid" 2>/dev/null
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
    /*/mts-pg.*) rm -rf "$tmp" ;;
    esac
    rm -f "$dir/pid" "$dir/tmp" "$dir/conninfo" "$dir/version"
    return 0
}

case "$cmd" in
start)
    if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ] || [ ! -x "$bindir/pg_ctl" ]; then
        echo "ctl.sh: no PostgreSQL server binaries (apt-get install postgresql-15," \
             "or set PG_BINDIR)" >&2
        exit 1
    fi
    mkdir -p "$dir"
    stop
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/mts-pg.XXXXXX") || exit 1
    echo "$tmp" >"$dir/tmp"
    if [ "$(id -u)" = 0 ]; then
        chown postgres: "$tmp" || { stop; exit 1; }
    fi
    chmod 700 "$tmp"
    # shellcheck disable=SC2086 # $initdb_opts: zero or one word
    if ! run_as_pg "$bindir/initdb" -D "$tmp/data" -U $role -A trust -E UTF8 \
        $initdb_opts --no-instructions >"$tmp/initdb.log" 2>&1; then
        echo "ctl.sh: initdb failed:" >&2
        cat "$tmp/initdb.log" >&2
        stop
        exit 1
    fi
    if ! run_as_pg "$bindir/pg_ctl" -D "$tmp/data" -l "$tmp/log" -w -s -t 30 \
        -o "-c listen_addresses='' -k $tmp $server_opts" start; then
        echo "ctl.sh: the server did not start:" >&2
        cat "$tmp/log" >&2
        stop
        exit 1
    fi
    head -n 1 "$tmp/data/postmaster.pid" >"$dir/pid"
    echo "host=$tmp user=$role dbname=postgres" >"$dir/conninfo"
    "$bindir/postgres" --version 2>/dev/null |
        sed 's/^postgres (PostgreSQL) //' >"$dir/version"
    nohup sh "$0" watchdog "$dir" "$(cat "$dir/pid")" </dev/null >/dev/null 2>&1 &
    echo "postgres $what: pid $(cat "$dir/pid"), $(cat "$dir/conninfo")"
    ;;
stop)
    stop
    echo "postgres $what stopped"
    ;;
watchdog)
    pid=${3:-}
    left=${MTS_PG_MAX_SECONDS:-$max_default}
    while [ "$left" -gt 0 ]; do
        sleep 1
        left=$((left - 1))
        [ -f "$dir/pid" ] && [ "$(cat "$dir/pid" 2>/dev/null)" = "$pid" ] || exit 0
    done
    stop
    ;;
*)
    echo "usage: ctl.sh start|stop DIR" >&2
    exit 2
    ;;
esac
