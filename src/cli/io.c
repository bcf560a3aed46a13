/*
 * io.c - reading INPUT, writing OUTPUT, formats, messages, exit statuses.
 *
 * INPUT is a path read whole with mts_file_read, or "-" for standard
 * input (read to the end, at most MTS_INPUT_MAX bytes). String formats use
 * the first non-empty line, surrounding white space removed. A store
 * format (SQL database) is opened by path through its backend instead.
 *
 * OUTPUT is a path replaced atomically (the file backend for mtsession
 * files, so its writer lock applies; mts_file_write_atomic otherwise), or
 * "-" for standard output. Nothing is written until the whole output is
 * encoded, so a failure never leaves a partial or clobbered OUTPUT.
 *
 * With an at-rest secret (secret.c), mtsession files and strings are
 * opened sealed on input and sealed on output. Store formats live in
 * store.c.
 */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- messages ---------------------------------------------------------- */

int
cli_fail(int status, const char *what, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "mtsession: %s: ", what);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return status;
}

int
cli_usage_error(const char *fmt, ...)
{
    va_list ap;
    fputs("mtsession: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\nusage: mtsession COMMAND [OPTIONS] OPERANDS (see mtsession "
          "--help)\n",
          stderr);
    return CLI_EXIT_USAGE;
}

int
cli_status_for(int code)
{
    switch (code) {
    case MTS_OK:
        return CLI_EXIT_OK;
    case MTS_ECORRUPT:
    case MTS_EVERSION:
    case MTS_EFORMAT:
    case MTS_EAMBIGUOUS:
    case MTS_ENOTSUPPORTED:
    case MTS_EENCRYPTED:
    case MTS_EBADKEY:
    case MTS_EINVAL:
    case MTS_ELIMIT:
        return CLI_EXIT_INPUT;
    case MTS_ELOCKED:
    case MTS_EFENCED:
    case MTS_ECONFLICT:
        return CLI_EXIT_HELD;
    case MTS_ENOTFOUND: /* INPUT does not exist: an I/O failure */
    case MTS_EIO:
    case MTS_EBACKEND:
    case MTS_ENOMEM:
    default:
        return CLI_EXIT_IO;
    }
}

const char *
cli_errmsg(const mts_error *err, int code)
{
    if (err != NULL && err->message[0] != '\0')
        return err->message;
    return mts_strerror(code);
}

const char *
cli_strip_prefix(const char *msg, const char *prefix)
{
    size_t n = strlen(prefix);
    if (n > 0 && strncmp(msg, prefix, n) == 0 && msg[n] == ':' &&
        msg[n + 1] == ' ')
        return msg + n + 2;
    return msg;
}

/*
 * The library's message, with " (at byte N)" added when err has an
 * offset the message does not already state.
 */
static const char *
errmsg_at(char *buf, size_t size, const mts_error *err, int code)
{
    const char *msg = cli_errmsg(err, code);
    char num[32];
    if (err->offset < 0) {
        snprintf(buf, size, "%s", msg);
        return buf;
    }
    snprintf(num, sizeof(num), "%lld", (long long)err->offset);
    if (strstr(msg, num) != NULL)
        snprintf(buf, size, "%s", msg);
    else
        snprintf(buf, size, "%s (at byte %s)", msg, num);
    return buf;
}

void
cli_wipe(void *p, size_t n)
{
    volatile uint8_t *v = p;
    for (size_t i = 0; v != NULL && i < n; i++)
        v[i] = 0;
}

/* msg without a leading "FMT: " (the CLI names the format itself). */
static const char *
skip_format_name(const char *msg, mts_format fmt)
{
    const char *name = mts_format_name(fmt);
    size_t n = strlen(name);
    if (strncmp(msg, name, n) == 0 && msg[n] == ':' && msg[n + 1] == ' ')
        return msg + n + 2;
    return msg;
}

/* ---- formats ----------------------------------------------------------- */

int
cli_format_arg(mts_format *out, const char *opt, const char *name)
{
    if (mts_format_from_name(out, name) != 0 || *out == MTS_FORMAT_UNKNOWN)
        return cli_usage_error("%s '%s': no such format (see mtsession "
                               "--version)",
                               opt, name);
    return 0;
}

int
cli_check_readable(mts_format fmt, const char *what)
{
    if (cli_format_caps(fmt) & MTS_FORMAT_CAN_READ)
        return 0;
    return cli_fail(CLI_EXIT_INPUT, what,
                    "unsupported format %s: this build cannot read it",
                    mts_format_name(fmt));
}

