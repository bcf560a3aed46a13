# The binary file backend and atomic file I/O.
set(MTS_FILE_TEST_DIR ${CMAKE_CURRENT_LIST_DIR})
mts_add_test(NAME file_unit
    SOURCES ${MTS_FILE_TEST_DIR}/file_unit.c ${MTS_FILE_TEST_DIR}/helpers.c
    LABELS unit TIMEOUT 120)
mts_add_test(NAME file_fault
    SOURCES ${MTS_FILE_TEST_DIR}/file_fault.c ${MTS_FILE_TEST_DIR}/helpers.c
    LABELS fault TIMEOUT 300)
mts_add_test(NAME file_crash
    SOURCES ${MTS_FILE_TEST_DIR}/file_crash.c ${MTS_FILE_TEST_DIR}/helpers.c
            ${MTS_FILE_TEST_DIR}/journal_helpers.c
    LABELS fault TIMEOUT 60)
mts_add_test(NAME file_journal
    SOURCES ${MTS_FILE_TEST_DIR}/file_journal.c ${MTS_FILE_TEST_DIR}/helpers.c
            ${MTS_FILE_TEST_DIR}/journal_helpers.c
    LABELS unit TIMEOUT 120)
mts_add_test(NAME file_journal_fault
    SOURCES ${MTS_FILE_TEST_DIR}/file_journal_fault.c
            ${MTS_FILE_TEST_DIR}/helpers.c ${MTS_FILE_TEST_DIR}/journal_helpers.c
    LABELS fault TIMEOUT 300)
# Optimistic mode (load_rev, save_if) across processes.
mts_add_test(NAME file_optimistic
    SOURCES ${MTS_FILE_TEST_DIR}/file_optimistic.c
    LABELS unit TIMEOUT 300)
target_link_libraries(file_optimistic PRIVATE mts_conformance)
# The streamed save of a big session (several writes, failures midway).
mts_add_test(NAME file_stream
    SOURCES ${MTS_FILE_TEST_DIR}/file_stream.c ${MTS_FILE_TEST_DIR}/helpers.c
    LABELS unit fault TIMEOUT 300)
target_link_libraries(file_stream PRIVATE mts_fixtures)
