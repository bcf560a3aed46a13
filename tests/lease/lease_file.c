/*
 * lease_file.c - leases and fencing on the file backend, one step at a
 * time (the many-process race is lease_race.c):
 *
 * - acquire, show, renew (same epoch), release (epoch kept), takeover
 *   (epoch + 1), MTS_ELOCKED naming the holder and its expiry;
 * - the record "<path>.lease": its bytes, mode 0600, no temp files, a
 *   damaged or newer record refused;
 * - every kind of write by a holder whose lease expired or was taken is
 *   MTS_EFENCED and leaves the snapshot, journal and record byte for byte
 *   as they were; renewing an expired, untaken lease lets it write again;
 * - a handle without a lease is refused while anyone's lease is live (and
 *   gives the lock back); one that holds the lock keeps lease operations
 *   out ("locked by pid");
 * - two handles of one owner (a process adopting the lease its owner name
 *   holds) and a handle writing without a lease after expiry: the
 *   holder's journal is read again, so no change goes to a journal that a
 *   save replaced;
 * - read-only handles show and nothing more;
 * - the system calls of a holder's append and save, exactly, and every
 *   one of them failed in turn: old or new state, never a mix, no leaked
 *   descriptor, and the handle goes on.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../common/test_clock.h"
#include "../file/helpers.h"
#include "mtsession/mtsession.h"
#include "mtsession/sys/alloc.h"
#include "os.h"
#include "t.h"

/* ---- helpers ------------------------------------------------------------- */

/* Temp files left in the directory of path. */
static int
tmp_left(const char *path)
{
    char d[PATH_MAX];
    const char *slash = strrchr(path, '/');
    snprintf(d, sizeof(d), "%.*s", (int)(slash - path), path);
    return h_count(d, ".tmp.");
}

/* A fresh directory and the session path in it. */
static void
store_path(char *path, size_t size, const char *name)
{
    char d[PATH_MAX];
    h_dir(name, d, sizeof(d));
    h_join(path, size, d, "s.session");
}

static mts_storage *
open_store(const char *path)
{
    mts_storage *st = NULL;
    mts_error err = MTS_ERROR_INIT;
    if (mts_file_open(&st, path, NULL, &err) != 0) {
        fprintf(stderr, "  open %s: %s\n", path, err.message);
        exit(2);
    }
    return st;
}

static int
set_pts(mts_storage *st, int32_t pts, mts_error *err)
{
    mts_update_change c = MTS_UPDATE_CHANGE_INIT;
    c.kind = MTS_UPDATE_PRIMARY;
    c.state.pts = pts;
    c.state.date = 1700000000;
    c.state.seq = 1;
    return mts_storage_apply_update_state(st, &c, err);
}

static int
set_channel(mts_storage *st, int64_t id, int32_t pts, mts_error *err)
{
    mts_update_change c = MTS_UPDATE_CHANGE_INIT;
    c.kind = MTS_UPDATE_CHANNEL;
    c.channel_id = id;
    c.channel_pts = pts;
    return mts_storage_apply_update_state(st, &c, err);
}

/* The pts a fresh handle loads, or -1. */
static int32_t
stored_pts(const char *path)
{
    mts_storage *st = open_store(path);
    mts_session *s = NULL;
    mts_update_state us;
    int32_t pts = -1;
    if (mts_storage_load(&s, st, NULL) == 0) {
        mts_session_update_state(s, &us);
        pts = us.pts;
    }
    mts_session_free(s);
    mts_storage_free(st);
    return pts;
}

/* The bytes of the snapshot, the journal and the lease record. */
typedef struct files {
    unsigned char *p[3];
    size_t n[3];
} files;

static void
files_get(files *f, const char *path)
{
    static const char *const ext[3] = { "", ".journal", ".lease" };
    for (int i = 0; i < 3; i++) {
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s%s", path, ext[i]);
        f->n[i] = 0;
        f->p[i] = t_read_file(p, &f->n[i]);
    }
}

static int
files_same(const files *a, const files *b)
{
    for (int i = 0; i < 3; i++) {
        if ((a->p[i] == NULL) != (b->p[i] == NULL) || a->n[i] != b->n[i])
            return 0;
        if (a->p[i] != NULL && memcmp(a->p[i], b->p[i], a->n[i]) != 0)
            return 0;
    }
    return 1;
}

static void
files_free(files *f)
{
    for (int i = 0; i < 3; i++)
        free(f->p[i]);
}

/* Every write a fenced holder tries: all MTS_EFENCED (the save's message
 * containing `why`), and not one byte of the store changed. */
