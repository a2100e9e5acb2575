/* Argument parsing: global flags anywhere, then RESOURCE [VERB], the
 * command's positional arguments and its flags (after the command words).
 * "--flag value" and "--flag=value" both work; "--" ends the flags. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kb_limits.h"

typedef enum flag_kind { FLAG_SWITCH, FLAG_VALUE, FLAG_REPEAT } flag_kind;

#define GLOBAL_FLAGS "server= tenant= api-key= output= idempotency-key= help"

int cli_usage_error(const cli *c, const char *fmt, ...) {
    va_list ap;
    fputs("kasboek: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    if (c && c->cmd) fprintf(stderr, "usage: kasboek %s\n", c->cmd->synopsis);
    fputs("Run 'kasboek --help' for the full usage.\n", stderr);
    return CLI_EXIT_USAGE;
}

/* Index of flag name (len bytes) in spec, or -1; its kind in *kind. */
static int spec_find(const char *spec, const char *name, size_t len, flag_kind *kind) {
    int index = 0;
    const char *p = spec;
    while (p && *p) {
        while (*p == ' ') p++;
        if (!*p) break;
        size_t tok = strcspn(p, " ");
        size_t name_len = strcspn(p, "= ");
        if (name_len == len && strncmp(p, name, len) == 0) {
            if (name_len == tok)
                *kind = FLAG_SWITCH;
            else
                *kind = (p[tok - 1] == '*') ? FLAG_REPEAT : FLAG_VALUE;
            return index;
        }
        index++;
        p += tok;
    }
    return -1;
}

/* A programming error in the command table; stays on in release builds. */
__attribute__((noreturn)) static void table_bug(const char *what, const char *name) {
    fprintf(stderr, "kasboek: internal error: %s '%s'\n", what, name);
    abort();
}

static int command_flag_index(const cli *c, const char *name) {
    flag_kind kind;
    int i = spec_find(c->cmd->flags, name, strlen(name), &kind);
    if (i < 0 || i >= CLI_FLAGS_MAX) table_bug("flag not declared by the command", name);
    return i;
}

const char *cli_flag(const cli *c, const char *name) {
    return c->args.val[command_flag_index(c, name)];
}

bool cli_has(const cli *c, const char *name) {
    return c->args.seen[command_flag_index(c, name)];
}

size_t cli_values(const cli *c, const char *name, const char **out, size_t cap) {
    int index = command_flag_index(c, name);
    size_t n = 0;
    for (size_t i = 0; i < c->args.n_rep && n < cap; i++)
        if (c->args.rep_flag[i] == index) out[n++] = c->args.rep[i];
    return n;
}

static int set_output(cli *c, const char *value) {
    if (strcmp(value, "table") == 0) {
        c->output = CLI_OUT_TABLE;
    } else if (strcmp(value, "json") == 0) {
        c->output = CLI_OUT_JSON;
    } else {
        return cli_usage_error(c, "unknown output format '%s' (table or json)", value);
    }
    return CLI_EXIT_OK;
}

static int set_global(cli *c, const char *name, const char *value) {
    if (strcmp(name, "output") == 0) return set_output(c, value);
    if (strcmp(name, "server") == 0) {
        c->url = value;
    } else if (strcmp(name, "tenant") == 0) {
        if (strlen(value) > KB_ID_LEN_MAX)
            return cli_usage_error(c, "--tenant is longer than %d characters", KB_ID_LEN_MAX);
        c->tenant = value;
    } else if (strcmp(name, "api-key") == 0) {
        if (strlen(value) > KB_API_KEY_LEN_MAX)
            return cli_usage_error(c, "--api-key is longer than %d characters", KB_API_KEY_LEN_MAX);
        c->api_key = value;
    } else if (strcmp(name, "idempotency-key") == 0) {
        if (strlen(value) > KB_IDEMPOTENCY_KEY_LEN_MAX) {
            return cli_usage_error(c, "--idempotency-key is longer than %d characters",
                                   KB_IDEMPOTENCY_KEY_LEN_MAX);
        }
        c->idempotency_key = value;
    } else if (strcmp(name, "help") == 0) {
        c->help = true;
    } else {
        table_bug("global flag without a handler", name);
    }
    return CLI_EXIT_OK;
}

static int set_command_flag(cli *c, int index, flag_kind kind, const char *name,
                            const char *value) {
    if (kind == FLAG_REPEAT) {
        if (c->args.n_rep >= CLI_REPEAT_MAX) {
            return cli_usage_error(c, "too many --%s (at most %d)", name, CLI_REPEAT_MAX);
        }
        c->args.rep_flag[c->args.n_rep] = index;
        c->args.rep[c->args.n_rep++] = value;
    } else if (c->args.seen[index]) {
        return cli_usage_error(c, "option --%s given more than once", name);
    }
    c->args.seen[index] = true;
    c->args.val[index] = value;
    return CLI_EXIT_OK;
}

/* Splits argv[*i] into the flag name (copied to name) and its inline
 * value ("--x=v"), mapping -o and -h. */
