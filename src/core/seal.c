/*
 * seal.c - the sealed (encrypted) envelope around a version-2 file.
 *
 * Layout (docs/FORMAT.md, "Sealed envelope"), little-endian:
 *
 *   0  u8  0x02 | 1 magic "MTSESS\x1a" | 8 u32 total length
 *   12 u32 header flags = 1 (sealed)
 *   16 u8  kdf: 0 raw key, 1 Argon2id v1.3
 *   17 u8  aead: 1 XChaCha20-Poly1305 (IETF)
 *   18 u16 reserved, 0
 *   20 u32 opslimit       (kdf 1, else 0)
 *   24 u32 memlimit, KiB  (kdf 1, else 0)
 *   28 16  salt           (kdf 1, else zero)
 *   44 24  nonce
 *   68 ... ciphertext of the plain version-2 file, then the 16-byte tag
 *   len-4 u32 CRC-32C of every byte before it
 *
 * Bytes [0, 68) are the associated data, so the header cannot be altered
 * without the tag failing. The outer CRC is checked first: a damaged file
 * is "corrupt"; a file whose CRC holds but whose tag fails was sealed with
 * another key. Keys, passphrases and plaintext are wiped after use and on
 * every error path. Secrets are safe to share between threads.
 */
#include "internal.h"

#include <pthread.h>
#include <sodium.h>
#include <string.h>

#include "mtsession/seal.h"

#define ENV_HEADER 68
#define ENV_TAG crypto_aead_xchacha20poly1305_ietf_ABYTES
#define ENV_MIN (ENV_HEADER + ENV_TAG + 4)
#define KDF_RAW 0
#define KDF_ARGON2ID 1
#define AEAD_XCHACHA 1
#define PASS_MAX 1024

struct mts_secret {
    pthread_mutex_t lock;
    int kind; /* KDF_RAW or KDF_ARGON2ID */
    uint8_t key[MTS_SEAL_KEY_SIZE];
    bool have_key; /* key holds the raw key or the last derived one */
    uint8_t salt[16];
    uint32_t ops, memkib; /* for sealing, and of the cached key */
    char *pass;
    size_t passlen;
};

static pthread_once_t sodium_once = PTHREAD_ONCE_INIT;
static int sodium_ok;

static void
sodium_start(void)
{
    sodium_ok = sodium_init() >= 0;
}

static int
need_sodium(mts_error *err)
{
    pthread_once(&sodium_once, sodium_start);
    if (!sodium_ok)
        return mts__err(err, MTS_EBACKEND, "libsodium failed to initialise");
    return 0;
}

static int
secret_new(mts_secret **out, mts_error *err)
{
    mts_secret *s = NULL;
    int rc = need_sodium(err);
    if (rc != 0)
        return rc;
    s = mts__calloc(1, sizeof(*s));
    if (s == NULL)
        return mts__err_oom(err);
    if (pthread_mutex_init(&s->lock, NULL) != 0) {
        mts_free(s);
        return mts__err(err, MTS_ENOMEM, "cannot create a mutex");
    }
    *out = s;
    return 0;
}

int
mts_secret_from_key(mts_secret **out, const uint8_t key[MTS_SEAL_KEY_SIZE],
                    mts_error *err)
{
    mts_secret *s = NULL;
    int rc;
    if (out == NULL || key == NULL)
        return mts__err(err, MTS_EINVAL, "secret: NULL argument");
    if ((rc = secret_new(&s, err)) != 0)
        return rc;
    s->kind = KDF_RAW;
    memcpy(s->key, key, MTS_SEAL_KEY_SIZE);
    s->have_key = true;
    *out = s;
    return 0;
}

static int
check_params(uint32_t ops, uint32_t memkib, uint32_t max_kib, mts_error *err,
             int64_t at)
{
    if (ops < 1 || ops > 32)
        return mts__err_at(err, MTS_ECORRUPT, at,
                           "argon2id opslimit %u is not 1..32", ops);
    if (memkib < 8 || memkib > max_kib)
        return mts__err_at(err, MTS_ECORRUPT, at,
                           "argon2id memlimit %u KiB is not 8..%u", memkib,
                           max_kib);
    return 0;
}

