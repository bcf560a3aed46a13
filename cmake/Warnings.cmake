# One list of warning flags for the library, the CLI and the tests.
set(MTS_WARNING_FLAGS
    -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion
    -Wstrict-prototypes -Wmissing-prototypes -Wcast-qual -Wformat=2
    -Wundef -Wvla -Wwrite-strings -Wimplicit-fallthrough
    -Wmissing-declarations)
function(mts_apply_warnings target)
    target_compile_options(${target} PRIVATE ${MTS_WARNING_FLAGS})
    if(MTS_WERROR)
        target_compile_options(${target} PRIVATE -Werror)
    endif()
endfunction()
# Tests and tools: strict, without the integer-conversion pedantry.
function(mts_apply_test_warnings target)
    target_compile_options(${target} PRIVATE -Wall -Wextra -Wshadow
        -Wformat=2 -Wvla -Wno-missing-field-initializers)
    if(MTS_WERROR)
        target_compile_options(${target} PRIVATE -Werror)
    endif()
endfunction()