int
cli_check_writable(mts_format fmt, const char *what)
{
    if (cli_format_caps(fmt) & MTS_FORMAT_CAN_WRITE)
        return 0;
    return cli_fail(CLI_EXIT_INPUT, what,
                    "unsupported format %s: this build cannot write it",
                    mts_format_name(fmt));
}

/* Formats where --name picks one of several sessions. */
static int
takes_name(mts_format fmt)
{
    return fmt == MTS_FORMAT_SQLITE || fmt == MTS_FORMAT_LIBSQL ||
           fmt == MTS_FORMAT_POSTGRES;
}

/* Formats that can be sealed (encrypted at rest): whole files and strings,
 * and the secret columns of the SQL stores. */
static int
sealable(mts_format fmt)
{
    return fmt == MTS_FORMAT_MTSESSION || fmt == MTS_FORMAT_MTSESSION_STRING ||
           fmt == MTS_FORMAT_SQLITE || fmt == MTS_FORMAT_LIBSQL ||
           fmt == MTS_FORMAT_POSTGRES;
}

const char *
cli_key_option(const cli_args *a)
{
    return a->passphrase_file != NULL  ? "--passphrase-file"
           : a->key_file != NULL       ? "--key-file"
           : a->passphrase_env != NULL ? "--passphrase-env"
                                       : NULL;
}

int
cli_check_common(const cli_args *a, mts_format in, mts_format out)
{
    const char *keyopt = cli_key_option(a);
    if (keyopt != NULL && !sealable(in) && !sealable(out))
        return cli_fail(CLI_EXIT_INPUT, keyopt,
                        "applies only to the mtsession, mtsession-string, "
                        "sqlite, libsql and postgres formats");
    if (a->owner != NULL && !cli_leasable(out))
        return cli_fail(CLI_EXIT_INPUT, "--owner",
                        "applies only to writing an mtsession file or an "
                        "sqlite, libsql or postgres store");
    if (a->format_version != NULL && out != MTS_FORMAT_FEROGRAM &&
        out != MTS_FORMAT_FEROGRAM_COMPACT)
        return cli_fail(CLI_EXIT_INPUT, "--format-version",
                        "applies only to --to ferogram and ferogram-compact");
    if (a->token_env != NULL && in != MTS_FORMAT_LIBSQL &&
        out != MTS_FORMAT_LIBSQL)
        return cli_fail(CLI_EXIT_INPUT, "--token-env",
                        "applies only to the libsql format");
    if (a->name != NULL && !takes_name(in) && !takes_name(out))
        return cli_fail(CLI_EXIT_INPUT, "--name",
                        "applies only to the sqlite, libsql and postgres "
                        "formats");
    return 0;
}

/* The output format of the command in `a` reading `in`, for
 * cli_check_common. */
static mts_format
output_format(const cli_args *a, mts_format in)
{
    mts_format fmt = MTS_FORMAT_UNKNOWN;
    if (a->to != NULL) {
        if (mts_format_from_name(&fmt, a->to) != 0)
            fmt = MTS_FORMAT_UNKNOWN;
    } else if (strcmp(a->cmd, "new") == 0) {
        fmt = MTS_FORMAT_MTSESSION;
    } else if (strcmp(a->cmd, "rekey") == 0) {
        fmt = in; /* written back in place */
    }
    return fmt;
}

/* ---- input ------------------------------------------------------------- */

static int
is_space(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
           c == '\f';
}

/* The first non-empty line of data, without surrounding white space. */
static void
first_line(const uint8_t *data, size_t len, size_t *off, size_t *n)
{
    size_t i = 0;
    size_t end;
    while (i < len && is_space(data[i]))
        i++;
    end = i;
    while (end < len && data[end] != '\n' && data[end] != '\r')
        end++;
    while (end > i && is_space(data[end - 1]))
        end--;
    *off = i;
    *n = end - i;
}

static int
read_stdin(cli_input *in)
{
    size_t cap = 0;
    size_t len = 0;
    uint8_t *buf = NULL;

    for (;;) {
        size_t got;
        if (cap - len < 4096) {
            size_t ncap = cap == 0 ? 65536 : cap * 2;
            uint8_t *nbuf;
            if (ncap > MTS_INPUT_MAX + 1)
                ncap = MTS_INPUT_MAX + 1;
            if (ncap <= len) {
                mts_free(buf);
                return cli_fail(CLI_EXIT_INPUT, in->label,
                                "input larger than %zu bytes",
                                (size_t)MTS_INPUT_MAX);
            }
            nbuf = mts_realloc(buf, ncap + 1);
            if (nbuf == NULL) {
                mts_free(buf);
                return cli_fail(CLI_EXIT_IO, in->label, "out of memory");
            }
            buf = nbuf;
            cap = ncap;
        }
        got = fread(buf + len, 1, cap - len, stdin);
        len += got;
        if (got == 0) {
            if (ferror(stdin)) {
                int e = errno;
                mts_free(buf);
                return cli_fail(CLI_EXIT_IO, in->label, "read error: %s",
                                e != 0 ? strerror(e) : "unknown");
            }
            break;
        }
    }
    if (len > MTS_INPUT_MAX) {
        mts_free(buf);
        return cli_fail(CLI_EXIT_INPUT, in->label,
                        "input larger than %zu bytes", (size_t)MTS_INPUT_MAX);
    }
    buf[len] = 0;
    in->data = buf;
    in->len = len;
    return CLI_EXIT_OK;
}

