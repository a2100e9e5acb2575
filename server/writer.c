#include "writer.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kasboek.pb-c.h"

/* The writer thread runs batch N+1 while the committer thread writes and
 * syncs batch N, then answers N's jobs. At most one batch is in flight. */
typedef struct committer {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool busy;   /* a sealed batch is handed over and not finished */
    bool handed; /* writer's own: handed over, sealed_done not yet called */
    bool stopping;
    kb_sealed sealed;
    kbd_job *jobs;
    uint32_t n;
    kb_status written; /* of the last finished batch */
} committer;

struct kbd_writer {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    kbd_job *head, *tail;
    uint32_t queued;     /* jobs in the queue */
    size_t queued_bytes; /* their request payload bytes */
    bool stopping;
    committer com;
    kb_engine *engine;
    kb_store *store;
    kbd_clock *clock;
    const kbd_config *cfg;
    kbd_writer_stats stats;
};

static void reply_clock(kbd_writer *w, kbd_job *j, int64_t now, const kb_tick_result *t) {
    Kasboek__V1__ClockReply r = KASBOEK__V1__CLOCK_REPLY__INIT;
    r.now = now;
    r.manual = kbd_clock_manual(w->clock);
    r.payouts_closed = t->payouts_closed;
    r.invoices_overdue = t->invoices_overdue;
    r.plans_advanced = t->plans_advanced;
    r.more = t->more;
    if (kb_reply_set(&j->reply, &r.base) != KB_OK) {
        kb_error_set(&j->reply.err, KB_REASON_INTERNAL_ERROR, "", "out of memory");
    }
}

/* Runs what is due now (payout days) as commands of this batch. */
static void run_tick(kbd_writer *w, kbd_job *j) {
    int64_t now = kbd_clock_now(w->clock);
    kb_tick_result t;
    kb_status st = kb_engine_tick(w->engine, now, &t);
    if (st != KB_OK) {
        fprintf(stderr, "kasboekd: tick failed: %s\n", kb_status_str(st));
        kb_error_set(&j->reply.err,
                     st == KB_ERR_CORRUPT ? KB_REASON_RECORD_CORRUPT : KB_REASON_INTERNAL_ERROR, "",
                     "tick: %s", kb_status_str(st));
        return;
    }
    reply_clock(w, j, now, &t);
}

static void run_set_clock(kbd_writer *w, kbd_job *j) {
    if (!kbd_clock_manual(w->clock)) {
        kb_error_set(&j->reply.err, KB_REASON_CLOCK_NOT_MANUAL, "now",
                     "the server runs on the system clock (start it with --manual-clock)");
        return;
    }
    if (!kbd_clock_set(w->clock, j->arg_time_us)) {
        kb_error_set(&j->reply.err, KB_REASON_CLOCK_BACKWARDS, "now",
                     "the manual clock never moves backwards");
        return;
    }
    kb_engine_set_clock(w->engine, j->arg_time_us);
    run_tick(w, j); /* what the new time makes due */
}

static void run_job(kbd_writer *w, kbd_job *j) {
    memset(&j->reply, 0, sizeof j->reply);
    if (kbd_monotonic_ms() - j->enqueued_ms > (int64_t)w->cfg->request_timeout_ms) {
        kb_error_set(&j->reply.err, KB_REASON_OVERLOADED, "", "request waited too long; not run");
        j->reply.err.code = KB_CODE_DEADLINE_EXCEEDED;
        return;
    }
    switch (j->kind) {
        case KBD_JOB_COMMAND: {
            j->rq.now = kbd_clock_now(w->clock);
            kb_status st = kb_engine_execute(w->engine, &j->rq, &j->reply);
            if (st != KB_OK) {
                fprintf(stderr, "kasboekd: command %s failed: %s\n", j->rq.method,
                        kb_status_str(st));
                kb_error_set(
                    &j->reply.err,
                    st == KB_ERR_CORRUPT ? KB_REASON_RECORD_CORRUPT : KB_REASON_INTERNAL_ERROR, "",
                    "%s", kb_status_str(st));
            }
            break;
        }
        case KBD_JOB_SET_CLOCK:
            run_set_clock(w, j);
            break;
        case KBD_JOB_TICK:
            run_tick(w, j);
            break;
        case KBD_JOB_CHECKPOINT:
            break; /* after the commit */
    }
}

static void run_checkpoint(kbd_writer *w, kbd_job *j, uint64_t head_seq) {
    char err[256] = "";
    if (kb_store_checkpoint(w->store, j->arg_dir, err, sizeof err) != KB_OK) {
        kb_error_set(&j->reply.err, KB_REASON_CHECKPOINT_FAILED, "dir", "%s", err);
        return;
    }
    Kasboek__V1__CheckpointReply r = KASBOEK__V1__CHECKPOINT_REPLY__INIT;
    r.dir = (char *)j->arg_dir;
    r.head_seq = head_seq;
    if (kb_reply_set(&j->reply, &r.base) != KB_OK) {
        kb_error_set(&j->reply.err, KB_REASON_INTERNAL_ERROR, "", "out of memory");
    }
}