static void
check_all_fenced(mts_storage *st, const char *path, const char *why)
{
    mts_session *s = h_session(7);
    mts_update_change c = MTS_UPDATE_CHANGE_INIT;
    mts_channel_pts ch[1] = { { 999001, 1 } };
    mts_peer p = MTS_PEER_INIT;
    mts_dc dc = MTS_DC_INIT;
    mts_error err = MTS_ERROR_INIT;
    uint8_t key[256];
    files before, after;
    files_get(&before, path);
    memset(key, 0x33, sizeof(key));
    T_EQ_INT(mts_storage_save(st, s, &err), MTS_EFENCED);
    T_CONTAINS(err.message, why);
    T_CONTAINS(err.message, "save: fenced");
    c.kind = MTS_UPDATE_PRIMARY;
    c.state.pts = 999;
    T_EQ_INT(mts_storage_apply_update_state(st, &c, &err), MTS_EFENCED);
    T_CONTAINS(err.message, why);
    c.kind = MTS_UPDATE_SECONDARY;
    c.state.qts = 999;
    T_EQ_INT(mts_storage_apply_update_state(st, &c, &err), MTS_EFENCED);
    c.kind = MTS_UPDATE_CHANNEL;
    c.channel_id = 999002;
    c.channel_pts = 1;
    T_EQ_INT(mts_storage_apply_update_state(st, &c, &err), MTS_EFENCED);
    c.kind = MTS_UPDATE_ALL;
    c.channels = ch;
    c.channel_count = 1;
    T_EQ_INT(mts_storage_apply_update_state(st, &c, &err), MTS_EFENCED);
    p.id = 999003;
    T_EQ_INT(mts_storage_cache_peer(st, &p, &err), MTS_EFENCED);
    dc.dc_id = 9;
    T_EQ_INT(mts_ip_parse(&dc.ip, "10.9.9.9"), 0);
    dc.port = 9;
    dc.auth_key = key;
    T_EQ_INT(mts_storage_update_dc(st, &dc, &err), MTS_EFENCED);
    T_EQ_INT(mts_storage_set_home_dc(st, 9, &err), MTS_EFENCED);
    T_EQ_INT(mts_storage_delete(st, &err), MTS_EFENCED);
    files_get(&after, path);
    T_CHECK(files_same(&before, &after));
    files_free(&before);
    files_free(&after);
    mts_session_free(s);
}

/* ---- the basic operations ------------------------------------------------ */

static void
test_acquire_renew_release(void)
{
    char path[PATH_MAX], lp[PATH_MAX + 16];
    mts_storage *a, *b;
    mts_lease l = MTS_LEASE_INIT, m = MTS_LEASE_INIT;
    mts_error err = MTS_ERROR_INIT;
    mts_session *s = h_session(1);
    int64_t now = tc_wall_ms();
    struct stat sb;

    store_path(path, sizeof(path), "basic");
    snprintf(lp, sizeof(lp), "%s.lease", path);
    a = open_store(path);
    b = open_store(path);
    T_EQ_INT(mts_lease_show(&l, a, &err), MTS_ENOTFOUND);
    T_CONTAINS(err.message, "never leased");
    T_EQ_INT(mts_lease_renew(&l, a, 1000, &err), MTS_EINVAL);
    T_CONTAINS(err.message, "holds no lease");
    T_EQ_INT(mts_lease_release(a, &err), MTS_EINVAL);
    T_EQ_INT(mts_lease_acquire(&l, a, "bad\nname", 1000, &err), MTS_EINVAL);
    T_EQ_INT(mts_lease_acquire(&l, a, "worker-a", 0, &err), MTS_EINVAL);

    T_EQ_INT(mts_lease_acquire(&l, a, "worker-a", 30000, &err), 0);
    T_EQ_STR(l.owner, "worker-a");
    T_EQ_U64(l.epoch, 1);
    T_EQ_INT(l.held, 1);
    T_EQ_INT(l.version, MTS_LEASE_VERSION);
    T_CHECK(l.expires_ms > now + 25000 && l.expires_ms < now + 35000);
    T_EQ_INT(stat(lp, &sb), 0);
    T_EQ_INT(sb.st_mode & 0777, 0600);

    T_EQ_INT(mts_lease_show(&m, b, &err), 0);
    T_EQ_STR(m.owner, "worker-a");
    T_EQ_U64(m.epoch, 1);
    T_EQ_INT(m.held, 1);
    T_EQ_INT(m.expires_ms, l.expires_ms);

    T_EQ_INT(mts_lease_acquire(&m, b, "worker-b", 30000, &err), MTS_ELOCKED);
    T_CONTAINS(err.message, "session held by worker-a until 20");
    /* b holds no lease: its writes are refused while a's is live */
    T_EQ_INT(mts_storage_save(b, s, &err), MTS_ELOCKED);
    T_CONTAINS(err.message, "session held by worker-a until 20");
    T_EQ_INT(mts_storage_set_home_dc(b, 3, &err), MTS_ELOCKED);
    T_EQ_INT(set_pts(b, 5, &err), MTS_ELOCKED);
    T_EQ_INT(mts_storage_delete(b, &err), MTS_ELOCKED);

    /* a writes; acquiring again renews with the same epoch */
    T_EQ_INT(mts_storage_save(a, s, &err), 0);
    T_EQ_INT(set_pts(a, 41, &err), 0);
    T_EQ_INT(stored_pts(path), 41);
    T_EQ_INT(mts_lease_acquire(&l, a, "worker-a", 60000, &err), 0);
    T_EQ_U64(l.epoch, 1);
    T_CHECK(l.expires_ms > now + 55000);
    T_EQ_INT(mts_lease_renew(&l, a, 40000, &err), 0);
    T_EQ_U64(l.epoch, 1);
    T_CHECK(l.expires_ms < now + 45000 + 5000);
    T_EQ_INT(set_pts(a, 42, &err), 0);

    /* release: expires now, the epoch stays */
    T_EQ_INT(mts_lease_release(a, &err), 0);
    T_EQ_INT(mts_lease_show(&m, b, &err), 0);
    T_EQ_INT(m.held, 0);
    T_EQ_U64(m.epoch, 1);
    T_EQ_STR(m.owner, "worker-a");
    T_CHECK(m.expires_ms <= tc_wall_ms());
    /* released, a is a handle without a lease again */
    T_EQ_INT(mts_lease_renew(&l, a, 1000, &err), MTS_EINVAL);

    T_EQ_INT(mts_lease_acquire(&m, b, "worker-b", 30000, &err), 0);
    T_EQ_U64(m.epoch, 2);
    T_EQ_INT(mts_storage_set_home_dc(a, 5, &err), MTS_ELOCKED);
    T_CONTAINS(err.message, "held by worker-b");
    T_EQ_INT(mts_storage_set_home_dc(b, 4, &err), 0);
    T_EQ_INT(stored_pts(path), 42);

    /* a takes it back after b releases: a new tenure, a new epoch, even
     * for an owner name seen before */
    T_EQ_INT(mts_lease_release(b, &err), 0);
    T_EQ_INT(mts_lease_acquire(&l, a, "worker-a", 30000, &err), 0);
    T_EQ_U64(l.epoch, 3);
    T_EQ_INT(mts_lease_release(a, &err), 0);
    T_EQ_INT(mts_lease_acquire(&l, a, "worker-a", 30000, &err), 0);
    T_EQ_U64(l.epoch, 4);
    T_EQ_INT(mts_lease_release(a, &err), 0);
    /* no temp file left behind */
    T_EQ_INT(tmp_left(path), 0);
    mts_storage_free(a);
    mts_storage_free(b);
    mts_session_free(s);
}

