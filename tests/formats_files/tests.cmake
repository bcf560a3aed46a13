# Other libraries' file and string formats: ferogram (binary, native and
# compact strings), Telethon's and Pyrogram's SQLite sessions.
set(MTS_FMT_FILES_DIR ${CMAKE_CURRENT_LIST_DIR})

mts_add_test(NAME formats_files_ferogram
    SOURCES ${MTS_FMT_FILES_DIR}/test_ferogram.c
    LABELS unit data)
target_link_libraries(formats_files_ferogram PRIVATE mts_fixtures)

if(MTS_HAVE_SQLITE)
    mts_add_test(NAME formats_files_sqlite
        SOURCES ${MTS_FMT_FILES_DIR}/test_sqlite_formats.c
        LABELS unit data)
    target_link_libraries(formats_files_sqlite PRIVATE mts_fixtures
        SQLite::SQLite3)
endif()

# Interop with the real Telethon (label "interop"): our .session opened by
# Telethon's SQLiteSession, Telethon's changes and new files read by us.
# Needs Debian's python3-telethon; without it the test fails (never skips).
if(MTS_HAVE_SQLITE)
    add_executable(mts_fmt_tool ${MTS_FMT_FILES_DIR}/fmt_tool.c)
    target_link_libraries(mts_fmt_tool PRIVATE mtsession_static)
    mts_apply_test_warnings(mts_fmt_tool)
    if(NOT DEFINED MTS_REALIBS_PYTHON)
        set(MTS_REALIBS_PYTHON /usr/bin/python3 CACHE FILEPATH
            "Python with Debian's python3-telethon, for the interop tests")
    endif()
    add_test(NAME formats_files_interop_telethon_sqlite
        COMMAND ${MTS_REALIBS_PYTHON}
                ${PROJECT_SOURCE_DIR}/tests/realibs/telethon_sqlite.py
                $<TARGET_FILE:mts_fmt_tool>
                ${CMAKE_CURRENT_BINARY_DIR}/interop_telethon_sqlite)
    set_tests_properties(formats_files_interop_telethon_sqlite PROPERTIES
        LABELS "interop" TIMEOUT 120)
endif()
