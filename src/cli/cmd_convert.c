/*
 * cmd_convert.c - "convert", "detect" and "new": commands that name
 * formats and write sessions.
 *
 * Every check that can fail without touching files (format names, what
 * this build can write, option values) runs before INPUT is read, and
 * OUTPUT is written only once the whole encoding is in memory.
 */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
cli_cmd_convert(const cli_args *a)
{
    cli_input in = CLI_INPUT_INIT;
    mts_format from = MTS_FORMAT_UNKNOWN;
    mts_format to = MTS_FORMAT_UNKNOWN;
    mts_secret *secret = NULL;
    int status;

    if (a->to == NULL)
        return cli_usage_error("convert: --to FMT is required");
    status = cli_format_arg(&to, "--to", a->to);
    if (status == 0 && a->from != NULL)
        status = cli_format_arg(&from, "--from", a->from);
    if (status != 0)
        return status;
    status = cli_check_writable(to, a->pos[1]);
    if (status != 0)
        return status;

    status = cli_secret(&secret, a);
    if (status == CLI_EXIT_OK)
        status = cli_load(&in, a->pos[0], from, a, secret);
    if (status == CLI_EXIT_OK)
        status = cli_save(in.s, to, a->pos[1], a, secret);
    cli_input_free(&in);
    mts_secret_free(secret);
    return status;
}

int
cli_cmd_detect(const cli_args *a)
{
    cli_input in = CLI_INPUT_INIT;
    int status;

    status = cli_read(&in, a->pos[0]);
    if (status == CLI_EXIT_OK)
        status = cli_detect(&in);
    if (status == CLI_EXIT_OK)
        status = cli_check_common(a, in.fmt, MTS_FORMAT_UNKNOWN);
    if (status == CLI_EXIT_OK)
        printf("%s\n", mts_format_name(in.fmt));
    cli_input_free(&in);
    return status;
}

/* 1 if dc_id is in the default table (production or test). */
static int
in_default_table(int32_t dc_id, int test, char *ids, size_t size)
{
    const mts_dc *dcs = NULL;
    size_t count = 0;
    size_t used = 0;
    int found = 0;
    int32_t last = 0;

    mts_default_dcs(&dcs, &count, test);
    ids[0] = '\0';
    for (size_t i = 0; i < count; i++) {
        if (dcs[i].dc_id == dc_id)
            found = 1;
        if (dcs[i].dc_id != last && used < size) {
            int w = snprintf(ids + used, size - used, "%s%d",
                             used > 0 ? ", " : "", (int)dcs[i].dc_id);
            if (w > 0)
                used += (size_t)w;
            last = dcs[i].dc_id;
        }
    }
    return found;
}

int
cli_cmd_new(const cli_args *a)
{
    mts_session *s = NULL;
    mts_secret *secret = NULL;
    mts_format to = MTS_FORMAT_MTSESSION;
    int32_t dc_id = 0;
    int status;
    int rc;

    if (a->to != NULL) {
        status = cli_format_arg(&to, "--to", a->to);
        if (status != 0)
            return status;
    }
    if (a->dc != NULL) {
        char ids[128];
        /* main() checked the syntax: 1..INT32_MAX */
        dc_id = (int32_t)strtol(a->dc, NULL, 10);
        if (!in_default_table(dc_id, a->test, ids, sizeof(ids)))
            return cli_usage_error("new: --dc %s: not in the default %s DC "
                                   "table (%s)",
                                   a->dc, a->test ? "test" : "production", ids);
    }
    status = cli_check_writable(to, a->pos[0]);
    if (status == 0)
        status = cli_check_common(a, MTS_FORMAT_UNKNOWN, to);
    if (status != 0)
        return status;

    rc = mts_session_new(&s, a->test ? MTS_NEW_TEST : MTS_NEW_DEFAULT);
    if (rc != 0)
        return cli_fail(cli_status_for(rc), "new", "%s", mts_strerror(rc));
    if (dc_id != 0) {
        rc = mts_session_set_home_dc(s, dc_id);
        if (rc != 0) {
            mts_session_free(s);
            return cli_fail(cli_status_for(rc), "new", "--dc %s: %s", a->dc,
                            mts_strerror(rc));
        }
    }
    status = cli_secret(&secret, a);
    if (status == 0)
        status = cli_save(s, to, a->pos[0], a, secret);
    mts_secret_free(secret);
    mts_session_free(s);
    return status;
}
