# The command-line tool, end to end: tests/cli/run.sh drives the built
# binary against the golden files in tests/data/cli (label "cli").
if(TARGET mtsession_cli)
    find_program(MTS_BASH bash)
    if(MTS_BASH)
        add_test(NAME cli
                 COMMAND ${MTS_BASH} ${CMAKE_CURRENT_LIST_DIR}/run.sh
                         $<TARGET_FILE:mtsession_cli>
                         ${PROJECT_SOURCE_DIR}/tests/data/cli
                         ${PROJECT_VERSION})
        set_tests_properties(cli PROPERTIES LABELS "cli" TIMEOUT 120)
    else()
        message(STATUS "bash not found: the cli test is not registered")
    endif()
endif()
if(TARGET mtsession_cli)
    add_executable(cli_journal_writer ${CMAKE_CURRENT_LIST_DIR}/journal_writer.c)
    target_link_libraries(cli_journal_writer PRIVATE mtsession_static)
    mts_apply_test_warnings(cli_journal_writer)
    add_test(NAME cli_journal
             COMMAND ${CMAKE_CURRENT_LIST_DIR}/journal.sh
                     $<TARGET_FILE:mtsession_cli>
                     $<TARGET_FILE:cli_journal_writer>)
    set_tests_properties(cli_journal PROPERTIES LABELS "cli" TIMEOUT 60)
endif()
# The lease command and --owner on a postgres store, against the postgres
# tests' throwaway server (fixture postgres_server, tests/postgres);
# skipped (77) when there is none.
if(TARGET mtsession_cli AND MTS_HAVE_POSTGRES)
    find_program(MTS_SH sh)
    if(MTS_SH)
        add_test(NAME cli_lease_postgres
                 COMMAND ${MTS_SH} ${CMAKE_CURRENT_LIST_DIR}/lease_pg.sh
                         $<TARGET_FILE:mtsession_cli>)
        set_tests_properties(cli_lease_postgres PROPERTIES
            LABELS "cli;postgres;lease" TIMEOUT 60 SKIP_RETURN_CODE 77
            FIXTURES_REQUIRED postgres_server
            ENVIRONMENT
                "MTS_PG_CONNINFO_FILE=${CMAKE_CURRENT_BINARY_DIR}/postgres-run/conninfo")
    endif()
endif()
