/*
 * cmd_lease.c - "lease" and the leases of writing commands (--owner).
 *
 *   mtsession lease acquire|renew|release --owner NAME [--ttl S] STORE
 *   mtsession lease show STORE
 *
 * STORE is an mtsession file (the file backend keeps the lease in
 * STORE.lease) or an sqlite, libsql or postgres store (their backends
 * keep it, when they implement leases; one that does not answers
 * MTS_ENOTSUPPORTED: exit 1). The lease record is never sealed, so a
 * sealed store is opened without a secret (a key option is refused): the
 * sqlite and libsql backends read a sealed session's lease without one,
 * and the postgres backend opens a sealed account locked, leases working.
 * The command runs as a process of its own and the library's lease
 * belongs to a handle, so each action first adopts the lease NAME holds:
 * acquiring again as the same owner renews it with the same epoch. acquire leaves the lease recorded in the store
 * when the command exits, for NAME's later commands and workers; renew
 * and release act on NAME's live lease only.
 *
 * The lease line ("lease: OWNER until TIME (epoch N)" or "lease: none")
 * ends stats and inspect, and is what acquire, renew and show print. Its
 * time is UTC with milliseconds, ISO 8601.
 */
#include "cli.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static int64_t
now_ms(void)
{
    struct timespec ts = { 0, 0 };
    (void)clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ms as "2026-11-25T16:21:22.123Z". */
static void
fmt_time(char *buf, size_t size, int64_t ms)
{
    time_t t = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    int frac = (int)(ms - (int64_t)t * 1000);
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL) {
        snprintf(buf, size, "(never)");
        return;
    }
    snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, frac);
}

int
cli_leasable(mts_format fmt)
{
    return fmt == MTS_FORMAT_MTSESSION || fmt == MTS_FORMAT_SQLITE ||
           fmt == MTS_FORMAT_LIBSQL || fmt == MTS_FORMAT_POSTGRES;
}

/* The line for a lease record (rc 0) or for none (MTS_ENOTFOUND). */
static void
print_line(int rc, const mts_lease *l)
{
    char t[40];
    if (rc != 0) {
        fputs(rc == MTS_ENOTFOUND ? "lease: none\n" : "lease: unknown\n",
              stdout);
        return;
    }
    fmt_time(t, sizeof(t), l->expires_ms);
    if (l->held)
        printf("lease: %s until %s (epoch %llu)\n", l->owner, t,
               (unsigned long long)l->epoch);
    else
        printf("lease: none (%s's, epoch %llu, ended %s)\n", l->owner,
               (unsigned long long)l->epoch, t);
}

void
cli_print_lease(const cli_input *in)
{
    print_line(in->lease_rc, &in->lease);
}

/* A failed lease call: exit 4 when held or fenced, 1 for a store without
 * leases, else as the code says. */
static int
lease_fail(const char *what, mts_format fmt, int rc, const mts_error *err)
{
    if (rc == MTS_ENOTSUPPORTED)
        return cli_fail(CLI_EXIT_INPUT, what,
                        "%s: this store does not support leases",
                        mts_format_name(fmt));
    return cli_fail(cli_status_for(rc), what, "%s",
                    cli_strip_prefix(cli_errmsg(err, rc), what));
}

/* MTS_ELOCKED's message for the live lease `l` of another owner. */
static int
held_by(const char *what, const mts_lease *l)
{
    char t[40];
    fmt_time(t, sizeof(t), l->expires_ms);
    return cli_fail(CLI_EXIT_HELD, what, "session held by %s until %s",
                    l->owner, t);
}

/* The format of the backend behind st, for messages. */
static mts_format
store_format(mts_storage *st)
{
    const char *name = mts_storage_name(st);
    if (strncmp(name, "sqlite", 6) == 0)
        return MTS_FORMAT_SQLITE;
    if (strncmp(name, "libsql", 6) == 0)
        return MTS_FORMAT_LIBSQL;
    if (strncmp(name, "postgres", 8) == 0)
        return MTS_FORMAT_POSTGRES;
    return MTS_FORMAT_MTSESSION;
}

/*
 * Acquire as `owner` for at least ttl_ms; when the owner's lease is live,
 * for no less than it has left (adopting it must not shorten it). *got
 * receives the lease after; *adopted: the live lease was kept (same
 * epoch), not a new tenure started.
 */