/* A write whose sync failed may be on the disk or not (the WAL's bytes
 * were written, and a restart replays what reached the disk): the request
 * is to be retried with its idempotency key, which answers the first
 * reply if it was stored. */
#define FAILED_SYNC                                                                      \
    "the write to disk failed: this request may or may not be stored; retry it after a " \
    "restart, with the same idempotency key"

/* Every reply of a batch whose write failed, refusals too: a command later
 * in the batch (or in the batch built on it) was decided against writes
 * that may be lost, so a PAYMENT_EXISTS or a REFUND_EXCEEDS_AVAILABLE may
 * be false. Found by a review: a payment whose sync failed, and the same
 * payment id pipelined behind it, answered STORAGE_FAILED and
 * PAYMENT_EXISTS. A refusal that did not depend on the ledger is answered
 * again on a retry. */
static void fail_all(kbd_job *list, const char *why) {
    for (kbd_job *j = list; j; j = j->next) {
        kb_reply_fini(&j->reply);
        kb_error_set(&j->reply.err, KB_REASON_STORAGE_FAILED, "", "%s", why);
    }
}

/* Answers every job of a finished batch and counts it. */
static void complete(kbd_writer *w, kbd_job *list, uint32_t n) {
    pthread_mutex_lock(&w->mu);
    w->stats.batches++;
    w->stats.commands += n;
    pthread_mutex_unlock(&w->mu);
    for (kbd_job *j = list, *next; j; j = next) {
        next = j->next;
        j->next = NULL;
        j->done(j);
    }
}

/* ------------------------------------------------------------ committer */

static void commit_one(kbd_writer *w, const kb_sealed *s, kbd_job *list, uint32_t n,
                       kb_status *written) {
    *written = kb_sealed_write(s);
    if (*written != KB_OK) {
        fprintf(stderr, "kasboekd: COMMIT FAILED; refusing writes until restart\n");
        pthread_mutex_lock(&w->mu);
        w->stats.failed_commits++;
        pthread_mutex_unlock(&w->mu);
        fail_all(list, FAILED_SYNC);
    }
    for (kbd_job *j = list; j; j = j->next) {
        if (j->kind == KBD_JOB_CHECKPOINT && j->reply.err.code == KB_CODE_OK) {
            run_checkpoint(w, j, s->head.seq);
        }
    }
    complete(w, list, n);
}

static void *committer_main(void *arg) {
    kbd_writer *w = arg;
    committer *c = &w->com;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        while (!c->jobs && !c->stopping) pthread_cond_wait(&c->cv, &c->mu);
        if (!c->jobs) break;
        kb_sealed s = c->sealed;
        kbd_job *list = c->jobs;
        uint32_t n = c->n;
        pthread_mutex_unlock(&c->mu);
        kb_status written;
        commit_one(w, &s, list, n, &written);
        pthread_mutex_lock(&c->mu);
        c->jobs = NULL;
        c->written = written;
        c->busy = false;
        pthread_cond_broadcast(&c->cv);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

/* Waits until the batch in flight (if any) is written and answered, and
 * tells the engine how its write went. */
static void committer_wait(kbd_writer *w) {
    committer *c = &w->com;
    if (!c->handed) return;
    pthread_mutex_lock(&c->mu);
    while (c->busy) pthread_cond_wait(&c->cv, &c->mu);
    kb_sealed s = c->sealed;
    kb_status written = c->written;
    pthread_mutex_unlock(&c->mu);
    c->handed = false;
    kb_engine_sealed_done(w->engine, &s, written);
}

static void committer_hand(kbd_writer *w, const kb_sealed *s, kbd_job *list, uint32_t n) {
    committer *c = &w->com;
    c->handed = true;
    pthread_mutex_lock(&c->mu);
    c->sealed = *s;
    c->jobs = list;
    c->n = n;
    c->busy = true;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static void committer_stop(kbd_writer *w) {
    pthread_mutex_lock(&w->com.mu);
    w->com.stopping = true;
    pthread_cond_broadcast(&w->com.cv);
    pthread_mutex_unlock(&w->com.mu);
    pthread_join(w->com.thread, NULL);
}

static void writer_free(kbd_writer *w) {
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->com.mu);
    pthread_cond_destroy(&w->com.cv);
    free(w);
}

/* --------------------------------------------------------------- writer */

static void run_batch(kbd_writer *w, kbd_job *list, uint32_t n) {
    if (kb_engine_batch_begin(w->engine) != KB_OK) {
        committer_wait(w);
        fail_all(list, "the ledger stopped after a failed write; restart kasboekd");
        complete(w, list, n);
        return;
    }
    for (kbd_job *j = list; j; j = j->next) run_job(w, j);
    committer_wait(w); /* the batch before this one: written, or failed */
    kb_sealed s;
    if (kb_engine_batch_seal(w->engine, &s) != KB_OK) {
        /* The batch before failed, and this one was built on it. */
        kb_engine_batch_abort(w->engine);
        fail_all(list,
                 "not stored: the write before it failed; retry it after a restart, "
                 "with the same idempotency key");
        complete(w, list, n);
        return;
    }
    committer_hand(w, &s, list, n);
}

/* Tick and SetClock (which ticks) look for due work in the store's index
 * rows, which hold neither the open batch's writes nor those of the batch
 * still syncing: each runs alone, once everything before it is written.
 * (A review: a payment and a Tick in one batch closed no payout, until the
 * next Tick, 60 s later or, on a manual clock, never by itself.) */
static bool ticks(const kbd_job *j) {
    return j->kind == KBD_JOB_TICK || j->kind == KBD_JOB_SET_CLOCK;
}

/* Takes queued jobs up to the bounds (--max-batch requests, and
 * --max-batch-bytes of request payload, at least one job; a tick job
 * alone); waits the batch window for more when configured. Called with mu
 * held. */
static kbd_job *take(kbd_writer *w, uint32_t *n_out) {
    if (w->cfg->batch_window_us && !w->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += (long)w->cfg->batch_window_us * 1000;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&w->cv, &w->mu, &ts);
    }
    kbd_job *list = w->head, *last = w->head;
    uint32_t n = 1;
    size_t bytes = last->rq.payload_len;
    while (last->next && !ticks(last) && !ticks(last->next) && n < w->cfg->batch_commands_max &&
           bytes + last->next->rq.payload_len <= w->cfg->batch_bytes_max) {
        last = last->next;
        bytes += last->rq.payload_len;
        n++;
    }
    w->head = last->next;
    if (!w->head) w->tail = NULL;
    w->queued -= n;
    w->queued_bytes -= bytes;
    last->next = NULL;
    *n_out = n;
    return list;
}

