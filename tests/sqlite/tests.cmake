# The SQLite backend (src/backends/sqlite.c): the shared conformance suite,
# unit tests against a raw sqlite3 connection, and the concurrency tests.
if(MTS_HAVE_SQLITE_BACKEND)
    set(MTS_SQLITE_TEST_DIR ${CMAKE_CURRENT_LIST_DIR})
    add_library(mts_sqlite_test_helpers STATIC
        ${MTS_SQLITE_TEST_DIR}/helpers.c)
    target_include_directories(mts_sqlite_test_helpers PUBLIC
        ${MTS_SQLITE_TEST_DIR} ${PROJECT_SOURCE_DIR}/src/core
        ${PROJECT_SOURCE_DIR}/src/backends)
    target_compile_definitions(mts_sqlite_test_helpers PRIVATE _GNU_SOURCE)
    target_link_libraries(mts_sqlite_test_helpers PUBLIC mtsession_static
        mts_harness mts_fixtures SQLite::SQLite3 Threads::Threads)
    mts_apply_test_warnings(mts_sqlite_test_helpers)

    mts_add_test(NAME sqlite_conformance
        SOURCES ${MTS_SQLITE_TEST_DIR}/sqlite_conformance.c
        LABELS conformance TIMEOUT 300)
    target_link_libraries(sqlite_conformance PRIVATE mts_conformance
        mts_sqlite_test_helpers)

    mts_add_test(NAME sqlite_unit
        SOURCES ${MTS_SQLITE_TEST_DIR}/sqlite_unit.c
        LABELS unit TIMEOUT 120)
    target_link_libraries(sqlite_unit PRIVATE mts_sqlite_test_helpers)

    mts_add_test(NAME sqlite_concurrency
        SOURCES ${MTS_SQLITE_TEST_DIR}/sqlite_concurrency.c
        LABELS unit slow TIMEOUT 300)
    target_link_libraries(sqlite_concurrency PRIVATE mts_sqlite_test_helpers)
endif()

# Incremental saves (triggers and sqlite3_trace_v2 count what a save
# writes and reads) and sealed secret columns.
if(MTS_HAVE_SQLITE_BACKEND)
    mts_add_test(NAME sqlite_incremental
        SOURCES ${MTS_SQLITE_TEST_DIR}/sqlite_incremental.c
        LABELS unit TIMEOUT 300)
    target_link_libraries(sqlite_incremental PRIVATE mts_sqlite_test_helpers)

    mts_add_test(NAME sqlite_sealed
        SOURCES ${MTS_SQLITE_TEST_DIR}/sqlite_sealed.c
        LABELS unit conformance TIMEOUT 300)
    target_link_libraries(sqlite_sealed PRIVATE mts_conformance
        mts_sqlite_test_helpers)
endif()

# Optimistic mode (load_rev, save_if) across processes, old rows, leases.
if(MTS_HAVE_SQLITE_BACKEND)
    mts_add_test(NAME sqlite_optimistic
        SOURCES ${MTS_SQLITE_TEST_DIR}/sqlite_optimistic.c
        LABELS unit TIMEOUT 300)
    target_link_libraries(sqlite_optimistic PRIVATE mts_conformance
        mts_sqlite_test_helpers)
endif()
