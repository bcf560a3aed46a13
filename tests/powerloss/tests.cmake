# Power-loss simulation of the file backend (powerloss.c): the backend's
# system calls are recorded through its os.h wrappers, interposed at link
# time (the fault hook carries no descriptor, path or data), and every
# cut point is replayed into a scratch directory as a machine that lost
# what was not fsynced would leave it.
set(MTS_POWERLOSS_TEST_DIR ${CMAKE_CURRENT_LIST_DIR})
mts_add_test(NAME powerloss
    SOURCES ${MTS_POWERLOSS_TEST_DIR}/powerloss.c
    LABELS fault powerloss TIMEOUT 300)
target_link_libraries(powerloss PRIVATE mts_workload)
foreach(_mts_fn open openat write fsync close rename unlink ftruncate)
    target_link_options(powerloss PRIVATE "LINKER:--wrap=mts__os_${_mts_fn}")
endforeach()
