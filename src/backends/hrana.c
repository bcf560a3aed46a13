/*
 * hrana.c - Hrana over HTTP for the libSQL backend (see hrana.h for the
 * contract, docs/LIBSQL.md for the wire format and what was checked).
 *
 * One request per transaction, JSON encoding:
 *
 *   {"baton":null,"requests":[
 *     {"type":"store_sql","sql_id":1,"sql":"INSERT ..."}, ...,
 *     {"type":"batch","batch":{"steps":[
 *       {"stmt":{"sql":"BEGIN IMMEDIATE","want_rows":false}},
 *       {"stmt":{"sql_id":1,"args":[...],"want_rows":false},
 *        "condition":{"type":"ok","step":0}}, ...,
 *       {"stmt":{"sql":"COMMIT"},"condition":{"type":"ok","step":N}},
 *       {"stmt":{"sql":"ROLLBACK"},"condition":{"type":"and","conds":[
 *         {"type":"ok","step":0},
 *         {"type":"not","cond":{"type":"ok","step":N+1}}]}}]}},
 *     {"type":"close"}]}
 *
 * The server runs every request of a pipeline even after one fails, and
 * skips a batch step whose condition is false, so a failed statement stops
 * the ones after it and the transaction is rolled back in the same round
 * trip. Unknown response fields are ignored.
 *
 * Memory: request and response bodies live in mts__buf (wiped when they
 * grow or are freed: they carry auth keys in base64), and the JSON trees'
 * strings are wiped before the trees are released. libcurl and jansson
 * allocate with their own allocators.
 */
#include "hrana.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Bounds that keep a misbehaving server from exhausting memory. */
#define HRANA_RESPONSE_MAX ((size_t)1 << 30)
#define HRANA_REQUEST_MAX  ((size_t)1 << 30)
/* sqld keeps at most 50 stored SQL texts per stream, of at most 5 KB. */
#define HRANA_STORED_SQL_MAX  50
#define HRANA_STORED_SQL_SIZE 5000

struct mts__hrana {
    CURL *curl;
    struct curl_slist *headers; /* content type and, maybe, the token */
    char *base;                 /* scheme://host[:port][/path] */
    int version;                /* 3, or 2 after /v3 answered 404 */
    mts__hrana_tuning tune;
    char errbuf[CURL_ERROR_SIZE];
};

struct mts__hrana_tx {
    json_t *steps; /* BEGIN and the caller's statements */
    const char *sqls[HRANA_STORED_SQL_MAX]; /* stored texts; id = index+1 */
    size_t nsqls;
    size_t nstmts;
    long failed; /* the statement that failed in the last run, or -1 */
};

struct mts__hrana_res {
    json_t *root;
    json_t *results; /* step_results of the batch (borrowed from root) */
    size_t nstmts;
    uint8_t *scratch; /* decoded blobs of the last row */
    size_t scratch_cap;
};

/* ---- small helpers ------------------------------------------------------- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_OK;

static void
curl_init_once(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* Wipe every string value in a JSON tree (they may hold keys in base64)
 * before the tree is released. */
static void
wipe_json(json_t *j)
{
    if (j == NULL)
        return;
    if (json_is_string(j)) {
        char *s = (char *)(uintptr_t)json_string_value(j);
        mts__wipe(s, json_string_length(j));
    } else if (json_is_array(j)) {
        for (size_t i = 0; i < json_array_size(j); i++)
            wipe_json(json_array_get(j, i));
    } else if (json_is_object(j)) {
        const char *key;
        json_t *v;
        json_object_foreach(j, key, v) wipe_json(v);
    }
}

/* The string at obj[key], or "" when there is none. */
static const char *
jstr(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s != NULL ? s : "";
}

/* Wipe and release a tree the caller owns alone. */
static void
release_json(json_t *j)
{
    wipe_json(j);
    json_decref(j);
}

