/*
 * file_optimistic.c - optimistic mode on the file backend across
 * processes: eight processes each add 1 to a counter in the session many
 * times with load_rev, save_if and a retry on MTS_ECONFLICT; no increment
 * is lost. Also: a handle that saved conditionally holds no lock between
 * calls, while a plain writer's lock keeps conditional writers out.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "race.h"
#include "t.h"

static char store[4096];

static int
open_store(mts_storage **out, void *ctx)
{
    (void)ctx;
    return mts_file_open(out, store, NULL, NULL);
}

static void
test_race(void)
{
    snprintf(store, sizeof(store), "%s/race.session", t_tmpdir());
    race_check(open_store, NULL, 8, 40);
}

/* With the journal in use (a handle that appends, then saves
 * conditionally): the same, counting in a journaled store. */
static void
test_journal_then_race(void)
{
    mts_storage *st;
    mts_update_change c = MTS_UPDATE_CHANGE_INIT;
    snprintf(store, sizeof(store), "%s/race-journal.session", t_tmpdir());
    T_EQ_INT(mts_file_open(&st, store, NULL, NULL), 0);
    c.kind = MTS_UPDATE_PRIMARY;
    c.state.pts = 5;
    T_EQ_INT(mts_storage_apply_update_state(st, &c, NULL), 0); /* fold */
    c.state.pts = 6;
    T_EQ_INT(mts_storage_apply_update_state(st, &c, NULL), 0); /* append */
    mts_storage_free(st);
    race_check(open_store, NULL, 4, 25);
}

/* A handle in optimistic mode (it called save_if) takes the lock for each
 * write only, its plain writes too; a handle that never did keeps it from
 * its first write, so others' save_if waits, then is refused with
 * MTS_ELOCKED naming the pid, until it calls save_if (which gives the
 * lock back) or is freed. */
static void
test_locks(void)
{
    mts_storage *a, *b, *c;
    mts_session *s;
    mts_update_change ch = MTS_UPDATE_CHANGE_INIT;
    mts_error err = MTS_ERROR_INIT;
    uint64_t r1 = 0, r2 = 0, r3 = 0;
    char pid[32];
    snprintf(store, sizeof(store), "%s/locks.session", t_tmpdir());
    snprintf(pid, sizeof(pid), "locked by pid %ld", (long)getpid());
    T_EQ_INT(mts_session_new(&s, MTS_NEW_DEFAULT), 0);
    T_EQ_INT(mts_file_open(&a, store, NULL, NULL), 0);
    T_EQ_INT(mts_file_open(&b, store, NULL, NULL), 0);
    T_EQ_INT(mts_file_open(&c, store, NULL, NULL), 0);
    T_EQ_INT(mts_storage_save_if(a, s, 0, &r1, &err), 0);
    T_EQ_INT(mts_storage_save_if(b, s, r1, &r2, &err), 0); /* a let go */
    T_EQ_INT(mts_storage_save_if(a, s, r2, &r3, &err), 0);
    T_CHECK(r1 != r2 && r2 != r3 && r1 != r3);
    /* plain writes of handles in optimistic mode: per call too */
    T_EQ_INT(mts_storage_save(b, s, &err), 0);
    ch.kind = MTS_UPDATE_PRIMARY;
    ch.state.pts = 7;
    T_EQ_INT(mts_storage_apply_update_state(b, &ch, &err), 0);
    ch.state.pts = 8;
    T_EQ_INT(mts_storage_apply_update_state(a, &ch, &err), 0);
    ch.state.pts = 9;
    T_EQ_INT(mts_storage_apply_update_state(b, &ch, &err), 0);
    T_EQ_INT(mts_storage_load_rev(NULL, &r1, a, &err), 0);
    /* c never used save_if: its first write keeps the lock */
    T_EQ_INT(mts_storage_delete(c, &err), 0);
    T_EQ_INT(mts_storage_save_if(a, s, 0, NULL, &err), MTS_ELOCKED);
    T_CONTAINS(err.message, pid);
    T_EQ_INT(mts_storage_save(b, s, &err), MTS_ELOCKED);
    /* until it calls save_if itself, which gives the lock back */
    T_EQ_INT(mts_storage_save_if(c, s, 0, &r2, &err), 0);
    T_EQ_INT(mts_storage_save_if(a, s, r2, &r3, &err), 0);
    T_EQ_INT(mts_storage_save(c, s, &err), 0);
    T_EQ_INT(mts_storage_save(b, s, &err), 0);
    mts_storage_free(c);
    mts_storage_free(b);
    mts_storage_free(a);
    mts_session_free(s);
}

/* Appends of two handles in optimistic mode, interleaved: each sees the
 * other's records (tokens), none is lost, the journal stays intact. */