/* The record's bytes, and records that are not ours. */
static void
test_record(void)
{
    char path[PATH_MAX], lp[PATH_MAX + 16], d[PATH_MAX];
    mts_storage *a, *b;
    mts_lease l = MTS_LEASE_INIT;
    mts_error err = MTS_ERROR_INIT;
    mts_session *s = h_session(2);
    unsigned char *rec;
    size_t n = 0;
    int64_t exp;
    uint64_t epoch = 0;

    store_path(path, sizeof(path), "record");
    snprintf(lp, sizeof(lp), "%s.lease", path);
    snprintf(d, sizeof(d), "%s/record", t_tmpdir());
    a = open_store(path);
    T_EQ_INT(mts_lease_acquire(&l, a, "\xc3\xa9t\xc3\xa9", 5000, &err), 0);
    rec = t_read_file(lp, &n);
    T_CHECK(rec != NULL);
    if (rec == NULL)
        return;
    /* magic, version, owner length, epoch, expiry, owner, CRC-32C */
    T_EQ_U64(n, 32 + 5);
    T_EQ_MEM(rec, "MTSLEASE\x01\x00\x05\x00", 12);
    for (int i = 7; i >= 0; i--)
        epoch = epoch << 8 | rec[12 + i];
    T_EQ_U64(epoch, 1);
    exp = 0;
    for (int i = 7; i >= 0; i--)
        exp = (int64_t)((uint64_t)exp << 8 | rec[20 + i]);
    T_EQ_INT(exp, l.expires_ms);
    T_EQ_MEM(rec + 28, "\xc3\xa9t\xc3\xa9", 5);
    {
        uint32_t crc = (uint32_t)rec[33] | (uint32_t)rec[34] << 8 |
                       (uint32_t)rec[35] << 16 | (uint32_t)rec[36] << 24;
        T_EQ_U64(crc, mts_crc32c(0, rec, 33));
    }
    T_EQ_INT(h_count(d, ".tmp."), 0);
    T_EQ_INT(h_entries(d), 2); /* the record and the lock file */
    T_EQ_INT(h_count(d, "s.session.lock"), 1);

    /* a damaged record: nobody reads past it, nobody writes */
    rec[30] ^= 0x40;
    T_EQ_INT(t_write_file(lp, rec, n), 0);
    b = open_store(path);
    T_EQ_INT(mts_lease_show(&l, b, &err), MTS_ECORRUPT);
    T_CONTAINS(err.message, "s.session.lease");
    T_CONTAINS(err.message, "checksum");
    T_EQ_INT(mts_lease_acquire(&l, b, "x", 5000, &err), MTS_ECORRUPT);
    T_EQ_INT(mts_storage_save(b, s, &err), MTS_ECORRUPT);
    T_EQ_INT(mts_storage_save(a, s, &err), MTS_ECORRUPT);
    /* a newer version */
    rec[30] ^= 0x40;
    rec[8] = 2;
    T_EQ_INT(t_write_file(lp, rec, n), 0);
    T_EQ_INT(mts_lease_show(&l, b, &err), MTS_EVERSION);
    T_EQ_INT(mts_storage_save(b, s, &err), MTS_EVERSION);
    /* cut short, and empty */
    T_EQ_INT(t_write_file(lp, "MTSLEASE\x01\x00\x05", 11), 0);
    T_EQ_INT(mts_lease_show(&l, b, &err), MTS_ECORRUPT);
    T_EQ_INT(t_write_file(lp, "", 0), 0);
    T_EQ_INT(mts_lease_show(&l, b, &err), MTS_ECORRUPT);
    /* the intact record back: a writes again */
    rec[8] = 1;
    T_EQ_INT(t_write_file(lp, rec, n), 0);
    T_EQ_INT(mts_storage_save(a, s, &err), 0);
    /* a symbolic link in its place is not followed */
    T_EQ_INT(unlink(lp), 0);
    T_EQ_INT(symlink("elsewhere", lp), 0);
    T_EQ_INT(mts_lease_show(&l, b, &err), MTS_EINVAL);
    T_CONTAINS(err.message, "symbolic link");
    T_EQ_INT(unlink(lp), 0);
    free(rec);
    mts_storage_free(a);
    mts_storage_free(b);
    mts_session_free(s);
}

/* The version-1 record, byte for byte (computed independently of the
 * library: CRC-32C of the 36 bytes before it). Kept as long as readers
 * must read version 1. */