static void
sleep_ms(long ms)
{
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* SQLite primary result codes by the names servers report. */
static int
sqlite_code(const char *name)
{
    static const struct {
        const char *name;
        int code;
    } codes[] = {
        { "SQLITE_ERROR", 1 },     { "SQLITE_INTERNAL", 2 },
        { "SQLITE_PERM", 3 },      { "SQLITE_ABORT", 4 },
        { "SQLITE_BUSY", 5 },      { "SQLITE_LOCKED", 6 },
        { "SQLITE_NOMEM", 7 },     { "SQLITE_READONLY", 8 },
        { "SQLITE_INTERRUPT", 9 }, { "SQLITE_IOERR", 10 },
        { "SQLITE_CORRUPT", 11 },  { "SQLITE_NOTFOUND", 12 },
        { "SQLITE_FULL", 13 },     { "SQLITE_CANTOPEN", 14 },
        { "SQLITE_PROTOCOL", 15 }, { "SQLITE_SCHEMA", 17 },
        { "SQLITE_TOOBIG", 18 },   { "SQLITE_CONSTRAINT", 19 },
        { "SQLITE_MISMATCH", 20 }, { "SQLITE_MISUSE", 21 },
        { "SQLITE_NOLFS", 22 },    { "SQLITE_AUTH", 23 },
        { "SQLITE_RANGE", 25 },    { "SQLITE_NOTADB", 26 },
    };
    size_t n;
    if (name == NULL)
        return 0;
    for (size_t i = 0; i < MTS__ARRAY_LEN(codes); i++) {
        n = strlen(codes[i].name);
        /* extended names ("SQLITE_CONSTRAINT_CHECK") map to their primary */
        if (strncmp(name, codes[i].name, n) == 0 &&
            (name[n] == '\0' || name[n] == '_'))
            return codes[i].code;
    }
    return 0;
}

/* Copy server text into a message: printable ASCII, at most max bytes. */
static void
clean_text(char *dst, size_t size, const char *src, size_t n)
{
    size_t j = 0;
    for (size_t i = 0; i < n && j + 1 < size; i++) {
        unsigned char c = (unsigned char)src[i];
        if (c == '\n' || c == '\r' || c == '\t')
            c = ' ';
        dst[j++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    while (j > 0 && dst[j - 1] == ' ')
        j--;
    dst[j] = '\0';
}

/* ---- values -------------------------------------------------------------- */

/* Standard base64, padded on output, padded or not on input (the codec
 * in core/base64.c). */
int
mts__hrana_b64_encode(char **out, const uint8_t *data, size_t len)
{
    return mts__base64_encode(out, data, len, MTS__B64_STD | MTS__B64_PAD);
}

size_t
mts__hrana_b64_decoded_max(size_t in_len)
{
    return mts__base64_decoded_max(in_len);
}

int
mts__hrana_b64_decode(uint8_t *out,
                      size_t *out_len,
                      const char *in,
                      size_t in_len)
{
    size_t at;
    return mts__base64_decode(out, out_len, in, in_len,
                              MTS__B64_STD | MTS__B64_PAD, &at) == 0
               ? 0
               : -1;
}

int
mts__hrana_parse_i64(int64_t *out, const char *s, size_t n)
{
    uint64_t v = 0, limit;
    size_t i = 0;
    int neg = 0;
    if (n > 0 && s[0] == '-') {
        neg = 1;
        i = 1;
    }
    if (i == n || n - i > 19)
        return -1;
    limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; i < n; i++) {
        unsigned d;
        if (s[i] < '0' || s[i] > '9')
            return -1;
        d = (unsigned)(s[i] - '0');
        if (v > (limit - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    if (neg)
        *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    else
        *out = (int64_t)v;
    return 0;
}

/* One parameter as a Hrana value. NULL: out of memory, or (*bad set) text
 * that is not UTF-8. */
static json_t *
value_json(const mts__sqlv *v, int *bad)
{
    switch (v->type) {
    case MTS__SQL_NULL:
        return json_pack("{s:s}", "type", "null");
    case MTS__SQL_INT: {
        char num[24];
        snprintf(num, sizeof(num), "%lld", (long long)v->i);
        return json_pack("{s:s,s:s}", "type", "integer", "value", num);
    }
    case MTS__SQL_TEXT: {
        json_t *s = json_stringn(v->p != NULL ? v->p : "", v->n);
        if (s == NULL) {
            *bad = 1;
            return NULL;
        }
        return json_pack("{s:s,s:o}", "type", "text", "value", s);
    }
    case MTS__SQL_BLOB: {
        char *b64;
        json_t *j;
        if (mts__hrana_b64_encode(&b64, v->p, v->n) != 0)
            return NULL;
        j = json_pack("{s:s,s:s}", "type", "blob", "base64", b64);
        mts__wipe(b64, strlen(b64));
        mts_free(b64);
        return j;
    }
    case MTS__SQL_REAL:
        break;
    }
    *bad = 1;
    return NULL;
}

/* ---- client -------------------------------------------------------------- */

static const mts__hrana_tuning default_tuning = { 10000, 60000, 5, 250, 8000 };

void
mts__hrana_tune(mts__hrana *h, const mts__hrana_tuning *t)
{
    const mts__hrana_tuning *d = &default_tuning;
    if (t == NULL)
        t = d;
    h->tune.connect_timeout_ms = t->connect_timeout_ms > 0
                                     ? t->connect_timeout_ms
                                     : d->connect_timeout_ms;
    h->tune.timeout_ms = t->timeout_ms > 0 ? t->timeout_ms : d->timeout_ms;
    h->tune.max_tries = t->max_tries > 0 ? t->max_tries : d->max_tries;
    h->tune.backoff_ms = t->backoff_ms > 0 ? t->backoff_ms : d->backoff_ms;
    h->tune.backoff_total_ms =
        t->backoff_total_ms > 0 ? t->backoff_total_ms : d->backoff_total_ms;
}

/* Find "key=value" in a query string (without the '?'). */
static int
query_has(const char *q, size_t n, const char *kv)
{
    size_t k = strlen(kv);
    const char *end = q + n;
    while (q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        size_t len = amp ? (size_t)(amp - q) : (size_t)(end - q);
        if (len == k && memcmp(q, kv, k) == 0)
            return 1;
        q += len + (amp ? 1 : 0);
    }
    return 0;
}

/* The base address from a libsql://, https:// or http:// URL. */
static int
parse_url(char **out, const char *url, mts_error *err)
{
    const char *sep = strstr(url, "://");
    const char *auth, *p, *path, *query = NULL, *end;
    size_t scheme_len, auth_len, path_len, query_len = 0;
    const char *scheme;
    mts__buf b;
    uint8_t *data;
    size_t len;

    for (const char *c = url; *c; c++)
        if ((unsigned char)*c <= 0x20 || (unsigned char)*c == 0x7f)
            return mts__err(err, MTS_EINVAL,
                            "libsql: the URL contains spaces or control "
                            "characters");
    if (sep == NULL)
        return mts__err(err, MTS_EINVAL,
                        "libsql: not a URL (use libsql://, https:// or "
                        "http://)");
    scheme_len = (size_t)(sep - url);
    if (scheme_len == 6 && strncasecmp(url, "libsql", 6) == 0)
        scheme = "https";
    else if (scheme_len == 5 && strncasecmp(url, "https", 5) == 0)
        scheme = "https";
    else if (scheme_len == 4 && strncasecmp(url, "http", 4) == 0)
        scheme = "http";
    else
        return mts__err(err, MTS_EINVAL,
                        "libsql: unsupported URL scheme '%.*s' (use "
                        "libsql://, https:// or http://)",
                        (int)(scheme_len < 16 ? scheme_len : 16), url);

    auth = sep + 3;
    end = auth + strcspn(auth, "#");
    path = auth + strcspn(auth, "/?#");
    /* user info may carry a password or token: never kept */
    for (p = auth; p < path; p++)
        if (*p == '@')
            auth = p + 1;
    auth_len = (size_t)(path - auth);
    path_len = strcspn(path, "?#");
    if (path[path_len] == '?') {
        query = path + path_len + 1;
        query_len = (size_t)(end - query);
    }
    if (auth_len == 0)
        return mts__err(err, MTS_EINVAL, "libsql: the URL has no host");
    while (path_len > 0 && path[path_len - 1] == '/')
        path_len--;
    if (scheme_len == 6 && query != NULL) {
        if (query_has(query, query_len, "tls=0")) {
            const char *colon = NULL;
            scheme = "http";
            /* the last ':' outside an IPv6 literal's brackets */
            for (p = auth; p < auth + auth_len; p++)
                if (*p == ':')
                    colon = p;
                else if (*p == ']')
                    colon = NULL;
            if (colon == NULL)
                return mts__err(err, MTS_EINVAL,
                                "libsql: a libsql:// URL with tls=0 needs "
                                "an explicit port");
        }
    }
    mts__buf_init(&b, 4096);
    mts__buf_printf(&b, "%s://%.*s%.*s", scheme, (int)auth_len, auth,
                    (int)path_len, path);
    if (b.failed && b.over) {
        mts__buf_free(&b);
        return mts__err(err, MTS_EINVAL, "libsql: the URL is too long");
    }
    if (mts__buf_finish(&b, &data, &len, err) != 0)
        return MTS_ENOMEM;
    *out = (char *)data;
    return 0;
}

int
mts__hrana_new(mts__hrana **out,
               const char *url,
               const char *token,
               mts_error *err)
{
    mts__hrana *h;
    int rc;
    if (url == NULL || url[0] == '\0')
        return mts__err(err, MTS_EINVAL, "libsql: empty URL");
    if (token != NULL && strpbrk(token, "\r\n") != NULL)
        return mts__err(err, MTS_EINVAL,
                        "libsql: the auth token contains a line break");
    pthread_once(&curl_once, curl_init_once);
    if (curl_init_rc != CURLE_OK)
        return mts__err_native(err, MTS_EIO, (int)curl_init_rc,
                               "libsql: libcurl initialisation failed: %s",
                               curl_easy_strerror(curl_init_rc));
    h = mts__calloc(1, sizeof(*h));
    if (h == NULL)
        return mts__err_oom(err);
    h->version = 3;
    mts__hrana_tune(h, NULL);
    if ((rc = parse_url(&h->base, url, err)) != 0) {
        mts_free(h);
        return rc;
    }
    h->curl = curl_easy_init();
    if (h->curl == NULL)
        goto oom;
    h->headers = curl_slist_append(NULL, "Content-Type: application/json");
    if (h->headers == NULL)
        goto oom;
    if (token != NULL && token[0] != '\0') {
        static const char prefix[] = "Authorization: Bearer ";
        size_t n = strlen(token);
        char *line = mts_malloc(sizeof(prefix) + n);
        struct curl_slist *l;
        if (line == NULL)
            goto oom;
        memcpy(line, prefix, sizeof(prefix) - 1);
        memcpy(line + sizeof(prefix) - 1, token, n + 1);
        l = curl_slist_append(h->headers, line);
        mts__wipe(line, sizeof(prefix) + n);
        mts_free(line);
        if (l == NULL)
            goto oom;
        h->headers = l;
    }
    *out = h;
    return 0;
oom:
    mts__hrana_free(h);
    return mts__err_oom(err);
}

void
mts__hrana_free(mts__hrana *h)
{
    if (h == NULL)
        return;
    for (struct curl_slist *l = h->headers; l != NULL; l = l->next)
        mts__wipe(l->data, strlen(l->data));
    curl_slist_free_all(h->headers);
    if (h->curl != NULL)
        curl_easy_cleanup(h->curl);
    mts_free(h->base);
    mts_free(h);
}

const char *
mts__hrana_url(const mts__hrana *h)
{
    return h->base;
}

/* ---- transactions -------------------------------------------------------- */

int
mts__hrana_tx_new(mts__hrana_tx **out, int write)
{
    mts__hrana_tx *tx = mts__calloc(1, sizeof(*tx));
    json_t *begin;
    if (tx == NULL)
        return MTS_ENOMEM;
    tx->failed = -1;
    tx->steps = json_array();
    begin = json_pack("{s:{s:s,s:b}}", "stmt", "sql",
                      write ? "BEGIN IMMEDIATE" : "BEGIN", "want_rows", 0);
    if (tx->steps == NULL || begin == NULL ||
        json_array_append_new(tx->steps, begin) != 0) {
        json_decref(tx->steps);
        mts_free(tx);
        return MTS_ENOMEM;
    }
    *out = tx;
    return 0;
}

void
mts__hrana_tx_free(mts__hrana_tx *tx)
{
    if (tx == NULL)
        return;
    release_json(tx->steps);
    mts_free(tx);
}

size_t
mts__hrana_tx_count(const mts__hrana_tx *tx)
{
    return tx->nstmts;
}

long
mts__hrana_tx_failed(const mts__hrana_tx *tx)
{
    return tx->failed;
}

/* The sql_id of a stored text (1-based), or 0 to send the text inline. */
static size_t
stored_sql_id(mts__hrana_tx *tx, const char *sql)
{
    for (size_t i = 0; i < tx->nsqls; i++)
        if (tx->sqls[i] == sql || strcmp(tx->sqls[i], sql) == 0)
            return i + 1;
    if (tx->nsqls == HRANA_STORED_SQL_MAX ||
        strlen(sql) > HRANA_STORED_SQL_SIZE)
        return 0;
    tx->sqls[tx->nsqls++] = sql;
    return tx->nsqls;
}

int
mts__hrana_tx_add(mts__hrana_tx *tx,
                  const char *sql,
                  const mts__sqlv *params,
                  size_t nparams,
                  int want_rows)
{
    json_t *args = json_array(), *stmt = NULL, *step;
    size_t id, prev = json_array_size(tx->steps) - 1;
    int bad = 0;
    if (args == NULL)
        return MTS_ENOMEM;
    for (size_t i = 0; i < nparams; i++) {
        json_t *v = value_json(&params[i], &bad);
        if (v == NULL || json_array_append_new(args, v) != 0) {
            release_json(args);
            return bad ? MTS_EINVAL : MTS_ENOMEM;
        }
    }
    id = stored_sql_id(tx, sql);
    if (id != 0)
        stmt = json_pack("{s:I,s:o,s:b}", "sql_id", (json_int_t)id, "args",
                         args, "want_rows", want_rows != 0);
    else
        stmt = json_pack("{s:s,s:o,s:b}", "sql", sql, "args", args, "want_rows",
                         want_rows != 0);
    if (stmt == NULL)
        return MTS_ENOMEM; /* args was released by json_pack */
    step = json_pack("{s:o,s:{s:s,s:I}}", "stmt", stmt, "condition", "type",
                     "ok", "step", (json_int_t)prev);
    if (step == NULL || json_array_append_new(tx->steps, step) != 0)
        return MTS_ENOMEM;
    tx->nstmts++;
    return 0;
}

static int
dump_to_buf(const char *buffer, size_t size, void *data)
{
    mts__buf *b = data;
    mts__buf_put(b, buffer, size);
    return b->failed ? -1 : 0;
}

/* The whole request body for tx. */
static int
build_request(mts__buf *body, mts__hrana_tx *tx)
{
    size_t n = json_array_size(tx->steps) - 1; /* index of the last stmt */
    json_t *requests = json_array(), *steps = json_array(), *root = NULL;
    json_t *commit, *rollback;
    int rc = MTS_ENOMEM;

    if (requests == NULL || steps == NULL ||
        json_array_extend(steps, tx->steps) != 0)
        goto done;
    for (size_t i = 0; i < tx->nsqls; i++)
        if (json_array_append_new(requests, json_pack("{s:s,s:I,s:s}", "type",
                                                      "store_sql", "sql_id",
                                                      (json_int_t)(i + 1),
                                                      "sql", tx->sqls[i])) != 0)
            goto done;
    commit = json_pack("{s:{s:s,s:b},s:{s:s,s:I}}", "stmt", "sql", "COMMIT",
                       "want_rows", 0, "condition", "type", "ok", "step",
                       (json_int_t)n);
    rollback =
        json_pack("{s:{s:s,s:b},s:{s:s,s:[{s:s,s:i},{s:s,s:{s:s,s:I}}]}}",
                  "stmt", "sql", "ROLLBACK", "want_rows", 0, "condition",
                  "type", "and", "conds", "type", "ok", "step", 0, "type",
                  "not", "cond", "type", "ok", "step", (json_int_t)(n + 1));
    if (json_array_append_new(steps, commit) != 0 ||
        json_array_append_new(steps, rollback) != 0)
        goto done;
    if (json_array_append_new(requests,
                              json_pack("{s:s,s:{s:O}}", "type", "batch",
                                        "batch", "steps", steps)) != 0 ||
        json_array_append_new(requests, json_pack("{s:s}", "type", "close")))
        goto done;
    root = json_pack("{s:n,s:O}", "baton", "requests", requests);
    if (root == NULL)
        goto done;
    if (json_dump_callback(root, dump_to_buf, body, JSON_COMPACT) != 0)
        goto done;
    rc = 0;
done:
    json_decref(root);
    json_decref(requests);
    json_decref(steps);
    return rc;
}

/* ---- HTTP ---------------------------------------------------------------- */

static size_t
write_cb(char *ptr, size_t size, size_t nmemb, void *data)
{
    mts__buf *b = data;
    size_t n = size * nmemb;
    mts__buf_put(b, ptr, n);
    return b->failed ? 0 : n;
}

/* POST body to <base>/v<version>/pipeline. On a transport failure returns
 * MTS_EIO (or MTS_ELIMIT for an oversized response); else 0 with the
 * status and the response body. */
static int
post(mts__hrana *h,
     const mts__buf *body,
     long *status,
     long *retry_after,
     mts__buf *resp,
     mts_error *err)
{
    char url[4200];
    CURLcode cc;
    curl_off_t ra = -1;
    CURL *c = h->curl;

    snprintf(url, sizeof(url), "%s/v%d/pipeline", h->base, h->version);
    resp->len = 0;
    resp->failed = resp->over = false;
    h->errbuf[0] = '\0';
    curl_easy_reset(c);
    if (curl_easy_setopt(c, CURLOPT_URL, url) != CURLE_OK ||
#if LIBCURL_VERSION_NUM >= 0x075500
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
#else
        curl_easy_setopt(c, CURLOPT_PROTOCOLS,
                         (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS)) !=
            CURLE_OK ||
#endif
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h->headers) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_POST, 1L) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, (const char *)body->data) !=
            CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)body->len) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_WRITEDATA, resp) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, h->errbuf) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                         h->tune.connect_timeout_ms) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, h->tune.timeout_ms) !=
            CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "") != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_USERAGENT,
                         "mtsession/" MTS_VERSION_STRING) != CURLE_OK)
        return mts__err(err, MTS_ENOMEM, "libsql: cannot set up libcurl");
    cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        if (resp->over)
            return mts__err(err, MTS_ELIMIT,
                            "libsql: the response from %s is larger than "
                            "%zu bytes",
                            h->base, resp->max);
        if (resp->failed)
            return mts__err_oom(err);
        return mts__err_native(
            err, MTS_EIO, (int)cc, "libsql: request to %s failed: %s", h->base,
            h->errbuf[0] ? h->errbuf : curl_easy_strerror(cc));
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    if (curl_easy_getinfo(c, CURLINFO_RETRY_AFTER, &ra) != CURLE_OK)
        ra = -1;
    *retry_after = ra >= 0 && ra < 86400 ? (long)ra : -1;
    return 0;
}

