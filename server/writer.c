#include "writer.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kasboek.pb-c.h"

struct kbd_writer {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    kbd_job *head, *tail;
    bool stopping;
    kb_engine *engine;
    kb_store *store;
    kbd_clock *clock;
    const kbd_config *cfg;
    kbd_writer_stats stats;
};

static void reply_clock(kbd_writer *w, kbd_job *j, int64_t now) {
    Kasboek__V1__ClockReply r = KASBOEK__V1__CLOCK_REPLY__INIT;
    r.now = now;
    r.manual = kbd_clock_manual(w->clock);
    if (kb_reply_set(&j->reply, &r.base) != KB_OK) {
        kb_error_set(&j->reply.err, KB_REASON_INTERNAL_ERROR, "", "out of memory");
    }
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
    reply_clock(w, j, j->arg_time_us);
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
            reply_clock(w, j, kbd_clock_now(w->clock));
            break;
        case KBD_JOB_CHECKPOINT:
            break; /* after the commit */
    }
}

static void run_checkpoint(kbd_writer *w, kbd_job *j) {
    char err[256] = "";
    if (kb_store_checkpoint(w->store, j->arg_dir, err, sizeof err) != KB_OK) {
        kb_error_set(&j->reply.err, KB_REASON_CHECKPOINT_FAILED, "dir", "%s", err);
        return;
    }
    Kasboek__V1__CheckpointReply r = KASBOEK__V1__CHECKPOINT_REPLY__INIT;
    r.dir = (char *)j->arg_dir;
    r.head_seq = kb_engine_head(w->engine).seq;
    if (kb_reply_set(&j->reply, &r.base) != KB_OK) {
        kb_error_set(&j->reply.err, KB_REASON_INTERNAL_ERROR, "", "out of memory");
    }
}

static void fail_all(kbd_job *list, const char *why) {
    for (kbd_job *j = list; j; j = j->next) {
        if (j->reply.err.code != KB_CODE_OK) continue;
        kb_reply_fini(&j->reply);
        kb_error_set(&j->reply.err, KB_REASON_STORAGE_FAILED, "", "%s", why);
    }
}

static void run_batch(kbd_writer *w, kbd_job *list, uint32_t n) {
    if (kb_engine_batch_begin(w->engine) != KB_OK) {
        fail_all(list, "the ledger stopped after a failed write; restart kasboekd");
    } else {
        for (kbd_job *j = list; j; j = j->next) run_job(w, j);
        if (kb_engine_batch_commit(w->engine) != KB_OK) {
            fprintf(stderr, "kasboekd: COMMIT FAILED; refusing writes until restart\n");
            w->stats.failed_commits++;
            fail_all(list, "write to disk failed; nothing of this request was stored");
        }
    }
    for (kbd_job *j = list; j; j = j->next) {
        if (j->kind == KBD_JOB_CHECKPOINT && j->reply.err.code == KB_CODE_OK) run_checkpoint(w, j);
    }
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

/* Takes queued jobs up to the bounds (--max-batch requests, and
 * --max-batch-bytes of request payload, at least one job); waits the batch
 * window for more when configured. Called with mu held. */
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
    while (last->next && n < w->cfg->batch_commands_max &&
           bytes + last->next->rq.payload_len <= w->cfg->batch_bytes_max) {
        last = last->next;
        bytes += last->rq.payload_len;
        n++;
    }
    w->head = last->next;
    if (!w->head) w->tail = NULL;
    last->next = NULL;
    *n_out = n;
    return list;
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
        uint32_t n;
        kbd_job *list = take(w, &n);
        pthread_mutex_unlock(&w->mu);
        run_batch(w, list, n);
    }
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
    if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
        free(w);
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
    pthread_join(w->thread, NULL);
    kbd_writer_stats st = w->stats;
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
    return st;
}

kbd_writer_stats kbd_writer_get_stats(kbd_writer *w) {
    pthread_mutex_lock(&w->mu);
    kbd_writer_stats s = w->stats;
    pthread_mutex_unlock(&w->mu);
    return s;
}
