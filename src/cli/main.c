/*
 * main.c - the mtsession command: argument parsing and dispatch.
 *
 * Grammar: "mtsession COMMAND [OPTION | OPERAND]...". Options are long
 * ("--to FMT" or "--to=FMT") and may come before or after operands; "--"
 * ends them, and a lone "-" is an operand (standard input or output).
 * Everything wrong with the command line itself (unknown command or
 * option, an option the command does not take, a missing or extra
 * operand, a malformed number, a format name no format has) is a usage
 * error: the message, a pointer to --help, and exit status 2, before any
 * input is read or output written. The subcommands live in cmd_*.c.
 */
#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "usage: mtsession COMMAND [OPTIONS] OPERANDS\n"
    "       mtsession --version | --help\n"
    "\n"
    "commands:\n"
    "  inspect [--from FMT] [--json] INPUT   summary, or the JSON document\n"
    "  convert [--from FMT] --to FMT INPUT OUTPUT\n"
    "                                        convert between formats\n"
    "  detect INPUT                          print the format of INPUT\n"
    "  stats [--from FMT] INPUT              counts and sizes\n"
    "  new [--dc N] [--test] [--to FMT] OUTPUT\n"
    "                                        a session on the default DCs\n"
    "  rekey [--from FMT] [OLD KEY] NEW STORE\n"
    "                                        change, add or remove the\n"
    "                                        at-rest key of STORE in place\n"
    "  lease acquire|renew|release --owner NAME [--ttl SECONDS] STORE\n"
    "  lease show STORE                      take, extend, give up or show\n"
    "                                        the lease of a session store\n"
    "\n"
    "options:\n"
    "  --from FMT            format of INPUT (detected when omitted)\n"
    "  --to FMT              format of OUTPUT (new: mtsession by default)\n"
    "  --json                inspect: print the canonical JSON document\n"
    "  --dc N                new: home DC (one of the default table)\n"
    "  --test                new: Telegram's test DCs\n"
    "  --name NAME           session in a store holding many (default\n"
    "                        \"default\")\n"
    "  --key-file F          at-rest key: 32 raw bytes (opens and seals\n"
    "                        mtsession files and strings, and the secret\n"
    "                        columns of sqlite, libsql and postgres stores)\n"
    "  --passphrase-file F   at-rest passphrase: the first line of F\n"
    "  --passphrase-env VAR  at-rest passphrase from the environment\n"
    "  --token-env VAR       token of a remote libsql store (default\n"
    "                        MTSESSION_LIBSQL_TOKEN)\n"
    "  --owner NAME          convert, new, rekey: write as this lease\n"
    "                        holder; lease: the owner to act as\n"
    "  --ttl SECONDS         lease acquire, renew: how long the lease lasts\n"
    "                        (default 30; up to 3 decimals; at most 86400)\n"
    "  --new-key-file F, --new-passphrase-file F, --new-passphrase-env VAR,\n"
    "  --remove-key          rekey: the new at-rest key, or none\n"
    "  --format-version N    version written (ferogram: 8 or 5;\n"
    "                        ferogram-compact: 2 or 1)\n"
    "  --                    end of options\n"
    "\n"
    "INPUT and OUTPUT are paths, or - for standard input and output.\n"
    "Formats: see mtsession --version. Exit status: 0 success, 1 invalid or\n"
    "unsupported input, 2 usage error, 3 I/O or backend error, 4 held by\n"
    "another lease owner or fenced. See mtsession(1).\n";

typedef struct cli_command {
    const char *name;
    unsigned int options; /* CLI_OPT_* bits */
    size_t npos;          /* operands required */
    const char *operands[2];
    int (*run)(const cli_args *a);
} cli_command;

