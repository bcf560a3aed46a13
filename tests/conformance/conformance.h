/*
 * conformance.h - one behaviour suite for every backend.
 *
 * A backend plugs in with an opener that gives a fresh, empty store on
 * every call, and optionally a reopener that gives a second handle on the
 * store the last open created (to prove persistence). conf_run runs every
 * case and reports through the harness.
 */
#ifndef MTS_CONFORMANCE_H
#define MTS_CONFORMANCE_H

#include "mtsession/mtsession.h"

typedef struct conf_backend {
    const char *name;
    int (*open)(mts_storage **out, void *ctx);
    int (*reopen)(mts_storage **out, void *ctx); /* may be NULL */
    void *ctx;
    /* Peers in the large round-trip case (0 = 10000). */
    size_t big_peers;
} conf_backend;

/* Run every conformance case against b as harness cases named
 * "<name>:<case>". The optimistic-mode cases (load_rev, save_if) run when
 * the backend keeps revisions (conf_keeps_revs). */
void conf_run(const conf_backend *b);

/* 1 when b's stores keep revisions (mts_storage_load_rev on a fresh store
 * is not MTS_ENOTSUPPORTED), else 0. A backend without them must refuse
 * both calls with MTS_ENOTSUPPORTED (checked here). Runners of backends
 * that must have them assert it, so the cases cannot be skipped by
 * mistake. */
int conf_keeps_revs(const conf_backend *b);

#endif
