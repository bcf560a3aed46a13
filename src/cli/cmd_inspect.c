/*
 * cmd_inspect.c - "inspect" and "stats": reading a session and describing it.
 *
 * The human summary never prints secret bytes: a DC's auth key appears as
 * its MTProto key id (mts_auth_key_id), the future auth token as its
 * length. "inspect --json" is the exception: it is the full canonical
 * document, keys included. Both end with the store's lease line
 * (cmd_lease.c; "lease: none" for inputs that keep no lease). The layouts
 * are a contract documented in mtsession(1); change them only together
 * with the man page and the golden files under tests/data/cli/.
 */
#include "cli.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static const struct {
    unsigned int bit;
    const char *name;
} dc_flag_names[] = {
    { MTS_DC_IPV6, "ipv6" },           { MTS_DC_MEDIA_ONLY, "media_only" },
    { MTS_DC_TCPO_ONLY, "tcpo_only" }, { MTS_DC_CDN, "cdn" },
    { MTS_DC_STATIC, "static" },
};

static void
print_dc(const mts_dc *dc)
{
    char ip[64];
    const char *sep = "";

    if (mts_ip_format(ip, sizeof(ip), &dc->ip) != 0)
        snprintf(ip, sizeof(ip), "?");
    if (dc->ip.family == 6)
        printf("  dc %" PRId32 " [%s]:%u flags ", dc->dc_id, ip,
               (unsigned int)dc->port);
    else
        printf("  dc %" PRId32 " %s:%u flags ", dc->dc_id, ip,
               (unsigned int)dc->port);
    for (size_t i = 0; i < sizeof(dc_flag_names) / sizeof(dc_flag_names[0]);
         i++) {
        if (dc->flags & dc_flag_names[i].bit) {
            printf("%s%s", sep, dc_flag_names[i].name);
            sep = "|";
        }
    }
    if (sep[0] == '\0')
        fputs("none", stdout);
    if (dc->auth_key != NULL)
        printf(", key id 0x%016" PRIx64, mts_auth_key_id(dc->auth_key));
    else
        fputs(", no key", stdout);
    printf(", salt %" PRId64 ", time offset %" PRId32 "\n", dc->server_salt,
           dc->time_offset);
}

static int
print_summary(const cli_input *in)
{
    const mts_session *s = in->s;
    mts_stats st;
    mts_update_state us;
    int32_t api_id;
    int64_t user_id;
    int is_bot;
    const uint8_t *token;
    size_t token_len;
    size_t n;

    st.version = MTS_STATS_VERSION;
    mts_session_stats(s, &st);
    mts_session_update_state(s, &us);

    printf("format: %s\n", mts_format_name(in->fmt));
    printf("home dc: %" PRId32 "\n", mts_session_home_dc(s));
    printf("test mode: %s\n", mts_session_test_mode(s) ? "yes" : "no");
    if (mts_session_api_id(s, &api_id) == 0)
        printf("api id: %" PRId32 "\n", api_id);
    else
        fputs("api id: none\n", stdout);
    if (mts_session_user(s, &user_id, &is_bot) == 0)
        printf("user: %" PRId64 "%s\n", user_id, is_bot ? " (bot)" : "");
    else
        fputs("user: none\n", stdout);

    n = mts_session_dc_count(s);
    printf("dcs: %zu\n", n);
    for (size_t i = 0; i < n; i++) {
        mts_dc dc = MTS_DC_INIT;
        if (mts_session_dc_at(&dc, s, i) == 0)
            print_dc(&dc);
    }
    printf("update state: pts %" PRId32 ", qts %" PRId32 ", date %" PRId32
           ", seq %" PRId32 ", channels %zu\n",
           us.pts, us.qts, us.date, us.seq, mts_session_channel_count(s));
    printf("peers: %zu (users %zu, bots %zu, chats %zu, channels %zu, "
           "communities %zu)\n",
           st.peers_total, st.users, st.bots, st.chats, st.channels,
           st.communities);
    printf("min peers: %zu\n", st.min_peers);
    if (mts_session_future_auth_token(s, &token, &token_len) == 0)
        printf("future auth token: %zu bytes\n", token_len);
    else
        fputs("future auth token: none\n", stdout);
    cli_print_lease(in);
    return CLI_EXIT_OK;
}

static int
print_json(const cli_input *in)
{
    mts_error err = MTS_ERROR_INIT;
    char *text = NULL;
    size_t len = 0;
    int rc;
    int status;

    rc = mts_json_encode(&text, &len, in->s, &err);
    if (rc != 0)
        return cli_fail(cli_status_for(rc), in->label, "json: %s",
                        cli_errmsg(&err, rc));
    status = cli_write("-", text, len);
    {
        volatile char *p = text;
        for (size_t i = 0; i < len; i++)
            p[i] = 0;
    }
    mts_free(text);
    return status;
}

static int
load_input(cli_input *in, const cli_args *a)
{
    mts_format from = MTS_FORMAT_UNKNOWN;
    mts_secret *secret = NULL;
    int rc;

    if (a->from != NULL) {
        rc = cli_format_arg(&from, "--from", a->from);
        if (rc != 0)
            return rc;
    }
    rc = cli_secret(&secret, a);
    if (rc == 0)
        rc = cli_load(in, a->pos[0], from, a, secret);
    mts_secret_free(secret);
    return rc;
}

int
cli_cmd_inspect(const cli_args *a)
{
    cli_input in = CLI_INPUT_INIT;
    int status;

    status = load_input(&in, a);
    if (status == CLI_EXIT_OK)
        status = a->json ? print_json(&in) : print_summary(&in);
    cli_input_free(&in);
    return status;
}

int
cli_cmd_stats(const cli_args *a)
{
    cli_input in = CLI_INPUT_INIT;
    mts_stats st;
    int status;

    status = load_input(&in, a);
    if (status != CLI_EXIT_OK) {
        cli_input_free(&in);
        return status;
    }
    st.version = MTS_STATS_VERSION;
    mts_session_stats(in.s, &st);
    printf("format: %s\n", mts_format_name(in.fmt));
    printf("dcs: %zu\n", st.dcs_total);
    printf("dcs_with_key: %zu\n", st.dcs_with_key);
    printf("peers: %zu\n", st.peers_total);
    printf("users: %zu\n", st.users);
    printf("bots: %zu\n", st.bots);
    printf("chats: %zu\n", st.chats);
    printf("channels: %zu\n", st.channels);
    printf("communities: %zu\n", st.communities);
    printf("min_peers: %zu\n", st.min_peers);
    printf("channel_pts: %zu\n", st.channel_pts);
    printf("input_bytes: %zu\n", in.len);
    printf("encoded_bytes: %" PRIu64 "\n", st.encoded_size);
    cli_print_lease(&in);
    cli_input_free(&in);
    return CLI_EXIT_OK;
}