static void
test_record_vector(void)
{
    static const unsigned char v1[40] = {
        0x4d, 0x54, 0x53, 0x4c, 0x45, 0x41, 0x53, 0x45, 0x01, 0x00,
        0x08, 0x00, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x7b, 0xe8, 0x97, 0xb6, 0x9a, 0x01, 0x00, 0x00, 0x77, 0x6f,
        0x72, 0x6b, 0x65, 0x72, 0x2d, 0x31, 0x1f, 0x02, 0x79, 0x23
    };
    char path[PATH_MAX], lp[PATH_MAX + 16];
    mts_storage *st;
    mts_lease l = MTS_LEASE_INIT;
    mts_error err = MTS_ERROR_INIT;
    unsigned char *rec;
    size_t n = 0;

    store_path(path, sizeof(path), "vector");
    snprintf(lp, sizeof(lp), "%s.lease", path);
    T_EQ_INT(t_write_file(lp, v1, sizeof(v1)), 0);
    st = open_store(path);
    T_EQ_INT(mts_lease_show(&l, st, &err), 0);
    T_EQ_STR(l.owner, "worker-1");
    T_EQ_U64(l.epoch, 7);
    T_EQ_INT(l.expires_ms, 1764000000123LL);
    T_EQ_INT(l.held, l.expires_ms > tc_wall_ms());
    /* a new owner takes the expired lease: epoch 8 in the same layout */
    T_EQ_INT(mts_lease_acquire(&l, st, "worker-1", 60000, &err), 0);
    T_EQ_U64(l.epoch, 8);
    rec = t_read_file(lp, &n);
    T_CHECK(rec != NULL && n == sizeof(v1));
    if (rec != NULL && n == sizeof(v1)) {
        T_EQ_MEM(rec, v1, 12);
        T_EQ_INT(rec[12], 8);
        T_EQ_MEM(rec + 28, "worker-1", 8);
    }
    free(rec);
    mts_storage_free(st);
}

/* ---- fencing ------------------------------------------------------------- */

static void
test_expiry_and_takeover_fence(void)
{
    char path[PATH_MAX];
    mts_storage *a, *b;
    mts_lease l = MTS_LEASE_INIT, m = MTS_LEASE_INIT;
    mts_error err = MTS_ERROR_INIT;
    mts_session *s = h_session(3), *got = NULL;
    mts_update_state us;

    store_path(path, sizeof(path), "fence");
    a = open_store(path);
    b = open_store(path);
    T_EQ_INT(mts_lease_acquire(&l, a, "a", 200, &err), 0);
    T_EQ_INT(mts_storage_save(a, s, &err), 0);
    T_EQ_INT(set_pts(a, 10, &err), 0); /* the fold that starts a journal */
    T_EQ_INT(set_pts(a, 11, &err), 0); /* a journal record */
    tc_sleep_ms(300);
    /* expired, nobody took it: writes are refused until a renews */
    check_all_fenced(a, path, "expired at 20");
    T_EQ_INT(set_pts(a, 12, &err), MTS_EFENCED);
    T_CONTAINS(err.message, "apply_update_state: fenced: the lease (epoch 1) "
                            "expired at 20");
    T_CONTAINS(err.message, "; renew it");
    T_EQ_INT(mts_lease_renew(&l, a, 200, &err), 0);
    T_EQ_U64(l.epoch, 1);
    T_EQ_INT(set_pts(a, 12, &err), 0);
    T_EQ_INT(mts_storage_set_home_dc(a, 3, &err), 0);
    T_EQ_INT(mts_lease_acquire(&m, b, "b", 30000, &err), MTS_ELOCKED);
    T_CONTAINS(err.message, "session held by a until 20");
    tc_sleep_ms(300);
    /* expired: another owner gets in, with the next epoch */
    T_EQ_INT(mts_lease_acquire(&m, b, "b", 30000, &err), 0);
    T_EQ_U64(m.epoch, 2);
    T_EQ_INT(set_pts(b, 20, &err), 0);
    T_EQ_INT(mts_storage_set_home_dc(b, 4, &err), 0);

    check_all_fenced(a, path,
                     "epoch 1 is over; the lease is now b's (epoch 2)");
    T_EQ_INT(mts_lease_renew(&l, a, 1000, &err), MTS_EFENCED);
    T_CONTAINS(err.message, "lease renew: fenced: epoch 1 is over");
    T_EQ_INT(mts_lease_release(a, &err), MTS_EFENCED);
    /* still fenced after the failed release */
    T_EQ_INT(mts_storage_set_home_dc(a, 8, &err), MTS_EFENCED);
    T_EQ_INT(mts_lease_acquire(&l, a, "a", 1000, &err), MTS_ELOCKED);
    T_EQ_INT(set_pts(a, 13, &err), MTS_EFENCED);

    /* reads still work, and show b's state without a's attempts */
    T_EQ_INT(mts_storage_load(&got, a, &err), 0);
    if (got != NULL) {
        mts_peer p;
        int32_t pts;
        T_EQ_INT(mts_session_home_dc(got), 4);
        mts_session_update_state(got, &us);
        T_EQ_INT(us.pts, 20);
        T_CHECK(us.qts != 999);
        T_EQ_INT(mts_session_get_peer(&p, got, MTS_PEER_USER, 999003),
                 MTS_ENOTFOUND);
        T_EQ_INT(mts_session_channel_pts(got, 999002, &pts), MTS_ENOTFOUND);
        T_EQ_INT(mts_session_channel_pts(got, 999001, &pts), MTS_ENOTFOUND);
        T_EQ_U64(mts_session_dc_count(got), mts_session_dc_count(s));
        mts_session_free(got);
        got = NULL;
    }
    /* a acquires anew once b is done: epoch 3, and writes again, on b's
     * state */
    T_EQ_INT(mts_lease_release(b, &err), 0);
    T_EQ_INT(mts_lease_acquire(&l, a, "a", 30000, &err), 0);
    T_EQ_U64(l.epoch, 3);
    T_EQ_INT(set_channel(a, 4242, 7, &err), 0);
    T_EQ_INT(mts_storage_load(&got, b, &err), 0);
    if (got != NULL) {
        int32_t pts = 0;
        mts_session_update_state(got, &us);
        T_EQ_INT(us.pts, 20);
        T_EQ_INT(mts_session_home_dc(got), 4);
        T_EQ_INT(mts_session_channel_pts(got, 4242, &pts), 0);
        T_EQ_INT(pts, 7);
        mts_session_free(got);
        got = NULL;
    }
    /* b released already: a handle without a lease, refused now */
    T_EQ_INT(mts_storage_set_home_dc(b, 9, &err), MTS_ELOCKED);

    /* delete by the holder keeps the lease and its epoch */
    T_EQ_INT(mts_storage_delete(a, &err), 0);
    T_EQ_INT(mts_storage_load(&got, b, &err), MTS_ENOTFOUND);
    T_EQ_INT(mts_lease_show(&m, b, &err), 0);
    T_EQ_U64(m.epoch, 3);
    T_EQ_INT(m.held, 1);
    T_EQ_INT(mts_storage_save(a, s, &err), 0);
    T_EQ_INT(mts_lease_release(a, &err), 0);
    mts_storage_free(a);
    mts_storage_free(b);
    mts_session_free(s);
}

