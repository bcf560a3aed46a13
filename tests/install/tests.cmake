# The installed package: headers, man page, SONAME, exported symbols, and
# clients built with find_package (shared and static) and pkg-config.
set(_mts_client_flags "")
if(MTS_SANITIZE)
    string(REPLACE ";" "," _mts_san "${MTS_SANITIZE}")
    set(_mts_client_flags "-fsanitize=${_mts_san}")
endif()
add_test(NAME install_consumer
         COMMAND ${CMAKE_CURRENT_LIST_DIR}/run.sh ${PROJECT_BINARY_DIR}
                 ${PROJECT_SOURCE_DIR} "${_mts_client_flags}"
                 ${CMAKE_C_COMPILER})
set_tests_properties(install_consumer PROPERTIES LABELS install TIMEOUT 300)
