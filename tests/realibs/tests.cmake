# Interop with the real client libraries (label "interop"): our strings
# read by Telethon, GramJS and mtcute, theirs read by us, and our string
# byte-equal to the one each library writes. Needs Debian's
# python3-telethon and `npm ci` in tests/realibs/node; a missing runtime
# fails the tests (it never skips them).
add_executable(mts_strtool ${CMAKE_CURRENT_LIST_DIR}/mts_strtool.c)
target_link_libraries(mts_strtool PRIVATE mtsession_static)
mts_apply_test_warnings(mts_strtool)

set(MTS_REALIBS_PYTHON /usr/bin/python3 CACHE FILEPATH
    "Python with Debian's python3-telethon, for the interop tests")
find_program(MTS_NODE node)
if(NOT MTS_NODE)
    set(MTS_NODE node) # not found: the tests fail and say so
endif()
foreach(lib telethon gramjs mtcute pyrogram)
    add_test(NAME interop_${lib}_string
             COMMAND ${MTS_REALIBS_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/interop.py
                     ${lib} $<TARGET_FILE:mts_strtool> ${MTS_NODE})
    set_tests_properties(interop_${lib}_string PROPERTIES
        LABELS "interop" TIMEOUT 120)
endforeach()