/* The server's explanation in an error response: {"message"}, {"error"}
 * or plain text, cleaned for a one-line message. */
static void
error_text(char *dst, size_t size, const mts__buf *resp)
{
    json_t *j = NULL;
    const char *msg = NULL;
    if (resp->len == 0) {
        dst[0] = '\0';
        return;
    }
    j = json_loadb((const char *)resp->data, resp->len, 0, NULL);
    if (j != NULL) {
        json_t *m = json_object_get(j, "message");
        if (!json_is_string(m))
            m = json_object_get(j, "error");
        if (json_is_string(m))
            msg = json_string_value(m);
    }
    if (msg != NULL)
        clean_text(dst, size, msg, strlen(msg));
    else
        clean_text(dst, size, (const char *)resp->data, resp->len);
    json_decref(j);
}

/* Send one request: version fallback, 429/503 with backoff, HTTP errors. */
static int
exchange(mts__hrana *h, const mts__buf *body, mts__buf *resp, mts_error *err)
{
    long slept = 0, pause = h->tune.backoff_ms;
    int tries = 0;
    for (;;) {
        long status = 0, retry_after = -1;
        char text[160];
        int rc = post(h, body, &status, &retry_after, resp, err);
        if (rc != 0)
            return rc;
        tries++;
        if (status >= 200 && status < 300)
            return 0;
        if (status == 404 && h->version == 3) {
            h->version = 2; /* a server without Hrana 3 */
            tries--;
            continue;
        }
        if (status == 401 || status == 403)
            return mts__err_native(err, MTS_EBACKEND, (int)status,
                                   "libsql: authentication failed (HTTP "
                                   "%ld)",
                                   status);
        if (status == 429 || status == 503) {
            long wait = pause;
            if (retry_after >= 0 && retry_after * 1000 > wait)
                wait = retry_after * 1000;
            if (tries < h->tune.max_tries &&
                slept + wait <= h->tune.backoff_total_ms) {
                sleep_ms(wait);
                slept += wait;
                pause *= 2;
                continue;
            }
            return mts__err_native(err, MTS_EBACKEND, (int)status,
                                   "libsql: %s is busy (HTTP %ld); gave up "
                                   "after %d tries and %ld ms",
                                   h->base, status, tries, slept);
        }
        error_text(text, sizeof(text), resp);
        if (status == 404)
            return mts__err_native(err, MTS_EBACKEND, (int)status,
                                   "libsql: %s has no Hrana endpoint (HTTP "
                                   "404)",
                                   h->base);
        return mts__err_native(err, MTS_EBACKEND, (int)status,
                               "libsql: HTTP %ld from %s%s%s", status, h->base,
                               text[0] ? ": " : "", text);
    }
}

