# The other libraries' one-line session strings (telethon-string,
# pyrogram-string, gramjs-string, mtcute-string): golden vectors written
# by the real libraries (tests/data/formats/<format>/), detection,
# diagnoses, damage, round trips, drop warnings, allocation failures.
mts_add_test(NAME formats_strings
             SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_strings.c
             LABELS unit data)
target_link_libraries(formats_strings PRIVATE mts_fixtures)
