#include "ticker.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "kasboek.pb-c.h"

struct kbd_ticker {
    kbd_writer *w;
    uint32_t interval_s;
    bool quiet;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stopping;
    bool job_done;
    kbd_job job;
};

static void tick_done(kbd_job *j) {
    kbd_ticker *t = j->owner;
    pthread_mutex_lock(&t->mu);
    t->job_done = true;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
}

/* The reply of one Tick: logged when it closed something or failed. */
static void tick_report(kbd_ticker *t) {
    kb_reply *r = &t->job.reply;
    if (r->err.code != KB_CODE_OK) {
        fprintf(stderr, "kasboekd: tick: %s %s\n", kb_code_str(r->err.code), r->err.message);
    } else if (!t->quiet) {
        Kasboek__V1__ClockReply *c =
            kasboek__v1__clock_reply__unpack(NULL, r->payload_len, r->payload);
        if (c && (c->payouts_closed || c->invoices_overdue)) {
            fprintf(stderr, "kasboekd: tick closed %u payout day(s), marked %u invoice(s) overdue%s\n",
                    c->payouts_closed, c->invoices_overdue, c->more ? ", more to do" : "");
        }
        if (c) kasboek__v1__clock_reply__free_unpacked(c, NULL);
    }
    kb_reply_fini(r);
}

/* Sleeps until the next tick is due (a monotonic interval); false when
 * stopping. Holds t->mu. */
static bool wait_interval(kbd_ticker *t, uint32_t seconds) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until); /* pthread_cond_timedwait's clock */
    until.tv_sec += seconds;
    while (!t->stopping) {
        if (pthread_cond_timedwait(&t->cv, &t->mu, &until) == ETIMEDOUT) break;
    }
    return !t->stopping;
}

static void *ticker_main(void *arg) {
    kbd_ticker *t = arg;
    pthread_mutex_lock(&t->mu);
    /* a first tick right away: days that fell due while kasboekd was down */
    for (uint32_t wait = 0; wait == 0 || wait_interval(t, wait); wait = t->interval_s) {
        if (t->stopping) break;
        t->job = (kbd_job){.kind = KBD_JOB_TICK, .done = tick_done, .owner = t};
        t->job.rq.method = "Tick";
        t->job.rq.tenant = "";
        t->job.rq.actor = "system:ticker";
        t->job.rq.idempotency_key = "";
        t->job_done = false;
        pthread_mutex_unlock(&t->mu);
        bool queued = kbd_writer_submit(t->w, &t->job);
        pthread_mutex_lock(&t->mu);
        if (!queued) break; /* the writer is stopping */
        while (!t->job_done) pthread_cond_wait(&t->cv, &t->mu);
        tick_report(t);
    }
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

kbd_ticker *kbd_ticker_start(kbd_writer *w, uint32_t interval_s, bool quiet) {
    if (interval_s == 0) return NULL;
    kbd_ticker *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->w = w;
    t->interval_s = interval_s;
    t->quiet = quiet;
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cv, NULL);
    if (pthread_create(&t->thread, NULL, ticker_main, t) != 0) {
        fprintf(stderr, "kasboekd: cannot start the ticker; run `kasboek clock tick` instead\n");
        pthread_mutex_destroy(&t->mu);
        pthread_cond_destroy(&t->cv);
        free(t);
        return NULL;
    }
    return t;
}

void kbd_ticker_stop(kbd_ticker *t) {
    if (!t) return;
    pthread_mutex_lock(&t->mu);
    t->stopping = true;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
    pthread_join(t->thread, NULL);
    pthread_mutex_destroy(&t->mu);
    pthread_cond_destroy(&t->cv);
    free(t);
}
