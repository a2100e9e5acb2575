#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calendar.h"
#include "kb_limits.h"

void kbd_config_defaults(kbd_config *c) {
    memset(c, 0, sizeof *c);
    snprintf(c->data_dir, sizeof c->data_dir, "%s", KBD_DEFAULT_DATA_DIR);
    c->contexts = 256;
    c->batch_commands_max = 512;
    c->batch_bytes_max = 8u * 1024u * 1024u;
    c->message_bytes_max = 1024u * 1024u;
    c->request_timeout_ms = 10000;
    c->batch_window_us = 0;
    c->pipeline_bytes = 32u * 1024u;
    c->write_buffer_mb = 32;
    c->block_cache_mb = 64;
    c->tick_interval_s = 60;
}

void kbd_config_usage(FILE *out) {
    fprintf(out,
            "usage: kasboekd [options]\n"
            "  --data-dir DIR            RocksDB data directory (default %s)\n"
            "  --listen URL              ipc://PATH, tcp://HOST:PORT; repeatable\n"
            "                            (default %s)\n"
            "  --manual-clock            time moves only by `kasboek clock set`\n"
            "  --clock-start TIME        first manual clock reading (RFC 3339) when none\n"
            "                            is stored (default 2026-01-01T00:00:00Z)\n"
            "  --contexts N              requests in flight at once (default 256)\n"
            "  --max-batch N             requests per group commit (default 512; a\n"
            "                            SubmitBatch counts as one request)\n"
            "  --max-batch-bytes N       request payload bytes per group commit\n"
            "                            (default 8 MiB; one larger request still runs)\n"
            "  --max-message-bytes N     largest request accepted (default 1 MiB)\n"
            "  --request-timeout-ms N    a command queued longer fails with\n"
            "                            DEADLINE_EXCEEDED and is not run (default 10000)\n"
            "  --batch-window-us N       wait up to N us for more commands before a\n"
            "                            commit (default 0: commit what is queued)\n"
            "  --pipeline-bytes N        run the next batch during the fsync of the last\n"
            "                            once N bytes of requests are queued (default\n"
            "                            32 KiB; 0 = always). Below it the writer waits,\n"
            "                            so small commands gather into larger commits\n"
            "  --write-buffer-mb N       RocksDB memtable per column family (default\n"
            "                            32; up to two per family: memory is bounded\n"
            "                            by 12 x N MiB of memtables plus the cache)\n"
            "  --block-cache-mb N        RocksDB block cache (default 64)\n"
            "  --tick-interval-s N       on the system clock, run Tick (close the payout\n"
            "                            days that are due) at start and every N s\n"
            "                            (default 60; 0 = only on `kasboek clock tick`)\n"
            "  --config FILE             read `name = value` lines (names as above)\n"
            "  --quiet                   no log lines on stderr\n"
            "  --help                    this text\n"
            "Stops cleanly on SIGTERM or SIGINT: in-flight commands are committed and\n"
            "answered first.\n",
            KBD_DEFAULT_DATA_DIR, KBD_DEFAULT_LISTEN);
}

static int parse_u32(const char *name, const char *v, uint32_t lo, uint32_t hi, uint32_t *out) {
    char *end;
    errno = 0;
    unsigned long n = strtoul(v, &end, 10);
    if (errno || end == v || *end || n < lo || n > hi) {
        fprintf(stderr, "kasboekd: --%s needs a number from %u to %u\n", name, lo, hi);
        return -1;
    }
    *out = (uint32_t)n;
    return 0;
}

static int copy_str(const char *name, const char *v, char *dst, size_t n) {
    if (!v[0] || strlen(v) >= n) {
        fprintf(stderr, "kasboekd: --%s needs a value shorter than %zu bytes\n", name, n);
        return -1;
    }
    memcpy(dst, v, strlen(v) + 1);
    return 0;
}

static int config_file(kbd_config *c, const char *path);