static int
adopt(mts_lease *got,
      int *adopted,
      mts_storage *st,
      const char *owner,
      uint32_t ttl_ms,
      const char *what)
{
    mts_lease cur = MTS_LEASE_INIT;
    mts_error err = MTS_ERROR_INIT;
    int rc = mts_lease_show(&cur, st, &err);
    int live_mine = 0;
    if (rc != 0 && rc != MTS_ENOTFOUND)
        return lease_fail(what, store_format(st), rc, &err);
    if (rc == 0 && cur.held && strcmp(cur.owner, owner) != 0)
        return held_by(what, &cur);
    if (rc == 0 && cur.held) {
        int64_t left = cur.expires_ms - now_ms();
        live_mine = 1;
        if (left > (int64_t)ttl_ms)
            ttl_ms = left > 86400000 ? 86400000u : (uint32_t)left;
    }
    rc = mts_lease_acquire(got, st, owner, ttl_ms, &err);
    if (rc != 0)
        return lease_fail(what, store_format(st), rc, &err);
    *adopted = live_mine && got->epoch == cur.epoch;
    return CLI_EXIT_OK;
}

int
cli_lease_begin(mts_storage *st, const char *owner, const char *what, int *took)
{
    mts_lease got = MTS_LEASE_INIT;
    int adopted = 0;
    int status = adopt(&got, &adopted, st, owner, CLI_LEASE_WRITE_MS, what);
    *took = status == CLI_EXIT_OK && !adopted;
    return status;
}

void
cli_lease_end(mts_storage *st, int took)
{
    if (took)
        (void)mts_lease_release(st, NULL); /* it runs out anyway */
}

/* ---- the lease command ----------------------------------------------------
 */

enum { ACT_ACQUIRE, ACT_RENEW, ACT_RELEASE, ACT_SHOW };

/* The store's format: --from, a postgres URI, or detected. */
static int
store_fmt(mts_format *fmt, const cli_args *a, const char *store)
{
    cli_input in = CLI_INPUT_INIT;
    int status;
    if (a->from != NULL)
        return cli_format_arg(fmt, "--from", a->from);
    if (cli_is_pg_uri(store)) {
        *fmt = MTS_FORMAT_POSTGRES;
        return CLI_EXIT_OK;
    }
    status = cli_read(&in, store);
    if (status == CLI_EXIT_OK)
        status = cli_detect(&in);
    *fmt = in.fmt;
    cli_input_free(&in);
    return status;
}

/* Open STORE for a lease action. Returns an exit status. */
static int
open_for_lease(mts_storage **st,
               mts_format fmt,
               const char *store,
               const cli_args *a,
               int action)
{
    mts_error err = MTS_ERROR_INIT;
    int rc;
    *st = NULL;
    if (fmt != MTS_FORMAT_MTSESSION)
        return cli_store_open(st, fmt, store, a, NULL);
    if (action == ACT_SHOW) {
        mts_file_options opts = MTS_FILE_OPTIONS_INIT;
        opts.flags = MTS_FILE_FOLLOW_SYMLINK; /* a read, as inspect */
        rc = mts_file_open(st, store, &opts, &err);
    } else {
        rc = mts_file_open(st, store, NULL, &err);
    }
    if (rc != 0) {
        *st = NULL;
        return cli_fail(cli_status_for(rc), store, "%s",
                        cli_strip_prefix(cli_errmsg(&err, rc), store));
    }
    return CLI_EXIT_OK;
}