/* One owner name, two handles in turn: the epoch tells their tenures
 * apart. */
static void
test_same_owner_other_tenure(void)
{
    char path[PATH_MAX];
    mts_storage *a1, *a2, *b;
    mts_lease l = MTS_LEASE_INIT;
    mts_error err = MTS_ERROR_INIT;
    store_path(path, sizeof(path), "tenure");
    a1 = open_store(path);
    a2 = open_store(path);
    b = open_store(path);
    T_EQ_INT(mts_lease_acquire(&l, a1, "host-1", 100, &err), 0);
    T_EQ_U64(l.epoch, 1);
    tc_sleep_ms(150);
    T_EQ_INT(mts_lease_acquire(&l, b, "other", 30000, &err), 0);
    T_EQ_INT(mts_lease_release(b, &err), 0);
    T_EQ_INT(mts_lease_acquire(&l, a2, "host-1", 30000, &err), 0);
    T_EQ_U64(l.epoch, 3);
    /* a1 still believes in epoch 1 under the same owner name */
    T_EQ_INT(set_pts(a1, 9, &err), MTS_EFENCED);
    T_CONTAINS(err.message, "epoch 1 is over");
    T_EQ_INT(mts_lease_renew(&l, a1, 30000, &err), MTS_EFENCED);
    T_EQ_INT(set_pts(a2, 3, &err), 0);
    T_EQ_INT(stored_pts(path), 3);
    mts_storage_free(a1);
    mts_storage_free(a2);
    mts_storage_free(b);
}

/* ---- handles without a lease --------------------------------------------- */

static void
test_unleased_handles(void)
{
    char path[PATH_MAX];
    mts_storage *u, *a, *v;
    mts_lease l = MTS_LEASE_INIT;
    mts_error err = MTS_ERROR_INIT;
    mts_session *s = h_session(4);
    int64_t t0;

    store_path(path, sizeof(path), "unleased");
    u = open_store(path);
    a = open_store(path);
    /* u writes without a lease and keeps the lock: no lease meanwhile */
    T_EQ_INT(mts_storage_save(u, s, &err), 0);
    t0 = tc_mono_ms();
    T_EQ_INT(mts_lease_acquire(&l, a, "a", 30000, &err), MTS_ELOCKED);
    T_CHECK(tc_mono_ms() - t0 >= 1900); /* it waited for the lock */
    T_CONTAINS(err.message, "is locked by pid");
    T_EQ_INT(mts_lease_show(&l, a, &err), MTS_ENOTFOUND);
    mts_storage_free(u);
    T_EQ_INT(mts_lease_acquire(&l, a, "a", 30000, &err), 0);

    /* v without a lease is refused, and gives the lock back at once */
    v = open_store(path);
    T_EQ_INT(set_pts(v, 1, &err), MTS_ELOCKED);
    T_CONTAINS(err.message, "s.session: session held by a until 20");
    t0 = tc_mono_ms();
    T_EQ_INT(set_pts(a, 2, &err), 0);
    T_EQ_INT(mts_lease_renew(&l, a, 30000, &err), 0);
    T_CHECK(tc_mono_ms() - t0 < 1000);
    T_EQ_INT(stored_pts(path), 2);

    /* released: v writes, and holds the lock for its life again */
    T_EQ_INT(mts_lease_release(a, &err), 0);
    T_EQ_INT(set_pts(v, 3, &err), 0);
    T_EQ_INT(mts_storage_save(v, s, &err), 0);
    T_EQ_INT(set_pts(v, 4, &err), 0);
    T_EQ_INT(stored_pts(path), 4);
    mts_storage_free(v);

    /* expired works like released */
    T_EQ_INT(mts_lease_acquire(&l, a, "a", 100, &err), 0);
    T_EQ_U64(l.epoch, 2);
    v = open_store(path);
    T_EQ_INT(set_pts(v, 5, &err), MTS_ELOCKED);
    tc_sleep_ms(150);
    T_EQ_INT(set_pts(v, 6, &err), 0);
    T_EQ_INT(stored_pts(path), 6);
    mts_storage_free(v);
    mts_storage_free(a);
    mts_session_free(s);
}

/* A handle that wrote without a lease takes one: the lock it kept goes,
 * so others can take the lease over once it runs out. */
