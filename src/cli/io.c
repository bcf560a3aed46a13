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
 */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
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
    if (mts_format_caps(fmt) & MTS_FORMAT_CAN_READ)
        return 0;
    return cli_fail(CLI_EXIT_INPUT, what,
                    "unsupported format %s: this build cannot read it",
                    mts_format_name(fmt));
}

int
cli_check_writable(mts_format fmt, const char *what)
{
    if (mts_format_caps(fmt) & MTS_FORMAT_CAN_WRITE)
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

int
cli_check_common(const cli_args *a, mts_format in, mts_format out)
{
    const char *keyopt = a->passphrase_file != NULL ? "--passphrase-file"
                         : a->key_file != NULL      ? "--key-file"
                         : a->passphrase_env != NULL ? "--passphrase-env"
                                                     : NULL;
    if (keyopt != NULL)
        return cli_fail(CLI_EXIT_INPUT, keyopt,
                        "encrypted sessions are not supported in this build");
    if (a->owner != NULL)
        return cli_fail(CLI_EXIT_INPUT, "--owner",
                        "leases are not supported in this build");
    if (a->format_version != NULL) {
        if (out != MTS_FORMAT_FEROGRAM)
            return cli_fail(CLI_EXIT_INPUT, "--format-version",
                            "applies only to --to ferogram");
        return cli_fail(CLI_EXIT_INPUT, "--format-version",
                        "choosing the written version is not supported in "
                        "this build");
    }
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

/* The output format of the command in `a`, for cli_check_common. */
static mts_format
output_format(const cli_args *a)
{
    mts_format fmt = MTS_FORMAT_UNKNOWN;
    if (a->to != NULL) {
        if (mts_format_from_name(&fmt, a->to) != 0)
            fmt = MTS_FORMAT_UNKNOWN;
    } else if (strcmp(a->cmd, "new") == 0) {
        fmt = MTS_FORMAT_MTSESSION;
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
    size_t i = 0, end;
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
    size_t cap = 0, len = 0;
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
        return cli_fail(cli_status_for(rc), input, "%s",
                        cli_errmsg(&err, rc));
    }
    return CLI_EXIT_OK;
}

static int
detect_error(const cli_input *in, const mts_error *err, int rc)
{
    if (rc == MTS_EAMBIGUOUS)
        return cli_fail(CLI_EXIT_INPUT, in->label,
                        "%s; choose one with --from", cli_errmsg(err, rc));
    return cli_fail(cli_status_for(rc), in->label, "%s", cli_errmsg(err, rc));
}

int
cli_detect(cli_input *in)
{
    mts_error err = MTS_ERROR_INIT;
    mts_format fmt = MTS_FORMAT_UNKNOWN;
    size_t off, n;
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
        if (rc2 == 0 && (mts_format_caps(fmt2) & MTS_FORMAT_IS_TEXT)) {
            in->fmt = fmt2;
            return CLI_EXIT_OK;
        }
        if (rc2 == MTS_EAMBIGUOUS)
            return detect_error(in, &err2, rc2);
    }
    return detect_error(in, &err, rc);
}

static int
load_store(cli_input *in, const char *input, const cli_args *a)
{
    mts_error err = MTS_ERROR_INIT;
    mts_storage *st = NULL;
    int rc;

    /* A store is opened by path; bytes read for detection are dropped. */
    mts_free(in->data);
    in->data = NULL;
    in->len = 0;
    if (strcmp(input, "-") == 0)
        return cli_fail(CLI_EXIT_USAGE, input,
                        "a %s store cannot be read from standard input",
                        mts_format_name(in->fmt));
    if (in->fmt != MTS_FORMAT_SQLITE || !mts_backend_available("sqlite"))
        return cli_fail(CLI_EXIT_INPUT, input,
                        "unsupported format %s: no backend for this store in "
                        "this build",
                        mts_format_name(in->fmt));
    rc = mts_sqlite_open(&st, input, a->name, &err);
    if (rc == 0)
        rc = mts_storage_load(&in->s, st, &err);
    mts_storage_free(st);
    if (rc == MTS_ENOTFOUND)
        return cli_fail(CLI_EXIT_INPUT, input, "%s: no session named '%s'",
                        mts_format_name(in->fmt),
                        a->name != NULL ? a->name : "default");
    if (rc != 0)
        return cli_fail(cli_status_for(rc), input, "%s: %s",
                        mts_format_name(in->fmt), cli_errmsg(&err, rc));
    return CLI_EXIT_OK;
}

int
cli_load(cli_input *in, const char *input, mts_format from,
         const cli_args *a)
{
    mts_error err = MTS_ERROR_INIT;
    char msg[MTS_ERROR_MESSAGE_SIZE + 32];
    const uint8_t *data;
    size_t len;
    unsigned int caps;
    int rc;

    in->label = input;
    if (from != MTS_FORMAT_UNKNOWN) {
        rc = cli_check_readable(from, input);
        if (rc != 0)
            return rc;
        rc = cli_check_common(a, from, output_format(a));
        if (rc != 0)
            return rc;
        in->fmt = from;
        if (mts_format_caps(from) & MTS_FORMAT_IS_STORE)
            return load_store(in, input, a);
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
        rc = cli_check_common(a, in->fmt, output_format(a));
        if (rc != 0)
            return rc;
        if (mts_format_caps(in->fmt) & MTS_FORMAT_IS_STORE)
            return load_store(in, input, a);
    }

    caps = mts_format_caps(in->fmt);
    data = in->data;
    len = in->len;
    if (caps & MTS_FORMAT_IS_TEXT) {
        size_t off;
        first_line(in->data, in->len, &off, &len);
        data = in->data + off;
    }
    rc = mts_format_decode(&in->s, in->fmt, data, len, &err);
    if (rc != 0) {
        in->s = NULL;
        return cli_fail(cli_status_for(rc), input, "%s: %s",
                        mts_format_name(in->fmt),
                        errmsg_at(msg, sizeof(msg), &err, rc));
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
        volatile uint8_t *p = in->data;
        for (size_t i = 0; i < in->len; i++)
            p[i] = 0;
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
    if (rc != 0) {
        /* Whatever the cause, OUTPUT could not be written. */
        int status = (rc == MTS_ELOCKED || rc == MTS_EFENCED) ? CLI_EXIT_HELD
                                                               : CLI_EXIT_IO;
        return cli_fail(status, output, "%s", cli_errmsg(&err, rc));
    }
    return CLI_EXIT_OK;
}

static int
write_status(int rc)
{
    return (rc == MTS_ELOCKED || rc == MTS_EFENCED) ? CLI_EXIT_HELD
                                                    : CLI_EXIT_IO;
}

/* Save through a storage handle (mtsession file, sqlite store). */
static int
save_storage(const mts_session *s, mts_format fmt, const char *output,
             const cli_args *a)
{
    mts_error err = MTS_ERROR_INIT;
    mts_storage *st = NULL;
    struct stat sb;
    int rc;

    /* Refused before the backend leaves a lock file beside a directory. */
    if (stat(output, &sb) == 0 && S_ISDIR(sb.st_mode))
        return cli_fail(CLI_EXIT_IO, output, "is a directory");
    if (fmt == MTS_FORMAT_MTSESSION)
        rc = mts_file_open(&st, output, NULL, &err);
    else
        rc = mts_sqlite_open(&st, output, a->name, &err);
    if (rc == 0)
        rc = mts_storage_save(st, s, &err);
    mts_storage_free(st);
    if (rc != 0) {
        if (rc == MTS_ENOTSUPPORTED)
            return cli_fail(CLI_EXIT_INPUT, output, "%s: %s",
                            mts_format_name(fmt), cli_errmsg(&err, rc));
        return cli_fail(write_status(rc), output, "%s", cli_errmsg(&err, rc));
    }
    return CLI_EXIT_OK;
}

static void
warn_dropped(const char *what, void *payload)
{
    fprintf(stderr, "mtsession: warning: %s: dropped %s\n",
            (const char *)payload, what);
}

int
cli_save(const mts_session *s, mts_format fmt, const char *output,
         const cli_args *a)
{
    mts_error err = MTS_ERROR_INIT;
    uint8_t *data = NULL;
    size_t len = 0;
    int rc, status;
    int to_stdout = strcmp(output, "-") == 0;

    if (mts_format_caps(fmt) & MTS_FORMAT_IS_STORE) {
        if (to_stdout)
            return cli_fail(CLI_EXIT_USAGE, output,
                            "a %s store cannot be written to standard output",
                            mts_format_name(fmt));
        if (fmt != MTS_FORMAT_SQLITE || !mts_backend_available("sqlite"))
            return cli_fail(CLI_EXIT_INPUT, output,
                            "unsupported format %s: no backend for this store "
                            "in this build",
                            mts_format_name(fmt));
        return save_storage(s, fmt, output, a);
    }
    if (fmt == MTS_FORMAT_MTSESSION && !to_stdout)
        return save_storage(s, fmt, output, a);

    rc = mts_format_encode(&data, &len, fmt, s, warn_dropped,
                           (void *)(uintptr_t)output, &err);
    if (rc != 0)
        return cli_fail(cli_status_for(rc), output, "%s: %s",
                        mts_format_name(fmt), cli_errmsg(&err, rc));
    status = cli_write(output, data, len);
    {
        volatile uint8_t *p = data;
        for (size_t i = 0; i < len; i++)
            p[i] = 0;
    }
    mts_free(data);
    return status;
}
