/*
 * remote_helpers.h - shared by the libSQL remote tests (libsql_remote,
 * libsql_remote_lease, libsql_lease_contention): the ctest-started Hrana
 * test server's address, a private server a test starts and stops itself,
 * and handles, loads and raw SQL on the server that fail the case.
 */
#ifndef MTS_LIBSQL_REMOTE_HELPERS_H
#define MTS_LIBSQL_REMOTE_HELPERS_H

#include <stddef.h>
#include <sys/types.h>

#include "mtsession/mtsession.h"

/* The shared server (set by rh_setup): "http://127.0.0.1:PORT", token. */
extern char rh_url[256];
extern const char *rh_token;

/* The environment variable's value; exits 1 when it is unset or empty
 * (the test was not run by ctest). */
const char *rh_env(const char *name);
/* Read MTS_HRANA_TOKEN and the port in MTS_HRANA_PORT_FILE into rh_url and
 * rh_token, once; exits 1 when they are missing. */
void rh_setup(void);
/* A session name no other case or run uses; one of 8 rotating buffers. */
const char *rh_unique_name(const char *prefix);
/* mts_libsql_open_remote(rh_url, rh_token, name); fails the case (and
 * returns NULL) on error. */
mts_storage *rh_remote(const char *name);
/* Run one statement on the server at base directly, through the Hrana
 * client (an operator's fix, a look behind the backend). */
int rh_raw_sql(const char *base, const char *sql);

/* A private server on a database of its own. */
typedef struct rh_server {
    pid_t pid;
    int in;  /* its stdin: closing it stops the server too */
    int out; /* its stdout: the port */
    char url[64];
} rh_server;

#define RH_SERVER_INIT                                                         \
    {                                                                          \
        0, -1, -1, ""                                                          \
    }

/* Why node (MTS_HRANA_NODE) or the server's npm packages are missing, or
 * NULL when both are there; *script is NULL when MTS_HRANA_SERVER is not
 * set (not run by ctest: a failure, not a skip). */
const char *rh_server_missing(const char **node, const char **script);
/* Start `node script` on the database file db with token; 0 once it
 * printed its port (sv->url set), -1 otherwise (then still rh_server_stop). */
int rh_server_start(rh_server *sv,
                    const char *node,
                    const char *script,
                    const char *db,
                    const char *token);
/* Stop it and wait for it; nothing when it was not started. */
void rh_server_stop(rh_server *sv);

#endif