/* Whether to run the next batch while the last one syncs. Called with mu
 * held. */
static bool pipeline_now(const kbd_writer *w) {
    return w->queued_bytes >= w->cfg->pipeline_bytes || w->queued >= w->cfg->batch_commands_max;
}

static void *writer_main(void *arg) {
    kbd_writer *w = arg;
    for (;;) {
        pthread_mutex_lock(&w->mu);
        while (!w->head && !w->stopping) pthread_cond_wait(&w->cv, &w->mu);
        if (!w->head) {
            pthread_mutex_unlock(&w->mu);
            break;
        }
        if (w->com.handed && !pipeline_now(w)) {
            /* Little is queued: let more gather behind the fsync in flight
             * (fewer, larger commits cost less CPU per command). */
            pthread_mutex_unlock(&w->mu);
            committer_wait(w);
            pthread_mutex_lock(&w->mu);
        }
        uint32_t n;
        kbd_job *list = take(w, &n);
        pthread_mutex_unlock(&w->mu);
        if (ticks(list)) committer_wait(w); /* what came before is in the store */
        run_batch(w, list, n);
    }
    committer_wait(w);
    return NULL;
}

kbd_writer *kbd_writer_start(kb_engine *e, kb_store *s, kbd_clock *clock, const kbd_config *cfg) {
    kbd_writer *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->engine = e;
    w->store = s;
    w->clock = clock;
    w->cfg = cfg;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    pthread_mutex_init(&w->com.mu, NULL);
    pthread_cond_init(&w->com.cv, NULL);
    if (pthread_create(&w->com.thread, NULL, committer_main, w) != 0) {
        writer_free(w);
        return NULL;
    }
    if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
        committer_stop(w);
        writer_free(w);
        return NULL;
    }
    return w;
}

bool kbd_writer_submit(kbd_writer *w, kbd_job *job) {
    job->next = NULL;
    job->enqueued_ms = kbd_monotonic_ms();
    pthread_mutex_lock(&w->mu);
    bool ok = !w->stopping;
    if (ok) {
        if (w->tail)
            w->tail->next = job;
        else
            w->head = job;
        w->tail = job;
        w->queued++;
        w->queued_bytes += job->rq.payload_len;
        pthread_cond_signal(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    return ok;
}

kbd_writer_stats kbd_writer_stop(kbd_writer *w) {
    pthread_mutex_lock(&w->mu);
    w->stopping = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL); /* it waits for the batch in flight */
    committer_stop(w);
    kbd_writer_stats st = w->stats;
    writer_free(w);
    return st;
}

kbd_writer_stats kbd_writer_get_stats(kbd_writer *w) {
    pthread_mutex_lock(&w->mu);
    kbd_writer_stats s = w->stats;
    pthread_mutex_unlock(&w->mu);
    return s;
}