int
mts_secret_from_passphrase(mts_secret **out, const char *pass, size_t len,
                           const mts_kdf_params *params, mts_error *err)
{
    static const mts_kdf_params defaults = MTS_KDF_PARAMS_INIT;
    mts_secret *s = NULL;
    int rc;
    if (out == NULL || pass == NULL)
        return mts__err(err, MTS_EINVAL, "secret: NULL argument");
    if (len == 0 || len > PASS_MAX)
        return mts__err(err, MTS_EINVAL,
                        "passphrase: %zu bytes is not 1..%d", len, PASS_MAX);
    if (params == NULL)
        params = &defaults;
    if (params->version != MTS_KDF_PARAMS_VERSION)
        return mts__err(err, MTS_EINVAL, "kdf params: unknown version %u",
                        params->version);
    /* Never seal what a reader would refuse to open. */
    if (check_params(params->opslimit, params->memlimit_kib,
                     MTS_KDF_MAX_MEMLIMIT_KIB, NULL,
                     -1) != 0)
        return mts__err(err, MTS_EINVAL,
                        "kdf params: opslimit %u (1..32) or memlimit %u KiB "
                        "(8..1048576) out of range",
                        params->opslimit, params->memlimit_kib);
    if ((rc = secret_new(&s, err)) != 0)
        return rc;
    s->pass = mts_malloc(len);
    if (s->pass == NULL) {
        mts_secret_free(s);
        return mts__err_oom(err);
    }
    memcpy(s->pass, pass, len);
    s->passlen = len;
    s->kind = KDF_ARGON2ID;
    s->ops = params->opslimit;
    s->memkib = params->memlimit_kib;
    *out = s;
    return 0;
}

void
mts_secret_free(mts_secret *s)
{
    if (s == NULL)
        return;
    if (s->pass != NULL) {
        sodium_memzero(s->pass, s->passlen);
        mts_free(s->pass);
    }
    pthread_mutex_destroy(&s->lock);
    sodium_memzero(s, sizeof(*s));
    mts_free(s);
}

/* Derive into key[] from the passphrase with salt/ops/mem. Lock held. */
static int
derive(mts_secret *s, const uint8_t salt[16], uint32_t ops, uint32_t memkib,
       mts_error *err)
{
    if (s->have_key && s->ops == ops && s->memkib == memkib &&
        memcmp(s->salt, salt, 16) == 0)
        return 0;
    s->have_key = false;
    if (crypto_pwhash(s->key, sizeof(s->key), s->pass, s->passlen, salt, ops,
                      (size_t)memkib * 1024u,
                      crypto_pwhash_ALG_ARGON2ID13) != 0)
        return mts__err(err, MTS_EBACKEND,
                        "argon2id could not allocate %u KiB", memkib);
    memcpy(s->salt, salt, 16);
    s->ops = ops;
    s->memkib = memkib;
    s->have_key = true;
    return 0;
}

/* ---- keys for values sealed elsewhere (internal.h) ----------------------- */

int
mts__secret_kdf_new(mts__kdf *out, mts_secret *secret, mts_error *err)
{
    int rc;
    if ((rc = need_sodium(err)) != 0)
        return rc;
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&secret->lock);
    if (secret->kind == KDF_ARGON2ID) {
        out->kind = KDF_ARGON2ID;
        out->ops = secret->ops;
        out->memkib = secret->memkib;
        if (secret->have_key) /* keep the derived key: no second Argon2id */
            memcpy(out->salt, secret->salt, sizeof(out->salt));
        else
            randombytes_buf(out->salt, sizeof(out->salt));
    } else {
        out->kind = KDF_RAW;
    }
    pthread_mutex_unlock(&secret->lock);
    return 0;
}

