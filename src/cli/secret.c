/*
 * secret.c - the at-rest secret named on the command line.
 *
 * --key-file F holds exactly MTS_SEAL_KEY_SIZE raw bytes. --passphrase-file
 * F holds the passphrase on its first line (the line ending is not part
 * of it; other white space is). --passphrase-env VAR names an environment
 * variable holding it. One mts_secret is made from whichever was given; it
 * opens sealed mtsession files and strings on input and seals them on
 * output. Key material read here is wiped as soon as the secret holds its
 * own copy.
 */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Read a small key or passphrase file; returns an exit status. */
static int
read_secret_file(uint8_t **out, size_t *len, const char *opt, const char *path)
{
    mts_error err = MTS_ERROR_INIT;
    int rc = mts_file_read(out, len, path, 65536, &err);
    if (rc == 0)
        return CLI_EXIT_OK;
    *out = NULL;
    if (rc == MTS_ENOTFOUND)
        return cli_fail(CLI_EXIT_IO, opt, "%s: no such file", path);
    if (rc == MTS_ELIMIT)
        return cli_fail(CLI_EXIT_INPUT, opt, "%s: file too large", path);
    return cli_fail(cli_status_for(rc), opt, "%s: %s", path,
                    cli_errmsg(&err, rc));
}

int
cli_secret(mts_secret **out, const cli_args *a)
{
    return cli_secret_from(out, cli_key_option(a), a->key_file,
                           a->passphrase_file, a->passphrase_env);
}

int
cli_secret_from(mts_secret **out, const char *opt, const char *key_file,
                const char *passphrase_file, const char *passphrase_env)
{
    mts_error err = MTS_ERROR_INIT;
    uint8_t *buf = NULL;
    const char *pass;
    size_t len = 0;
    size_t n;
    int rc;

    *out = NULL;
    if (opt == NULL)
        return CLI_EXIT_OK;
    if (key_file != NULL) {
        rc = read_secret_file(&buf, &len, opt, key_file);
        if (rc != 0)
            return rc;
        if (len != MTS_SEAL_KEY_SIZE) {
            cli_wipe(buf, len);
            mts_free(buf);
            return cli_fail(CLI_EXIT_INPUT, opt,
                            "%s: holds %zu bytes; a key is exactly %d raw "
                            "bytes",
                            key_file, len, MTS_SEAL_KEY_SIZE);
        }
        rc = mts_secret_from_key(out, buf, &err);
        cli_wipe(buf, len);
        mts_free(buf);
    } else {
        if (passphrase_file != NULL) {
            rc = read_secret_file(&buf, &len, opt, passphrase_file);
            if (rc != 0)
                return rc;
            /* The first line, without its line ending. */
            for (n = 0; buf != NULL && n < len && buf[n] != '\n'; n++)
                ;
            if (n > 0 && buf[n - 1] == '\r')
                n--;
            pass = (const char *)buf;
        } else {
            pass = getenv(passphrase_env);
            if (pass == NULL)
                return cli_fail(CLI_EXIT_INPUT, opt, "%s is not set",
                                passphrase_env);
            n = strlen(pass);
        }
        rc = n == 0 ? MTS_EINVAL
                    : mts_secret_from_passphrase(out, pass, n, NULL, &err);
        if (buf != NULL) {
            cli_wipe(buf, len);
            mts_free(buf);
        }
        if (n == 0)
            return cli_fail(CLI_EXIT_INPUT, opt, "empty passphrase");
    }
    if (rc != 0) {
        *out = NULL;
        return cli_fail(cli_status_for(rc), opt, "%s", cli_errmsg(&err, rc));
    }
    return CLI_EXIT_OK;
}
