# Core: model, codec, allocation failures.
add_library(mts_fixtures STATIC ${CMAKE_CURRENT_LIST_DIR}/../common/fixtures.c
    ${CMAKE_CURRENT_LIST_DIR}/../common/failalloc.c)
target_include_directories(mts_fixtures PUBLIC ${CMAKE_CURRENT_LIST_DIR}/../common)
target_link_libraries(mts_fixtures PUBLIC mtsession_static mts_harness)
mts_apply_test_warnings(mts_fixtures)

mts_add_test(NAME core_codec SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_codec.c
             LABELS unit data)
target_link_libraries(core_codec PRIVATE mts_fixtures)

mts_add_test(NAME core_session SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_session.c
             LABELS unit)
target_link_libraries(core_session PRIVATE mts_fixtures)

mts_add_test(NAME core_alloc SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_alloc.c
             LABELS unit fault)
target_link_libraries(core_alloc PRIVATE mts_fixtures)

mts_add_test(NAME core_docs SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_docs.c
             LABELS unit data)
target_link_libraries(core_docs PRIVATE mts_fixtures)

mts_add_test(NAME core_seal SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_seal.c
             LABELS unit)
target_link_libraries(core_seal PRIVATE mts_fixtures)

mts_add_test(NAME core_dirty SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_dirty.c
             LABELS unit)
target_link_libraries(core_dirty PRIVATE mts_fixtures)

mts_add_test(NAME core_storage_rev
             SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_storage_rev.c
             LABELS unit)
target_link_libraries(core_storage_rev PRIVATE mts_fixtures)

mts_add_test(NAME core_bulk SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_bulk.c
             LABELS unit)
target_link_libraries(core_bulk PRIVATE mts_fixtures)

mts_add_test(NAME core_stream SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_stream.c
             LABELS unit)
target_link_libraries(core_stream PRIVATE mts_fixtures)