static int
malformed(mts_error *err, const char *label, const char *what)
{
    return mts__err(err, MTS_EBACKEND,
                    "libsql: malformed response from %s: "
                    "%s",
                    label, what);
}

/* An error object {"message","code"} as an mts_error. `where` says which
 * statement failed ("" for the whole request). */
static int
sql_error(mts_error *err, const json_t *e, const char *where)
{
    const char *code = json_string_value(json_object_get(e, "code"));
    const char *msg = json_string_value(json_object_get(e, "message"));
    char m[200], c[48];
    clean_text(m, sizeof(m), msg ? msg : "no message", msg ? strlen(msg) : 10);
    clean_text(c, sizeof(c), code ? code : "UNKNOWN", code ? strlen(code) : 7);
    return mts__err_native(err, MTS_EBACKEND, sqlite_code(code),
                           "libsql: %s: %s%s", c, m, where);
}

/* Check the pipeline response of tx; on success the batch's step_results. */
static int
check_response(json_t **results,
               const char *label,
               json_t *root,
               mts__hrana_tx *tx,
               mts_error *err)
{
    json_t *res = json_object_get(root, "results"), *batch, *r, *steps, *errs;
    size_t nsteps = tx->nstmts + 3, commit = tx->nstmts + 1;
    char where[64];

    if (!json_is_array(res) || json_array_size(res) != tx->nsqls + 2)
        return malformed(err, label, "wrong number of results");
    for (size_t i = 0; i < tx->nsqls; i++) {
        r = json_array_get(res, i);
        if (strcmp(jstr(r, "type"), "ok") != 0)
            return sql_error(err, json_object_get(r, "error"),
                             " (storing SQL text)");
    }
    batch = json_array_get(res, tx->nsqls);
    if (strcmp(jstr(batch, "type"), "ok") != 0) {
        if (!json_is_object(json_object_get(batch, "error")))
            return malformed(err, label, "batch result without a type");
        return sql_error(err, json_object_get(batch, "error"), "");
    }
    r = json_object_get(json_object_get(batch, "response"), "result");
    steps = json_object_get(r, "step_results");
    errs = json_object_get(r, "step_errors");
    if (!json_is_array(steps) || !json_is_array(errs) ||
        json_array_size(steps) != nsteps || json_array_size(errs) != nsteps)
        return malformed(err, label, "batch result with wrong step lists");
    for (size_t i = 0; i <= commit; i++) {
        json_t *e = json_array_get(errs, i);
        if (json_is_object(e)) {
            if (i == 0)
                snprintf(where, sizeof(where), " (BEGIN)");
            else if (i == commit)
                snprintf(where, sizeof(where), " (COMMIT)");
            else {
                snprintf(where, sizeof(where), " (statement %zu of %zu)", i,
                         tx->nstmts);
                tx->failed = (long)i - 1;
            }
            return sql_error(err, e, where);
        }
    }
    if (!json_is_object(json_array_get(steps, commit)))
        return malformed(err, label, "the transaction did not commit");
    *results = steps;
    return 0;
}

