/*
 * pg_helpers.c - see pg_helpers.h.
 */
#include "pg_helpers.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "t.h"

const char *
pgt_base(void)
{
    static char base[1024];
    const char *path;
    FILE *f;
    size_t n;
    if (base[0] != '\0')
        return base;
    path = getenv("MTS_PG_CONNINFO_FILE");
    if (path == NULL || path[0] == '\0') {
        fprintf(stderr, "  MTS_PG_CONNINFO_FILE is not set: run this test "
                        "through ctest (it starts the server)\n");
        exit(1);
    }
    f = fopen(path, "r");
    if (f == NULL || fgets(base, sizeof(base), f) == NULL) {
        fprintf(stderr, "  no connection string in %s: is the test server "
                        "running?\n", path);
        exit(1);
    }
    fclose(f);
    n = strlen(base);
    while (n > 0 && (base[n - 1] == '\n' || base[n - 1] == '\r'))
        base[--n] = '\0';
    return base;
}

PGconn *
pgt_connect(const char *conninfo)
{
    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "  cannot connect (%s): %s\n", conninfo,
                PQerrorMessage(c));
        exit(1);
    }
    PQclear(PQexec(c, "SET client_min_messages = warning"));
    return c;
}

const char *
pgt_new_db(const char *name)
{
    static char slots[8][1100];
    static int next;
    char *out = slots[next++ % 8];
    PGconn *c = pgt_connect(pgt_base());
    pgt_exec(c, "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
    pgt_exec(c, "CREATE DATABASE %s", name);
    PQfinish(c);
    /* a repeated keyword: the last one wins */
    snprintf(out, sizeof(slots[0]), "%s dbname=%s", pgt_base(), name);
    return out;
}

static PGresult *
vexec(PGconn *c, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static PGresult *
vexec(PGconn *c, const char *fmt, va_list ap)
{
    char sql[4096];
    vsnprintf(sql, sizeof(sql), fmt, ap);
    return PQexec(c, sql);
}

int
pgt_exec(PGconn *c, const char *fmt, ...)
{
    va_list ap;
    PGresult *r;
    int ok;
    va_start(ap, fmt);
    r = vexec(c, fmt, ap);
    va_end(ap);
    ok = PQresultStatus(r) == PGRES_COMMAND_OK ||
         PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        t_fail(__FILE__, __LINE__, "admin SQL failed: %s",
               PQresultErrorMessage(r));
    PQclear(r);
    return ok ? 0 : -1;
}

int64_t
pgt_int(PGconn *c, const char *fmt, ...)
{
    va_list ap;
    PGresult *r;
    int64_t v = -1;
    va_start(ap, fmt);
    r = vexec(c, fmt, ap);
    va_end(ap);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        t_fail(__FILE__, __LINE__, "admin SQL failed: %s",
               PQresultErrorMessage(r));
    else if (PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
        v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return v;
}

int
pgt_terminate(PGconn *admin, const char *app)
{
    return (int)pgt_int(admin,
                        "SELECT count(*) FILTER (WHERE "
                        "pg_terminate_backend(pid, 5000)) FROM "
                        "pg_stat_activity WHERE application_name = '%s'",
                        app);
}

int
pgt_wait_lock(PGconn *admin, const char *app, int ms)
{
    int64_t end = pgt_now_ms() + ms;
    while (pgt_now_ms() < end) {
        if (pgt_int(admin,
                    "SELECT count(*) FROM pg_stat_activity WHERE "
                    "application_name = '%s' AND wait_event_type = 'Lock'",
                    app) > 0)
            return 1;
        pgt_sleep_ms(2);
    }
    return 0;
}

int64_t
pgt_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
pgt_sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

mts_secret *
pgt_raw_secret(uint8_t fill)
{
    uint8_t key[MTS_SEAL_KEY_SIZE];
    mts_secret *s = NULL;
    memset(key, fill, sizeof(key));
    T_EQ_INT(mts_secret_from_key(&s, key, NULL), 0);
    return s;
}

mts_secret *
pgt_pass_secret(const char *pass)
{
    mts_kdf_params k = { MTS_KDF_PARAMS_VERSION, 1, 64 };
    mts_secret *s = NULL;
    T_EQ_INT(mts_secret_from_passphrase(&s, pass, strlen(pass), &k, NULL), 0);
    return s;
}

void
pgt_store(const char *conninfo, const char *account, const mts_session *s)
{
    mts_storage *st = NULL;
    T_EQ_INT(mts_postgres_open(&st, conninfo, account, NULL), 0);
    T_EQ_INT(mts_storage_save(st, s, NULL), 0);
    mts_storage_free(st);
}

int
pgt_any_contains(PGconn *c, const char *sql, const char *param,
                 const void *needle, size_t n)
{
    int found = 0;
    const char *vals[1] = { param };
    PGresult *r = PQexecParams(c, sql, param != NULL ? 1 : 0, NULL,
                               param != NULL ? vals : NULL, NULL, NULL, 1);
    T_EQ_INT(PQresultStatus(r), PGRES_TUPLES_OK);
    for (int i = 0; i < PQntuples(r); i++)
        if (!PQgetisnull(r, i, 0) &&
            memmem(PQgetvalue(r, i, 0), (size_t)PQgetlength(r, i, 0), needle,
                   n) != NULL)
            found = 1;
    PQclear(r);
    return found;
}