static void
test_unleased_then_leased(void)
{
    char path[PATH_MAX];
    mts_storage *a, *b;
    mts_lease l = MTS_LEASE_INIT;
    mts_error err = MTS_ERROR_INIT;
    mts_session *s = h_session(5);
    store_path(path, sizeof(path), "upgrade");
    a = open_store(path);
    b = open_store(path);
    T_EQ_INT(mts_storage_save(a, s, &err), 0);
    T_EQ_INT(set_pts(a, 1, &err), 0);
    T_EQ_INT(set_pts(a, 2, &err), 0);
    T_EQ_INT(mts_lease_acquire(&l, a, "a", 100, &err), 0);
    T_EQ_INT(set_pts(a, 3, &err), 0);
    T_EQ_INT(stored_pts(path), 3);
    tc_sleep_ms(150);
    T_EQ_INT(mts_lease_acquire(&l, b, "b", 30000, &err), 0);
    T_EQ_U64(l.epoch, 2);
    T_EQ_INT(set_pts(b, 4, &err), 0);
    T_EQ_INT(set_pts(a, 5, &err), MTS_EFENCED);
    T_EQ_INT(stored_pts(path), 4);
    mts_storage_free(a);
    mts_storage_free(b);
    mts_session_free(s);
}

/* ---- the holder's journal after other writers --------------------------- */

/*
 * Two handles of one owner (the second adopts the lease: same epoch) take
 * turns. A save by one replaces the snapshot and the journal; the other's
 * next change must land on that, not in the journal it had open.
 */
static void
test_two_handles_one_owner(void)
{
    char path[PATH_MAX];
    mts_storage *h1, *h2;
    mts_lease l = MTS_LEASE_INIT;
    mts_error err = MTS_ERROR_INIT;
    mts_session *s1 = h_session(1), *s2 = h_session(2), *got = NULL;
    int32_t pts = 0;
    mts_update_state us;

    store_path(path, sizeof(path), "adopt");
    h1 = open_store(path);
    h2 = open_store(path);
    T_EQ_INT(mts_lease_acquire(&l, h1, "w", 30000, &err), 0);
    T_EQ_INT(mts_storage_save(h1, s1, &err), 0);
    for (int i = 0; i < 5; i++)
        T_EQ_INT(set_pts(h1, 100 + i, &err), 0);
    T_EQ_INT(mts_lease_acquire(&l, h2, "w", 30000, &err), 0);
    T_EQ_U64(l.epoch, 1);                        /* adopted */
    T_EQ_INT(mts_storage_save(h2, s2, &err), 0); /* removes the journal */
    T_EQ_INT(set_pts(h1, 555, &err), 0);
    T_EQ_INT(mts_storage_load(&got, h2, &err), 0);
    if (got != NULL) {
        mts_session_update_state(got, &us);
        T_EQ_INT(us.pts, 555);
        T_EQ_INT(mts_session_home_dc(got), mts_session_home_dc(s2));
        T_EQ_INT(mts_session_channel_pts(got, 1002, &pts), 0); /* s2's */
        mts_session_free(got);
        got = NULL;
    }
    /* interleaved changes through both: none lost */
    for (int i = 0; i < 20; i++) {
        T_EQ_INT(set_channel(i % 2 ? h1 : h2, 7000 + i, i + 1, &err), 0);
        if (i == 10)
            T_EQ_INT(mts_storage_save(h1, s1, &err), 0);
    }
    T_EQ_INT(mts_storage_load(&got, h1, &err), 0);
    for (int i = 11; i < 20 && got != NULL; i++) {
        T_EQ_INT(mts_session_channel_pts(got, 7000 + i, &pts), 0);
        T_EQ_INT(pts, i + 1);
    }
    mts_session_free(got);
    mts_storage_free(h1);
    mts_storage_free(h2);
    mts_session_free(s1);
    mts_session_free(s2);
}

/*
 * The lease runs out untaken, a handle without a lease saves, and the
 * holder renews (its record is still there): its next change must read
 * the store again.
 */
static void
test_expired_then_unleased_then_renew(void)
{
    char path[PATH_MAX];
    mts_storage *a, *u;
    mts_lease l = MTS_LEASE_INIT;
    mts_error err = MTS_ERROR_INIT;
    mts_session *s1 = h_session(1), *s3 = h_session(3), *got = NULL;
    mts_update_state us;

    store_path(path, sizeof(path), "gap");
    a = open_store(path);
    T_EQ_INT(mts_lease_acquire(&l, a, "a", 100, &err), 0);
    T_EQ_INT(mts_storage_save(a, s1, &err), 0);
    T_EQ_INT(set_pts(a, 1, &err), 0);
    T_EQ_INT(set_pts(a, 2, &err), 0);
    tc_sleep_ms(150);
    u = open_store(path);
    T_EQ_INT(mts_storage_save(u, s3, &err), 0);
    mts_storage_free(u);
    T_EQ_INT(set_pts(a, 3, &err), MTS_EFENCED);
    T_EQ_INT(mts_lease_renew(&l, a, 30000, &err), 0);
    T_EQ_U64(l.epoch, 1);
    T_EQ_INT(set_pts(a, 4, &err), 0);
    T_EQ_INT(mts_storage_load(&got, a, &err), 0);
    if (got != NULL) {
        mts_session_update_state(got, &us);
        T_EQ_INT(us.pts, 4);
        T_EQ_INT(mts_session_home_dc(got), mts_session_home_dc(s3));
        mts_session_free(got);
    }
    mts_storage_free(a);
    mts_session_free(s1);
    mts_session_free(s3);
}

