/* kasboekd: the kasboek ledger server. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <nng/nng.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "arena.h"
#include "engine.h"
#include "kasboek.pb-c.h"
#include "keys.h"
#include "log.h"
#include "rebuild.h"
#include "rpc.h"
#include "store.h"
#include "ticker.h"
#include "writer.h"

#define KBD_DEFAULT_CLOCK_START_US INT64_C(1767225600000000) /* 2026-01-01T00:00:00Z */

static int mkdirs(const char *dir) {
    char path[512];
    snprintf(path, sizeof path, "%s", dir);
    for (char *p = path + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(path, 0755) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return mkdir(path, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

/* recorded_at of the newest event, 0 for an empty log. */
static int64_t head_recorded_at(kb_store *store) {
    kb_head head;
    if (kb_log_head_read(store, NULL, NULL, &head) != KB_OK || head.seq == 0) return 0;
    kb_arena a;
    kb_arena_init(&a, KB_EVENT_BYTES_MAX * 4);
    int64_t at = 0;
    Kasboek__V1__EventRecord *rec;
    if (kb_log_read(store, NULL, head.seq, &a, &rec) == KB_OK) {
        Kasboek__V1__Event *ev =
            kasboek__v1__event__unpack(&a.pb, rec->payload.len, rec->payload.data);
        if (ev) at = ev->recorded_at;
    }
    kb_arena_fini(&a);
    return at;
}

/* Readings never go back, across restarts too: the clock starts no earlier
 * than the stored manual clock and the newest event's recorded_at. */
static kbd_clock *open_clock(const kbd_config *cfg, kb_store *store) {
    int64_t stored = 0;
    if (kb_engine_clock_read(store, &stored) != KB_OK) return NULL;
    int64_t floor = head_recorded_at(store);
    if (stored > floor) floor = stored;
    int64_t start =
        cfg->manual_clock_start_us ? cfg->manual_clock_start_us : KBD_DEFAULT_CLOCK_START_US;
    if (!cfg->manual_clock) start = 0;
    return kbd_clock_new(cfg->manual_clock, start > floor ? start : floor);
}

static int wait_for_signal(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    int sig = 0;
    sigwait(&set, &sig);
    return sig;
}

static int serve(const kbd_config *cfg, kb_store *store, kb_engine *engine, kbd_clock *clock) {
    kb_head head = kb_engine_head(engine); /* the writer owns the engine from here */
    kbd_writer *w = kbd_writer_start(engine, store, clock, cfg);
    if (!w) return 1;
    kbd_rpc *rpc = kbd_rpc_start(cfg, store, w, clock);
    if (!rpc) {
        (void)kbd_writer_stop(w);
        return 1;
    }
    if (!cfg->quiet) {
        fprintf(stderr, "kasboekd: ready; data %s, head seq %llu, %s clock, listening on",
                cfg->data_dir, (unsigned long long)head.seq,
                cfg->manual_clock ? "manual" : "system");
        for (int i = 0; i < cfg->n_listen; i++) fprintf(stderr, " %s", cfg->listen[i]);
        fprintf(stderr, "\n");
    }
    kbd_ticker *ticker =
        cfg->manual_clock ? NULL : kbd_ticker_start(w, cfg->tick_interval_s, cfg->quiet);
    int sig = wait_for_signal();
    if (!cfg->quiet)
        fprintf(stderr, "kasboekd: %s: finishing in-flight requests\n", strsignal(sig));
    kbd_ticker_stop(ticker);
    kbd_rpc_quiesce(rpc);
    if (!kbd_rpc_drain(rpc, 10000))
        fprintf(stderr, "kasboekd: some replies were not sent in 10 s\n");
    kbd_writer_stats st = kbd_writer_stop(w); /* nothing is queued any more */
    kbd_rpc_close(rpc);
    if (!cfg->quiet) {
        fprintf(stderr, "kasboekd: stopped after %llu commands in %llu commits\n",
                (unsigned long long)st.commands, (unsigned long long)st.batches);
    }
    return st.failed_commits ? 1 : 0;
}

/* The reprojection's write thread (kb_rebuild_config start/join): a
 * chunk is written while the next one folds. Without a thread, the write
 * runs at start. */
typedef struct chunk_writer {
    pthread_t tid;
    bool started;
    void (*write)(void *chunk);
    void *chunk;
} chunk_writer;

static void *chunk_writer_main(void *p) {
    chunk_writer *cw = p;
    cw->write(cw->chunk);
    return NULL;
}

static void chunk_writer_start(void *ctx, void (*write)(void *chunk), void *chunk) {
    chunk_writer *cw = ctx;
    *cw = (chunk_writer){.write = write, .chunk = chunk};
    cw->started = pthread_create(&cw->tid, NULL, chunk_writer_main, cw) == 0;
    if (!cw->started) write(chunk);
}

static void chunk_writer_join(void *ctx) {
    chunk_writer *cw = ctx;
    if (cw->started) (void)pthread_join(cw->tid, NULL);
    cw->started = false;
}

/* Projections of an older build are rebuilt from the log before serving
 * (KB_SCHEMA_VERSION); the fold's table files go to a directory in the
 * data dir, removed after. */
static int ensure_schema(const kbd_config *cfg, kb_store *store) {
    char dir[PATH_MAX];
    if (snprintf(dir, sizeof dir, "%s/reproject.tmp", cfg->data_dir) >= (int)sizeof dir) return 1;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "kasboekd: cannot create %s: %s\n", dir, strerror(errno));
        return 1;
    }
    kb_schema_check sc;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0); /* a log line, not ledger time */
    chunk_writer cw = {.started = false};
    const kb_rebuild_config rc = {
        .sst_dir = dir, .start = chunk_writer_start, .join = chunk_writer_join, .run_ctx = &cw};
    kb_status st = kb_projections_ensure(store, &rc, &sc);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    (void)rmdir(dir);
    if (st == KB_ERR_STATE) {
        fprintf(stderr, "kasboekd: %s holds projections of schema %u; this build knows %d\n",
                cfg->data_dir, (unsigned)sc.found, KB_SCHEMA_VERSION);
        return 1;
    }
    if (st != KB_OK) {
        fprintf(stderr, "kasboekd: rebuilding the projections of %s failed: %s\n", cfg->data_dir,
                kb_status_str(st));
        return 1;
    }
    if (sc.reprojected && !cfg->quiet) {
        double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        fprintf(stderr, "kasboekd: projections of schema %u rebuilt as %d from %llu events in %.1f s\n",
                (unsigned)sc.found, KB_SCHEMA_VERSION, (unsigned long long)sc.events, s);
    }
    return 0;
}

