/*
 * cmd_rekey.c - mtsession rekey: change, add or remove the at-rest key of
 * a session file or string file in place, or of the secret columns of a
 * SQLite, libSQL or PostgreSQL store (re-sealed by the backend in one
 * transaction; with --owner NAME as that lease holder, fenced by its
 * epoch, as any write).
 *
 * The session is opened with the old secret (if it is sealed), then the
 * file is replaced atomically by the same session sealed with the new one
 * (or plain with --remove-key). The secrets never reach the disk in clear
 * on the way: the only file written is the final one, through a private
 * temp file renamed over STORE.
 */
#include "cli.h"

#include <string.h>

int
cli_cmd_rekey(const cli_args *a)
{
    cli_input in = CLI_INPUT_INIT;
    mts_secret *old = NULL, *neu = NULL;
    mts_format from = MTS_FORMAT_UNKNOWN;
    const char *store = a->pos[0];
    const char *newopt = a->new_key_file          ? "--new-key-file"
                         : a->new_passphrase_file ? "--new-passphrase-file"
                         : a->new_passphrase_env  ? "--new-passphrase-env"
                                                  : NULL;
    int status;

    if (strcmp(store, "-") == 0)
        return cli_usage_error("rekey: STORE must be a file, not -");
    if (a->from != NULL &&
        (status = cli_format_arg(&from, "--from", a->from)) != 0)
        return status;
    if ((status = cli_secret(&old, a)) != 0)
        return status;
    if (newopt != NULL &&
        (status = cli_secret_from(&neu, newopt, a->new_key_file,
                                  a->new_passphrase_file,
                                  a->new_passphrase_env)) != 0)
        goto out;
    status = cli_load(&in, store, from, a, old);
    if (status != 0)
        goto out;
    if (in.fmt == MTS_FORMAT_SQLITE || in.fmt == MTS_FORMAT_LIBSQL ||
        in.fmt == MTS_FORMAT_POSTGRES) {
        /* SQL stores re-seal their secret columns in one transaction. */
        mts_storage *st = NULL;
        mts_error err = MTS_ERROR_INIT;
        int rc, took = 0;
        status = cli_store_open(&st, in.fmt, store, a, old);
        if (status != 0)
            goto out;
        if (a->owner != NULL) {
            status = cli_lease_begin(st, a->owner, store, &took);
            if (status != 0) {
                mts_storage_free(st);
                goto out;
            }
        }
        rc = in.fmt == MTS_FORMAT_SQLITE   ? mts_sqlite_rekey(st, neu, &err)
             : in.fmt == MTS_FORMAT_LIBSQL ? mts_libsql_rekey(st, neu, &err)
                                           : mts_postgres_rekey(st, neu, &err);
        cli_lease_end(st, took);
        mts_storage_free(st);
        if (rc != 0)
            status = cli_fail(cli_status_for(rc), store, "%s: %s",
                              mts_format_name(in.fmt), cli_errmsg(&err, rc));
        goto out;
    }
    if (in.fmt != MTS_FORMAT_MTSESSION &&
        in.fmt != MTS_FORMAT_MTSESSION_STRING) {
        status = cli_fail(CLI_EXIT_INPUT, store,
                          "%s: rekey applies to mtsession files and "
                          "strings and to sqlite, libsql and postgres "
                          "stores",
                          mts_format_name(in.fmt));
        goto out;
    }
    {
        /* cli_save seals with the secret it is given and checks the
         * common options against the output format. */
        cli_args w = *a;
        w.key_file = w.passphrase_file = w.passphrase_env = NULL;
        status = cli_save(in.s, in.fmt, store, &w, neu);
    }
out:
    cli_input_free(&in);
    mts_secret_free(old);
    mts_secret_free(neu);
    return status;
}