static void
test_readonly(void)
{
    char path[PATH_MAX];
    mts_storage *w, *r;
    mts_session *s = h_session(6), *got = NULL;
    mts_lease l = MTS_LEASE_INIT;
    mts_error err = MTS_ERROR_INIT;
    store_path(path, sizeof(path), "ro");
    w = open_store(path);
    r = open_store(path);
    T_EQ_INT(mts_lease_acquire(&l, w, "writer", 30000, &err), 0);
    T_EQ_INT(mts_storage_save(w, s, &err), 0);
    mts_storage_set_readonly(r);
    T_EQ_INT(mts_storage_load(&got, r, &err), 0);
    T_CHECK(got && mts_session_equal(got, s));
    mts_session_free(got);
    T_EQ_INT(mts_lease_show(&l, r, &err), 0);
    T_EQ_STR(l.owner, "writer");
    T_EQ_INT(mts_lease_acquire(&l, r, "reader", 30000, &err), MTS_EINVAL);
    T_EQ_INT(mts_storage_save(r, s, &err), MTS_EINVAL);
    T_CONTAINS(err.message, "read-only");
    T_EQ_INT(mts_lease_release(w, &err), 0);
    mts_storage_free(w);
    mts_storage_free(r);
    mts_session_free(s);
}

/* ---- system calls -------------------------------------------------------- */

#define TRACE_MAX 256

typedef struct hook {
    long fail_at; /* -1: record only */
    int errnum;
    long count;
    int fired;
    mts__sys fired_call;
    mts__sys trace[TRACE_MAX];
} hook;

static int
hook_fn(mts__sys call, size_t *len, void *payload)
{
    hook *h = payload;
    (void)len;
    if (h->count < TRACE_MAX)
        h->trace[h->count] = call;
    if (h->count++ == h->fail_at) {
        h->fired = 1;
        h->fired_call = call;
        return h->errnum;
    }
    return 0;
}

static void
hook_start(hook *h, long fail_at, int errnum)
{
    memset(h, 0, sizeof(*h));
    h->fail_at = fail_at;
    h->errnum = errnum;
    mts__os_set_hook(hook_fn, h);
}

static void
hook_stop(void)
{
    mts__os_set_hook(NULL, NULL);
}

static void
check_trace(const hook *h, const mts__sys *want, long n)
{
    T_EQ_INT(h->count, n);
    if (h->count != n) {
        for (long i = 0; i < h->count && i < TRACE_MAX; i++)
            fprintf(stderr, " %s", mts__sys_name(h->trace[i]));
        fprintf(stderr, "\n");
        return;
    }
    T_EQ_MEM(h->trace, want, (size_t)n * sizeof(mts__sys));
}

/* The lock for the call, the fence (the record read), the token (read,
 * then overwritten in place: no ftruncate, the lock file keeps its size,
 * so the journal's fdatasync has no size change of another file to
 * commit), then the write itself, then the lock given back. */
#define LOCKED_PROLOGUE                                                        \
    MTS__SYS_OPEN, MTS__SYS_LOCK, MTS__SYS_OPEN, MTS__SYS_FSTAT,               \
        MTS__SYS_READ, MTS__SYS_READ, MTS__SYS_CLOSE, MTS__SYS_READ,           \
        MTS__SYS_READ, MTS__SYS_WRITE

static void
test_holder_syscalls(void)
{
    static const mts__sys append[] = { LOCKED_PROLOGUE, MTS__SYS_WRITE,
                                       MTS__SYS_FSYNC, MTS__SYS_CLOSE };
    static const mts__sys save[] = {
        LOCKED_PROLOGUE, MTS__SYS_OPEN,    MTS__SYS_WRITE,  MTS__SYS_FSYNC,
        MTS__SYS_CLOSE,  MTS__SYS_OPENDIR, MTS__SYS_RENAME, MTS__SYS_FSYNC,
        MTS__SYS_CLOSE,  MTS__SYS_UNLINK,  MTS__SYS_CLOSE
    };
    static const mts__sys unleased_first_save[] = {
        MTS__SYS_OPEN,    MTS__SYS_LOCK,    MTS__SYS_FTRUNCATE, MTS__SYS_WRITE,
        MTS__SYS_OPENDIR, /* and the record is listed: */
        MTS__SYS_OPEN,    MTS__SYS_FSTAT,   MTS__SYS_READ,      MTS__SYS_READ,
        MTS__SYS_CLOSE,   MTS__SYS_OPEN,    MTS__SYS_WRITE,     MTS__SYS_FSYNC,
        MTS__SYS_CLOSE,   MTS__SYS_OPENDIR, MTS__SYS_RENAME,    MTS__SYS_FSYNC,
        MTS__SYS_CLOSE,   MTS__SYS_UNLINK
    };
    char path[PATH_MAX];
    mts_storage *a, *b, *u;
    mts_lease l = MTS_LEASE_INIT;
    mts_error err = MTS_ERROR_INIT;
    mts_session *s = h_session(8);
    hook h;

    store_path(path, sizeof(path), "syscalls");
    a = open_store(path);
    b = open_store(path);
    T_EQ_INT(mts_lease_acquire(&l, a, "a", 30000, &err), 0);
    T_EQ_INT(mts_storage_save(a, s, &err), 0);
    T_EQ_INT(set_pts(a, 1, &err), 0); /* fold: the journal starts */
    T_EQ_INT(set_pts(a, 2, &err), 0);
    hook_start(&h, -1, 0);
    T_EQ_INT(set_pts(a, 3, &err), 0);
    hook_stop();
    check_trace(&h, append, (long)(sizeof(append) / sizeof(append[0])));

    /* a save by a holder that never used the journal */
    T_EQ_INT(mts_lease_release(a, &err), 0);
    T_EQ_INT(mts_lease_acquire(&l, b, "b", 30000, &err), 0);
    T_EQ_INT(mts_storage_save(b, s, &err), 0);
    hook_start(&h, -1, 0);
    T_EQ_INT(mts_storage_save(b, s, &err), 0);
    hook_stop();
    check_trace(&h, save, (long)(sizeof(save) / sizeof(save[0])));
    T_EQ_INT(mts_lease_release(b, &err), 0);

    /* a handle without a lease on a store that was leased reads the
     * record it finds listed */
    u = open_store(path);
    hook_start(&h, -1, 0);
    T_EQ_INT(mts_storage_save(u, s, &err), 0);
    hook_stop();
    check_trace(
        &h, unleased_first_save,
        (long)(sizeof(unleased_first_save) / sizeof(unleased_first_save[0])));
    mts_storage_free(u);
    mts_storage_free(a);
    mts_storage_free(b);
    mts_session_free(s);
}

