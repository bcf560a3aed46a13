/*
 * string.c - the string backend: a session kept as a portable string
 * ("mts:" + URL-safe base64 of the version-2 bytes, see codec.h).
 *
 * save replaces the string with a fresh encoding; load decodes it (an
 * empty or white-space-only string means nothing is stored; anything else
 * malformed is an error). Granular operations use the core's default
 * (decode, change, encode). The string holds auth keys: it is wiped when
 * replaced or freed.
 */
#include "internal.h"
#include "mtsession/seal.h"

#include <string.h>

typedef struct string_backend {
    mts_backend parent; /* must be first */
    char *str;          /* never NULL */
    mts_secret *secret; /* borrowed; NULL: plain strings */
} string_backend;

static const char *string_name(mts_backend *b);

static void
replace(string_backend *sb, char *str)
{
    mts__wipe(sb->str, strlen(sb->str));
    mts_free(sb->str);
    sb->str = str;
}

static int
str_save(mts_backend *b, const mts_session *s, mts_error *err)
{
    string_backend *sb = (string_backend *)b;
    char *str;
    int rc = sb->secret != NULL
                 ? mts_string_encode_sealed(&str, s, sb->secret, err)
                 : mts_string_encode(&str, s, err);
    if (rc != 0)
        return rc;
    replace(sb, str);
    return 0;
}

static int
str_load(mts_session **out, mts_backend *b, mts_error *err)
{
    string_backend *sb = (string_backend *)b;
    size_t n = strlen(sb->str);
    size_t i = 0;
    while (i < n && (sb->str[i] == ' ' || sb->str[i] == '\t' ||
                     sb->str[i] == '\r' || sb->str[i] == '\n'))
        i++;
    if (i == n)
        return MTS_ENOTFOUND;
    return mts_string_decode_any(out, sb->str, n, sb->secret, err);
}

static int
str_del(mts_backend *b, mts_error *err)
{
    char *empty = mts__strdup("");
    if (empty == NULL)
        return mts__err_oom(err);
    replace((string_backend *)b, empty);
    return 0;
}

static const char *
string_name(mts_backend *b)
{
    (void)b;
    return "string";
}

static void
str_free(mts_backend *b)
{
    string_backend *sb = (string_backend *)b;
    mts__wipe(sb->str, strlen(sb->str));
    mts_free(sb->str);
    mts_free(sb);
}

int
mts_string_open(mts_storage **out, const char *initial, mts_error *err)
{
    return mts_string_open_sealed(out, initial, NULL, err);
}

int
mts_string_open_sealed(mts_storage **out, const char *initial,
                       mts_secret *secret, mts_error *err)
{
    string_backend *sb;
    int rc;
    if (out == NULL)
        return mts__err(err, MTS_EINVAL, "string: NULL argument");
    sb = mts__calloc(1, sizeof(*sb));
    if (sb == NULL)
        return mts__err_oom(err);
    sb->str = mts__strdup(initial ? initial : "");
    if (sb->str == NULL) {
        mts_free(sb);
        return mts__err_oom(err);
    }
    sb->secret = secret;
    sb->parent.version = MTS_BACKEND_VERSION;
    sb->parent.save = str_save;
    sb->parent.load = str_load;
    sb->parent.del = str_del;
    sb->parent.name = string_name;
    sb->parent.free = str_free;
    if ((rc = mts_storage_wrap(out, &sb->parent, err)) != 0)
        str_free(&sb->parent);
    return rc;
}

int
mts_string_current(char **out, mts_storage *st, mts_error *err)
{
    mts_backend *b = mts_storage_backend(st);
    char *copy;
    if (out == NULL || b == NULL || b->name != string_name)
        return mts__err(err, MTS_EINVAL,
                        "string_current: the handle is not a string backend");
    mts__storage_lock(st);
    copy = mts__strdup(((string_backend *)b)->str);
    mts__storage_unlock(st);
    if (copy == NULL)
        return mts__err_oom(err);
    *out = copy;
    return 0;
}
