/*
 * test_seal.c - sessions sealed at rest: raw keys, passphrases, wrong
 * keys versus corruption, strings, the file backend, re-keying.
 */
#include <stdlib.h>

#include "fixtures.h"
#include "internal.h"
#include "t.h"

static const mts_kdf_params fast = { MTS_KDF_PARAMS_VERSION, 1, 64 };

static mts_secret *
key_secret(uint8_t fill)
{
    uint8_t k[32];
    mts_secret *s = NULL;
    memset(k, fill, sizeof(k));
    T_EQ_INT(mts_secret_from_key(&s, k, NULL), 0);
    return s;
}

static int
contains(const uint8_t *hay, size_t n, const uint8_t *needle, size_t m)
{
    return memmem(hay, n, needle, m) != NULL;
}

static void
test_raw_key_roundtrip(void)
{
    mts_session *s = fx_session("full"), *back = NULL;
    mts_secret *k1 = key_secret(1), *k2 = key_secret(2);
    mts_error err = MTS_ERROR_INIT;
    uint8_t *env, *plain, key[256];
    size_t n, pn;
    memset(key, 0xab, sizeof(key));
    T_EQ_INT(mts_encode_sealed(&env, &n, s, k1, &err), 0);
    T_EQ_INT(mts_is_sealed(env, n), 1);
    T_EQ_INT(mts_encode(&plain, &pn, s, NULL), 0);
    T_EQ_U64(n, pn + 88);
    T_EQ_INT(mts_is_sealed(plain, pn), 0);
    /* the auth key appears in the plain file but not in the sealed one */
    T_CHECK(contains(plain, pn, key, 64));
    T_CHECK(!contains(env, n, key, 16));
    T_EQ_INT(mts_decode_any(&back, env, n, k1, &err), 0);
    T_CHECK(back && mts_session_equal(s, back));
    mts_session_free(back);
    back = NULL;
    T_EQ_INT(mts_decode_any(&back, env, n, k2, &err), MTS_EBADKEY);
    T_CONTAINS(err.message, "wrong key");
    T_EQ_INT(mts_decode_any(&back, env, n, NULL, &err), MTS_EENCRYPTED);
    T_CONTAINS(err.message, "32-byte key");
    T_EQ_INT(mts_decode(&back, env, n, &err), MTS_EENCRYPTED);
    /* plain files still decode through decode_any, with or without key */
    T_EQ_INT(mts_decode_any(&back, plain, pn, k1, &err), 0);
    mts_session_free(back);
    /* two seals of the same session differ (fresh nonce) */
    {
        uint8_t *env2;
        size_t n2;
        T_EQ_INT(mts_encode_sealed(&env2, &n2, s, k1, NULL), 0);
        T_EQ_U64(n2, n);
        T_CHECK(memcmp(env, env2, n) != 0);
        mts_free(env2);
    }
    mts_free(env);
    mts_free(plain);
    mts_secret_free(k1);
    mts_secret_free(k2);
    mts_session_free(s);
}

/* Damage is "corrupt" (checksum), a different key is "wrong key": every
 * truncation and every bit flip of a sealed file is ECORRUPT even with
 * the right key, never EBADKEY and never success. */
