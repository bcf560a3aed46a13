/*
 * store.c - store formats: sessions kept in SQL databases.
 *
 * A store is not read whole like a file: INPUT or OUTPUT names a database
 * that a backend opens. sqlite takes a path; libsql a path, or a
 * libsql://, https:// or http:// URL with the token from --token-env VAR
 * (default MTSESSION_LIBSQL_TOKEN); postgres a libpq conninfo string or a
 * postgresql:// URI. --name picks the session (default "default"; the
 * account of a postgres store). The CLI can use a store whenever its
 * backend is compiled in (mts_backend_available), whatever the converter
 * table says.
 *
 * Reading never creates anything: a local database that does not exist is
 * reported missing before the backend could create it. Reading also shows
 * the store's lease (for stats and inspect); writing with --owner writes
 * as that lease holder (cmd_lease.c).
 */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The backend that holds fmt's stores, or NULL. */
static const char *
store_backend(mts_format fmt)
{
    switch (fmt) {
    case MTS_FORMAT_SQLITE:
        return "sqlite";
    case MTS_FORMAT_LIBSQL:
        return "libsql";
    case MTS_FORMAT_POSTGRES:
        return "postgres";
    default:
        return NULL;
    }
}

unsigned int
cli_format_caps(mts_format fmt)
{
    unsigned int caps = mts_format_caps(fmt);
    const char *backend = store_backend(fmt);
    if (backend != NULL && mts_backend_available(backend))
        caps |=
            MTS_FORMAT_CAN_READ | MTS_FORMAT_CAN_WRITE | MTS_FORMAT_IS_STORE;
    return caps;
}

static int
is_url(const char *where)
{
    return strncmp(where, "libsql://", 9) == 0 ||
           strncmp(where, "https://", 8) == 0 ||
           strncmp(where, "http://", 7) == 0;
}

int
cli_is_pg_uri(const char *where)
{
    return strncmp(where, "postgresql://", 13) == 0 ||
           strncmp(where, "postgres://", 11) == 0;
}

/* Whether `where` names no local file (a URL, or a postgres conninfo). */
static int
is_remote(mts_format fmt, const char *where)
{
    return fmt == MTS_FORMAT_POSTGRES ||
           (fmt == MTS_FORMAT_LIBSQL && is_url(where));
}

int
cli_store_open(mts_storage **st,
               mts_format fmt,
               const char *where,
               const cli_args *a,
               mts_secret *secret)
{
    mts_sqlite_options so = MTS_SQLITE_OPTIONS_INIT;
    mts_libsql_options lo = MTS_LIBSQL_OPTIONS_INIT;
    mts_postgres_options po = MTS_POSTGRES_OPTIONS_INIT;
    mts_error err = MTS_ERROR_INIT;
    const char *backend = store_backend(fmt);
    int rc;

    *st = NULL;
    if (backend == NULL || !mts_backend_available(backend))
        return cli_fail(CLI_EXIT_INPUT, where,
                        "unsupported format %s: no backend for this store in "
                        "this build",
                        mts_format_name(fmt));
    if (fmt == MTS_FORMAT_LIBSQL && is_url(where)) {
        const char *var =
            a->token_env != NULL ? a->token_env : "MTSESSION_LIBSQL_TOKEN";
        const char *token = getenv(var);
        if (token == NULL && a->token_env != NULL)
            return cli_fail(CLI_EXIT_INPUT, "--token-env", "%s is not set",
                            var);
        lo.secret = secret;
        rc = mts_libsql_open_remote_ex(st, where, token, a->name, &lo, &err);
    } else if (fmt == MTS_FORMAT_LIBSQL) {
        lo.secret = secret;
        rc = mts_libsql_open_local_ex(st, where, a->name, &lo, &err);
    } else if (fmt == MTS_FORMAT_POSTGRES) {
        po.secret = secret;
        rc = mts_postgres_open_ex(st, where, a->name, &po, &err);
    } else {
        so.secret = secret;
        rc = mts_sqlite_open_ex(st, where, a->name, &so, &err);
    }
    if (rc != 0) {
        *st = NULL;
        return cli_fail(cli_status_for(rc), where, "%s: %s",
                        mts_format_name(fmt), cli_errmsg(&err, rc));
    }
    return CLI_EXIT_OK;
}

