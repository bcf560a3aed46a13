#!/bin/sh
# ctl.sh - start and stop the Hrana test server for ctest (fixture setup and
# cleanup tests).
#
#   ctl.sh start DIR TOKEN   start a server on 127.0.0.1 (port chosen by the
#                            server) with its database in DIR; write DIR/port
#                            and DIR/pid; fail if it is not up within 15 s
#   ctl.sh stop DIR          stop the server whose pid is in DIR/pid
#
# NODE names the node binary (default: node). The server exits by itself
# after 15 minutes without requests, so an interrupted ctest run does not
# leave it behind for long.
set -u
here=$(cd "$(dirname "$0")" && pwd)
node=${NODE:-node}
cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: ctl.sh start DIR TOKEN | stop DIR" >&2; exit 2; }

# Whether the process runs (a zombie waiting for init to reap it does not).
alive() {
    kill -0 "$1" 2>/dev/null || return 1
    [ -r "/proc/$1/stat" ] || return 0
    case $(cut -d ' ' -f 3 "/proc/$1/stat" 2>/dev/null) in
    Z | X | "") return 1 ;;
    esac
    return 0
}

stop() {
    [ -f "$dir/pid" ] || return 0
    pid=$(cat "$dir/pid")
    rm -f "$dir/pid" "$dir/port"
    # never signal a process that merely reuses the recorded pid
    if [ -r "/proc/$pid/cmdline" ] &&
        ! tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "server.mjs"; then
        return 0
    fi
    kill "$pid" 2>/dev/null || return 0
    i=0
    while alive "$pid" && [ $i -lt 50 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    alive "$pid" && kill -9 "$pid" 2>/dev/null
    return 0
}

case "$cmd" in
start)
    token=${3:-}
    [ -n "$token" ] || { echo "ctl.sh start: a token is required" >&2; exit 2; }
    if [ ! -d "$here/node_modules/libsql" ]; then
        echo "ctl.sh: the test server's packages are not installed; run: npm ci --prefix tests/hrana-server" >&2
        exit 1
    fi
    mkdir -p "$dir"
    stop
    rm -f "$dir/db.sqlite" "$dir/db.sqlite-wal" "$dir/db.sqlite-shm" "$dir/stdout"
    "$node" "$here/server.mjs" --db "$dir/db.sqlite" --token "$token" --idle-exit 900 \
        </dev/null >"$dir/stdout" 2>"$dir/stderr" &
    pid=$!
    echo "$pid" >"$dir/pid"
    i=0
    while [ $i -lt 150 ]; do
        port=$(head -n 1 "$dir/stdout" 2>/dev/null)
        case "$port" in
        [0-9]*)
            echo "$port" >"$dir/port"
            echo "hrana test server: pid $pid, http://127.0.0.1:$port"
            exit 0
            ;;
        esac
        if ! alive "$pid"; then
            echo "ctl.sh: the server exited:" >&2
            cat "$dir/stderr" >&2
            rm -f "$dir/pid"
            exit 1
        fi
        sleep 0.1
        i=$((i + 1))
    done
    echo "ctl.sh: the server did not start within 15 s:" >&2
    cat "$dir/stderr" >&2
    stop
    exit 1
    ;;
stop)
    stop
    echo "hrana test server stopped"
    ;;
*)
    echo "usage: ctl.sh start DIR TOKEN | stop DIR" >&2
    exit 2
    ;;
esac
