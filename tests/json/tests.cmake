# The mtsession-json codec: golden files (tests/data/json), error cases,
# order independence, truncation and allocation-failure loops, and a
# million-peer document decoded in bounded memory.
mts_add_test(NAME json_codec
             SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_json.c
             LABELS unit data fault)
