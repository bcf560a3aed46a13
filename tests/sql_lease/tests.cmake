# Leases and fencing on the SQLite backend and libSQL local files
# (src/backends/sqlite.c): sql_lease checks each step and the v2 -> v3
# migration; sql_lease_contention races eight processes for one lease.
if(MTS_HAVE_SQLITE_BACKEND)
    set(MTS_SQL_LEASE_TEST_DIR ${CMAKE_CURRENT_LIST_DIR})
    foreach(_mts_sl_t sql_lease sql_lease_contention)
        mts_add_test(NAME ${_mts_sl_t}
            SOURCES ${MTS_SQL_LEASE_TEST_DIR}/${_mts_sl_t}.c
            LABELS unit TIMEOUT 120)
        target_link_libraries(${_mts_sl_t} PRIVATE mts_sqlite_test_helpers)
        if(MTS_HAVE_LIBSQL)
            target_compile_definitions(${_mts_sl_t} PRIVATE MTS_TEST_LIBSQL=1)
        endif()
    endforeach()
    target_link_libraries(sql_lease_contention PRIVATE mts_lease_contention)
endif()