int
mts__hrana_tx_parse(mts__hrana_res **out,
                    mts__hrana_tx *tx,
                    const char *label,
                    const char *body,
                    size_t len,
                    mts_error *err)
{
    json_t *root, *steps = NULL;
    json_error_t jerr;
    mts__hrana_res *r;
    int rc;

    tx->failed = -1;
    root = json_loadb(body, len, JSON_ALLOW_NUL, &jerr);
    if (root == NULL)
        return malformed(err, label, "not JSON");
    rc = check_response(&steps, label, root, tx, err);
    if (rc != 0 || out == NULL) {
        release_json(root);
        return rc;
    }
    r = mts__calloc(1, sizeof(*r));
    if (r == NULL) {
        release_json(root);
        return mts__err_oom(err);
    }
    r->root = root;
    r->results = steps;
    r->nstmts = tx->nstmts;
    *out = r;
    return 0;
}

int
mts__hrana_tx_run(mts__hrana_res **out,
                  mts__hrana *h,
                  mts__hrana_tx *tx,
                  mts_error *err)
{
    mts__buf body, resp;
    int rc;

    tx->failed = -1;
    mts__buf_init(&body, HRANA_REQUEST_MAX);
    mts__buf_init(&resp, HRANA_RESPONSE_MAX);
    rc = build_request(&body, tx);
    if (rc == 0 && body.failed)
        rc = body.over ? MTS_ELIMIT : MTS_ENOMEM;
    if (rc == 0)
        mts__buf_put(&body, "", 1); /* NUL for libcurl's sake; not sent */
    if (rc != 0) {
        mts__buf_free(&body);
        if (rc == MTS_ELIMIT)
            return mts__err(err, rc, "libsql: request larger than %zu bytes",
                            HRANA_REQUEST_MAX);
        return mts__err_oom(err);
    }
    body.len--;
    rc = exchange(h, &body, &resp, err);
    mts__buf_free(&body);
    if (rc != 0) {
        mts__buf_free(&resp);
        return rc;
    }
    rc = mts__hrana_tx_parse(out, tx, h->base, (const char *)resp.data,
                             resp.len, err);
    mts__buf_free(&resp);
    return rc;
}