/* One setting; value may be NULL for boolean flags. */
static int apply(kbd_config *c, const char *name, const char *v) {
    if (!strcmp(name, "manual-clock")) return c->manual_clock = true, 0;
    if (!strcmp(name, "quiet")) return c->quiet = true, 0;
    if (!v) {
        fprintf(stderr, "kasboekd: --%s needs a value (see --help)\n", name);
        return -1;
    }
    if (!strcmp(name, "data-dir")) return copy_str(name, v, c->data_dir, sizeof c->data_dir);
    if (!strcmp(name, "listen")) {
        if (c->n_listen == KBD_LISTEN_MAX) {
            fprintf(stderr, "kasboekd: at most %d --listen\n", KBD_LISTEN_MAX);
            return -1;
        }
        return copy_str(name, v, c->listen[c->n_listen++], sizeof c->listen[0]);
    }
    if (!strcmp(name, "clock-start")) {
        if (kb_time_parse(v, &c->manual_clock_start_us) != KB_OK || c->manual_clock_start_us <= 0 ||
            c->manual_clock_start_us > KB_TIME_MAX_US) {
            fprintf(stderr, "kasboekd: --clock-start needs an RFC 3339 time\n");
            return -1;
        }
        return 0;
    }
    if (!strcmp(name, "contexts")) return parse_u32(name, v, 1, 4096, &c->contexts);
    if (!strcmp(name, "max-batch")) return parse_u32(name, v, 1, 100000, &c->batch_commands_max);
    if (!strcmp(name, "max-batch-bytes"))
        return parse_u32(name, v, 4096, 1u << 30, &c->batch_bytes_max);
    if (!strcmp(name, "max-message-bytes"))
        return parse_u32(name, v, 1024, 64u << 20, &c->message_bytes_max);
    if (!strcmp(name, "request-timeout-ms"))
        return parse_u32(name, v, 1, 3600000, &c->request_timeout_ms);
    if (!strcmp(name, "batch-window-us")) return parse_u32(name, v, 0, 100000, &c->batch_window_us);
    if (!strcmp(name, "write-buffer-mb")) return parse_u32(name, v, 1, 4096, &c->write_buffer_mb);
    if (!strcmp(name, "block-cache-mb")) return parse_u32(name, v, 1, 65536, &c->block_cache_mb);
    if (!strcmp(name, "tick-interval-s"))
        return parse_u32(name, v, 0, 86400, &c->tick_interval_s);
    if (!strcmp(name, "pipeline-bytes")) return parse_u32(name, v, 0, 1u << 30, &c->pipeline_bytes);
    if (!strcmp(name, "config")) return config_file(c, v);
    fprintf(stderr, "kasboekd: unknown option --%s (see --help)\n", name);
    return -1;
}

static char *trim(char *s) {
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = 0;
    return s;
}

static int config_file(kbd_config *c, const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "kasboekd: cannot read config %s: %s\n", path, strerror(errno));
        return -1;
    }
    char line[1024];
    int rc = 0, n = 0;
    while (rc == 0 && fgets(line, sizeof line, f) && ++n <= 1000) {
        char *s = trim(line);
        if (!*s || *s == '#') continue;
        char *eq = strchr(s, '=');
        if (eq) *eq = 0;
        char *name = trim(s);
        if (!strcmp(name, "config")) {
            fprintf(stderr, "kasboekd: %s:%d: config files do not nest\n", path, n);
            rc = -1;
            break;
        }
        rc = apply(c, name, eq ? trim(eq + 1) : NULL);
    }
    fclose(f);
    return rc;
}

int kbd_config_parse(kbd_config *c, int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            kbd_config_usage(stdout);
            return 1;
        }
        if (strncmp(a, "--", 2) != 0) {
            fprintf(stderr, "kasboekd: unexpected argument '%s' (see --help)\n", a);
            return -1;
        }
        const char *name = a + 2;
        char buf[64];
        const char *eq = strchr(name, '=');
        const char *v = NULL;
        if (eq && (size_t)(eq - name) < sizeof buf) {
            memcpy(buf, name, (size_t)(eq - name));
            buf[eq - name] = 0;
            name = buf;
            v = eq + 1;
        } else if (strcmp(name, "manual-clock") && strcmp(name, "quiet") && i + 1 < argc) {
            v = argv[++i];
        }
        if (apply(c, name, v) != 0) return -1;
    }
    if (c->n_listen == 0) {
        snprintf(c->listen[0], sizeof c->listen[0], "%s", KBD_DEFAULT_LISTEN);
        c->n_listen = 1;
    }
    return 0;
}
