# Leases and fencing on the file backend (lease_file.c, one step at a
# time; lease_race.c, many processes racing for one session's lease).
set(MTS_LEASE_TEST_DIR ${CMAKE_CURRENT_LIST_DIR})
mts_add_test(NAME lease_file
    SOURCES ${MTS_LEASE_TEST_DIR}/lease_file.c
            ${MTS_LEASE_TEST_DIR}/../file/helpers.c
    LABELS unit lease TIMEOUT 120)
mts_add_test(NAME lease_race
    SOURCES ${MTS_LEASE_TEST_DIR}/lease_race.c
            ${MTS_LEASE_TEST_DIR}/../file/helpers.c
    LABELS unit lease TIMEOUT 120)
