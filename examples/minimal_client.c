/*
 * minimal_client.c - the life of a client session with mtsession.
 *
 * Creates a session on the default DC table, records the auth key the
 * handshake produced, saves it, applies update-state changes as updates
 * arrive, caches a peer, then "restarts" and reloads everything.
 *
 *   minimal_client [PATH]      (default: ./example.session)
 */
#include <stdio.h>
#include <string.h>

#include <mtsession/mtsession.h>

static int
fail(const char *what, const mts_error *err)
{
    fprintf(stderr, "%s: %s (%s)\n", what, err->message,
            mts_errname(err->code));
    return 1;
}

int
main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "example.session";
    mts_error err = MTS_ERROR_INIT;
    mts_storage *store = NULL;
    mts_session *s = NULL;
    mts_dc dc;
    uint8_t key[MTS_AUTH_KEY_SIZE];
    int rc = 1;

    /* 1. Open the store; a missing file just means "no session yet". */
    if (mts_file_open(&store, path, NULL, &err) != 0)
        return fail("open", &err);
    if (mts_storage_load(&s, store, &err) == 0) {
        printf("found an existing session, starting over\n");
        mts_session_free(s);
        s = NULL;
    } else if (err.code != MTS_ENOTFOUND) {
        /* A corrupt file is an error to look at, never a fresh login. */
        fail("load", &err);
        goto out;
    }

    /* 2. A new session on Telegram's default DC table; pretend the
     *    handshake with the home DC produced a key. */
    if (mts_session_new(&s, MTS_NEW_DEFAULT) != 0)
        goto out;
    if (mts_session_dc_for(&dc, s, mts_session_home_dc(s), 0) != 0)
        goto out;
    for (size_t i = 0; i < sizeof(key); i++)
        key[i] = (uint8_t)(i * 31 + 7);
    dc.auth_key = key;
    dc.server_salt = 0x1122334455667788;
    if (mts_session_put_dc(s, &dc) != 0)
        goto out;
    memset(key, 0, sizeof(key)); /* the session holds its own copy */
    if (mts_storage_save(store, s, &err) != 0) {
        fail("save", &err);
        goto out;
    }

    /* 3. Updates arrive: persist the small changes as they happen. */
    {
        mts_update_change c = MTS_UPDATE_CHANGE_INIT;
        mts_peer p = MTS_PEER_INIT;
        c.kind = MTS_UPDATE_PRIMARY;
        c.state.pts = 1234;
        c.state.date = 1700000000;
        c.state.seq = 56;
        if (mts_storage_apply_update_state(store, &c, &err) != 0)
            return fail("apply_update_state", &err);
        c.kind = MTS_UPDATE_CHANNEL;
        c.channel_id = 1001234567;
        c.channel_pts = 42;
        if (mts_storage_apply_update_state(store, &c, &err) != 0)
            return fail("apply_update_state", &err);
        p.kind = MTS_PEER_CHANNEL;
        p.id = 1001234567;
        p.access_hash = -4242424242424242;
        p.channel_kind = MTS_CHANNEL_MEGAGROUP;
        p.username = "example_group";
        if (mts_storage_cache_peer(store, &p, &err) != 0)
            return fail("cache_peer", &err);
    }
    mts_session_free(s);
    s = NULL;
    mts_storage_free(store);
    store = NULL;

    /* 4. Restart: reopen and reload. */
    if (mts_file_open(&store, path, NULL, &err) != 0)
        return fail("reopen", &err);
    if (mts_storage_load(&s, store, &err) != 0) {
        fail("reload", &err);
        goto out;
    }
    {
        mts_update_state st;
        mts_peer p;
        int32_t pts = 0;
        mts_session_update_state(s, &st);
        mts_session_channel_pts(s, 1001234567, &pts);
        mts_session_dc_for(&dc, s, mts_session_home_dc(s), 0);
        if (mts_session_get_peer(&p, s, MTS_PEER_CHANNEL, 1001234567) != 0)
            goto out;
        printf("home DC %d, key id %016llx\n", (int)mts_session_home_dc(s),
               dc.auth_key ? (unsigned long long)mts_auth_key_id(dc.auth_key)
                           : 0ULL);
        printf("pts %d, seq %d, channel pts %d\n", (int)st.pts, (int)st.seq,
               (int)pts);
        printf("peer @%s access_hash %lld\n", p.username,
               (long long)p.access_hash);
        rc = (st.pts == 1234 && pts == 42 && dc.auth_key != NULL) ? 0 : 1;
    }
out:
    mts_session_free(s);
    mts_storage_free(store);
    return rc;
}