int
cli_read(cli_input *in, const char *input)
{
    mts_error err = MTS_ERROR_INIT;
    int rc;

    in->label = input;
    if (strcmp(input, "-") == 0)
        return read_stdin(in);
    rc = mts_file_read(&in->data, &in->len, input, 0, &err);
    if (rc != 0) {
        in->data = NULL;
        in->len = 0;
        if (rc == MTS_ENOTFOUND)
            return cli_fail(CLI_EXIT_IO, input, "no such file");
        return cli_fail(cli_status_for(rc), input, "%s", cli_errmsg(&err, rc));
    }
    return CLI_EXIT_OK;
}

static int
detect_error(const cli_input *in, const mts_error *err, int rc)
{
    const char *msg = cli_errmsg(err, rc);
    /* Point at --from unless the library's message already does. */
    if (rc == MTS_EAMBIGUOUS && strstr(msg, "--from") == NULL)
        return cli_fail(CLI_EXIT_INPUT, in->label, "%s; choose one with --from",
                        msg);
    return cli_fail(cli_status_for(rc), in->label, "%s", msg);
}

int
cli_detect(cli_input *in)
{
    mts_error err = MTS_ERROR_INIT;
    mts_format fmt = MTS_FORMAT_UNKNOWN;
    size_t off;
    size_t n;
    int rc;

    rc = mts_format_detect(&fmt, in->data, in->len, &err);
    if (rc == 0) {
        in->fmt = fmt;
        return CLI_EXIT_OK;
    }
    /* A string among other lines (or after blank ones): try that line. */
    first_line(in->data, in->len, &off, &n);
    if (rc == MTS_EFORMAT && n > 0 && n < in->len) {
        mts_error err2 = MTS_ERROR_INIT;
        mts_format fmt2 = MTS_FORMAT_UNKNOWN;
        int rc2 = mts_format_detect(&fmt2, in->data + off, n, &err2);
        if (rc2 == 0 && (cli_format_caps(fmt2) & MTS_FORMAT_IS_TEXT)) {
            in->fmt = fmt2;
            return CLI_EXIT_OK;
        }
        if (rc2 == MTS_EAMBIGUOUS)
            return detect_error(in, &err2, rc2);
    }
    return detect_error(in, &err, rc);
}

/*
 * A session file is read through the file backend, on a read-only handle
 * (no lock taken), so that update-state changes journaled beside the
 * snapshot are part of what is shown or converted; its lease record is
 * read too (for stats and inspect). The backend's message starts with the
 * path, which the caller prints already.
 */
static int
load_session_file(cli_input *in,
                  const char *path,
                  mts_secret *secret,
                  mts_error *err)
{
    mts_file_options opts = MTS_FILE_OPTIONS_INIT;
    mts_storage *st = NULL;
    size_t plen = strlen(path);
    int rc;
    opts.flags = MTS_FILE_FOLLOW_SYMLINK;
    opts.secret = secret;
    rc = mts_file_open(&st, path, &opts, err);
    if (rc == 0) {
        mts_storage_set_readonly(st);
        rc = mts_storage_load(&in->s, st, err);
        if (rc == 0) {
            mts_error lerr = MTS_ERROR_INIT;
            in->lease_rc = mts_lease_show(&in->lease, st, &lerr);
            if (in->lease_rc != 0 && in->lease_rc != MTS_ENOTFOUND)
                fprintf(
                    stderr, "mtsession: warning: %s: lease: %s\n", path,
                    cli_strip_prefix(cli_errmsg(&lerr, in->lease_rc), path));
        }
        mts_storage_free(st);
    }
    if (rc != 0 && strncmp(err->message, path, plen) == 0 &&
        strncmp(err->message + plen, ": ", 2) == 0)
        memmove(err->message, err->message + plen + 2,
                strlen(err->message + plen + 2) + 1);
    return rc;
}

