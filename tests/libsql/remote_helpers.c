/*
 * remote_helpers.c - see remote_helpers.h. The private server is
 * tests/hrana-server/server.mjs run with --exit-on-stdin-eof, so it also
 * goes away when the test dies; it prints its port as its first line.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hrana.h"
#include "remote_helpers.h"
#include "t.h"

extern char **environ;

char rh_url[256];
const char *rh_token;

const char *
rh_env(const char *name)
{
    const char *v = getenv(name);
    if (v == NULL || v[0] == '\0') {
        fprintf(stderr, "  %s is not set: run this test through ctest\n", name);
        exit(1);
    }
    return v;
}

void
rh_setup(void)
{
    FILE *f;
    int port = 0;
    if (rh_url[0] != '\0')
        return;
    rh_token = rh_env("MTS_HRANA_TOKEN");
    f = fopen(rh_env("MTS_HRANA_PORT_FILE"), "r");
    if (f == NULL || fscanf(f, "%d", &port) != 1 || port <= 0) {
        fprintf(stderr, "  no port in %s: is the server running?\n",
                getenv("MTS_HRANA_PORT_FILE"));
        exit(1);
    }
    fclose(f);
    snprintf(rh_url, sizeof(rh_url), "http://127.0.0.1:%d", port);
}

const char *
rh_unique_name(const char *prefix)
{
    static char buf[8][96];
    static int next, counter;
    char *p = buf[next++ % 8];
    snprintf(p, sizeof(buf[0]), "%s-%ld-%d-%ld", prefix, (long)getpid(),
             ++counter, (long)time(NULL));
    return p;
}

mts_storage *
rh_remote(const char *name)
{
    mts_storage *st = NULL;
    mts_error err = MTS_ERROR_INIT;
    if (mts_libsql_open_remote(&st, rh_url, rh_token, name, &err) != 0)
        t_fail(__FILE__, __LINE__, "open_remote: %s", err.message);
    return st;
}

int
rh_raw_sql(const char *base, const char *sql)
{
    mts__hrana *h = NULL;
    mts__hrana_tx *tx = NULL;
    mts_error err = MTS_ERROR_INIT;
    int rc = mts__hrana_new(&h, base, rh_token, &err);
    if (rc == 0)
        rc = mts__hrana_tx_new(&tx, 1);
    if (rc == 0)
        rc = mts__hrana_tx_add(tx, sql, NULL, 0, 0);
    if (rc == 0)
        rc = mts__hrana_tx_run(NULL, h, tx, &err);
    if (rc != 0)
        fprintf(stderr, "  raw sql failed: %s\n", err.message);
    mts__hrana_tx_free(tx);
    mts__hrana_free(h);
    return rc;
}

const char *
rh_server_missing(const char **node, const char **script)
{
    static char why[4400];
    char pkg[4200];
    const char *slash;
    if ((*script = getenv("MTS_HRANA_SERVER")) == NULL ||
        (*script)[0] == '\0') {
        *script = NULL;
        return NULL;
    }
    *node = getenv("MTS_HRANA_NODE");
    if (*node == NULL || (*node)[0] == '\0' || strstr(*node, "NOTFOUND") ||
        access(*node, X_OK) != 0)
        return "node (Node.js) not found";
    slash = strrchr(*script, '/');
    snprintf(pkg, sizeof(pkg), "%.*s/node_modules/libsql/package.json",
             slash ? (int)(slash - *script) : 1, slash ? *script : ".");
    if (access(pkg, R_OK) != 0) {
        snprintf(why, sizeof(why),
                 "the test server's packages are not installed (%s); run: "
                 "npm ci --prefix tests/hrana-server",
                 pkg);
        return why;
    }
    return NULL;
}

int
rh_server_start(rh_server *sv,
                const char *node,
                const char *script,
                const char *db,
                const char *token)
{
    posix_spawn_file_actions_t fa;
    int in[2], out[2], rc;
    char line[32] = "";
    size_t n = 0;
    char *argv[] = {
        (char *)node,  (char *)script,        "--db", (char *)db, "--token",
        (char *)token, "--exit-on-stdin-eof", NULL
    };
    if (pipe(in) != 0)
        return -1;
    if (pipe(out) != 0) {
        close(in[0]);
        close(in[1]);
        return -1;
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_addclose(&fa, in[1]);
    posix_spawn_file_actions_addclose(&fa, out[0]);
    rc = posix_spawn(&sv->pid, node, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(in[0]);
    close(out[1]);
    sv->in = in[1];
    sv->out = out[0];
    if (rc != 0) {
        sv->pid = 0;
        return -1;
    }
    while (n < sizeof(line) - 1 && strchr(line, '\n') == NULL) {
        struct pollfd pf = { sv->out, POLLIN, 0 };
        ssize_t r;
        if (poll(&pf, 1, 15000) <= 0)
            return -1;
        r = read(sv->out, line + n, sizeof(line) - 1 - n);
        if (r <= 0)
            return -1;
        n += (size_t)r;
        line[n] = '\0';
    }
    snprintf(sv->url, sizeof(sv->url), "http://127.0.0.1:%d", atoi(line));
    return 0;
}

void
rh_server_stop(rh_server *sv)
{
    int status;
    if (sv->pid > 0) {
        kill(sv->pid, SIGTERM);
        while (waitpid(sv->pid, &status, 0) < 0 && errno == EINTR)
            ;
    }
    if (sv->in >= 0)
        close(sv->in);
    if (sv->out >= 0)
        close(sv->out);
    sv->pid = 0;
    sv->in = sv->out = -1;
}
