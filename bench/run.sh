#!/bin/sh
# Build the release preset and run every benchmark.
set -eu
cd "$(dirname "$0")/.."
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc 2>/dev/null || echo 2)" --target bench_codec >/dev/null
echo "## bench_codec ($(date -u +%Y-%m-%d), $(nproc) cores)"
build/release/bench/bench_codec "${1:-5}"
