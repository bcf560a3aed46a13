/*
 * journal_helpers.c - see journal_helpers.h.
 */
#include "journal_helpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void
j_change(long i, mts_update_change *c, mts_channel_pts *chans)
{
    *c = (mts_update_change)MTS_UPDATE_CHANGE_INIT;
    switch (i % 7) {
    case 0:
    case 3:
        c->kind = MTS_UPDATE_PRIMARY;
        c->state.pts = (int32_t)i;
        c->state.date = (int32_t)(1700000000 + i);
        c->state.seq = (int32_t)(i / 2);
        c->state.qts = -1; /* ignored by PRIMARY */
        break;
    case 1:
        c->kind = MTS_UPDATE_SECONDARY;
        c->state.qts = (int32_t)i;
        break;
    case 6:
        c->kind = MTS_UPDATE_ALL;
        c->state.pts = (int32_t)i;
        c->state.qts = (int32_t)(i + 1);
        c->state.date = (int32_t)(1800000000 - i);
        c->state.seq = (int32_t)(i * 3);
        chans[0].channel_id = 1 + i % 5;
        chans[0].pts = (int32_t)i;
        chans[1].channel_id = 100 + i % 3;
        chans[1].pts = (int32_t)(i + 1);
        chans[2].channel_id = 1000;
        chans[2].pts = (int32_t)(i + 2);
        c->channels = chans;
        c->channel_count = 3;
        break;
    default:
        c->kind = MTS_UPDATE_CHANNEL;
        c->channel_id = 1 + (i * 7919) % 40;
        c->channel_pts = (int32_t)i;
        break;
    }
}

void
j_apply(mts_session *s, long from, long to)
{
    for (long i = from; i < to; i++) {
        mts_update_change c;
        mts_channel_pts chans[3];
        j_change(i, &c, chans);
        if (mts_session_apply_update(s, &c) != 0) {
            fprintf(stderr, "j_apply: change %ld failed\n", i);
            exit(2);
        }
    }
}

int
j_open(mts_storage **out, const char *path, size_t jmax, unsigned group,
       unsigned ms, mts_error *err)
{
    mts_file_options o = MTS_FILE_OPTIONS_INIT;
    o.journal_max_bytes = jmax;
    if (group > 0) {
        o.flags |= MTS_FILE_GROUP_COMMIT;
        o.group_commit_changes = group;
        o.group_commit_ms = ms;
    }
    return mts_file_open(out, path, &o, err);
}

long
j_size(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return -1;
    return (long)st.st_size;
}

void
j_journal(char *buf, size_t size, const char *path)
{
    snprintf(buf, size, "%s.journal", path);
}

int
j_load(mts_session **out, const char *path, mts_error *err)
{
    mts_storage *st = NULL;
    int rc = mts_file_open(&st, path, NULL, err);
    *out = NULL;
    if (rc == 0)
        rc = mts_storage_load(out, st, err);
    mts_storage_free(st);
    return rc;
}

int
j_holds(const char *path, const mts_session *want)
{
    mts_session *got = NULL;
    mts_error e = MTS_ERROR_INIT;
    int rc = j_load(&got, path, &e), ok;
    if (rc != 0)
        fprintf(stderr, "  j_holds: load: %s\n", e.message);
    ok = rc == 0 && mts_session_equal(got, want);
    mts_session_free(got);
    return ok;
}

/* ---- the hook ---- */

static int
hook(mts__sys call, size_t *len, void *payload)
{
    j_hook *h = payload;
    long i = h->count++;
    if (i < J_TRACE_MAX)
        h->trace[i] = call;
    if ((unsigned)call < MTS__SYS__COUNT)
        h->by_kind[call]++;
    switch (h->mode) {
    case J_COUNT:
        return 0;
    case J_FAIL:
    case J_FAIL_FROM:
        if (i == h->target || (h->mode == J_FAIL_FROM && i > h->target)) {
            if (!h->fired)
                h->fired_call = call;
            h->fired = 1;
            return h->errnum;
        }
        return 0;
    case J_SHORT:
        if (i == h->target && call == MTS__SYS_WRITE && len != NULL) {
            h->fired = 1;
            h->fired_call = call;
            *len /= 2;
        }
        return 0;
    case J_SHORT_FAIL:
        if (i == h->target && call == MTS__SYS_WRITE && len != NULL)
            *len /= 2;
        if (i == h->target + 1) {
            h->fired = 1;
            h->fired_call = call;
            return h->errnum;
        }
        return 0;
    case J_EXIT:
        if (i == h->target)
            _exit(0);
        return 0;
    }
    return 0;
}

void
j_hook_start(j_hook *h, j_mode mode, long target, int errnum)
{
    memset(h, 0, sizeof(*h));
    h->mode = mode;
    h->target = target;
    h->errnum = errnum;
    mts__os_set_hook(hook, h);
}

void
j_hook_stop(void)
{
    mts__os_set_hook(NULL, NULL);
}
