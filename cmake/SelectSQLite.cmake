# MTSESSION_WITH_SQLITE: AUTO uses SQLite when found, ON requires it, OFF
# leaves it out. SQLite serves the SQLite backend and the SQLite-based
# formats of other libraries (telethon-sqlite, pyrogram-sqlite).
set(MTS_HAVE_SQLITE OFF)
if(NOT MTSESSION_WITH_SQLITE STREQUAL "OFF")
    find_package(SQLite3)
    if(SQLite3_FOUND)
        set(MTS_HAVE_SQLITE ON)
    elseif(MTSESSION_WITH_SQLITE STREQUAL "ON")
        message(FATAL_ERROR "MTSESSION_WITH_SQLITE=ON but SQLite3 was not found (apt-get install libsqlite3-dev)")
    endif()
endif()
