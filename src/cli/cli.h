/*
 * cli.h - declarations shared by the files of the mtsession command.
 *
 * The command is a client of the public API like any other: it includes
 * only <mtsession/...> headers, never the library's internal ones. Each
 * subcommand lives in a cmd_*.c file and returns the process exit status
 * of the contract (docs/man/mtsession.1): 0 success, 1 invalid or
 * unsupported input, 2 usage error, 3 I/O or backend error, 4 held by
 * another owner or fenced off. Messages go to standard error as
 * "mtsession: WHAT: reason".
 */
#ifndef MTSESSION_CLI_H
#define MTSESSION_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "mtsession/mtsession.h"
#include "mtsession/sys/alloc.h"

/* Exit statuses. */
enum {
    CLI_EXIT_OK = 0,
    CLI_EXIT_INPUT = 1,
    CLI_EXIT_USAGE = 2,
    CLI_EXIT_IO = 3,
    CLI_EXIT_HELD = 4
};

/* Options a subcommand accepts (bits of cli_command.options). */
enum {
    CLI_OPT_FROM = 1u << 0,
    CLI_OPT_TO = 1u << 1,
    CLI_OPT_JSON = 1u << 2,
    CLI_OPT_DC = 1u << 3,
    CLI_OPT_TEST = 1u << 4,
    CLI_OPT_COMMON = 1u << 5, /* --name, --passphrase-file, ... */
    CLI_OPT_REKEY = 1u << 6,  /* --new-key-file, ..., --remove-key */
    CLI_OPT_OWNER = 1u << 7,  /* --owner: commands that write, and lease */
    CLI_OPT_TTL = 1u << 8     /* --ttl: lease */
};

/* The lease time-to-live when --ttl is not given, in ms. */
#define CLI_LEASE_TTL_MS 30000u
/* What a write with --owner takes a free lease for, and the least it
 * leaves an adopted one, in ms: time enough for the write. */
#define CLI_LEASE_WRITE_MS 10000u

/* The parsed command line. Strings point into argv. */
typedef struct cli_args {
    const char *cmd;
    const char *from;
    const char *to;
    const char *dc;
    const char *name;
    const char *passphrase_file;
    const char *key_file;
    const char *passphrase_env;
    const char *token_env;
    const char *owner;
    const char *ttl;
    uint32_t ttl_ms; /* --ttl parsed, or 0 */
    const char *format_version;
    const char *new_key_file;
    const char *new_passphrase_file;
    const char *new_passphrase_env;
    int remove_key;
    int json;
    int test;
    const char *pos[2]; /* positional operands */
    size_t npos;
} cli_args;

/* A session read from INPUT. */
typedef struct cli_input {
    const char *label; /* INPUT as given ("-" for standard input) */
    uint8_t *data;     /* the whole input (mts_free), NULL for a store */
    size_t len;
    mts_format fmt; /* the format read (given or detected) */
    mts_session *s;
    /* The store's lease as mts_lease_show found it when the session was
     * read: lease_rc 0 with `lease`, or MTS_ENOTFOUND (never leased, or
     * INPUT is no store that keeps leases), or the error showing it. */
    int lease_rc;
    mts_lease lease;
} cli_input;

#define CLI_INPUT_INIT                                                         \
    {                                                                          \
        NULL, NULL, 0, MTS_FORMAT_UNKNOWN, NULL, MTS_ENOTFOUND, MTS_LEASE_INIT \
    }

/* ---- messages (io.c) ---- */

