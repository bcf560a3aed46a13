# Every public header compiles on its own as C99 (pedantic, warnings as
# errors) and as C++.
include(CheckLanguage)
check_language(CXX)
file(GLOB_RECURSE MTS_PUBLIC_HEADERS RELATIVE ${PROJECT_SOURCE_DIR}/include
     ${PROJECT_SOURCE_DIR}/include/mtsession/*.h)
list(APPEND MTS_PUBLIC_HEADERS mtsession/version.h)
set(_ht_c "")
set(_ht_cxx "")
foreach(h ${MTS_PUBLIC_HEADERS})
    string(MAKE_C_IDENTIFIER ${h} id)
    set(src ${CMAKE_CURRENT_BINARY_DIR}/headertest/${id}.c)
    file(WRITE ${src}.tmp "#include <${h}>\n#include <${h}>\nint ht_${id}(void);\nint ht_${id}(void) { return 0; }\n")
    configure_file(${src}.tmp ${src} COPYONLY)
    list(APPEND _ht_c ${src})
    if(CMAKE_CXX_COMPILER)
        set(srcxx ${CMAKE_CURRENT_BINARY_DIR}/headertest/${id}.cpp)
        configure_file(${src}.tmp ${srcxx} COPYONLY)
        list(APPEND _ht_cxx ${srcxx})
    endif()
endforeach()
add_library(mts_headertest_c OBJECT ${_ht_c})
set_target_properties(mts_headertest_c PROPERTIES C_STANDARD 99 C_EXTENSIONS OFF)
target_include_directories(mts_headertest_c PRIVATE ${PROJECT_SOURCE_DIR}/include
                           ${PROJECT_BINARY_DIR}/include)
target_compile_options(mts_headertest_c PRIVATE -Wall -Wextra -Wpedantic -Werror
                       -Wstrict-prototypes -Wmissing-prototypes)
if(CMAKE_CXX_COMPILER)
    enable_language(CXX)
    add_library(mts_headertest_cxx OBJECT ${_ht_cxx})
    target_include_directories(mts_headertest_cxx PRIVATE ${PROJECT_SOURCE_DIR}/include
                               ${PROJECT_BINARY_DIR}/include)
    target_compile_options(mts_headertest_cxx PRIVATE -Wall -Wextra -Wpedantic -Werror)
endif()
