#!/bin/sh
# The long crash run (not part of ctest): thousands of SIGKILL trials per
# backend (tests/crash/crash_kill.c), then the power-loss simulation
# (tests/powerloss/powerloss.c) over several seeds with a long random
# tail of operations.
#
# Usage: scripts/crash-slow.sh [BUILD_DIR]      (default: build/crash)
# Environment:
#   MTS_CRASH_TRIALS     trials per backend (default 3000)
#   MTS_CRASH_BACKENDS   a subset: file,file-sealed,sqlite,sqlite-sealed,libsql
#   MTS_TEST_SEED        replay one run (the kill moments still vary)
#   POWERLOSS_SEEDS      power-loss runs (default 5), each with
#   MTS_POWERLOSS_RANDOM_OPS random operations (default 400)
# Each binary prints its seed first; a failure names the trial and its
# seed. On a 2-core virtual machine the default took about 8 minutes for
# the SIGKILL trials (five backend configurations) and about 40 s per
# power-loss run.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build/crash}

if [ ! -x "$build/tests/crash_kill" ] || [ ! -x "$build/tests/powerloss" ]; then
    cmake -S "$root" -B "$build" -G Ninja -DMTS_WERROR=ON >/dev/null
fi
cmake --build "$build" --target crash_kill powerloss

export MTS_CRASH_TRIALS="${MTS_CRASH_TRIALS:-3000}"
echo "crash-slow: $MTS_CRASH_TRIALS SIGKILL trials per backend"
"$build/tests/crash_kill"

export MTS_POWERLOSS_RANDOM_OPS="${MTS_POWERLOSS_RANDOM_OPS:-400}"
seeds=${POWERLOSS_SEEDS:-5}
i=0
while [ "$i" -lt "$seeds" ]; do
    if [ -n "${MTS_TEST_SEED:-}" ]; then
        seed=$MTS_TEST_SEED
    else
        seed=$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')
    fi
    echo "crash-slow: power-loss run $((i + 1)) of $seeds," \
         "$MTS_POWERLOSS_RANDOM_OPS random operations"
    MTS_TEST_SEED=$seed "$build/tests/powerloss"
    i=$((i + 1))
done
echo "crash-slow: all trials passed"
