# MTSESSION_WITH_POSTGRES: AUTO builds the PostgreSQL backend when libpq is
# found, ON requires it, OFF leaves it out (mts_postgres_open then returns
# MTS_ENOTSUPPORTED). It reuses the SQL row mapping in sql_schema.c, which
# is always built. Included by the top-level CMakeLists.txt after the
# library targets exist; adds the source, MTS_HAVE_POSTGRES and libpq to
# them. The tests additionally need a PostgreSQL server's binaries
# (initdb, pg_ctl) to start a throwaway server; see tests/postgres.
set(MTSESSION_WITH_POSTGRES "AUTO" CACHE STRING "PostgreSQL backend: AUTO, ON or OFF")
set_property(CACHE MTSESSION_WITH_POSTGRES PROPERTY STRINGS AUTO ON OFF)

set(MTS_HAVE_POSTGRES OFF)
if(NOT MTSESSION_WITH_POSTGRES STREQUAL "OFF")
    find_package(PostgreSQL QUIET COMPONENTS Libraries)
    if(NOT PostgreSQL_FOUND)
        # FindPostgreSQL also wants the server headers on some versions;
        # libpq alone is enough here.
        find_package(PkgConfig QUIET)
        if(PkgConfig_FOUND)
            pkg_check_modules(MTS_LIBPQ QUIET IMPORTED_TARGET libpq>=14)
        endif()
    endif()
    set(_mts_pq_ok OFF)
    if(PostgreSQL_FOUND OR MTS_LIBPQ_FOUND)
        # pipeline mode (one round trip for an unleased write) is libpq 14+
        include(CheckSymbolExists)
        include(CMakePushCheckState)
        cmake_push_check_state(RESET)
        if(PostgreSQL_FOUND)
            set(CMAKE_REQUIRED_INCLUDES ${PostgreSQL_INCLUDE_DIRS})
            set(CMAKE_REQUIRED_LIBRARIES ${PostgreSQL_LIBRARIES})
        else()
            set(CMAKE_REQUIRED_INCLUDES ${MTS_LIBPQ_INCLUDE_DIRS})
            set(CMAKE_REQUIRED_LIBRARIES ${MTS_LIBPQ_LINK_LIBRARIES})
        endif()
        set(CMAKE_REQUIRED_QUIET ON)
        check_symbol_exists(PQenterPipelineMode "libpq-fe.h" MTS_LIBPQ_HAS_PIPELINE)
        cmake_pop_check_state()
        set(_mts_pq_ok ${MTS_LIBPQ_HAS_PIPELINE})
    endif()
    if(_mts_pq_ok)
        set(MTS_HAVE_POSTGRES ON)
    elseif(MTSESSION_WITH_POSTGRES STREQUAL "ON")
        message(FATAL_ERROR "MTSESSION_WITH_POSTGRES=ON but libpq 14 or newer was not found (apt-get install libpq-dev)")
    else()
        message(STATUS "PostgreSQL backend left out; missing: libpq 14 or newer (libpq-dev)")
    endif()
endif()

if(MTS_HAVE_POSTGRES)
    if(PostgreSQL_FOUND)
        set(MTS_LIBPQ_TARGET PostgreSQL::PostgreSQL)
    else()
        set(MTS_LIBPQ_TARGET PkgConfig::MTS_LIBPQ)
    endif()
    target_sources(mtsession_obj PRIVATE
        ${PROJECT_SOURCE_DIR}/src/backends/postgres.c)
    target_compile_definitions(mtsession_obj PRIVATE MTS_HAVE_POSTGRES=1)
    target_link_libraries(mtsession_obj PUBLIC ${MTS_LIBPQ_TARGET})
    foreach(_mts_t mtsession mtsession_static)
        target_link_libraries(${_mts_t} PRIVATE ${MTS_LIBPQ_TARGET})
    endforeach()
endif()
add_feature_info(PostgreSQL MTS_HAVE_POSTGRES
    "PostgreSQL backend (libpq): many accounts per database, leases with fencing (MTSESSION_WITH_POSTGRES=${MTSESSION_WITH_POSTGRES})")
