# MTSESSION_WITH_LIBSQL: AUTO builds the libSQL backend when its parts are
# found, ON requires them, OFF leaves it out (its constructors then return
# MTS_ENOTSUPPORTED). It needs the SQLite backend (local, in-memory and
# replica modes run on it), libcurl and jansson (remote mode: Hrana over
# HTTP). Included by the top-level CMakeLists.txt after the library targets
# exist; adds the sources, MTS_HAVE_LIBSQL and the link libraries to them.
set(MTS_HAVE_LIBSQL OFF)
if(NOT MTSESSION_WITH_LIBSQL STREQUAL "OFF")
    set(_mts_libsql_missing "")
    if(NOT MTS_HAVE_SQLITE_BACKEND)
        list(APPEND _mts_libsql_missing "the SQLite backend (libsqlite3-dev, MTSESSION_WITH_SQLITE)")
    endif()
    find_package(CURL QUIET)
    if(NOT CURL_FOUND)
        list(APPEND _mts_libsql_missing "libcurl (libcurl4-openssl-dev)")
    endif()
    find_package(PkgConfig QUIET)
    if(PkgConfig_FOUND)
        pkg_check_modules(JANSSON QUIET IMPORTED_TARGET jansson>=2.9)
    endif()
    if(NOT JANSSON_FOUND)
        list(APPEND _mts_libsql_missing "jansson >= 2.9 (libjansson-dev)")
    endif()
    if(_mts_libsql_missing)
        list(JOIN _mts_libsql_missing ", " _mts_libsql_missing)
        if(MTSESSION_WITH_LIBSQL STREQUAL "ON")
            message(FATAL_ERROR "MTSESSION_WITH_LIBSQL=ON but missing: ${_mts_libsql_missing}")
        endif()
        message(STATUS "libSQL backend left out; missing: ${_mts_libsql_missing}")
    else()
        set(MTS_HAVE_LIBSQL ON)
    endif()
endif()

if(MTS_HAVE_LIBSQL)
    target_sources(mtsession_obj PRIVATE
        ${PROJECT_SOURCE_DIR}/src/backends/libsql.c
        ${PROJECT_SOURCE_DIR}/src/backends/hrana.c)
    target_compile_definitions(mtsession_obj PRIVATE MTS_HAVE_LIBSQL=1)
    target_link_libraries(mtsession_obj PUBLIC CURL::libcurl PkgConfig::JANSSON)
    foreach(_mts_t mtsession mtsession_static)
        target_link_libraries(${_mts_t} PRIVATE CURL::libcurl PkgConfig::JANSSON)
    endforeach()
endif()
add_feature_info(libSQL MTS_HAVE_LIBSQL
    "libSQL backend: local, in-memory, remote (Hrana over HTTP) and replica (MTSESSION_WITH_LIBSQL=${MTSESSION_WITH_LIBSQL})")