static void
test_damage_is_not_wrong_key(void)
{
    mts_session *s = fx_session("small"), *back;
    mts_secret *k = key_secret(7);
    uint8_t *env;
    size_t n;
    T_EQ_INT(mts_encode_sealed(&env, &n, s, k, NULL), 0);
    for (size_t cut = 0; cut < n; cut++) {
        mts_error err = MTS_ERROR_INIT;
        back = NULL;
        int rc = mts_decode_any(&back, env, cut, k, &err);
        if (rc == 0 || rc == MTS_EBADKEY || back != NULL) {
            t_fail(__FILE__, __LINE__, "truncation %zu: %s", cut,
                   mts_errname(rc));
            mts_session_free(back);
            break;
        }
    }
    for (size_t bit = 0; bit < n * 8; bit++) {
        mts_error err = MTS_ERROR_INIT;
        back = NULL;
        env[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        int rc = mts_decode_any(&back, env, n, k, &err);
        env[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        /* byte 0 is the version byte: a flip there is a version error */
        if ((rc != MTS_ECORRUPT && !(bit < 8 && rc == MTS_EVERSION)) ||
            back != NULL) {
            t_fail(__FILE__, __LINE__, "bit %zu: %s", bit, mts_errname(rc));
            mts_session_free(back);
            break;
        }
    }
    mts_free(env);
    mts_secret_free(k);
    mts_session_free(s);
}

static void
reseal_crc(uint8_t *d, size_t n)
{
    uint32_t crc = mts_crc32c(0, d, n - 4);
    memcpy(d + n - 4, &crc, 4);
}

/* The header is authenticated: altering it (with a fixed-up checksum) is
 * refused by the tag. Unknown ciphers and KDFs are version errors. */
static void
test_header_bound(void)
{
    mts_session *s = fx_session("small"), *back = NULL;
    mts_secret *k = key_secret(9);
    mts_error err = MTS_ERROR_INIT;
    uint8_t *env;
    size_t n;
    T_EQ_INT(mts_encode_sealed(&env, &n, s, k, NULL), 0);
    env[50] ^= 1; /* nonce */
    reseal_crc(env, n);
    T_EQ_INT(mts_decode_any(&back, env, n, k, &err), MTS_EBADKEY);
    env[50] ^= 1;
    env[17] = 9;
    reseal_crc(env, n);
    T_EQ_INT(mts_decode_any(&back, env, n, k, &err), MTS_EVERSION);
    T_CONTAINS(err.message, "cipher 9");
    env[17] = 1;
    env[16] = 5;
    reseal_crc(env, n);
    T_EQ_INT(mts_decode_any(&back, env, n, k, &err), MTS_EVERSION);
    env[16] = 0;
    env[21] = 1; /* kdf field set on a raw-key envelope */
    reseal_crc(env, n);
    T_EQ_INT(mts_decode_any(&back, env, n, k, &err), MTS_ECORRUPT);
    mts_free(env);
    mts_secret_free(k);
    mts_session_free(s);
}

static void
test_passphrase(void)
{
    mts_session *s = fx_session("full"), *back = NULL;
    mts_secret *p1, *p1b, *p2, *raw = key_secret(3);
    mts_error err = MTS_ERROR_INIT;
    uint8_t *env;
    size_t n;
    T_EQ_INT(mts_secret_from_passphrase(&p1, "correct horse", 13, &fast,
                                        NULL),
             0);
    T_EQ_INT(mts_secret_from_passphrase(&p1b, "correct horse", 13, NULL,
                                        NULL),
             0);
    T_EQ_INT(mts_secret_from_passphrase(&p2, "battery staple", 14, &fast,
                                        NULL),
             0);
    T_EQ_INT(mts_encode_sealed(&env, &n, s, p1, &err), 0);
    T_EQ_INT(env[16], 1);                 /* argon2id */
    T_EQ_INT(mts__rd32(env + 20), 1);     /* opslimit from the params */
    T_EQ_INT(mts__rd32(env + 24), 64);    /* memlimit KiB */
    /* another secret with the same passphrase (other default params)
     * opens it: the parameters come from the envelope */
    T_EQ_INT(mts_decode_any(&back, env, n, p1b, &err), 0);
    T_CHECK(back && mts_session_equal(s, back));
    mts_session_free(back);
    back = NULL;
    T_EQ_INT(mts_decode_any(&back, env, n, p2, &err), MTS_EBADKEY);
    T_EQ_INT(mts_decode_any(&back, env, n, raw, &err), MTS_EBADKEY);
    T_CONTAINS(err.message, "sealed with a passphrase");
    T_EQ_INT(mts_decode_any(&back, env, n, NULL, &err), MTS_EENCRYPTED);
    T_CONTAINS(err.message, "passphrase");
    /* a hostile memory cost is refused before any derivation */
    env[24] = 0;
    env[25] = 0;
    env[26] = 0x20; /* 2 GiB in KiB */
    reseal_crc(env, n);
    T_EQ_INT(mts_decode_any(&back, env, n, p1, &err), MTS_ECORRUPT);
    T_CONTAINS(err.message, "memlimit");
    T_EQ_INT(mts_secret_from_passphrase(&p2, "", 0, NULL, &err), MTS_EINVAL);
    /* a cost readers would refuse is refused when sealing too */
    {
        mts_kdf_params big = { MTS_KDF_PARAMS_VERSION, 1,
                               MTS_KDF_MAX_MEMLIMIT_KIB + 1 };
        mts_secret *x = NULL;
        T_EQ_INT(mts_secret_from_passphrase(&x, "pw", 2, &big, &err),
                 MTS_EINVAL);
        T_CHECK(x == NULL);
    }
    mts_free(env);
    mts_secret_free(p1);
    mts_secret_free(p1b);
    mts_secret_free(p2);
    mts_secret_free(raw);
    mts_session_free(s);
}

static void
test_string_sealed(void)
{
    mts_session *s = fx_session("full"), *back = NULL;
    mts_secret *k = key_secret(4);
    mts_error err = MTS_ERROR_INIT;
    mts_storage *st;
    char *str, *cur;
    T_EQ_INT(mts_string_encode_sealed(&str, s, k, NULL), 0);
    T_CHECK(strncmp(str, "mts:", 4) == 0);
    T_EQ_INT(mts_string_decode_any(&back, str, strlen(str), k, &err), 0);
    T_CHECK(back && mts_session_equal(s, back));
    mts_session_free(back);
    back = NULL;
    T_EQ_INT(mts_string_decode(&back, str, strlen(str), &err),
             MTS_EENCRYPTED);
    /* the string backend with a secret */
    T_EQ_INT(mts_string_open_sealed(&st, NULL, k, NULL), 0);
    T_EQ_INT(mts_storage_save(st, s, NULL), 0);
    T_EQ_INT(mts_string_current(&cur, st, NULL), 0);
    T_EQ_INT(mts_string_decode(&back, cur, strlen(cur), &err),
             MTS_EENCRYPTED);
    T_EQ_INT(mts_storage_load(&back, st, &err), 0);
    T_CHECK(back && mts_session_equal(s, back));
    mts_session_free(back);
    mts_free(cur);
    mts_storage_free(st);
    mts_free(str);
    mts_secret_free(k);
    mts_session_free(s);
}

static void
test_file_sealed_and_rekey(void)
{
    char path[4096];
    mts_session *s = fx_session("full"), *back = NULL;
    mts_secret *a = key_secret(0x11), *b;
    mts_file_options oa = MTS_FILE_OPTIONS_INIT, ob = MTS_FILE_OPTIONS_INIT;
    mts_storage *st, *plain, *stb;
    mts_error err = MTS_ERROR_INIT;
    uint8_t key[256];
    unsigned char *disk;
    size_t n;
    memset(key, 0xab, sizeof(key));
    T_EQ_INT(mts_secret_from_passphrase(&b, "new pass", 8, &fast, NULL), 0);
    snprintf(path, sizeof(path), "%s/sealed.session", t_tmpdir());
    oa.secret = a;
    ob.secret = b;
    T_EQ_INT(mts_file_open(&st, path, &oa, NULL), 0);
    T_EQ_INT(mts_storage_save(st, s, NULL), 0);
    disk = t_read_file(path, &n);
    T_CHECK(disk && mts_is_sealed(disk, n) && !contains(disk, n, key, 16));
    free(disk);
    T_EQ_INT(mts_file_open(&plain, path, NULL, NULL), 0);
    T_EQ_INT(mts_storage_load(&back, plain, &err), MTS_EENCRYPTED);
    T_CONTAINS(err.message, "sealed.session");
    mts_storage_free(plain);
    /* granular writes keep it sealed */
    {
        mts_update_change c = MTS_UPDATE_CHANGE_INIT;
        c.kind = MTS_UPDATE_SECONDARY;
        c.state.qts = 99;
        T_EQ_INT(mts_storage_apply_update_state(st, &c, NULL), 0);
    }
    /* re-key: load with the old secret, save with the new one */
    T_EQ_INT(mts_storage_load(&back, st, NULL), 0);
    mts_storage_free(st);
    T_EQ_INT(mts_file_open(&stb, path, &ob, NULL), 0);
    T_EQ_INT(mts_storage_save(stb, back, NULL), 0);
    mts_session_free(back);
    back = NULL;
    T_EQ_INT(mts_file_open(&st, path, &oa, NULL), 0);
    T_EQ_INT(mts_storage_load(&back, st, &err), MTS_EBADKEY);
    mts_storage_free(st);
    T_EQ_INT(mts_storage_load(&back, stb, NULL), 0);
    {
        mts_update_state us;
        mts_session_update_state(back, &us);
        T_EQ_INT(us.qts, 99);
    }
    mts_session_free(back);
    mts_storage_free(stb);
    mts_secret_free(a);
    mts_secret_free(b);
    mts_session_free(s);
}

T_MAIN(T_CASE(test_raw_key_roundtrip), T_CASE(test_damage_is_not_wrong_key),
       T_CASE(test_header_bound), T_CASE(test_passphrase),
       T_CASE(test_string_sealed), T_CASE(test_file_sealed_and_rekey))
