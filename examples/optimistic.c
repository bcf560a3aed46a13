/*
 * optimistic.c - two workers share one session file without a lease.
 *
 * Each worker reads the session with its revision, changes its copy, and
 * saves it only if the stored revision is still the one it read. The
 * second worker to save gets MTS_ECONFLICT (nothing written), reloads,
 * applies its change again and retries: no update is lost, none is
 * overwritten.
 *
 *   optimistic [PATH]      (default: ./optimistic.session)
 */
#include <stdio.h>

#include <mtsession/mtsession.h>

static int
fail(const char *what, const mts_error *err)
{
    fprintf(stderr, "%s: %s (%s)\n", what, err->message,
            mts_errname(err->code));
    return 1;
}

/* A worker's change: cache one user. */
static int
add_user(mts_session *s, int64_t id)
{
    mts_peer p = MTS_PEER_INIT;
    p.kind = MTS_PEER_USER;
    p.id = id;
    p.access_hash = id * 7919;
    return mts_session_put_peer(s, &p, NULL);
}

/* Load, change, save-if-unchanged; on a conflict, again from the load. */
static int
update(mts_storage *store, int64_t user_id, int *conflicts)
{
    for (int attempt = 0; attempt < 10; attempt++) {
        mts_error err = MTS_ERROR_INIT;
        mts_session *s = NULL;
        uint64_t rev = 0;
        int rc = mts_storage_load_rev(&s, &rev, store, &err);
        if (rc == MTS_ENOTFOUND)
            rc = mts_session_new(&s, MTS_NEW_DEFAULT);
        if (rc != 0)
            return fail("load", &err);
        if (add_user(s, user_id) != 0) {
            mts_session_free(s);
            return 1;
        }
        rc = mts_storage_save_if(store, s, rev, NULL, &err);
        mts_session_free(s);
        if (rc == 0)
            return 0;
        if (rc != MTS_ECONFLICT)
            return fail("save", &err);
        ++*conflicts; /* someone saved first: start over from their state */
    }
    fprintf(stderr, "still conflicting after 10 attempts\n");
    return 1;
}

int
main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "optimistic.session";
    mts_error err = MTS_ERROR_INIT;
    mts_storage *a = NULL, *b = NULL;
    mts_session *sa = NULL, *s = NULL;
    uint64_t rev_a = 0, rev = 0;
    int rc = 1, conflicts = 0;

    /* Two handles on one file, as two worker processes would have. */
    if (mts_file_open(&a, path, NULL, &err) != 0 ||
        mts_file_open(&b, path, NULL, &err) != 0) {
        fail("open", &err);
        goto out;
    }
    if (mts_storage_delete(a, &err) != 0) { /* start from nothing */
        fail("delete", &err);
        goto out;
    }
    if (update(a, 1001, &conflicts) != 0)
        goto out;

    /* Worker A reads; worker B then writes before A saves. */
    if (mts_storage_load_rev(&sa, &rev_a, a, &err) != 0 ||
        add_user(sa, 2002) != 0) {
        fail("load", &err);
        goto out;
    }
    if (update(b, 3003, &conflicts) != 0)
        goto out;
    rc = mts_storage_save_if(a, sa, rev_a, NULL, &err);
    if (rc != MTS_ECONFLICT) {
        fprintf(stderr, "expected MTS_ECONFLICT, got %s\n", mts_errname(rc));
        rc = 1;
        goto out;
    }
    printf("worker A: %s\n", err.message);
    conflicts++;
    rc = 1;
    /* A starts over from the stored state */
    if (update(a, 2002, &conflicts) != 0)
        goto out;

    if (mts_storage_load_rev(&s, &rev, a, &err) != 0) {
        fail("reload", &err);
        goto out;
    }
    printf("%zu peers cached, %d conflict(s) resolved by retrying\n",
           mts_session_peer_count(s), conflicts);
    {
        mts_peer p;
        rc = mts_session_peer_count(s) == 3 &&
                     mts_session_get_peer(&p, s, MTS_PEER_USER, 1001) == 0 &&
                     mts_session_get_peer(&p, s, MTS_PEER_USER, 2002) == 0 &&
                     mts_session_get_peer(&p, s, MTS_PEER_USER, 3003) == 0 &&
                     rev != 0 && conflicts == 1
                 ? 0
                 : 1;
    }
out:
    mts_session_free(sa);
    mts_session_free(s);
    mts_storage_free(a);
    mts_storage_free(b);
    return rc;
}
