/*
 * test_detect.c - detection across formats: an input two formats both
 * read is refused with both names, and naming the format settles it.
 */
#include <stdlib.h>

#include "mtsession/sys/alloc.h"
#include "fixtures.h"
#include "t.h"

static void
test_ferogram_or_pyrogram(void)
{
    size_t len;
    unsigned char *data = fx_read(
        "data/formats/ambiguous/ferogram-string-or-pyrogram-string.txt", &len);
    mts_error err = MTS_ERROR_INIT;
    mts_format f = MTS_FORMAT_UNKNOWN;
    mts_session *s = NULL;
    mts_update_state st;
    int32_t api;
    T_EQ_INT(mts_format_detect(&f, data, len, &err), MTS_EAMBIGUOUS);
    T_EQ_INT(f, MTS_FORMAT_UNKNOWN);
    T_CONTAINS(err.message, "ferogram-string");
    T_CONTAINS(err.message, "pyrogram-string");
    T_CONTAINS(err.message, "--from");
    /* ferogram's reading */
    T_EQ_INT(mts_format_decode(&s, MTS_FORMAT_FEROGRAM_STRING, data, len,
                               &err),
             0);
    if (s != NULL) {
        T_EQ_INT(mts_session_home_dc(s), 2);
        T_EQ_U64(mts_session_dc_count(s), 0);
        T_EQ_U64(mts_session_peer_count(s), 3);
        T_EQ_U64(mts_session_min_peer_count(s), 9);
        mts_session_update_state(s, &st);
        T_EQ_INT(st.pts, 100);
        T_EQ_INT(st.date, 1700000000);
        mts_session_free(s);
        s = NULL;
    }
    /* Pyrogram's reading of the same bytes */
    T_EQ_INT(mts_format_decode(&s, MTS_FORMAT_PYROGRAM_STRING, data, len,
                               &err),
             0);
    if (s != NULL) {
        T_EQ_INT(mts_session_home_dc(s), 5);
        T_EQ_INT(mts_session_api_id(s, &api), 0);
        T_EQ_INT(api, 0x02000000);
        T_EQ_U64(mts_session_dc_count(s), 1);
        T_EQ_U64(mts_session_peer_count(s), 0);
        mts_session_free(s);
    }
    free(data);
}

/* Every golden file of this library's formats is detected as itself. */
static void
test_own_formats(void)
{
    static const struct {
        const char *rel;
        mts_format fmt;
    } cases[] = {
        { "data/mtsession/v2/full.bin", MTS_FORMAT_MTSESSION },
        { "data/mtsession/v1/two_dcs.bin", MTS_FORMAT_MTSESSION },
        { "data/json/valid/full.out.json", MTS_FORMAT_JSON },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len;
        unsigned char *d = fx_read(cases[i].rel, &len);
        mts_format f = MTS_FORMAT_UNKNOWN;
        mts_error err = MTS_ERROR_INIT;
        T_EQ_INT(mts_format_detect(&f, d, len, &err), 0);
        T_EQ_INT(f, cases[i].fmt);
        free(d);
    }
    {
        mts_session *s = fx_session("small");
        char *str;
        mts_format f = MTS_FORMAT_UNKNOWN;
        T_EQ_INT(mts_string_encode(&str, s, NULL), 0);
        T_EQ_INT(mts_format_detect(&f, (const uint8_t *)str, strlen(str),
                                   NULL),
                 0);
        T_EQ_INT(f, MTS_FORMAT_MTSESSION_STRING);
        mts_free(str);
        mts_session_free(s);
    }
}

T_MAIN(T_CASE(test_ferogram_or_pyrogram), T_CASE(test_own_formats))