static const cli_command commands[] = {
    { "inspect",
      CLI_OPT_FROM | CLI_OPT_JSON | CLI_OPT_COMMON,
      1,
      { "INPUT", NULL },
      cli_cmd_inspect },
    { "convert",
      CLI_OPT_FROM | CLI_OPT_TO | CLI_OPT_COMMON | CLI_OPT_OWNER,
      2,
      { "INPUT", "OUTPUT" },
      cli_cmd_convert },
    { "detect", CLI_OPT_COMMON, 1, { "INPUT", NULL }, cli_cmd_detect },
    { "stats",
      CLI_OPT_FROM | CLI_OPT_COMMON,
      1,
      { "INPUT", NULL },
      cli_cmd_stats },
    { "new",
      CLI_OPT_DC | CLI_OPT_TEST | CLI_OPT_TO | CLI_OPT_COMMON | CLI_OPT_OWNER,
      1,
      { "OUTPUT", NULL },
      cli_cmd_new },
    { "rekey",
      CLI_OPT_FROM | CLI_OPT_COMMON | CLI_OPT_REKEY | CLI_OPT_OWNER,
      1,
      { "STORE", NULL },
      cli_cmd_rekey },
    { "lease",
      CLI_OPT_FROM | CLI_OPT_COMMON | CLI_OPT_OWNER | CLI_OPT_TTL,
      2,
      { "ACTION", "STORE" },
      cli_cmd_lease },
};

typedef struct cli_option {
    const char *name;
    unsigned int bit;
    int has_value;
    size_t offset; /* of the const char * or int field in cli_args */
} cli_option;

static const cli_option options[] = {
    { "--from", CLI_OPT_FROM, 1, offsetof(cli_args, from) },
    { "--to", CLI_OPT_TO, 1, offsetof(cli_args, to) },
    { "--json", CLI_OPT_JSON, 0, offsetof(cli_args, json) },
    { "--dc", CLI_OPT_DC, 1, offsetof(cli_args, dc) },
    { "--test", CLI_OPT_TEST, 0, offsetof(cli_args, test) },
    { "--name", CLI_OPT_COMMON, 1, offsetof(cli_args, name) },
    { "--passphrase-file", CLI_OPT_COMMON, 1,
      offsetof(cli_args, passphrase_file) },
    { "--key-file", CLI_OPT_COMMON, 1, offsetof(cli_args, key_file) },
    { "--passphrase-env", CLI_OPT_COMMON, 1,
      offsetof(cli_args, passphrase_env) },
    { "--token-env", CLI_OPT_COMMON, 1, offsetof(cli_args, token_env) },
    { "--owner", CLI_OPT_OWNER, 1, offsetof(cli_args, owner) },
    { "--ttl", CLI_OPT_TTL, 1, offsetof(cli_args, ttl) },
    { "--format-version", CLI_OPT_COMMON, 1,
      offsetof(cli_args, format_version) },
    { "--new-key-file", CLI_OPT_REKEY, 1, offsetof(cli_args, new_key_file) },
    { "--new-passphrase-file", CLI_OPT_REKEY, 1,
      offsetof(cli_args, new_passphrase_file) },
    { "--new-passphrase-env", CLI_OPT_REKEY, 1,
      offsetof(cli_args, new_passphrase_env) },
    { "--remove-key", CLI_OPT_REKEY, 0, offsetof(cli_args, remove_key) },
};

#define CLI_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static int
print_version(void)
{
    const char *const *backends = mts_backend_list();
    const char *sep = "";
    int f;

    printf("mtsession %s\n", mts_version());
    fputs("backends:", stdout);
    for (size_t i = 0; backends != NULL && backends[i] != NULL; i++)
        printf(" %s", backends[i]);
    fputs("\nformats: ", stdout);
    for (f = MTS_FORMAT_UNKNOWN + 1; f < MTS__FORMAT_COUNT; f++) {
        unsigned int caps = cli_format_caps((mts_format)f);
        const char *mode;
        if ((caps & MTS_FORMAT_CAN_READ) && (caps & MTS_FORMAT_CAN_WRITE))
            mode = "read/write";
        else if (caps & MTS_FORMAT_CAN_READ)
            mode = "read";
        else if (caps & MTS_FORMAT_CAN_WRITE)
            mode = "write";
        else
            continue;
        printf("%s%s (%s)", sep, mts_format_name((mts_format)f), mode);
        sep = ", ";
    }
    fputs("\n", stdout);
    return CLI_EXIT_OK;
}

