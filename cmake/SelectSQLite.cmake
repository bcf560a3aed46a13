# MTSESSION_WITH_SQLITE: AUTO uses SQLite when found, ON requires it.
set(MTS_HAVE_SQLITE OFF)
if(NOT MTSESSION_WITH_SQLITE STREQUAL "OFF")
    find_package(SQLite3)
    if(SQLite3_FOUND)
        set(MTS_HAVE_SQLITE ON)
    elseif(MTSESSION_WITH_SQLITE STREQUAL "ON")
        message(FATAL_ERROR "MTSESSION_WITH_SQLITE=ON but SQLite3 was not found (apt-get install libsqlite3-dev)")
    endif()
endif()
# The SQLite backend lands with its own source file; until then it is off.
if(NOT EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/src/backends/sqlite.c)
    set(MTS_HAVE_SQLITE OFF)
endif()
