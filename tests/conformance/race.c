/*
 * race.c - see race.h. Children report their counts through a pipe; the
 * parent releases them all at once (another pipe), waits for every one,
 * then reads the counter back. The lease case runs in the calling process.
 */
#include "race.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "t.h"

typedef struct child_report {
    long conflicts;
    long locked;
    int ok;
} child_report;

/* One increment: read, change, save only over what was read; retry on a
 * conflict (and on a busy lock). Returns 0 or the error that stopped it. */
static int
increment(mts_storage *st, child_report *rep, char *msg, size_t size)
{
    for (int attempt = 0; attempt < 100000; attempt++) {
        mts_error err = MTS_ERROR_INIT;
        mts_session *s = NULL;
        uint64_t rev = 0;
        int32_t pts = 0;
        int rc = mts_storage_load_rev(&s, &rev, st, &err);
        if (rc == MTS_ENOTFOUND)
            rc = mts_session_new(&s, MTS_NEW_EMPTY);
        if (rc != 0) {
            snprintf(msg, size, "load_rev: %s %s", mts_errname(rc),
                     err.message);
            return rc;
        }
        if (mts_session_channel_pts(s, RACE_CHANNEL, &pts) != 0)
            pts = 0;
        rc = mts_session_set_channel_pts(s, RACE_CHANNEL, pts + 1);
        if (rc == 0)
            rc = mts_storage_save_if(st, s, rev, NULL, &err);
        mts_session_free(s);
        if (rc == 0)
            return 0;
        if (rc == MTS_ECONFLICT) {
            rep->conflicts++;
            continue;
        }
        if (rc == MTS_ELOCKED) {
            rep->locked++;
            continue;
        }
        snprintf(msg, size, "save_if: %s %s", mts_errname(rc), err.message);
        return rc;
    }
    snprintf(msg, size, "no progress in 100000 attempts");
    return MTS_EIO;
}

static void
child(int go,
      int report,
      int (*open)(mts_storage **, void *),
      void *ctx,
      int each)
{
    child_report rep = { 0, 0, 0 };
    mts_storage *st = NULL;
    char msg[512] = "";
    char c;
    int rc;
    if (read(go, &c, 1) != 1)
        _exit(3);
    rc = open(&st, ctx);
    if (rc != 0) {
        fprintf(stderr, "  child %d: open: %s\n", (int)getpid(),
                mts_errname(rc));
        _exit(4);
    }
    for (int i = 0; i < each && rc == 0; i++)
        rc = increment(st, &rep, msg, sizeof(msg));
    if (rc != 0)
        fprintf(stderr, "  child %d: %s\n", (int)getpid(), msg);
    mts_storage_free(st);
    rep.ok = rc == 0;
    if (write(report, &rep, sizeof(rep)) != (ssize_t)sizeof(rep))
        _exit(5);
    _exit(rc == 0 ? 0 : 6);
}

void
race_increments(race_result *out,
                int (*open)(mts_storage **, void *),
                void *ctx,
                int procs,
                int each)
{
    int go[2], rep[2];
    pid_t pids[64];
    mts_storage *st = NULL;
    mts_session *s = NULL;
    int n = 0;
    memset(out, 0, sizeof(*out));
    out->final = -1;
    if (procs > 64 || pipe(go) != 0 || pipe(rep) != 0) {
        t_fail(__FILE__, __LINE__, "race: setup failed");
        return;
    }
    fflush(NULL);
    for (int i = 0; i < procs; i++) {
        pid_t p = fork();
        if (p == 0) {
            close(go[1]);
            close(rep[0]);
            child(go[0], rep[1], open, ctx, each);
        }
        if (p < 0) {
            t_fail(__FILE__, __LINE__, "race: fork: %s", strerror(errno));
            break;
        }
        pids[n++] = p;
    }
    close(go[0]);
    close(rep[1]);
    for (int i = 0; i < n; i++) /* release them all at once */
        if (write(go[1], "g", 1) != 1)
            t_fail(__FILE__, __LINE__, "race: release failed");
    close(go[1]);
    for (int i = 0; i < n; i++) {
        child_report r;
        if (read(rep[0], &r, sizeof(r)) == (ssize_t)sizeof(r)) {
            out->conflicts += r.conflicts;
            out->locked += r.locked;
        }
    }
    close(rep[0]);
    for (int i = 0; i < n; i++) {
        int status = 0;
        while (waitpid(pids[i], &status, 0) < 0 && errno == EINTR) {
        }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            out->failed_children++;
    }
    if (open(&st, ctx) != 0) {
        t_fail(__FILE__, __LINE__, "race: reopen failed");
        return;
    }
    if (mts_storage_load(&s, st, NULL) == 0 &&
        mts_session_channel_pts(s, RACE_CHANNEL, &out->final) != 0)
        out->final = -2;
    mts_session_free(s);
    mts_storage_free(st);
}

void
race_check(int (*open)(mts_storage **, void *), void *ctx, int procs, int each)
{
    race_result r;
    race_increments(&r, open, ctx, procs, each);
    fprintf(stderr, "  %d x %d increments: %ld conflicts, %ld busy\n", procs,
            each, r.conflicts, r.locked);
    T_EQ_INT(r.failed_children, 0);
    T_EQ_INT(r.final, procs * each);
}

void
race_lease_fencing(int (*open)(mts_storage **, void *),
                   void *ctx,
                   const mts_session *s)
{
    mts_storage *holder = NULL, *other = NULL, *taker = NULL;
    mts_lease l = MTS_LEASE_INIT;
    mts_error err = MTS_ERROR_INIT;
    uint64_t rev = 0, r2 = 0;
    struct timespec nap = { 0, 120 * 1000000L };
    T_EQ_INT(open(&holder, ctx), 0);
    T_EQ_INT(open(&other, ctx), 0);
    T_EQ_INT(open(&taker, ctx), 0);
    if (holder == NULL || other == NULL || taker == NULL)
        goto out;
    T_EQ_INT(mts_lease_acquire(&l, holder, "w1", 60000, &err), 0);
    T_EQ_INT(mts_storage_save_if(holder, s, 0, &rev, &err), 0);
    T_EQ_INT(mts_storage_save_if(other, s, rev, NULL, &err), MTS_ELOCKED);
    T_CONTAINS(err.message, "held by w1");
    T_EQ_INT(mts_storage_save_if(holder, s, rev, &r2, &err), 0);
    /* the holder's conflict is a conflict, not a fence */
    T_EQ_INT(mts_storage_save_if(holder, s, rev, NULL, &err), MTS_ECONFLICT);
    /* a short lease runs out and passes to another owner */
    T_EQ_INT(mts_lease_renew(&l, holder, 50, &err), 0);
    while (nanosleep(&nap, &nap) != 0 && errno == EINTR) {
    }
    T_EQ_INT(mts_lease_acquire(&l, taker, "w2", 60000, &err), 0);
    T_EQ_INT(mts_storage_save_if(holder, s, r2, NULL, &err), MTS_EFENCED);
    T_EQ_INT(mts_storage_save_if(other, s, r2, NULL, &err), MTS_ELOCKED);
    T_EQ_INT(mts_storage_load_rev(NULL, &rev, holder, &err), 0);
    T_EQ_U64(rev, r2); /* nothing written */
    T_EQ_INT(mts_storage_save_if(taker, s, r2, NULL, &err), 0);
out:
    mts_storage_free(taker);
    mts_storage_free(other);
    mts_storage_free(holder);
}