/* Print "mtsession: what: message" and return status. */
int cli_fail(int status, const char *what, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Print "mtsession: message", a hint to --help, and return 2. */
int cli_usage_error(const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* The exit status for a library error code met while reading input. */
int cli_status_for(int code);

/* The exit status for a library error code met while writing OUTPUT. */
int cli_write_status(int code);

/* The library's message in err, or the code's description if empty. */
const char *cli_errmsg(const mts_error *err, int code);

/* Overwrite n bytes at p (may be NULL) with zeros, not optimised away. */
void cli_wipe(void *p, size_t n);

/* ---- formats and options (io.c, secret.c) ---- */

/*
 * Resolve the value of option `opt` (e.g. "--to") to a format. A name no
 * format has is a usage error (2); returns 0 or 2.
 */
int cli_format_arg(mts_format *out, const char *opt, const char *name);

/*
 * What this build can do with fmt: the library's mts_format_caps, plus
 * read, write and store for a store format whose backend is compiled in.
 */
unsigned int cli_format_caps(mts_format fmt);

/* 0 if fmt can be written by this build, else 1 with a message. */
int cli_check_writable(mts_format fmt, const char *what);

/* 0 if fmt can be read by this build, else 1 with a message. */
int cli_check_readable(mts_format fmt, const char *what);

/*
 * Refuse the common options that this build cannot honour, or that do not
 * apply to the formats in play (MTS_FORMAT_UNKNOWN when there is none on
 * that side). Returns 0 or 1 with a message.
 */
int cli_check_common(const cli_args *a, mts_format in, mts_format out);

/* The key option given (--key-file, ...), or NULL. */
const char *cli_key_option(const cli_args *a);

/*
 * The at-rest secret named by --key-file, --passphrase-file or
 * --passphrase-env into *out (NULL when none was given; free with
 * mts_secret_free). Returns an exit status.
 */
int cli_secret(mts_secret **out, const cli_args *a);

/*
 * The secret named by one of key_file, passphrase_file, passphrase_env
 * (at most one non-NULL; `opt` names it in messages). *out is NULL when
 * all are NULL. Returns an exit status.
 */
int cli_secret_from(mts_secret **out, const char *opt, const char *key_file,
                    const char *passphrase_file, const char *passphrase_env);

/* ---- input and output (io.c) ---- */

/*
 * Read INPUT (a path or "-") into in->data. Returns an exit status.
 */
int cli_read(cli_input *in, const char *input);

/*
 * Detect the format of in->data into in->fmt. String formats are tried
 * on the whole input and then on its first non-empty line. Returns an
 * exit status (1 with the library's explanation when nothing or more
 * than one format fits).
 */
int cli_detect(cli_input *in);

/*
 * Read, detect (when from is MTS_FORMAT_UNKNOWN) and decode INPUT into
 * in->s, with the options in `a` (store name) and `secret` (may be NULL)
 * to open a sealed session. Returns an exit status.
 */
int cli_load(cli_input *in,
             const char *input,
             mts_format from,
             const cli_args *a,
             mts_secret *secret);

void cli_input_free(cli_input *in);

/*
 * Encode s as fmt and write it to OUTPUT (a path, replaced atomically, or
 * "-"), printing one warning line per kind of data the format drops.
 * With a secret, mtsession and mtsession-string outputs are sealed.
 * Returns an exit status; on failure an existing OUTPUT is untouched.
 */
int cli_save(const mts_session *s,
             mts_format fmt,
             const char *output,
             const cli_args *a,
             mts_secret *secret);

/* Write len bytes to OUTPUT (atomically, or to standard output). */
int cli_write(const char *output, const void *data, size_t len);

/* ---- stores (store.c) ---- */

/*
 * Load the session named by --name from the store INPUT (in->fmt) into
 * in->s. Returns an exit status.
 */
int cli_store_load(cli_input *in, const char *input, const cli_args *a,
                   mts_secret *secret);

/* Save s to the store OUTPUT as fmt. Returns an exit status. */
int cli_store_save(const mts_session *s,
                   mts_format fmt,
                   const char *output,
                   const cli_args *a,
                   mts_secret *secret);

/*
 * Open the store `where` as fmt (an sqlite, libsql or postgres store).
 * Returns an exit status; on a library error the message is printed.
 */
int cli_store_open(mts_storage **st,
                   mts_format fmt,
                   const char *where,
                   const cli_args *a,
                   mts_secret *secret);

/* 1 if `where` is a PostgreSQL URI ("postgresql://", "postgres://"). */
int cli_is_pg_uri(const char *where);

/* ---- leases (cmd_lease.c) ---- */

/* 1 if stores of fmt keep leases (or may: the backend decides). */
int cli_leasable(mts_format fmt);

/*
 * Before a write with --owner NAME: make `st` write as that lease holder.
 * The owner's live lease is adopted (acquired again: same epoch, expiring
 * no earlier than before, and at least CLI_LEASE_WRITE_MS from now); when
 * nobody holds the session it is taken for CLI_LEASE_WRITE_MS for this
 * command, and *took is set: cli_lease_end gives it back. A live
 * lease of another owner is exit 4 naming it; a store without leases exit
 * 1. `what` starts messages. Returns an exit status.
 */
int cli_lease_begin(mts_storage *st,
                    const char *owner,
                    const char *what,
                    int *took);

/* After the write: release the lease cli_lease_begin took, if it did. */
void cli_lease_end(mts_storage *st, int took);

/* Print the "lease: ..." line of stats and inspect for in. */
void cli_print_lease(const cli_input *in);

/* The library's message without a leading "PREFIX: " (the CLI prints
 * that name itself). */
const char *cli_strip_prefix(const char *msg, const char *prefix);

/* ---- subcommands (cmd_*.c) ---- */

int cli_cmd_inspect(const cli_args *a);
int cli_cmd_stats(const cli_args *a);
int cli_cmd_convert(const cli_args *a);
int cli_cmd_detect(const cli_args *a);
int cli_cmd_new(const cli_args *a);
int cli_cmd_rekey(const cli_args *a);
int cli_cmd_lease(const cli_args *a);

#endif /* MTSESSION_CLI_H */
