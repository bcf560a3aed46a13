# Fuzz corpora replayed on every build (label "fuzz-replay"): one test per
# fuzz/fuzz_<target>.c, running that target over fuzz/corpora/<target>/,
# seeds and every crasher ever found. Standalone builds replay through
# fuzz/standalone_driver.c; libFuzzer builds (MTS_LIBFUZZER) run each
# input once with -runs=0. See docs/FUZZING.md.
if(MTS_BUILD_FUZZERS)
    file(GLOB _mts_fuzz_sources CONFIGURE_DEPENDS
         ${PROJECT_SOURCE_DIR}/fuzz/fuzz_*.c)
    foreach(src ${_mts_fuzz_sources})
        get_filename_component(name ${src} NAME_WE)
        string(REGEX REPLACE "^fuzz_" "" target ${name})
        set(corpus ${PROJECT_SOURCE_DIR}/fuzz/corpora/${target})
        if(NOT IS_DIRECTORY ${corpus})
            message(WARNING "fuzz target ${target} has no corpus directory "
                            "fuzz/corpora/${target}")
            continue()
        endif()
        if(MTS_LIBFUZZER)
            add_test(NAME fuzz_replay_${target}
                     COMMAND ${name} -runs=0 ${corpus})
        else()
            add_test(NAME fuzz_replay_${target} COMMAND ${name} ${corpus})
        endif()
        set_tests_properties(fuzz_replay_${target} PROPERTIES
            LABELS "fuzz-replay" TIMEOUT 300)
    endforeach()
endif()
