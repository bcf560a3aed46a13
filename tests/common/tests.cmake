# Helpers shared by several suites (fixtures.c and failalloc.c are built by
# tests/core/tests.cmake as mts_fixtures).
#
# mts_lease_contention: the eight-process lease race of lease_contention.h,
# linked by sql_lease_contention and libsql_lease_contention.
add_library(mts_lease_contention STATIC
    ${CMAKE_CURRENT_LIST_DIR}/lease_contention.c)
target_compile_definitions(mts_lease_contention PRIVATE _GNU_SOURCE)
target_include_directories(mts_lease_contention PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(mts_lease_contention PUBLIC mts_fixtures)
mts_apply_test_warnings(mts_lease_contention)
