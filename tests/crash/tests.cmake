# Crash trials: a writer killed with SIGKILL at random moments, for every
# backend compiled in that stores to a local file (crash_kill.c). The
# operation sequence and its model (workload.c) are shared with
# tests/powerloss. MTS_CRASH_TRIALS sets the trials per backend (default
# 200); scripts/crash-slow.sh runs thousands.
set(MTS_CRASH_TEST_DIR ${CMAKE_CURRENT_LIST_DIR})
add_library(mts_workload STATIC ${MTS_CRASH_TEST_DIR}/workload.c)
target_include_directories(mts_workload PUBLIC ${MTS_CRASH_TEST_DIR})
target_compile_definitions(mts_workload PRIVATE _GNU_SOURCE)
target_link_libraries(mts_workload PUBLIC mtsession_static mts_fixtures)
mts_apply_test_warnings(mts_workload)

mts_add_test(NAME crash_kill
    SOURCES ${MTS_CRASH_TEST_DIR}/crash_kill.c
    LABELS fault crash TIMEOUT 240)
target_link_libraries(crash_kill PRIVATE mts_workload)

# mts_file_check_permissions (src/backends/file_perms.c).
mts_add_test(NAME file_perms
    SOURCES ${MTS_CRASH_TEST_DIR}/file_perms.c
    LABELS unit TIMEOUT 60)
