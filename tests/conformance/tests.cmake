# The backend conformance suite. Other backends add their own runner
# linking mts_conformance.
add_library(mts_conformance STATIC ${CMAKE_CURRENT_LIST_DIR}/conformance.c
    ${CMAKE_CURRENT_LIST_DIR}/race.c)
target_compile_definitions(mts_conformance PRIVATE _GNU_SOURCE)
target_include_directories(mts_conformance PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(mts_conformance PUBLIC mts_fixtures Threads::Threads)
mts_apply_test_warnings(mts_conformance)

mts_add_test(NAME conformance_builtin
             SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_builtin.c
             LABELS conformance)
target_link_libraries(conformance_builtin PRIVATE mts_conformance)
