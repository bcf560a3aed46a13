#!/bin/sh
# Install everything mtsession needs to build and test on Debian 12.
# Run as root or with sudo available. Safe to run again.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
    build-essential cmake ninja-build pkg-config git ca-certificates \
    clang libclang-rt-14-dev \
    libsodium-dev libsqlite3-dev sqlite3 libcurl4-openssl-dev libjansson-dev \
    python3 python3-telethon xxd gnuplot-nox postgresql-15 libpq-dev >/dev/null
# Node.js and npm: the machine may already carry its own (newer) build,
# which conflicts with Debian's npm package; install Debian's only if
# there is none.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
# Node packages for the test servers and the real-library checks, pinned by
# their lock files.
for dir in tests/hrana-server tests/realibs/node; do
    if [ -f "$here/$dir/package-lock.json" ]; then
        (cd "$here/$dir" && npm ci --no-audit --no-fund --loglevel=error)
    fi
done
echo "install-deps: done"
