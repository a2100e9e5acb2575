/* The reader thread and the ring of record buffers (scan.h).
 *
 * A slot holds whole records, each as a header (key and value lengths)
 * followed by the key and value bytes, 8-byte aligned. The reader fills a
 * free slot and publishes it; the caller's thread consumes slots in order
 * and frees them. One mutex and two condition variables guard the ring; a
 * slot changes hands once per ~3,000 records. */
#include "scan.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct scan_slot {
    char *buf;
    size_t used;
    bool last; /* the reader stopped after this slot */
} scan_slot;

typedef struct scan_ring {
    pthread_mutex_t mu;
    pthread_cond_t filled; /* a slot was published */
    pthread_cond_t freed;  /* a slot was given back, or stop */
    scan_slot slots[KB_AUDIT_SCAN_SLOTS];
    size_t head;  /* next slot to consume */
    size_t count; /* published, not yet consumed */
    bool stop;    /* the consumer gave up */
    /* the reader's */
    kb_store *s;
    const kb_snapshot *snap;
    kb_log_walk *walk;
    kb_status reader_st;
} scan_ring;

typedef struct scan_hdr {
    uint32_t key_len, val_len;
} scan_hdr;

static size_t rec_bytes(size_t kl, size_t vl) {
    return (sizeof(scan_hdr) + kl + vl + 7u) & ~(size_t)7u;
}

/* Waits for a free slot; NULL when the consumer stopped. */
static scan_slot *slot_acquire(scan_ring *r, size_t idx) {
    pthread_mutex_lock(&r->mu);
    while (r->count == KB_AUDIT_SCAN_SLOTS && !r->stop) pthread_cond_wait(&r->freed, &r->mu);
    bool stop = r->stop;
    pthread_mutex_unlock(&r->mu);
    return stop ? NULL : &r->slots[idx % KB_AUDIT_SCAN_SLOTS];
}

static void slot_publish(scan_ring *r, scan_slot *slot, bool last) {
    slot->last = last;
    pthread_mutex_lock(&r->mu);
    r->count++;
    pthread_cond_signal(&r->filled);
    pthread_mutex_unlock(&r->mu);
}

/* Copies records into slot until it is full or the log ends; true when the
 * reader is done (end of the log or a failure in r->reader_st). */
static bool slot_fill(scan_ring *r, kb_iter *it, scan_slot *slot) {
    slot->used = 0;
    for (; kb_iter_valid(it); kb_iter_next(it)) {
        size_t kl, vl;
        const char *key = kb_iter_key(it, &kl);
        const char *val = kb_iter_value(it, &vl);
        size_t ckl = kl > KB_AUDIT_SCAN_KEY_BYTES_MAX ? 0 : kl; /* see scan.h */
        size_t cvl = vl > KB_LOG_RECORD_BYTES_MAX ? 0 : vl;
        size_t n = rec_bytes(ckl, cvl);
        if (slot->used + n > KB_AUDIT_SCAN_SLOT_BYTES) return false; /* next slot */
        if (r->walk) {
            r->reader_st = kb_log_walk_step(r->walk, key, kl, val, vl);
            if (r->reader_st != KB_OK) return true;
        }
        kl = ckl;
        vl = cvl;
        scan_hdr h = {(uint32_t)kl, (uint32_t)vl};
        char *p = slot->buf + slot->used;
        memcpy(p, &h, sizeof h);
        memcpy(p + sizeof h, key, kl);
        memcpy(p + sizeof h + kl, val, vl);
        slot->used += n;
    }
    r->reader_st = kb_iter_status(it);
    return true;
}

static void *reader_main(void *arg) {
    scan_ring *r = arg;
    kb_iter *it = kb_iter_open_seq(r->s, r->snap, KB_CF_EVENTS, false);
    if (!it) r->reader_st = KB_ERR_NOMEM;
    if (it) kb_iter_seek_first(it);
    bool done = it == NULL;
    for (size_t idx = 0;; idx++) {
        scan_slot *slot = slot_acquire(r, idx);
        if (!slot) break;
        if (!done)
            done = slot_fill(r, it, slot);
        else
            slot->used = 0;
        slot_publish(r, slot, done);
        if (done) break;
    }
    kb_iter_close(it);
    return NULL;
}

/* Runs fn over one slot's records; the first failure. */
static kb_status slot_consume(const scan_slot *slot, kb_audit_scan_fn fn, void *ctx) {
    for (size_t off = 0; off < slot->used;) {
        scan_hdr h;
        const char *p = slot->buf + off;
        memcpy(&h, p, sizeof h);
        kb_status st = fn(ctx, p + sizeof h, h.key_len, p + sizeof h + h.key_len, h.val_len);
        if (st != KB_OK) return st;
        off += rec_bytes(h.key_len, h.val_len);
    }
    return KB_OK;
}

static kb_status consume_all(scan_ring *r, kb_audit_scan_fn fn, void *ctx) {
    for (;;) {
        pthread_mutex_lock(&r->mu);
        while (r->count == 0) pthread_cond_wait(&r->filled, &r->mu);
        scan_slot *slot = &r->slots[r->head % KB_AUDIT_SCAN_SLOTS];
        pthread_mutex_unlock(&r->mu);
        kb_status st = slot_consume(slot, fn, ctx);
        bool last = slot->last;
        pthread_mutex_lock(&r->mu);
        r->head++;
        r->count--;
        if (st != KB_OK) r->stop = true;
        pthread_cond_signal(&r->freed);
        pthread_mutex_unlock(&r->mu);
        if (st != KB_OK || last) return st;
    }
}

static void ring_fini(scan_ring *r) {
    for (size_t i = 0; i < KB_AUDIT_SCAN_SLOTS; i++) free(r->slots[i].buf);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->filled);
    pthread_cond_destroy(&r->freed);
    free(r);
}

static scan_ring *ring_alloc(void) {
    scan_ring *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->filled, NULL);
    pthread_cond_init(&r->freed, NULL);
    for (size_t i = 0; i < KB_AUDIT_SCAN_SLOTS; i++) {
        r->slots[i].buf = malloc(KB_AUDIT_SCAN_SLOT_BYTES);
        if (!r->slots[i].buf) {
            ring_fini(r);
            return NULL;
        }
    }
    return r;
}

kb_status kb_audit_scan(kb_store *s, const kb_snapshot *snap, kb_log_walk *walk,
                        kb_audit_scan_fn fn, void *ctx, kb_audit_scan_result *res) {
    res->fn = res->reader = KB_OK;
    scan_ring *r = ring_alloc();
    if (!r) return res->reader = KB_ERR_NOMEM;
    r->s = s;
    r->snap = snap;
    r->walk = walk;
    pthread_t tid;
    if (pthread_create(&tid, NULL, reader_main, r) != 0) {
        ring_fini(r);
        return res->reader = KB_ERR_NOMEM;
    }
    res->fn = consume_all(r, fn, ctx);
    pthread_join(tid, NULL);
    res->reader = r->reader_st;
    ring_fini(r);
    return res->fn != KB_OK ? res->fn : res->reader;
}
