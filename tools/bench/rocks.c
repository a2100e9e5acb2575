/* Mode rocksdb_sync: the storage ceiling. One writer (like kasboekd's)
 * writes WriteBatches of N records of a stored PaymentRecorded's size, with
 * sync=1, into a fresh RocksDB per point; keys are big-endian sequence
 * numbers as in kasboek's events family. */
#include <rocksdb/c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define KBB_ROCKS_LATENCIES_MAX 1000000u /* synced writes per point */

typedef struct rocks_db {
    rocksdb_t *db;
    rocksdb_options_t *opts;
    rocksdb_writeoptions_t *wopts;
    rocksdb_writebatch_t *wb;
} rocks_db;

static void rocks_close(rocks_db *r) {
    if (r->wb) rocksdb_writebatch_destroy(r->wb);
    if (r->wopts) rocksdb_writeoptions_destroy(r->wopts);
    if (r->db) rocksdb_close(r->db);
    if (r->opts) rocksdb_options_destroy(r->opts);
    memset(r, 0, sizeof *r);
}

static int rocks_open(rocks_db *r, const char *dir) {
    memset(r, 0, sizeof *r);
    char *err = NULL;
    r->opts = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(r->opts, 1);
    r->db = rocksdb_open(r->opts, dir, &err);
    if (err) {
        fprintf(stderr, "kasboek-bench: rocksdb open %s: %s\n", dir, err);
        rocksdb_free(err);
        rocks_close(r);
        return -1;
    }
    r->wopts = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(r->wopts, 1);
    r->wb = rocksdb_writebatch_create();
    return 0;
}

static void put_be64(uint8_t out[8], uint64_t v) {
    for (int i = 7; i >= 0; i--, v >>= 8) out[i] = (uint8_t)v;
}

/* Writes batches until the time or record bound; one latency per batch. */
static int rocks_loop(rocks_db *r, uint32_t batch, size_t value_bytes, double secs,
                      uint64_t records_max, kbb_latency *lat, uint8_t *value) {
    uint64_t seq = 0;
    double t0 = kbb_now_s();
    while (seq + batch <= records_max && lat->n < lat->cap && kbb_now_s() - t0 < secs &&
           !kbb_interrupted) {
        rocksdb_writebatch_clear(r->wb);
        for (uint32_t i = 0; i < batch; i++) {
            uint8_t key[8];
            put_be64(key, ++seq);
            memcpy(value, key, sizeof key); /* no two values alike */
            rocksdb_writebatch_put(r->wb, (const char *)key, sizeof key, (const char *)value,
                                   value_bytes);
        }
        char *err = NULL;
        uint64_t a = kbb_now_ns();
        rocksdb_write(r->db, r->wopts, r->wb, &err);
        kbb_latency_add(lat, kbb_now_ns() - a);
        if (err) {
            fprintf(stderr, "kasboek-bench: rocksdb write: %s\n", err);
            rocksdb_free(err);
            return -1;
        }
    }
    return 0;
}

static int rocks_point(const kbb_config *cfg, const char *tmp, uint32_t batch, size_t value_bytes,
                       kbb_load_result *lr) {
    char dir[KBB_PATH_BYTES_MAX];
    snprintf(dir, sizeof dir, "%s/rocks-%u", tmp, batch);
    memset(lr, 0, sizeof *lr);
    uint64_t max_batches = cfg->rocks_records_max / batch + 1;
    if (max_batches > KBB_ROCKS_LATENCIES_MAX) max_batches = KBB_ROCKS_LATENCIES_MAX;
    kbb_latency lat;
    uint8_t *value = malloc(value_bytes);
    if (!value || kbb_latency_init(&lat, max_batches) != 0) {
        free(value);
        fprintf(stderr, "kasboek-bench: out of memory\n");
        return -1;
    }
    for (size_t i = 0; i < value_bytes; i++) value[i] = (uint8_t)(i * 131u + 7u);
    rocks_db r;
    int rc = rocks_open(&r, dir);
    double t0 = kbb_now_s();
    if (rc == 0) {
        rc = rocks_loop(&r, batch, value_bytes, cfg->point_s, cfg->rocks_records_max, &lat, value);
        lr->secs = kbb_now_s() - t0;
        rocks_close(&r);
    }
    lr->requests = lat.n;
    lr->ops = lat.n * batch;
    kbb_latency_summary(&lat, &lr->p50_ms, &lr->p99_ms, &lr->p999_ms);
    kbb_latency_fini(&lat);
    free(value);
    if (kbb_rmtree(dir) != 0) fprintf(stderr, "kasboek-bench: cannot remove %s\n", dir);
    return rc == 0 && !kbb_interrupted ? 0 : -1;
}