int
cli_load(cli_input *in,
         const char *input,
         mts_format from,
         const cli_args *a,
         mts_secret *secret)
{
    mts_error err = MTS_ERROR_INIT;
    char msg[MTS_ERROR_MESSAGE_SIZE + 32];
    const uint8_t *data;
    size_t len;
    unsigned int caps;
    int rc;

    in->label = input;
    /* A session file is a full login: warn when others may read it. The
     * read below reports any error, so only the warning case is used. */
    if (strcmp(input, "-") != 0 && !cli_is_pg_uri(input)) {
        mts_error w = MTS_ERROR_INIT;
        if (mts_file_check_permissions(input, &w) == 1)
            fprintf(stderr, "mtsession: warning: %s\n", w.message);
    }
    if (from == MTS_FORMAT_UNKNOWN && cli_is_pg_uri(input))
        from = MTS_FORMAT_POSTGRES; /* not a file to read and detect */
    if (from != MTS_FORMAT_UNKNOWN) {
        rc = cli_check_readable(from, input);
        if (rc != 0)
            return rc;
        rc = cli_check_common(a, from, output_format(a, from));
        if (rc != 0)
            return rc;
        in->fmt = from;
        if (cli_format_caps(from) & MTS_FORMAT_IS_STORE)
            return cli_store_load(in, input, a, secret);
        rc = cli_read(in, input);
        if (rc != 0)
            return rc;
    } else {
        rc = cli_read(in, input);
        if (rc != 0)
            return rc;
        rc = cli_detect(in);
        if (rc != 0)
            return rc;
        rc = cli_check_readable(in->fmt, input);
        if (rc != 0)
            return rc;
        rc = cli_check_common(a, in->fmt, output_format(a, in->fmt));
        if (rc != 0)
            return rc;
        if (cli_format_caps(in->fmt) & MTS_FORMAT_IS_STORE)
            return cli_store_load(in, input, a, secret);
    }

    caps = cli_format_caps(in->fmt);
    data = in->data;
    len = in->len;
    if (caps & MTS_FORMAT_IS_TEXT) {
        size_t off;
        first_line(in->data, in->len, &off, &len);
        data = in->data + off;
    }
    if (in->fmt == MTS_FORMAT_MTSESSION && strcmp(input, "-") != 0)
        rc = load_session_file(in, input, secret, &err);
    else if (in->fmt == MTS_FORMAT_MTSESSION)
        rc = mts_decode_any(&in->s, data, len, secret, &err);
    else if (in->fmt == MTS_FORMAT_MTSESSION_STRING)
        rc = mts_string_decode_any(&in->s, (const char *)data, len, secret,
                                   &err);
    else
        rc = mts_format_decode(&in->s, in->fmt, data, len, &err);
    if (rc != 0) {
        in->s = NULL;
        return cli_fail(
            cli_status_for(rc), input, "%s: %s%s", mts_format_name(in->fmt),
            skip_format_name(errmsg_at(msg, sizeof(msg), &err, rc), in->fmt),
            rc == MTS_EENCRYPTED && secret == NULL
                ? " (give --key-file, --passphrase-file or "
                  "--passphrase-env)"
                : "");
    }
    return CLI_EXIT_OK;
}

void
cli_input_free(cli_input *in)
{
    mts_session_free(in->s);
    in->s = NULL;
    if (in->data != NULL) {
        /* The input may hold auth keys: wipe it before it goes. */
        cli_wipe(in->data, in->len);
        mts_free(in->data);
    }
    in->data = NULL;
    in->len = 0;
}

/* ---- output ------------------------------------------------------------ */

int
cli_write(const char *output, const void *data, size_t len)
{
    mts_error err = MTS_ERROR_INIT;
    int rc;

    if (strcmp(output, "-") == 0) {
        if ((len > 0 && fwrite(data, 1, len, stdout) != len) ||
            fflush(stdout) != 0) {
            int e = errno;
            return cli_fail(CLI_EXIT_IO, output, "write error: %s",
                            e != 0 ? strerror(e) : "unknown");
        }
        return CLI_EXIT_OK;
    }
    rc = mts_file_write_atomic(output, data, len, 0, &err);
    if (rc != 0)
        return cli_fail(cli_write_status(rc), output, "%s",
                        cli_errmsg(&err, rc));
    return CLI_EXIT_OK;
}

int
cli_write_status(int code)
{
    switch (code) {
    case MTS_ELOCKED:
    case MTS_EFENCED:
    case MTS_ECONFLICT:
        return CLI_EXIT_HELD;
    case MTS_ENOTSUPPORTED:
    case MTS_ELIMIT:
        return CLI_EXIT_INPUT;
    default: /* whatever the cause, OUTPUT could not be written */
        return CLI_EXIT_IO;
    }
}

