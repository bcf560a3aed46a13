# MTS_SANITIZE="address;undefined" adds the flags to everything built here.
if(MTS_SANITIZE)
    string(REPLACE ";" "," _mts_san "${MTS_SANITIZE}")
    add_compile_options(-fsanitize=${_mts_san} -fno-sanitize-recover=all
                        -fno-omit-frame-pointer -g)
    add_link_options(-fsanitize=${_mts_san})
endif()