typedef int (*sync_point_fn)(const kbb_config *cfg, const char *tmp, uint32_t batch,
                             size_t record_bytes, kbb_load_result *lr);

/* One synced-write series at batches 1, 100 and 1,000 (what: the unit a
 * batch counts, for the progress line). */
static int sync_series(const kbb_config *cfg, const char *tmp, const kbb_results *res,
                       kbb_series *s, sync_point_fn point, const char *what) {
    int rc = 0;
    for (int i = 0; i < 3 && !kbb_interrupted; i++) {
        uint32_t b = cfg->rocks_batches[i];
        fprintf(stderr, "kasboek-bench: %s, %u %s per synced write\n", s->json_key, b, what);
        kbb_load_result lr;
        if (point(cfg, tmp, b, res->record_bytes, &lr) != 0) {
            s->failed = true;
            rc = -1;
            continue;
        }
        kbb_point_set(&s->pts[s->n++], b, 1, b, &lr);
    }
    return rc;
}

int kbb_mode_rocks(const kbb_config *cfg, const char *tmp, kbb_results *res) {
    if (!res->record_bytes) kbb_workload_sizes(res, 0);
    int rc = sync_series(cfg, tmp, res, &res->rocks, rocks_point, "records of an event's size");
    if (!kbb_interrupted) {
        rc |= sync_series(cfg, tmp, res, &res->shape, kbb_shape_point, "commands' keys");
    }
    return rc;
}

/* ---------------------------------------------------------- compaction */

static void compact_close(rocksdb_t *db, rocksdb_column_family_handle_t **h, size_t n,
                          rocksdb_options_t *opts, char **names) {
    for (size_t i = 0; h && i < n; i++) {
        if (h[i]) rocksdb_column_family_handle_destroy(h[i]);
    }
    if (db) rocksdb_close(db);
    if (names) rocksdb_list_column_families_destroy(names, n);
    rocksdb_options_destroy(opts);
    free(h);
}

int kbb_rocks_compact(const char *dir) {
    rocksdb_options_t *opts = rocksdb_options_create();
    rocksdb_options_set_compression(opts, rocksdb_lz4_compression); /* as kasboek's families */
    char *err = NULL;
    size_t n = 0;
    char **names = rocksdb_list_column_families(opts, dir, &n, &err);
    rocksdb_column_family_handle_t **h = calloc(n ? n : 1, sizeof *h);
    const rocksdb_options_t **fo = calloc(n ? n : 1, sizeof *fo);
    rocksdb_t *db = NULL;
    if (!err && names && h && fo) {
        for (size_t i = 0; i < n; i++) fo[i] = opts;
        db = rocksdb_open_column_families(opts, dir, (int)n, (const char *const *)names, fo, h,
                                          &err);
    }
    for (size_t i = 0; db && !err && i < n; i++) {
        rocksdb_compact_range_cf(db, h[i], NULL, 0, NULL, 0); /* flushes first */
    }
    free(fo);
    int rc = db && !err ? 0 : -1;
    if (err) fprintf(stderr, "kasboek-bench: compacting %s: %s\n", dir, err);
    rocksdb_free(err);
    compact_close(db, h, names ? n : 0, opts, names);
    return rc;
}
