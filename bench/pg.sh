#!/bin/sh
# bench/pg.sh - a throwaway PostgreSQL server for the benchmarks, with the
# durability settings PostgreSQL ships with (fsync, full_page_writes and
# synchronous_commit on), unlike the test suite's server, which turns fsync
# off for speed. The test suite's tests/postgres/ctl.sh in its durable mode.
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
# As root the server runs as the "postgres" user (runuser). PG_BINDIR names
# the server's binaries. A watchdog stops the server after
# MTS_PG_MAX_SECONDS (default 3600) if nobody did.
MTS_PG_MODE=durable
export MTS_PG_MODE
exec sh "$(dirname "$0")/../tests/postgres/ctl.sh" "$@"