int
mts__secret_subkey(uint8_t out[MTS_SEAL_KEY_SIZE], mts_secret *secret,
                   const mts__kdf *kdf, const char purpose[8], mts_error *err)
{
    int rc;
    if ((rc = need_sodium(err)) != 0)
        return rc;
    if (kdf->kind != KDF_RAW && kdf->kind != KDF_ARGON2ID)
        return mts__err(err, MTS_EVERSION, "key derivation %u is unknown",
                        kdf->kind);
    if (kdf->kind == KDF_ARGON2ID &&
        (rc = check_params(kdf->ops, kdf->memkib, MTS_KDF_MAX_MEMLIMIT_KIB,
                           err, -1)) != 0)
        return rc;
    if ((secret->kind == KDF_RAW) != (kdf->kind == KDF_RAW))
        return mts__err(err, MTS_EBADKEY,
                        "sealed with a %s, but a %s was given",
                        kdf->kind == KDF_RAW ? "32-byte key" : "passphrase",
                        secret->kind == KDF_RAW ? "key" : "passphrase");
    pthread_mutex_lock(&secret->lock);
    if (kdf->kind == KDF_ARGON2ID)
        rc = derive(secret, kdf->salt, kdf->ops, kdf->memkib, err);
    if (rc == 0)
        crypto_kdf_derive_from_key(out, MTS_SEAL_KEY_SIZE, 1, purpose,
                                   secret->key);
    pthread_mutex_unlock(&secret->lock);
    return rc;
}

int
mts_is_sealed(const uint8_t *data, size_t len)
{
    return data != NULL && len >= ENV_MIN && data[0] == 2 &&
           memcmp(data + 1, "MTSESS\x1a", 7) == 0 &&
           mts__rd32(data + 12) == 1;
}

static void
put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

int
mts_encode_sealed(uint8_t **out, size_t *out_len, const mts_session *s,
                  mts_secret *secret, mts_error *err)
{
    uint8_t *plain, *env;
    size_t plen, total;
    int rc;
    if (out == NULL || out_len == NULL || s == NULL || secret == NULL)
        return mts__err(err, MTS_EINVAL, "encode_sealed: NULL argument");
    if ((rc = mts_encode(&plain, &plen, s, err)) != 0)
        return rc;
    if (plen > MTS_INPUT_MAX - ENV_MIN) {
        mts__wipe(plain, plen);
        mts_free(plain);
        return mts__err(err, MTS_ELIMIT, "sealed session would exceed %zu "
                                         "bytes",
                        (size_t)MTS_INPUT_MAX);
    }
    total = plen + ENV_MIN;
    env = mts__calloc(1, total);
    if (env == NULL) {
        mts__wipe(plain, plen);
        mts_free(plain);
        return mts__err_oom(err);
    }
    env[0] = 2;
    memcpy(env + 1, "MTSESS\x1a", 7);
    put32(env + 8, (uint32_t)total);
    put32(env + 12, 1);
    env[17] = AEAD_XCHACHA;
    pthread_mutex_lock(&secret->lock);
    if (secret->kind == KDF_ARGON2ID) {
        uint8_t salt[16];
        if (secret->have_key)
            memcpy(salt, secret->salt, 16); /* keep the derived key */
        else
            randombytes_buf(salt, sizeof(salt));
        rc = derive(secret, salt, secret->ops, secret->memkib, err);
        env[16] = KDF_ARGON2ID;
        put32(env + 20, secret->ops);
        put32(env + 24, secret->memkib);
        memcpy(env + 28, salt, 16);
    } else {
        env[16] = KDF_RAW;
    }
    if (rc == 0) {
        unsigned long long clen = 0;
        randombytes_buf(env + 44, 24);
        crypto_aead_xchacha20poly1305_ietf_encrypt(
            env + ENV_HEADER, &clen, plain, plen, env, ENV_HEADER, NULL,
            env + 44, secret->key);
        MTS_ASSERT(clen == plen + ENV_TAG);
        put32(env + total - 4, mts_crc32c(0, env, total - 4));
    }
    pthread_mutex_unlock(&secret->lock);
    mts__wipe(plain, plen);
    mts_free(plain);
    if (rc != 0) {
        mts_free(env);
        return rc;
    }
    *out = env;
    *out_len = total;
    return 0;
}

