/* kasboekd configuration: flags, or a config file of `name = value` lines
 * with the same names (flags given later win). Every limit is explicit. */
#ifndef KBD_CONFIG_H
#define KBD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define KBD_LISTEN_MAX       8
#define KBD_DEFAULT_DATA_DIR "./data"
#define KBD_DEFAULT_LISTEN   "ipc://./run/kasboek.sock"

typedef struct kbd_config {
    char data_dir[512];
    char listen[KBD_LISTEN_MAX][256];
    int n_listen;
    bool manual_clock;
    int64_t manual_clock_start_us; /* --clock-start; 0 = stored or 2026-01-01 */
    uint32_t contexts;             /* requests in flight at once */
    uint32_t batch_commands_max;   /* commands per group commit */
    uint32_t batch_bytes_max;      /* write batch size that ends a drain */
    uint32_t message_bytes_max;    /* largest request accepted */
    uint32_t request_timeout_ms;   /* a command queued longer is not run */
    uint32_t batch_window_us;      /* wait this long for more commands */
    uint32_t pipeline_bytes;       /* queued payload that starts the next batch early */
    uint32_t write_buffer_mb;      /* RocksDB memtable per column family */
    uint32_t block_cache_mb;       /* RocksDB block cache, shared */
    uint32_t tick_interval_s;      /* system clock: Tick this often (0 = never) */
    bool quiet;
} kbd_config;

void kbd_config_defaults(kbd_config *c);

/* Parses argv into c. Returns 0 to run, 1 when --help was printed, -1 on a
 * usage error (message printed to stderr). */
int kbd_config_parse(kbd_config *c, int argc, char **argv);

void kbd_config_usage(FILE *out);

#endif
