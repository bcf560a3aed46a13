/*
 * mtsession/seal.h - sessions encrypted at rest.
 *
 * A sealed session is the same version-2 file wrapped in an envelope
 * (docs/FORMAT.md, "Sealed envelope"): XChaCha20-Poly1305 under a 32-byte
 * key, either given directly or derived from a passphrase with Argon2id
 * (its parameters and salt are stored in the envelope). The envelope keeps
 * the file's outer checksum, so a damaged file is reported as corrupt and
 * a wrong key as a wrong key, never one for the other.
 *
 * An mts_secret holds the key material. It is wiped when freed. It may be
 * shared by several threads (it caches the last derived key under a lock).
 */
#ifndef MTSESSION_SEAL_H
#define MTSESSION_SEAL_H

#include "common.h"
#include "errors.h"
#include "session.h"

MTS_BEGIN_DECL

/** Size of a raw sealing key. */
#define MTS_SEAL_KEY_SIZE 32

typedef struct mts_secret mts_secret;

#define MTS_KDF_PARAMS_VERSION 1

/**
 * Argon2id cost. opslimit: passes (1..32); memlimit_kib: memory in KiB
 * (8 .. MTS_KDF_MAX_MEMLIMIT_KIB = 1 GiB). Readers refuse envelopes asking
 * for more, so a hostile file cannot exhaust memory; writers refuse such
 * parameters up front, so nothing is sealed that could not be opened.
 */
typedef struct mts_kdf_params {
    unsigned int version;
    uint32_t opslimit;
    uint32_t memlimit_kib;
} mts_kdf_params;

/** Default: 3 passes over 64 MiB (about 0.2 s on a current core). */
#define MTS_KDF_PARAMS_INIT { MTS_KDF_PARAMS_VERSION, 3, 65536 }
#define MTS_KDF_MAX_MEMLIMIT_KIB 1048576u

/** A secret from a raw 32-byte key (copied). 0, MTS_EINVAL, MTS_ENOMEM. */
MTS_API int mts_secret_from_key(mts_secret **out,
                                const uint8_t key[MTS_SEAL_KEY_SIZE],
                                mts_error *err);

/**
 * A secret from a passphrase of `len` bytes (copied; 1..1024 bytes). The
 * key is derived when first needed, with `params` (NULL: the defaults)
 * when sealing, or with the parameters stored in the envelope when
 * opening. Returns 0, MTS_EINVAL, MTS_ENOMEM.
 */
MTS_API int mts_secret_from_passphrase(mts_secret **out, const char *pass,
                                       size_t len,
                                       const mts_kdf_params *params,
                                       mts_error *err);

/** Wipe and free. Accepts NULL. */
MTS_API void mts_secret_free(mts_secret *secret);

/** 1 if `data` is a sealed version-2 envelope, else 0. */
MTS_API int mts_is_sealed(const uint8_t *data, size_t len);

/**
 * Encode `s` as a sealed file. *out belongs to the caller (mts_free).
 * Returns 0, MTS_EINVAL, MTS_ELIMIT, MTS_ENOMEM, MTS_EBACKEND (the KDF
 * could not get its memory).
 */
MTS_API int mts_encode_sealed(uint8_t **out, size_t *out_len,
                              const mts_session *s, mts_secret *secret,
                              mts_error *err);

/**
 * Decode a plain or sealed file. A sealed one needs `secret`:
 * without it MTS_EENCRYPTED; with the wrong one MTS_EBADKEY; a damaged
 * envelope MTS_ECORRUPT with its offset. Plain files decode as with
 * mts_decode (secret may be NULL then).
 */
MTS_API int mts_decode_any(mts_session **out, const uint8_t *data,
                           size_t len, mts_secret *secret, mts_error *err);

/** The portable string of a sealed file ("mts:" + base64url). */
MTS_API int mts_string_encode_sealed(char **out, const mts_session *s,
                                     mts_secret *secret, mts_error *err);

/** Decode a plain or sealed portable string (see mts_decode_any). */
MTS_API int mts_string_decode_any(mts_session **out, const char *text,
                                  size_t len, mts_secret *secret,
                                  mts_error *err);

MTS_END_DECL

#endif /* MTSESSION_SEAL_H */