static int
open_envelope(mts_session **out, const uint8_t *d, size_t len,
              mts_secret *secret, mts_error *err)
{
    size_t plen = len - ENV_MIN;
    uint8_t *plain;
    unsigned long long got = 0;
    int rc = 0;
    if (len < ENV_MIN)
        return mts__err_at(err, MTS_ECORRUPT, (int64_t)len,
                           "sealed envelope of %zu bytes is shorter than "
                           "its %d-byte minimum (truncated)",
                           len, ENV_MIN);
    if (d[17] != AEAD_XCHACHA || d[18] != 0 || d[19] != 0)
        return mts__err_at(err, MTS_EVERSION, 17,
                           "sealed envelope uses cipher %u at byte 17, which "
                           "this reader does not know",
                           d[17]);
    if (d[16] == KDF_RAW) {
        static const uint8_t zero[24];
        if (memcmp(d + 20, zero, 24) != 0)
            return mts__err_at(err, MTS_ECORRUPT, 20,
                               "raw-key envelope has KDF fields set (bytes "
                               "20..43)");
    } else if (d[16] == KDF_ARGON2ID) {
        rc = check_params(mts__rd32(d + 20), mts__rd32(d + 24),
                          MTS_KDF_MAX_MEMLIMIT_KIB, err, 20);
        if (rc != 0)
            return rc;
    } else {
        return mts__err_at(err, MTS_EVERSION, 16,
                           "sealed envelope uses key derivation %u at byte "
                           "16, which this reader does not know",
                           d[16]);
    }
    if (secret == NULL)
        return mts__err(err, MTS_EENCRYPTED,
                        "the session is encrypted (%s) and no key or "
                        "passphrase was given",
                        d[16] == KDF_RAW ? "with a 32-byte key"
                                         : "with a passphrase");
    if ((secret->kind == KDF_RAW) != (d[16] == KDF_RAW))
        return mts__err(err, MTS_EBADKEY,
                        "the session is sealed with a %s, but a %s was given",
                        d[16] == KDF_RAW ? "32-byte key" : "passphrase",
                        secret->kind == KDF_RAW ? "key" : "passphrase");
    if ((rc = need_sodium(err)) != 0)
        return rc;
    plain = mts_malloc(plen ? plen : 1);
    if (plain == NULL)
        return mts__err_oom(err);
    pthread_mutex_lock(&secret->lock);
    if (secret->kind == KDF_ARGON2ID)
        rc = derive(secret, d + 28, mts__rd32(d + 20), mts__rd32(d + 24), err);
    if (rc == 0 &&
        crypto_aead_xchacha20poly1305_ietf_decrypt(
            plain, &got, NULL, d + ENV_HEADER, len - ENV_HEADER - 4, d,
            ENV_HEADER, d + 44, secret->key) != 0)
        rc = mts__err(err, MTS_EBADKEY,
                      "wrong key or passphrase: the envelope is intact "
                      "(checksum holds) but does not open with it");
    pthread_mutex_unlock(&secret->lock);
    if (rc == 0) {
        rc = mts_decode(out, plain, (size_t)got, err);
        if (rc != 0)
            mts__err_prefix(err, "sealed payload");
    }
    mts__wipe(plain, plen);
    mts_free(plain);
    return rc;
}

int
mts_decode_any(mts_session **out, const uint8_t *data, size_t len,
               mts_secret *secret, mts_error *err)
{
    int rc;
    if (out == NULL || (data == NULL && len != 0))
        return mts__err(err, MTS_EINVAL, "decode: NULL argument");
    rc = mts_decode(out, data, len, err);
    /* mts_decode checks length and checksum first and answers a sealed
     * file with MTS_EENCRYPTED: only then is the envelope opened. */
    if (rc != MTS_EENCRYPTED)
        return rc;
    return open_envelope(out, data, len, secret, err);
}

int
mts_string_encode_sealed(char **out, const mts_session *s, mts_secret *secret,
                         mts_error *err)
{
    uint8_t *bin;
    size_t n;
    int rc = mts_encode_sealed(&bin, &n, s, secret, err);
    if (rc != 0)
        return rc;
    rc = mts__string_wrap(out, bin, n, err);
    mts_free(bin); /* ciphertext: nothing secret in it */
    return rc;
}

int
mts_string_decode_any(mts_session **out, const char *text, size_t len,
                      mts_secret *secret, mts_error *err)
{
    uint8_t *bin;
    size_t n;
    int rc;
    if (out == NULL || (text == NULL && len != 0))
        return mts__err(err, MTS_EINVAL, "decode: NULL argument");
    if ((rc = mts__string_unwrap(&bin, &n, text, len, err)) != 0)
        return rc;
    rc = mts_decode_any(out, bin, n, secret, err);
    mts__wipe(bin, n);
    mts_free(bin);
    if (rc != 0)
        mts__err_prefix(err, "mtsession string payload");
    return rc;
}
