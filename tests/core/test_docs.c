/*
 * test_docs.c - the hex vectors in docs/FORMAT.md are what the encoder
 * writes, and they decode back to the documented sessions.
 */
#include <ctype.h>
#include <stdlib.h>

#include "fixtures.h"
#include "mtsession/sys/alloc.h"
#include "t.h"

/* Collect the hex bytes of the fenced block after "<!-- vector: NAME -->". */
static uint8_t *
doc_vector(const char *doc, const char *name, size_t *len)
{
    char marker[64];
    const char *p, *end;
    uint8_t *out;
    size_t n = 0;
    snprintf(marker, sizeof(marker), "<!-- vector: %s -->", name);
    p = strstr(doc, marker);
    if (p == NULL || (p = strstr(p, "```")) == NULL)
        return NULL;
    p = strchr(p, '\n');
    end = p ? strstr(p, "```") : NULL;
    if (end == NULL)
        return NULL;
    out = malloc((size_t)(end - p));
    while (p < end) {
        if (isxdigit((unsigned char)p[0]) && isxdigit((unsigned char)p[1])) {
            out[n++] = (uint8_t)strtoul((char[]){ p[0], p[1], 0 }, NULL, 16);
            p += 2;
        } else {
            p++;
        }
    }
    *len = n;
    return out;
}

static void
check(const char *doc, const char *name, size_t want_len)
{
    size_t n, elen;
    uint8_t *vec = doc_vector(doc, name, &n), *enc;
    mts_session *s = fx_session(name), *back = NULL;
    T_CHECK(vec != NULL);
    if (vec == NULL)
        return;
    T_EQ_U64(n, want_len);
    T_EQ_INT(mts_encode(&enc, &elen, s, NULL), 0);
    T_EQ_U64(elen, n);
    if (elen == n)
        T_EQ_MEM(enc, vec, n);
    T_EQ_INT(mts_decode(&back, vec, n, NULL), 0);
    T_CHECK(back != NULL && mts_session_equal(back, s));
    mts_session_free(back);
    mts_session_free(s);
    mts_free(enc);
    free(vec);
}

static void
test_format_md_vectors(void)
{
    size_t len;
    char *doc = (char *)fx_read("../docs/FORMAT.md", &len);
    check(doc, "empty", 112);
    check(doc, "small", 434);
    free(doc);
}

T_MAIN(T_CASE(test_format_md_vectors))