int main(int argc, char **argv) {
    kbd_config cfg;
    kbd_config_defaults(&cfg);
    int p = kbd_config_parse(&cfg, argc, argv);
    if (p != 0) return p > 0 ? 0 : 2;
    if (sodium_init() < 0) return 1;
    /* Block the stop signals in every thread; main takes them by sigwait. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (mkdirs(cfg.data_dir) != 0) {
        fprintf(stderr, "kasboekd: cannot create %s: %s\n", cfg.data_dir, strerror(errno));
        return 1;
    }
    char err[512] = "";
    kb_store *store;
    kb_store_options so = {.write_buffer_bytes = (size_t)cfg.write_buffer_mb << 20,
                           .block_cache_bytes = (size_t)cfg.block_cache_mb << 20};
    if (kb_store_open(cfg.data_dir, KB_OPEN_CREATE, &so, &store, err, sizeof err) != KB_OK) {
        fprintf(stderr, "kasboekd: cannot open %s: %s\n", cfg.data_dir, err);
        return 1;
    }
    if (ensure_schema(&cfg, store) != 0) {
        kb_store_close(store);
        return 1;
    }
    kb_engine *engine = NULL;
    kbd_clock *clock = open_clock(&cfg, store);
    int rc = 1;
    if (clock && kb_engine_open(store, &engine) == KB_OK) rc = serve(&cfg, store, engine, clock);
    kb_engine_close(engine);
    kbd_clock_free(clock);
    kb_store_close(store);
    return rc;
}