static int
run_action(mts_storage *st, int action, const cli_args *a, const char *store)
{
    mts_lease cur = MTS_LEASE_INIT, got = MTS_LEASE_INIT;
    mts_error err = MTS_ERROR_INIT;
    uint32_t ttl = a->ttl_ms != 0 ? a->ttl_ms : CLI_LEASE_TTL_MS;
    int adopted = 0, rc, status;
    char t[40];

    switch (action) {
    case ACT_SHOW:
        rc = mts_lease_show(&cur, st, &err);
        if (rc != 0 && rc != MTS_ENOTFOUND)
            return lease_fail(store, store_format(st), rc, &err);
        print_line(rc, &cur);
        return CLI_EXIT_OK;
    case ACT_ACQUIRE:
        rc = mts_lease_acquire(&got, st, a->owner, ttl, &err);
        if (rc != 0)
            return lease_fail(store, store_format(st), rc, &err);
        print_line(0, &got);
        return CLI_EXIT_OK;
    default:
        break;
    }
    /* renew and release act on the owner's live lease only */
    rc = mts_lease_show(&cur, st, &err);
    if (rc != 0 && rc != MTS_ENOTFOUND)
        return lease_fail(store, store_format(st), rc, &err);
    if (rc == 0 && cur.held && strcmp(cur.owner, a->owner) != 0)
        return held_by(store, &cur);
    if (rc != 0 || !cur.held) {
        if (action == ACT_RELEASE)
            return CLI_EXIT_OK; /* nothing held: nothing to give up */
        if (rc != 0)
            return cli_fail(CLI_EXIT_HELD, store,
                            "%s holds no lease to renew (never leased); "
                            "acquire it",
                            a->owner);
        fmt_time(t, sizeof(t), cur.expires_ms);
        return cli_fail(CLI_EXIT_HELD, store,
                        "%s holds no lease to renew (%s's lease, epoch "
                        "%llu, ended %s); acquire it",
                        a->owner, cur.owner, (unsigned long long)cur.epoch, t);
    }
    if (action == ACT_RENEW) {
        /* a renewal sets the time asked for, shorter or longer */
        rc = mts_lease_acquire(&got, st, a->owner, ttl, &err);
        if (rc != 0)
            return lease_fail(store, store_format(st), rc, &err);
        if (got.epoch != cur.epoch) {
            /* it ran out between the look and the renewal: what we hold
             * now is a new tenure, not the one to renew */
            (void)mts_lease_release(st, NULL);
            return cli_fail(CLI_EXIT_HELD, store,
                            "%s's lease (epoch %llu) ended before it was "
                            "renewed; acquire it",
                            a->owner, (unsigned long long)cur.epoch);
        }
        print_line(0, &got);
        return CLI_EXIT_OK;
    }
    status = adopt(&got, &adopted, st, a->owner, 1, store);
    if (status != CLI_EXIT_OK)
        return status;
    rc = mts_lease_release(st, &err);
    if (rc != 0)
        return lease_fail(store, store_format(st), rc, &err);
    return CLI_EXIT_OK;
}

int
cli_cmd_lease(const cli_args *a)
{
    static const char *const actions[] = { "acquire", "renew", "release",
                                           "show" };
    const char *store = a->pos[1];
    mts_storage *st = NULL;
    mts_format fmt = MTS_FORMAT_UNKNOWN;
    int action = -1, status;

    for (int i = 0; i < 4; i++)
        if (strcmp(a->pos[0], actions[i]) == 0)
            action = i;
    if (action < 0)
        return cli_usage_error("lease: unknown action '%s' (acquire, renew, "
                               "release or show)",
                               a->pos[0]);
    if (action != ACT_SHOW && a->owner == NULL)
        return cli_usage_error("lease %s: --owner NAME is required",
                               actions[action]);
    if (action == ACT_SHOW && a->owner != NULL)
        return cli_usage_error("lease show: option --owner does not apply");
    if (a->ttl != NULL && action != ACT_ACQUIRE && action != ACT_RENEW)
        return cli_usage_error("lease %s: option --ttl does not apply",
                               actions[action]);
    if (strcmp(store, "-") == 0)
        return cli_usage_error("lease: STORE must be a file or a database, "
                               "not -");
    if (cli_key_option(a) != NULL)
        return cli_fail(CLI_EXIT_INPUT, cli_key_option(a),
                        "does not apply to lease (the lease record is not "
                        "sealed)");
    if (a->format_version != NULL)
        return cli_fail(CLI_EXIT_INPUT, "--format-version",
                        "does not apply to lease");

    status = store_fmt(&fmt, a, store);
    if (status != CLI_EXIT_OK)
        return status;
    if (!cli_leasable(fmt))
        return cli_fail(CLI_EXIT_INPUT, store,
                        "%s: not a store; leases are kept by mtsession "
                        "files and the sqlite, libsql and postgres stores",
                        mts_format_name(fmt));
    if (fmt != MTS_FORMAT_MTSESSION &&
        !(cli_format_caps(fmt) & MTS_FORMAT_IS_STORE))
        return cli_fail(CLI_EXIT_INPUT, store,
                        "unsupported format %s: no backend for this store in "
                        "this build",
                        mts_format_name(fmt));
    if ((status = cli_check_common(a, fmt, fmt)) != 0)
        return status;
    status = open_for_lease(&st, fmt, store, a, action);
    if (status != CLI_EXIT_OK)
        return status;
    status = run_action(st, action, a, store);
    mts_storage_free(st);
    return status;
}