/*
 * Save an mtsession file through the file backend: its lock applies, and
 * a live lease refuses the write (exit 4). With --owner the handle writes
 * as that lease holder, fenced by its epoch.
 */
static int
save_file(const mts_session *s,
          const char *output,
          const cli_args *a,
          mts_secret *secret)
{
    mts_error err = MTS_ERROR_INIT;
    mts_file_options opts = MTS_FILE_OPTIONS_INIT;
    mts_storage *st = NULL;
    struct stat sb;
    int rc, took = 0, status;

    /* Refused before the backend leaves a lock file beside a directory. */
    if (stat(output, &sb) == 0 && S_ISDIR(sb.st_mode))
        return cli_fail(CLI_EXIT_IO, output, "is a directory");
    opts.secret = secret;
    rc = mts_file_open(&st, output, &opts, &err);
    if (rc == 0 && a->owner != NULL) {
        status = cli_lease_begin(st, a->owner, output, &took);
        if (status != CLI_EXIT_OK) {
            mts_storage_free(st);
            return status;
        }
    }
    if (rc == 0)
        rc = mts_storage_save(st, s, &err);
    if (st != NULL)
        cli_lease_end(st, took);
    mts_storage_free(st);
    if (rc != 0)
        return cli_fail(cli_write_status(rc), output, "%s",
                        cli_strip_prefix(cli_errmsg(&err, rc), output));
    return CLI_EXIT_OK;
}

/* The payload of warn_dropped: where the output goes. */
typedef struct warn_ctx {
    const char *output;
} warn_ctx;

static void
warn_dropped(const char *what, void *payload)
{
    const warn_ctx *ctx = payload;
    fprintf(stderr, "mtsession: warning: %s: dropped %s\n", ctx->output, what);
}

/* Encode s as a sealed mtsession file or string (with its newline). */
static int
encode_sealed(uint8_t **out,
              size_t *out_len,
              mts_format fmt,
              const mts_session *s,
              mts_secret *secret,
              mts_error *err)
{
    char *str = NULL;
    uint8_t *line;
    size_t n;
    int rc;

    if (fmt == MTS_FORMAT_MTSESSION)
        return mts_encode_sealed(out, out_len, s, secret, err);
    rc = mts_string_encode_sealed(&str, s, secret, err);
    if (rc != 0)
        return rc;
    n = strlen(str);
    line = mts_malloc(n + 2);
    if (line == NULL) {
        mts_free(str);
        if (err != NULL) {
            err->code = MTS_ENOMEM;
            snprintf(err->message, sizeof(err->message), "out of memory");
        }
        return MTS_ENOMEM;
    }
    memcpy(line, str, n);
    line[n] = '\n';
    line[n + 1] = '\0';
    mts_free(str); /* ciphertext: nothing secret in it */
    *out = line;
    *out_len = n + 1;
    return 0;
}

int
cli_save(const mts_session *s,
         mts_format fmt,
         const char *output,
         const cli_args *a,
         mts_secret *secret)
{
    mts_error err = MTS_ERROR_INIT;
    mts_format_options opts = MTS_FORMAT_OPTIONS_INIT;
    warn_ctx ctx;
    uint8_t *data = NULL;
    size_t len = 0;
    int rc;
    int status;
    int to_stdout = strcmp(output, "-") == 0;

    if (cli_format_caps(fmt) & MTS_FORMAT_IS_STORE)
        return cli_store_save(s, fmt, output, a, secret);
    if (fmt == MTS_FORMAT_MTSESSION && !to_stdout)
        return save_file(s, output, a, secret);
    if (a->owner != NULL)
        return cli_fail(CLI_EXIT_INPUT, "--owner",
                        "applies only to writing an mtsession file or an "
                        "sqlite, libsql or postgres store");

    ctx.output = output;
    if (secret != NULL && sealable(fmt)) {
        rc = encode_sealed(&data, &len, fmt, s, secret, &err);
    } else {
        if (a->format_version != NULL)
            opts.format_version = (int)strtol(a->format_version, NULL, 10);
        rc = mts_format_encode_opts(&data, &len, fmt, s, &opts, warn_dropped,
                                    &ctx, &err);
    }
    if (rc != 0)
        return cli_fail(cli_status_for(rc), output, "%s: %s",
                        mts_format_name(fmt),
                        skip_format_name(cli_errmsg(&err, rc), fmt));
    status = cli_write(output, data, len);
    cli_wipe(data, len);
    mts_free(data);
    return status;
}