static int flag_name(cli *c, const char *arg, char *name, size_t n, const char **inline_value) {
    *inline_value = NULL;
    if (strcmp(arg, "-o") == 0)
        arg = "--output";
    else if (strcmp(arg, "-h") == 0)
        arg = "--help";
    if (strncmp(arg, "--", 2) != 0) return cli_usage_error(c, "unknown option '%s'", arg);
    const char *s = arg + 2;
    const char *eq = strchr(s, '=');
    size_t len = eq ? (size_t)(eq - s) : strlen(s);
    if (len == 0 || len >= n) return cli_usage_error(c, "unknown option '%s'", arg);
    memcpy(name, s, len);
    name[len] = '\0';
    if (eq) *inline_value = eq + 1;
    return CLI_EXIT_OK;
}

static int parse_flag(cli *c, int argc, char **argv, int *i) {
    char name[48];
    const char *value;
    int rv = flag_name(c, argv[*i], name, sizeof name, &value);
    if (rv != CLI_EXIT_OK) return rv;
    flag_kind kind;
    bool global = true;
    int index = spec_find(GLOBAL_FLAGS, name, strlen(name), &kind);
    if (index < 0 && c->cmd) {
        global = false;
        index = spec_find(c->cmd->flags, name, strlen(name), &kind);
    }
    if (index < 0) {
        if (c->cmd) return cli_usage_error(c, "unknown option '--%s'", name);
        return cli_usage_error(c, "unknown option '--%s' (command options go after the command)",
                               name);
    }
    if (kind == FLAG_SWITCH && value) return cli_usage_error(c, "option --%s takes no value", name);
    if (kind != FLAG_SWITCH && !value) {
        if (*i + 1 >= argc) return cli_usage_error(c, "option --%s needs a value", name);
        value = argv[++*i];
    }
    if (kind == FLAG_SWITCH) value = "";
    if (global) return set_global(c, name, value);
    return set_command_flag(c, index, kind, name, value);
}

static const cli_cmd *find_command(const cli_cmd *table, size_t n, const char *resource,
                                   const char *verb, bool *resource_known) {
    *resource_known = false;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(table[i].resource, resource) != 0) continue;
        *resource_known = true;
        if (!table[i].verb && !verb) return &table[i];
        if (table[i].verb && verb && strcmp(table[i].verb, verb) == 0) return &table[i];
    }
    return NULL;
}

/* A word before the command is resolved names it; after, it is an
 * argument of the command. */
static int add_word(cli *c, const char *word, const char **words, size_t *n_words,
                    const cli_cmd *table, size_t n_table) {
    if (c->cmd) {
        if (c->args.n_pos >= CLI_POS_MAX) return cli_usage_error(c, "too many arguments");
        c->args.pos[c->args.n_pos++] = word;
        return CLI_EXIT_OK;
    }
    if (*n_words == 0 && strcmp(word, "help") == 0) {
        c->help = true;
        return CLI_EXIT_OK;
    }
    words[(*n_words)++] = word;
    bool known;
    c->cmd = find_command(table, n_table, words[0], *n_words == 2 ? words[1] : NULL, &known);
    if (c->cmd) return CLI_EXIT_OK;
    if (!known) return cli_usage_error(c, "unknown command '%s'", words[0]);
    if (*n_words == 2) return cli_usage_error(c, "unknown command '%s %s'", words[0], words[1]);
    return CLI_EXIT_OK;
}

static int check_required(cli *c) {
    const char *p = c->cmd->required;
    while (p && *p) {
        while (*p == ' ') p++;
        size_t len = strcspn(p, " ");
        if (len == 0) break;
        flag_kind kind;
        int index = spec_find(c->cmd->flags, p, len, &kind);
        if (index < 0 || index >= CLI_FLAGS_MAX) table_bug("required flag not declared", p);
        if (!c->args.seen[index]) return cli_usage_error(c, "missing --%.*s", (int)len, p);
        p += len;
    }
    return CLI_EXIT_OK;
}

static int check_command(cli *c, size_t n_words) {
    if (!c->cmd) {
        if (n_words == 0) return cli_usage_error(c, "no command given");
        return cli_usage_error(c, "incomplete command: a verb must follow");
    }
    if ((int)c->args.n_pos != c->cmd->n_pos) {
        return cli_usage_error(c, "expected %d argument%s, got %zu", c->cmd->n_pos,
                               c->cmd->n_pos == 1 ? "" : "s", c->args.n_pos);
    }
    for (size_t i = 0; i < c->args.n_pos; i++) {
        if (c->args.pos[i][0] == '\0') return cli_usage_error(c, "empty argument");
    }
    return check_required(c);
}

int cli_parse(cli *c, int argc, char **argv, const cli_cmd *table, size_t n_table) {
    const char *words[2];
    size_t n_words = 0;
    bool flags_done = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int rv;
        if (!flags_done && strcmp(a, "--") == 0) {
            flags_done = true;
            continue;
        }
        if (!flags_done && a[0] == '-' && a[1] != '\0')
            rv = parse_flag(c, argc, argv, &i);
        else
            rv = add_word(c, a, words, &n_words, table, n_table);
        if (rv != CLI_EXIT_OK) return rv;
        if (c->help) return CLI_EXIT_OK;
    }
    return check_command(c, n_words);
}
