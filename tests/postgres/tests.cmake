# The PostgreSQL backend (src/backends/postgres.c).
#
# ctest starts a throwaway server (postgres_server_start, a fixture setup:
# tests/postgres/ctl.sh runs initdb into a fresh temp directory and starts
# the server on a unix socket only, as the "postgres" user when run as
# root, with fsync off), runs the tests against it, and stops it by its pid
# at the end even after a failure (postgres_server_stop, the fixture
# cleanup). The server's binaries come from PG_BINDIR or the newest
# /usr/lib/postgresql/*/bin; without them the tests are not registered and
# a test that says so is skipped loudly.
if(MTS_HAVE_POSTGRES)
    set(MTS_PG_TEST_DIR ${CMAKE_CURRENT_LIST_DIR})
    set(MTS_PG_RUN ${CMAKE_CURRENT_BINARY_DIR}/postgres-run)
    file(GLOB _mts_pg_bindirs /usr/lib/postgresql/*/bin)
    find_program(MTS_PG_INITDB NAMES initdb HINTS ENV PG_BINDIR ${_mts_pg_bindirs}
                 NO_DEFAULT_PATH)
    if(NOT MTS_PG_INITDB)
        find_program(MTS_PG_INITDB NAMES initdb)
    endif()

    if(MTS_PG_INITDB)
        get_filename_component(MTS_PG_BINDIR ${MTS_PG_INITDB} DIRECTORY)
        add_test(NAME postgres_server_start
            COMMAND sh ${MTS_PG_TEST_DIR}/ctl.sh start ${MTS_PG_RUN})
        set_tests_properties(postgres_server_start PROPERTIES
            FIXTURES_SETUP postgres_server ENVIRONMENT "PG_BINDIR=${MTS_PG_BINDIR}"
            LABELS postgres TIMEOUT 60)
        add_test(NAME postgres_server_stop
            COMMAND sh ${MTS_PG_TEST_DIR}/ctl.sh stop ${MTS_PG_RUN})
        set_tests_properties(postgres_server_stop PROPERTIES
            FIXTURES_CLEANUP postgres_server LABELS postgres TIMEOUT 60)

        add_library(mts_pg_test_helpers STATIC ${MTS_PG_TEST_DIR}/pg_helpers.c)
        target_include_directories(mts_pg_test_helpers PUBLIC ${MTS_PG_TEST_DIR})
        target_compile_definitions(mts_pg_test_helpers PRIVATE _GNU_SOURCE)
        target_link_libraries(mts_pg_test_helpers PUBLIC mtsession_static
            mts_harness ${MTS_LIBPQ_TARGET})
        mts_apply_test_warnings(mts_pg_test_helpers)

        foreach(_mts_pg_t conformance lease connloss contention sealed optimistic rekey)
            mts_add_test(NAME postgres_${_mts_pg_t}
                SOURCES ${MTS_PG_TEST_DIR}/pg_${_mts_pg_t}.c
                LABELS postgres TIMEOUT 180)
            target_link_libraries(postgres_${_mts_pg_t} PRIVATE
                mts_conformance mts_pg_test_helpers Threads::Threads)
            set_tests_properties(postgres_${_mts_pg_t} PROPERTIES
                FIXTURES_REQUIRED postgres_server
                ENVIRONMENT "MTS_PG_CONNINFO_FILE=${MTS_PG_RUN}/conninfo")
        endforeach()
        set_property(TEST postgres_conformance APPEND PROPERTY LABELS conformance)
        set_property(TEST postgres_contention APPEND PROPERTY LABELS slow)
    else()
        message(WARNING "PostgreSQL server binaries (initdb) not found: the "
                        "postgres backend's tests cannot start a server "
                        "(apt-get install postgresql-15, or set PG_BINDIR)")
        add_test(NAME postgres_server_missing
            COMMAND sh -c "echo 'postgres tests skipped: no initdb (apt-get install postgresql-15)' >&2; exit 77")
        set_tests_properties(postgres_server_missing PROPERTIES
            SKIP_RETURN_CODE 77 LABELS postgres)
    endif()
endif()