int
cli_store_load(cli_input *in,
               const char *input,
               const cli_args *a,
               mts_secret *secret)
{
    mts_error err = MTS_ERROR_INIT;
    mts_storage *st = NULL;
    int rc;
    int status;

    /* Bytes read for detection are not needed: the backend reads. */
    cli_wipe(in->data, in->len);
    mts_free(in->data);
    in->data = NULL;
    in->len = 0;
    if (strcmp(input, "-") == 0)
        return cli_fail(CLI_EXIT_USAGE, input,
                        "a %s store cannot be read from standard input",
                        mts_format_name(in->fmt));
    if (!is_remote(in->fmt, input)) {
        struct stat sb;
        if (stat(input, &sb) != 0)
            return cli_fail(CLI_EXIT_IO, input, "%s",
                            errno == ENOENT ? "no such file" : strerror(errno));
    }
    status = cli_store_open(&st, in->fmt, input, a, secret);
    if (status != 0)
        return status;
    mts_storage_set_readonly(st);
    rc = mts_storage_load(&in->s, st, &err);
    if (rc == 0) {
        mts_error lerr = MTS_ERROR_INIT;
        in->lease_rc = mts_lease_show(&in->lease, st, &lerr);
        if (in->lease_rc == MTS_ENOTSUPPORTED)
            in->lease_rc = MTS_ENOTFOUND; /* a store without leases */
        else if (in->lease_rc != 0 && in->lease_rc != MTS_ENOTFOUND)
            fprintf(stderr, "mtsession: warning: %s: lease: %s\n", input,
                    cli_errmsg(&lerr, in->lease_rc));
    }
    mts_storage_free(st);
    if (rc == MTS_ENOTFOUND) {
        in->s = NULL;
        return cli_fail(CLI_EXIT_INPUT, input, "%s: no session named '%s'",
                        mts_format_name(in->fmt),
                        a->name != NULL ? a->name : "default");
    }
    if (rc != 0) {
        in->s = NULL;
        return cli_fail(cli_status_for(rc), input, "%s: %s",
                        mts_format_name(in->fmt), cli_errmsg(&err, rc));
    }
    return CLI_EXIT_OK;
}

int
cli_store_save(const mts_session *s,
               mts_format fmt,
               const char *output,
               const cli_args *a,
               mts_secret *secret)
{
    mts_error err = MTS_ERROR_INIT;
    mts_storage *st = NULL;
    struct stat sb;
    int rc;
    int status;
    int took = 0;

    if (strcmp(output, "-") == 0)
        return cli_fail(CLI_EXIT_USAGE, output,
                        "a %s store cannot be written to standard output",
                        mts_format_name(fmt));
    if (!is_remote(fmt, output) && stat(output, &sb) == 0 &&
        S_ISDIR(sb.st_mode))
        return cli_fail(CLI_EXIT_IO, output, "is a directory");
    status = cli_store_open(&st, fmt, output, a, secret);
    if (status != 0)
        return status;
    if (a->owner != NULL) {
        status = cli_lease_begin(st, a->owner, output, &took);
        if (status != 0) {
            mts_storage_free(st);
            return status;
        }
    }
    rc = mts_storage_save(st, s, &err);
    cli_lease_end(st, took);
    mts_storage_free(st);
    if (rc != 0)
        return cli_fail(cli_write_status(rc), output, "%s: %s",
                        mts_format_name(fmt), cli_errmsg(&err, rc));
    return CLI_EXIT_OK;
}
