/* The rebuild's floor (run by the replay mode, replay.c): what two of the
 * rebuild's steps cost alone on this machine, so the run shows how much of
 * the 500,000 events/s target is left for the rest.
 *
 *  - Table files: the rows a rebuild of this log writes (the log's state,
 *    index and streams families, which kasboek-audit replay has just
 *    proved equal to a rebuild's), already sorted and in memory, written
 *    into table files with the ledger's own writer (kb_sst_*, the options
 *    the rebuild uses) in pieces about the size of one rebuild chunk's.
 *    One thread; only the writes are timed, not reading the rows in.
 *  - The chain check: kasboek-audit verify's CPU time (user + system, all
 *    its threads), which reads every event and checks its hash.
 *
 * The rest of a rebuild (decoding and folding the events, deriving and
 * sorting the rows, packing the states) comes on top of both. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "store.h"

#define FLOOR_PIECE_KEYS  400000u     /* about one chunk's index rows */
#define FLOOR_PIECE_BYTES (48u << 20) /* ... or this many row bytes */

typedef struct floor_piece {
    char *mem; /* keys and values, back to back */
    size_t used;
    size_t *off; /* key start of row i; its value follows its key */
    uint32_t *klen, *vlen;
    size_t n;
} floor_piece;

/* Writes the piece into one table file at path, timed; removes the file. */
static int floor_write(kb_store *s, const char *path, const floor_piece *p, double *secs) {
    double t0 = kbb_now_s();
    kb_sst *w;
    if (kb_sst_open(s, path, &w) != KB_OK) return -1;
    for (size_t i = 0; i < p->n; i++) {
        const char *k = p->mem + p->off[i];
        kb_sst_put(w, k, p->klen[i], k + p->klen[i], p->vlen[i]);
    }
    kb_status st = kb_sst_finish(w);
    *secs += kbb_now_s() - t0;
    (void)remove(path);
    return st == KB_OK ? 0 : -1;
}

static int floor_family(kb_store *s, kb_cf cf, const char *path, floor_piece *p, uint64_t *rows,
                        double *secs) {
    kb_iter *it = kb_iter_open(s, NULL, cf, NULL, 0);
    if (!it) return -1;
    int rc = 0;
    p->n = p->used = 0;
    for (kb_iter_seek_first(it); rc == 0 && kb_iter_valid(it); kb_iter_next(it)) {
        size_t kl, vl;
        const char *k = kb_iter_key(it, &kl), *v = kb_iter_value(it, &vl);
        if (kl + vl > FLOOR_PIECE_BYTES) {
            rc = -1;
            break;
        }
        if (p->n == FLOOR_PIECE_KEYS || p->used + kl + vl > FLOOR_PIECE_BYTES) {
            rc = floor_write(s, path, p, secs);
            p->n = p->used = 0;
        }
        p->off[p->n] = p->used;
        p->klen[p->n] = (uint32_t)kl;
        p->vlen[p->n] = (uint32_t)vl;
        memcpy(p->mem + p->used, k, kl);
        if (vl) memcpy(p->mem + p->used + kl, v, vl);
        p->used += kl + vl;
        p->n++;
        (*rows)++;
    }
    if (rc == 0 && kb_iter_status(it) != KB_OK) rc = -1;
    kb_iter_close(it);
    if (rc == 0 && p->n) rc = floor_write(s, path, p, secs);
    return rc;
}

int kbb_replay_floor(const char *data_dir, const char *tmp, kbb_results *res) {
    static const kb_cf families[] = {KB_CF_STATE, KB_CF_INDEX, KB_CF_STREAMS};
    char err[256] = "", path[KBB_PATH_BYTES_MAX + 32];
    snprintf(path, sizeof path, "%s/floor.sst", tmp);
    kb_store *s;
    if (kb_store_open(data_dir, KB_OPEN_READ_ONLY, NULL, &s, err, sizeof err) != KB_OK) {
        fprintf(stderr, "kasboek-bench: floor: %s\n", err);
        return -1;
    }
    floor_piece p = {.mem = malloc(FLOOR_PIECE_BYTES),
                     .off = malloc(FLOOR_PIECE_KEYS * sizeof(size_t)),
                     .klen = malloc(FLOOR_PIECE_KEYS * sizeof(uint32_t)),
                     .vlen = malloc(FLOOR_PIECE_KEYS * sizeof(uint32_t))};
    int rc = p.mem && p.off && p.klen && p.vlen ? 0 : -1;
    fprintf(stderr, "kasboek-bench: the rebuild's floor: its rows into table files alone\n");
    res->floor_rows = 0;
    res->floor_sst_s = 0;
    for (size_t i = 0; rc == 0 && i < sizeof families / sizeof families[0]; i++) {
        rc = floor_family(s, families[i], path, &p, &res->floor_rows, &res->floor_sst_s);
    }
    free(p.mem);
    free(p.off);
    free(p.klen);
    free(p.vlen);
    kb_store_close(s);
    if (rc != 0) fprintf(stderr, "kasboek-bench: floor: writing the table files failed\n");
    return rc;
}
