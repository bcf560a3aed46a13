#!/bin/sh
# Install the build into a scratch prefix, then build a client of the
# installed library three ways: CMake find_package (shared and static
# targets) and pkg-config (shared). Each client must run and reload its
# session. Usage: run.sh BUILD_DIR SOURCE_DIR [CLIENT_FLAGS [CC]]
# CLIENT_FLAGS (e.g. the sanitizer flags of a sanitized build) are used to
# compile and link the clients, which must match the installed library.
set -eu
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
cflags=${3:-}
cc=${4:-cc}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0
failed=0
check() { # NAME COMMAND...
    name=$1
    shift
    if "$@" >"$work/out.txt" 2>&1; then
        passed=$((passed + 1))
        echo "ok   $name"
    else
        failed=$((failed + 1))
        echo "FAIL $name"
        sed 's/^/  /' "$work/out.txt" | tail -20
    fi
}
check install cmake --install "$build" --prefix "$work/prefix"
check headers test -f "$work/prefix/include/mtsession/mtsession.h" -a \
    -f "$work/prefix/include/mtsession/sys/backend.h" -a \
    -f "$work/prefix/include/mtsession/version.h"
check man-page test -f "$work/prefix/share/man/man1/mtsession.1"
check soname sh -c "objdump -p '$work/prefix/lib/libmtsession.so' | grep -q 'SONAME *libmtsession.so.0'"
check exports-only-mts sh -c "! nm -D --defined-only '$work/prefix/lib/libmtsession.so' | awk '{print \$3}' | grep -v '^mts_' | grep ."

mkdir -p "$work/consumer"
cp "$src/examples/minimal_client.c" "$work/consumer/"
cat >"$work/consumer/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.25)
project(consumer C)
find_package(mtsession 0.1 REQUIRED)
add_executable(shared_client minimal_client.c)
target_link_libraries(shared_client PRIVATE mtsession::mtsession)
add_executable(static_client minimal_client.c)
target_link_libraries(static_client PRIVATE mtsession::mtsession_static)
CM
check find-package cmake -S "$work/consumer" -B "$work/consumer/b" \
    -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_C_COMPILER="$cc" \
    -DCMAKE_C_FLAGS="$cflags" \
    -DCMAKE_EXE_LINKER_FLAGS="$cflags"
check consumer-build cmake --build "$work/consumer/b"
cd "$work"
check run-shared env LD_LIBRARY_PATH="$work/prefix/lib" \
    "$work/consumer/b/shared_client" "$work/a.session"
check run-static "$work/consumer/b/static_client" "$work/b.session"
export PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig"
check pkg-config-build sh -c "$cc $cflags -o '$work/pc_client' '$src/examples/minimal_client.c' \$(pkg-config --cflags --libs mtsession)"
check run-pkg-config env LD_LIBRARY_PATH="$work/prefix/lib" \
    "$work/pc_client" "$work/c.session"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
