/*
 * registry.c - which backends this build has, and the constructors of the
 * ones compiled out (they return MTS_ENOTSUPPORTED naming the option).
 */
#include "internal.h"

#include <string.h>

static const char *const backend_names[] = {
    "file",
    "memory",
    "string",
#ifdef MTS_HAVE_SQLITE_BACKEND
    "sqlite",
#endif
#ifdef MTS_HAVE_LIBSQL
    "libsql",
#endif
#ifdef MTS_HAVE_POSTGRES
    "postgres",
#endif
    NULL
};

const char *const *
mts_backend_list(void)
{
    return backend_names;
}

int
mts_backend_available(const char *name)
{
    if (name == NULL)
        return 0;
    for (size_t i = 0; backend_names[i] != NULL; i++)
        if (strcmp(backend_names[i], name) == 0)
            return 1;
    return 0;
}

#ifndef MTS_HAVE_SQLITE_BACKEND
int
mts_sqlite_open(mts_storage **out, const char *path, const char *name,
                mts_error *err)
{
    (void)out;
    (void)path;
    (void)name;
    return mts__err(err, MTS_ENOTSUPPORTED,
                    "sqlite backend not compiled in (MTSESSION_WITH_SQLITE)");
}

int
mts_sqlite_open_memory(mts_storage **out, const char *name, mts_error *err)
{
    return mts_sqlite_open(out, ":memory:", name, err);
}

int
mts_sqlite_open_ex(mts_storage **out, const char *path, const char *name,
                   const mts_sqlite_options *opts, mts_error *err)
{
    (void)opts;
    return mts_sqlite_open(out, path, name, err);
}

int
mts_sqlite_rekey(mts_storage *st, mts_secret *new_secret, mts_error *err)
{
    (void)st;
    (void)new_secret;
    return mts_sqlite_open(NULL, NULL, NULL, err);
}
#endif

#ifndef MTS_HAVE_LIBSQL
static int
no_libsql(mts_error *err)
{
    return mts__err(err, MTS_ENOTSUPPORTED,
                    "libsql backend not compiled in (MTSESSION_WITH_LIBSQL)");
}

int
mts_libsql_open_local(mts_storage **out, const char *path, const char *name,
                      mts_error *err)
{
    (void)out;
    (void)path;
    (void)name;
    return no_libsql(err);
}

int
mts_libsql_open_memory(mts_storage **out, const char *name, mts_error *err)
{
    (void)out;
    (void)name;
    return no_libsql(err);
}

int
mts_libsql_open_remote(mts_storage **out, const char *url,
                       const char *auth_token, const char *name,
                       mts_error *err)
{
    (void)out;
    (void)url;
    (void)auth_token;
    (void)name;
    return no_libsql(err);
}

int
mts_libsql_open_replica(mts_storage **out, const char *path, const char *url,
                        const char *auth_token, const char *name,
                        mts_error *err)
{
    (void)out;
    (void)path;
    (void)url;
    (void)auth_token;
    (void)name;
    return no_libsql(err);
}

int
mts_libsql_sync(mts_storage *st, mts_error *err)
{
    (void)st;
    return no_libsql(err);
}

int
mts_libsql_open_local_ex(mts_storage **out, const char *path,
                         const char *name, const mts_libsql_options *opts,
                         mts_error *err)
{
    (void)out;
    (void)path;
    (void)name;
    (void)opts;
    return no_libsql(err);
}

int
mts_libsql_open_remote_ex(mts_storage **out, const char *url,
                          const char *auth_token, const char *name,
                          const mts_libsql_options *opts, mts_error *err)
{
    (void)out;
    (void)url;
    (void)auth_token;
    (void)name;
    (void)opts;
    return no_libsql(err);
}

int
mts_libsql_open_replica_ex(mts_storage **out, const char *path,
                           const char *url, const char *auth_token,
                           const char *name, const mts_libsql_options *opts,
                           mts_error *err)
{
    (void)out;
    (void)path;
    (void)url;
    (void)auth_token;
    (void)name;
    (void)opts;
    return no_libsql(err);
}

int
mts_libsql_rekey(mts_storage *st, mts_secret *new_secret, mts_error *err)
{
    (void)st;
    (void)new_secret;
    return no_libsql(err);
}
#endif

#ifndef MTS_HAVE_POSTGRES
int
mts_postgres_open(mts_storage **out, const char *conninfo,
                  const char *account, mts_error *err)
{
    (void)out;
    (void)conninfo;
    (void)account;
    return mts__err(err, MTS_ENOTSUPPORTED,
                    "postgres backend not compiled in "
                    "(MTSESSION_WITH_POSTGRES)");
}

int
mts_postgres_open_ex(mts_storage **out, const char *conninfo,
                     const char *account, const mts_postgres_options *opts,
                     mts_error *err)
{
    (void)opts;
    return mts_postgres_open(out, conninfo, account, err);
}

int
mts_postgres_rekey(mts_storage *st, mts_secret *new_secret, mts_error *err)
{
    (void)st;
    (void)new_secret;
    return mts_postgres_open(NULL, NULL, NULL, err);
}
#endif