/* Fail each call of a holder's change in turn (op 0: an append, 1: a
 * save, 2: acquire of a free lease by another owner). */
static void
fault_loop(int op, int errnum)
{
    char path[PATH_MAX], name[64];
    mts_session *s1 = h_session(1), *s2 = h_session(2);
    int fds = h_open_fds(), errors = 0;
    long n;
    snprintf(name, sizeof(name), "fault-%d-%d", op, errnum);
    store_path(path, sizeof(path), name);
    for (n = 0; n < TRACE_MAX && !t_case_failed; n++) {
        mts_storage *a = open_store(path), *b = open_store(path);
        mts_lease l = MTS_LEASE_INIT, m = MTS_LEASE_INIT;
        mts_error err = MTS_ERROR_INIT;
        int rc;
        int32_t got, before;
        hook h;
        /* a fresh store: s1 plus pts 10, leased by a (epoch n*2+1) */
        T_EQ_INT(mts_lease_acquire(&l, a, "a", 30000, &err), 0);
        T_EQ_INT(mts_storage_save(a, s1, &err), 0);
        T_EQ_INT(set_pts(a, 10, &err), 0);
        T_EQ_INT(set_pts(a, 11, &err), 0);
        before = stored_pts(path);
        if (op == 2)
            T_EQ_INT(mts_lease_release(a, &err), 0);
        hook_start(&h, n, errnum);
        if (op == 0)
            rc = set_pts(a, 12, &err);
        else if (op == 1)
            rc = mts_storage_save(a, s2, &err);
        else
            rc = mts_lease_acquire(&m, b, "b", 30000, &err);
        hook_stop();
        got = stored_pts(path);
        T_EQ_INT(tmp_left(path), 0);
        if (!h.fired) {
            T_EQ_INT(rc, 0);
            mts_storage_free(a);
            mts_storage_free(b);
            break;
        }
        if (rc != 0) {
            errors++;
            T_CHECK(rc == MTS_EIO);
            T_EQ_INT(err.native, errnum);
        }
        if (op == 0) {
            T_CHECK(got == before || got == 12);
            if (rc == 0)
                T_EQ_INT(got, 12);
            /* the same handle goes on, on whatever is there */
            T_EQ_INT(set_pts(a, 13, &err), 0);
            T_EQ_INT(stored_pts(path), 13);
        } else if (op == 1) {
            T_CHECK(got == before || got == 100 + 2); /* s2's pts */
            if (rc == 0)
                T_EQ_INT(got, 102);
            T_EQ_INT(set_pts(a, 13, &err), 0);
            T_EQ_INT(stored_pts(path), 13);
        } else {
            mts_lease now = MTS_LEASE_INIT;
            T_EQ_INT(mts_lease_show(&now, b, &err), 0);
            /* the record is the old one or the new one */
            T_CHECK((strcmp(now.owner, "a") == 0 && !now.held) ||
                    (strcmp(now.owner, "b") == 0 && now.held));
            if (rc == 0)
                T_EQ_STR(now.owner, "b");
            T_EQ_INT(mts_lease_acquire(&m, b, "b", 30000, &err), 0);
            T_EQ_STR(m.owner, "b");
            T_EQ_INT(set_pts(b, 13, &err), 0);
            T_EQ_INT(set_pts(a, 14, &err), MTS_ELOCKED);
            T_EQ_INT(stored_pts(path), 13);
            T_EQ_INT(mts_lease_release(b, &err), 0);
        }
        if (op != 2)
            T_EQ_INT(mts_lease_release(a, &err), 0);
        mts_storage_free(a);
        mts_storage_free(b);
        T_EQ_INT(h_open_fds(), fds);
        if (t_case_failed)
            fprintf(stderr, "  op %d at n=%ld (%s): rc=%d %s\n", op, n,
                    mts__sys_name(h.fired_call), rc, err.message);
    }
    T_CHECK(n < TRACE_MAX);
    T_CHECK(errors > 0);
    T_EQ_INT(h_open_fds(), fds);
    mts_session_free(s1);
    mts_session_free(s2);
}

static void
test_holder_faults(void)
{
    for (int op = 0; op < 3; op++) {
        fault_loop(op, EIO);
        fault_loop(op, ENOSPC);
    }
}

T_MAIN(T_CASE(test_acquire_renew_release),
       T_CASE(test_record),
       T_CASE(test_record_vector),
       T_CASE(test_expiry_and_takeover_fence),
       T_CASE(test_same_owner_other_tenure),
       T_CASE(test_unleased_handles),
       T_CASE(test_unleased_then_leased),
       T_CASE(test_two_handles_one_owner),
       T_CASE(test_expired_then_unleased_then_renew),
       T_CASE(test_readonly),
       T_CASE(test_holder_syscalls),
       T_CASE(test_holder_faults))
