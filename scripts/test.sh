#!/bin/sh
# Build with warnings as errors and run the whole test suite twice: a
# normal build, then an AddressSanitizer + UBSan build (clang).
# Usage: scripts/test.sh [--no-asan]
set -eu
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)

cmake --preset dev >/dev/null
cmake --build --preset dev -j "$jobs"
ctest --preset dev -j "$jobs"

if [ "${1:-}" != "--no-asan" ]; then
    cmake --preset asan >/dev/null
    cmake --build --preset asan -j "$jobs"
    ctest --preset asan -j "$jobs"
fi
echo "test.sh: all suites passed"