/* ---- results ------------------------------------------------------------- */

static json_t *
stmt_rows(const mts__hrana_res *r, size_t stmt)
{
    if (stmt >= r->nstmts)
        return NULL;
    return json_object_get(json_array_get(r->results, stmt + 1), "rows");
}

size_t
mts__hrana_res_rows(const mts__hrana_res *r, size_t stmt)
{
    json_t *rows = stmt_rows(r, stmt);
    return json_is_array(rows) ? json_array_size(rows) : 0;
}

int
mts__hrana_res_row(mts__sqlv *cols,
                   size_t ncols,
                   mts__hrana_res *r,
                   size_t stmt,
                   size_t row,
                   mts_error *err)
{
    json_t *vals = json_array_get(stmt_rows(r, stmt), row);
    size_t need = 0, used = 0;

    if (!json_is_array(vals) || json_array_size(vals) != ncols)
        return mts__err(err, MTS_EBACKEND,
                        "libsql: statement %zu, row %zu: expected %zu "
                        "values",
                        stmt, row, ncols);
    for (size_t i = 0; i < ncols; i++) {
        json_t *v = json_array_get(vals, i);
        if (strcmp(jstr(v, "type"), "blob") == 0)
            need += mts__hrana_b64_decoded_max(
                json_string_length(json_object_get(v, "base64")));
    }
    if (need > r->scratch_cap) {
        uint8_t *p = mts_malloc(need);
        if (p == NULL)
            return mts__err_oom(err);
        mts__wipe(r->scratch, r->scratch_cap);
        mts_free(r->scratch);
        r->scratch = p;
        r->scratch_cap = need;
    }
    for (size_t i = 0; i < ncols; i++) {
        json_t *v = json_array_get(vals, i), *x;
        const char *type = json_string_value(json_object_get(v, "type"));
        mts__sqlv *c = &cols[i];
        memset(c, 0, sizeof(*c));
        if (type == NULL)
            goto bad;
        x = json_object_get(v, strcmp(type, "blob") == 0 ? "base64" : "value");
        if (strcmp(type, "null") == 0) {
            c->type = MTS__SQL_NULL;
        } else if (strcmp(type, "integer") == 0) {
            c->type = MTS__SQL_INT;
            if (json_is_string(x)) {
                if (mts__hrana_parse_i64(&c->i, json_string_value(x),
                                         json_string_length(x)) != 0)
                    goto bad;
            } else if (json_is_integer(x)) {
                c->i = (int64_t)json_integer_value(x);
            } else {
                goto bad;
            }
        } else if (strcmp(type, "float") == 0) {
            c->type = MTS__SQL_REAL;
        } else if (strcmp(type, "text") == 0) {
            if (!json_is_string(x))
                goto bad;
            c->type = MTS__SQL_TEXT;
            c->p = json_string_value(x);
            c->n = json_string_length(x);
        } else if (strcmp(type, "blob") == 0) {
            size_t n;
            if (!json_is_string(x) ||
                mts__hrana_b64_decode(r->scratch + used, &n,
                                      json_string_value(x),
                                      json_string_length(x)) != 0)
                goto bad;
            c->type = MTS__SQL_BLOB;
            c->p = r->scratch + used;
            c->n = n;
            used += n;
        } else {
            goto bad;
        }
        continue;
    bad:
        return mts__err(err, MTS_EBACKEND,
                        "libsql: statement %zu, row %zu, column %zu: a "
                        "value the client cannot read",
                        stmt, row, i);
    }
    return 0;
}

void
mts__hrana_res_free(mts__hrana_res *r)
{
    if (r == NULL)
        return;
    release_json(r->root);
    mts__wipe(r->scratch, r->scratch_cap);
    mts_free(r->scratch);
    mts_free(r);
}