static void
test_interleaved_appends(void)
{
    mts_storage *a, *b;
    mts_session *s, *got = NULL;
    mts_update_change ch = MTS_UPDATE_CHANGE_INIT;
    mts_error err = MTS_ERROR_INIT;
    uint64_t r = 0;
    int32_t pts = 0;
    snprintf(store, sizeof(store), "%s/appends.session", t_tmpdir());
    T_EQ_INT(mts_session_new(&s, MTS_NEW_DEFAULT), 0);
    T_EQ_INT(mts_file_open(&a, store, NULL, NULL), 0);
    T_EQ_INT(mts_file_open(&b, store, NULL, NULL), 0);
    T_EQ_INT(mts_storage_save_if(a, s, 0, &r, &err), 0);
    T_EQ_INT(mts_storage_load_rev(NULL, &r, b, &err), 0);
    T_EQ_INT(mts_storage_save_if(b, s, r, &r, &err), 0);
    ch.kind = MTS_UPDATE_CHANNEL;
    for (int i = 1; i <= 20; i++) {
        ch.channel_id = i;
        ch.channel_pts = i * 10;
        T_EQ_INT(mts_storage_apply_update_state(i % 2 ? a : b, &ch, &err), 0);
    }
    T_EQ_INT(mts_storage_load(&got, a, &err), 0);
    if (got != NULL) {
        T_EQ_U64(mts_session_channel_count(got), 20);
        T_EQ_INT(mts_session_channel_pts(got, 13, &pts), 0);
        T_EQ_INT(pts, 130);
        mts_session_free(got);
    }
    mts_storage_free(b);
    mts_storage_free(a);
    mts_session_free(s);
}

/* Leases still apply: a handle without a lease is refused while the lease
 * is live; the holder's save_if is fenced once another owner took it. */
static void
test_leases(void)
{
    mts_session *s;
    snprintf(store, sizeof(store), "%s/lease.session", t_tmpdir());
    T_EQ_INT(mts_session_new(&s, MTS_NEW_DEFAULT), 0);
    race_lease_fencing(open_store, NULL, s);
    mts_session_free(s);
}

/* A conditional save of a handle without a lease, between two appends of
 * a holder whose lease ran out (and which renews it after): the holder
 * sees the store changed and appends to the new snapshot's journal, so
 * both writes are in what a load returns, and it loads without damage. */
static void
test_between_holder_appends(void)
{
    mts_storage *holder, *free_h;
    mts_session *s, *got;
    mts_lease l = MTS_LEASE_INIT;
    mts_update_change c = MTS_UPDATE_CHANGE_INIT;
    mts_error err = MTS_ERROR_INIT;
    struct timespec nap = { 0, 80 * 1000000L };
    uint64_t rev = 0;
    int32_t pts = 0;
    snprintf(store, sizeof(store), "%s/between.session", t_tmpdir());
    T_EQ_INT(mts_file_open(&holder, store, NULL, NULL), 0);
    T_EQ_INT(mts_file_open(&free_h, store, NULL, NULL), 0);
    T_EQ_INT(mts_lease_acquire(&l, holder, "w1", 30, &err), 0);
    c.kind = MTS_UPDATE_CHANNEL;
    c.channel_id = 1;
    c.channel_pts = 10;
    T_EQ_INT(mts_storage_apply_update_state(holder, &c, &err), 0); /* fold */
    c.channel_pts = 11;
    T_EQ_INT(mts_storage_apply_update_state(holder, &c, &err), 0); /* append */
    nanosleep(&nap, NULL); /* the lease runs out; nobody takes it */
    T_EQ_INT(mts_storage_load_rev(&s, &rev, free_h, &err), 0);
    if (s != NULL) {
        T_EQ_INT(mts_session_set_channel_pts(s, 2, 20), 0);
        T_EQ_INT(mts_storage_save_if(free_h, s, rev, NULL, &err), 0);
        mts_session_free(s);
    }
    T_EQ_INT(mts_lease_renew(&l, holder, 60000, &err), 0);
    c.channel_pts = 12;
    T_EQ_INT(mts_storage_apply_update_state(holder, &c, &err), 0);
    got = NULL;
    T_EQ_INT(mts_storage_load(&got, free_h, &err), 0);
    if (got != NULL) {
        T_EQ_INT(mts_session_channel_pts(got, 1, &pts), 0);
        T_EQ_INT(pts, 12);
        T_EQ_INT(mts_session_channel_pts(got, 2, &pts), 0);
        T_EQ_INT(pts, 20);
        mts_session_free(got);
    }
    mts_storage_free(free_h);
    mts_storage_free(holder);
}

T_MAIN(T_CASE(test_race),
       T_CASE(test_journal_then_race),
       T_CASE(test_locks),
       T_CASE(test_interleaved_appends),
       T_CASE(test_leases),
       T_CASE(test_between_holder_appends))
