/*
 * workload.h - the operations the crash and power-loss tests make a
 * store go through, and the model that says what the store must hold
 * after each of them.
 *
 * Operation i of a run is a pure function of (seed, i): a child process
 * and its parent, or a recording run and its checker, derive the same
 * sequence independently. The model of the stored session is an
 * mts_session (NULL when nothing is stored) to which the same operation
 * is applied with the session API; a store is correct when it loads as a
 * session equal to the model's.
 */
#ifndef MTS_TEST_WORKLOAD_H
#define MTS_TEST_WORKLOAD_H

#include <stdint.h>

#include "mtsession/mtsession.h"

/* How many distinct full sessions a save chooses from. */
#define WL_FULL_COUNT 4

typedef enum wl_kind {
    WL_SAVE,   /* mts_storage_save of one of the full sessions */
    WL_UPDATE, /* mts_storage_apply_update_state, any change kind */
    WL_PEER,   /* mts_storage_cache_peer */
    WL_DC,     /* mts_storage_update_dc */
    WL_HOME,   /* mts_storage_set_home_dc */
    WL_DELETE, /* mts_storage_delete */
    WL_KIND_COUNT
} wl_kind;

/*
 * One operation. The pointers inside (change.channels, peer.username,
 * dc.auth_key) point into the struct itself: fill it in place with
 * wl_make and do not copy it.
 */
typedef struct wl_op {
    wl_kind kind;
    int variant; /* WL_SAVE: which full session */
    mts_update_change change;
    mts_channel_pts chans[3];
    mts_peer peer;
    char username[24];
    mts_dc dc;
    uint8_t key[MTS_AUTH_KEY_SIZE];
    int32_t home;
} wl_op;

/* Percentages of each kind in a generated sequence (they add up to 100;
 * WL_DELETE may be 0). */
typedef struct wl_mix {
    unsigned int pct[WL_KIND_COUNT];
} wl_mix;

/* The crash test's mix: saves, many update-state changes, peers, some
 * DC and home-DC changes, no deletes. */
extern const wl_mix wl_mix_default;

/* splitmix64: the next value of *state. */
uint64_t wl_next(uint64_t *state);
/* A value of (seed, i, salt), independent of the others. */
uint64_t wl_hash(uint64_t seed, uint64_t i, uint64_t salt);

/* The run's seed: MTS_TEST_SEED when set, else from the clock and pid.
 * Printed as "seed N" on stdout. */
uint64_t wl_seed(void);

/* An environment variable as a positive number, or `def`. */
long wl_env_long(const char *name, long def);

/* Operation i of the sequence of `seed`, drawn from `mix`. */
void wl_make(wl_op *op, uint64_t seed, uint64_t i, const wl_mix *mix);

/* Operation `kind` with values drawn from (seed, i): for scripted
 * sequences. For WL_UPDATE, `sub` picks the change kind (0..3, or -1
 * for a drawn one). */
void wl_make_kind(wl_op *op, wl_kind kind, int sub, uint64_t seed, uint64_t i);

/* The full session `variant` (0 .. WL_FULL_COUNT-1): every part differs
 * between variants, and they differ in size. Exits on failure. */
mts_session *wl_full(int variant);
/* Build all of them into full[WL_FULL_COUNT]; wl_free_full frees. */
void wl_full_all(mts_session **full);
void wl_free_full(mts_session **full);

/* Apply op to the model *model (NULL: nothing stored). 0, or -1 when the
 * model refused it (a bug in the workload). */
int
wl_apply_model(mts_session **model, const wl_op *op, mts_session *const *full);

/* Apply op to the store. Returns what the storage call returns. */
int wl_apply_storage(mts_storage *st,
                     const wl_op *op,
                     mts_session *const *full,
                     mts_error *err);

/* "save", "update", ... */
const char *wl_kind_name(wl_kind kind);

/* Whether two model states are the same (NULL == NULL). */
int wl_same(const mts_session *a, const mts_session *b);

/* A copy of a model state (NULL stays NULL). Exits on failure. */
mts_session *wl_dup(const mts_session *s);

#endif
