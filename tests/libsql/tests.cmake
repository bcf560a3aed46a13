# The libSQL backend (src/backends/libsql.c, hrana.c).
#
# libsql_local runs without a server. The remote tests need the Hrana test
# server (tests/hrana-server, Node.js with its npm packages installed by
# `npm ci --prefix tests/hrana-server`): ctest starts it (hrana_server_start,
# a fixture setup), proves it faithful with the official clients
# (hrana_official_clients), then runs the C client's tests (libsql_remote,
# libsql_remote_lease) and stops it at the end even after a failure
# (hrana_server_stop, the fixture cleanup). libsql_lease_contention starts
# and stops a server of its own.
if(MTS_HAVE_LIBSQL)
    set(MTS_LIBSQL_TEST_DIR ${CMAKE_CURRENT_LIST_DIR})
    set(MTS_HRANA_DIR ${PROJECT_SOURCE_DIR}/tests/hrana-server)
    set(MTS_HRANA_RUN ${CMAKE_CURRENT_BINARY_DIR}/hrana-run)
    set(MTS_HRANA_TOKEN "mts-hrana-test-token")

    # Shared by the remote tests: the server's address, a private server,
    # handles and loads that fail the case (remote_helpers.h).
    add_library(mts_libsql_remote_helpers STATIC
        ${MTS_LIBSQL_TEST_DIR}/remote_helpers.c)
    target_compile_definitions(mts_libsql_remote_helpers PRIVATE _GNU_SOURCE)
    target_include_directories(mts_libsql_remote_helpers
        PUBLIC ${MTS_LIBSQL_TEST_DIR}
        PRIVATE ${PROJECT_SOURCE_DIR}/src/backends ${PROJECT_SOURCE_DIR}/src/core)
    target_link_libraries(mts_libsql_remote_helpers PUBLIC mtsession_static
        mts_harness)
    mts_apply_test_warnings(mts_libsql_remote_helpers)

    mts_add_test(NAME libsql_local
        SOURCES ${MTS_LIBSQL_TEST_DIR}/libsql_local.c
        LABELS conformance libsql TIMEOUT 300)
    target_include_directories(libsql_local PRIVATE
        ${PROJECT_SOURCE_DIR}/src/backends)
    target_link_libraries(libsql_local PRIVATE mts_conformance
        SQLite::SQLite3)

    find_program(MTS_NODE NAMES node nodejs)

    # Eight processes race for one lease on a private test server; skipped
    # (77) when node or the server's npm packages are missing.
    mts_add_test(NAME libsql_lease_contention
        SOURCES ${MTS_LIBSQL_TEST_DIR}/libsql_lease_contention.c
        LABELS lease libsql TIMEOUT 120)
    target_link_libraries(libsql_lease_contention PRIVATE
        mts_lease_contention mts_libsql_remote_helpers)
    set_tests_properties(libsql_lease_contention PROPERTIES
        ENVIRONMENT "MTS_HRANA_NODE=${MTS_NODE};MTS_HRANA_SERVER=${MTS_HRANA_DIR}/server.mjs")
    if(MTS_NODE)
        add_test(NAME hrana_server_start
            COMMAND sh ${MTS_HRANA_DIR}/ctl.sh start ${MTS_HRANA_RUN}
                    ${MTS_HRANA_TOKEN})
        set_tests_properties(hrana_server_start PROPERTIES
            FIXTURES_SETUP hrana_server ENVIRONMENT "NODE=${MTS_NODE}"
            LABELS libsql TIMEOUT 60)
        add_test(NAME hrana_server_stop
            COMMAND sh ${MTS_HRANA_DIR}/ctl.sh stop ${MTS_HRANA_RUN})
        set_tests_properties(hrana_server_stop PROPERTIES
            FIXTURES_CLEANUP hrana_server LABELS libsql TIMEOUT 60)

        add_test(NAME hrana_official_clients
            COMMAND ${MTS_NODE} ${MTS_HRANA_DIR}/official-clients.mjs
                    --port-file ${MTS_HRANA_RUN}/port ${MTS_HRANA_TOKEN})
        set_tests_properties(hrana_official_clients PROPERTIES
            FIXTURES_REQUIRED hrana_server FIXTURES_SETUP hrana_faithful
            LABELS libsql TIMEOUT 120)

        mts_add_test(NAME libsql_remote
            SOURCES ${MTS_LIBSQL_TEST_DIR}/libsql_remote.c
            LABELS conformance libsql TIMEOUT 600)
        target_include_directories(libsql_remote PRIVATE
            ${PROJECT_SOURCE_DIR}/src/backends)
        target_link_libraries(libsql_remote PRIVATE mts_conformance
            mts_libsql_remote_helpers CURL::libcurl SQLite::SQLite3)
        set_tests_properties(libsql_remote PROPERTIES
            FIXTURES_REQUIRED "hrana_server;hrana_faithful"
            ENVIRONMENT "MTS_HRANA_PORT_FILE=${MTS_HRANA_RUN}/port;MTS_HRANA_DB=${MTS_HRANA_RUN}/db.sqlite;MTS_HRANA_TOKEN=${MTS_HRANA_TOKEN};MTS_HRANA_NODE=${MTS_NODE};MTS_HRANA_SERVER=${MTS_HRANA_DIR}/server.mjs")

        # Leases with fencing and optimistic mode on remote and replica
        # stores, step by step, on the shared server.
        mts_add_test(NAME libsql_remote_lease
            SOURCES ${MTS_LIBSQL_TEST_DIR}/libsql_remote_lease.c
            LABELS lease libsql TIMEOUT 120)
        target_link_libraries(libsql_remote_lease PRIVATE mts_conformance
            mts_libsql_remote_helpers)
        set_tests_properties(libsql_remote_lease PROPERTIES
            FIXTURES_REQUIRED "hrana_server;hrana_faithful"
            ENVIRONMENT "MTS_HRANA_PORT_FILE=${MTS_HRANA_RUN}/port;MTS_HRANA_TOKEN=${MTS_HRANA_TOKEN}")
    else()
        message(WARNING "node not found: the libSQL remote tests (Hrana test "
                        "server, official clients) are not registered")
    endif()
endif()