static const cli_command *
find_command(const char *name)
{
    for (size_t i = 0; i < CLI_ARRAY_LEN(commands); i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static const cli_option *
find_option(const char *arg, size_t namelen)
{
    for (size_t i = 0; i < CLI_ARRAY_LEN(options); i++)
        if (strlen(options[i].name) == namelen &&
            memcmp(options[i].name, arg, namelen) == 0)
            return &options[i];
    return NULL;
}

/* Strict decimal integer in [lo, hi]. 0 on success, -1 otherwise. */
static int
parse_int(long long *out, const char *text, long long lo, long long hi)
{
    char *end = NULL;
    long long v;
    if (text[0] == '\0' || text[0] == ' ' || text[0] == '+')
        return -1;
    errno = 0;
    v = strtoll(text, &end, 10);
    if (errno != 0 || *end != '\0' || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* Seconds with up to 3 decimals, as ms in [1, 86400000]. 0 or -1. */
static int
parse_ttl(uint32_t *out, const char *text)
{
    uint64_t ms = 0;
    int digits = 0, decimals = -1;
    for (const char *p = text; *p != '\0'; p++) {
        if (*p == '.' && decimals < 0 && digits > 0) {
            decimals = 0;
            continue;
        }
        if (*p < '0' || *p > '9' || decimals == 3 || ++digits > 9)
            return -1;
        ms = ms * 10 + (uint64_t)(*p - '0');
        if (decimals >= 0)
            decimals++;
    }
    if (digits == 0 || decimals == 0)
        return -1;
    for (int d = decimals < 0 ? 0 : decimals; d < 3; d++)
        ms *= 10;
    if (ms < 1 || ms > 86400000u)
        return -1;
    *out = (uint32_t)ms;
    return 0;
}

/* A lease owner the library may accept: 1..MTS_LEASE_OWNER_MAX bytes, no
 * control characters (the library checks UTF-8). */
static int
owner_ok(const char *owner)
{
    size_t n = strlen(owner);
    if (n == 0 || n > MTS_LEASE_OWNER_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)owner[i] < 0x20 || owner[i] == 0x7f)
            return 0;
    return 1;
}

/*
 * Parse argv[2..] for `cmd` into *a. Returns -1 to go on, or an exit
 * status (0 after --help, 2 on a usage error).
 */
static int
parse_args(cli_args *a, const cli_command *cmd, int argc, char **argv)
{
    int only_operands = 0;

    for (int i = 2; i < argc; i++) {
        const char *arg = argv[i];
        const cli_option *opt;
        const char *eq;
        const char *value = NULL;
        size_t namelen;

        if (only_operands || arg[0] != '-' || strcmp(arg, "-") == 0) {
            if (a->npos >= cmd->npos)
                return cli_usage_error("%s: unexpected operand '%s'", cmd->name,
                                       arg);
            a->pos[a->npos++] = arg;
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            only_operands = 1;
            continue;
        }
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            fputs(usage_text, stdout);
            return CLI_EXIT_OK;
        }
        eq = strchr(arg, '=');
        namelen = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
        opt = arg[1] == '-' ? find_option(arg, namelen) : NULL;
        if (opt == NULL)
            return cli_usage_error("%s: unknown option '%.*s'", cmd->name,
                                   (int)namelen, arg);
        if ((cmd->options & opt->bit) == 0)
            return cli_usage_error("%s: option %s does not apply", cmd->name,
                                   opt->name);
        if (opt->has_value) {
            if (eq != NULL)
                value = eq + 1;
            else if (i + 1 < argc)
                value = argv[++i];
            else
                return cli_usage_error("%s: option %s needs a value", cmd->name,
                                       opt->name);
            {
                const char **field =
                    (const char **)(void *)((char *)a + opt->offset);
                if (*field != NULL)
                    return cli_usage_error("%s: option %s given twice",
                                           cmd->name, opt->name);
                *field = value;
            }
        } else {
            int *field = (int *)(void *)((char *)a + opt->offset);
            if (eq != NULL)
                return cli_usage_error("%s: option %s takes no value",
                                       cmd->name, opt->name);
            if (*field)
                return cli_usage_error("%s: option %s given twice", cmd->name,
                                       opt->name);
            *field = 1;
        }
    }
    if (a->npos < cmd->npos)
        return cli_usage_error("%s: missing %s", cmd->name,
                               cmd->operands[a->npos]);

    /* Syntax of numeric values; their meaning is checked by the command. */
    if (a->dc != NULL) {
        long long v;
        if (parse_int(&v, a->dc, 1, INT32_MAX) != 0)
            return cli_usage_error("%s: --dc '%s': not a DC id", cmd->name,
                                   a->dc);
    }
    if (a->ttl != NULL && parse_ttl(&a->ttl_ms, a->ttl) != 0)
        return cli_usage_error("%s: --ttl '%s': not a number of seconds "
                               "from 0.001 to 86400",
                               cmd->name, a->ttl);
    if (a->owner != NULL && !owner_ok(a->owner))
        return cli_usage_error("%s: --owner: a lease owner is 1 to %d bytes "
                               "without control characters",
                               cmd->name, MTS_LEASE_OWNER_MAX);
    if (a->format_version != NULL) {
        long long v;
        if (parse_int(&v, a->format_version, 0, 255) != 0)
            return cli_usage_error("%s: --format-version '%s': not a "
                                   "version number",
                                   cmd->name, a->format_version);
    }
    {
        int keys = (a->passphrase_file != NULL) + (a->key_file != NULL) +
                   (a->passphrase_env != NULL);
        if (keys > 1)
            return cli_usage_error("%s: give only one of --passphrase-file, "
                                   "--key-file and --passphrase-env",
                                   cmd->name);
    }
    if (cmd->options & CLI_OPT_REKEY) {
        int news = (a->new_passphrase_file != NULL) +
                   (a->new_key_file != NULL) +
                   (a->new_passphrase_env != NULL) + a->remove_key;
        if (news != 1)
            return cli_usage_error("%s: give exactly one of "
                                   "--new-passphrase-file, --new-key-file, "
                                   "--new-passphrase-env and --remove-key",
                                   cmd->name);
    }
    return -1;
}

static int
flush_stdout(int status)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        int e = errno;
        fprintf(stderr, "mtsession: standard output: %s\n",
                e != 0 ? strerror(e) : "write error");
        if (status == CLI_EXIT_OK)
            status = CLI_EXIT_IO;
    }
    return status;
}

int
main(int argc, char **argv)
{
    cli_args a;
    const cli_command *cmd;
    int status;

    if (argc < 2) {
        fputs(usage_text, stderr);
        return CLI_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--version") == 0) {
        if (argc > 2)
            return cli_usage_error("--version: unexpected operand '%s'",
                                   argv[2]);
        return flush_stdout(print_version());
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(usage_text, stdout);
        return flush_stdout(CLI_EXIT_OK);
    }
    cmd = find_command(argv[1]);
    if (cmd == NULL) {
        if (argv[1][0] == '-')
            return cli_usage_error("unknown option '%s'", argv[1]);
        return cli_usage_error("unknown command '%s'", argv[1]);
    }
    memset(&a, 0, sizeof(a));
    a.cmd = cmd->name;
    status = parse_args(&a, cmd, argc, argv);
    if (status >= 0)
        return flush_stdout(status);
    return flush_stdout(cmd->run(&a));
}
