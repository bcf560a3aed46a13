mts_add_test(NAME detect_cross_format
             SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_detect.c
             LABELS unit data)
target_link_libraries(detect_cross_format PRIVATE mts_fixtures)
