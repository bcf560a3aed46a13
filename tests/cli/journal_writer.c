/*
 * journal_writer.c - leaves a session file with update-state changes in
 * its journal (no later snapshot), for tests/cli/journal.sh.
 * usage: journal_writer PATH
 */
#include <stdio.h>

#include <mtsession/mtsession.h>

int
main(int argc, char **argv)
{
    mts_storage *st;
    mts_session *s;
    mts_update_change c = MTS_UPDATE_CHANGE_INIT;
    mts_error err = MTS_ERROR_INIT;
    int rc = 0;
    if (argc != 2 || mts_file_open(&st, argv[1], NULL, &err) != 0 ||
        mts_session_new(&s, MTS_NEW_DEFAULT) != 0) {
        fprintf(stderr, "journal_writer: %s\n", err.message);
        return 2;
    }
    rc |= mts_storage_save(st, s, &err);
    for (int i = 1; i <= 3; i++) {
        c.kind = MTS_UPDATE_PRIMARY;
        c.state.pts = 1230 + i;
        c.state.date = 1700000000;
        c.state.seq = 55 + i;
        rc |= mts_storage_apply_update_state(st, &c, &err);
    }
    c.kind = MTS_UPDATE_CHANNEL;
    c.channel_id = 1001234567;
    c.channel_pts = 42;
    rc |= mts_storage_apply_update_state(st, &c, &err);
    if (rc != 0)
        fprintf(stderr, "journal_writer: %s\n", err.message);
    mts_session_free(s);
    mts_storage_free(st);
    return rc != 0;
}
