# The installed package: headers, man page, SONAME, exported symbols, and
# clients built with find_package (shared and static) and pkg-config.
add_test(NAME install_consumer
         COMMAND ${CMAKE_CURRENT_LIST_DIR}/run.sh ${PROJECT_BINARY_DIR}
                 ${PROJECT_SOURCE_DIR})
set_tests_properties(install_consumer PROPERTIES LABELS install TIMEOUT 300)
