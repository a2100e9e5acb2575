/* Runs a few independent tasks on this thread and one more (the machine
 * the tool is sized for has two cores). */
#include <pthread.h>

#include "audit.h"

typedef struct pool {
    void (*task)(void *arg, size_t i);
    void *arg;
    size_t n, next; /* next under mu */
    pthread_mutex_t mu;
} pool;

static void *pool_worker(void *p_) {
    pool *p = p_;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        size_t i = p->next < p->n ? p->next++ : p->n;
        pthread_mutex_unlock(&p->mu);
        if (i == p->n) return NULL;
        p->task(p->arg, i);
    }
}

void kb_audit_run_tasks(void *ctx, void (*task)(void *arg, size_t i), void *arg, size_t n) {
    (void)ctx;
    pool p = {.task = task, .arg = arg, .n = n};
    pthread_mutex_init(&p.mu, NULL);
    pthread_t tid;
    bool helper = n > 1 && pthread_create(&tid, NULL, pool_worker, &p) == 0;
    (void)pool_worker(&p); /* without a helper: all of them here */
    if (helper) pthread_join(tid, NULL);
    pthread_mutex_destroy(&p.mu);
}

static void *bg_main(void *ctx) {
    kb_audit_bg *bg = ctx;
    bg->task(bg->arg);
    return NULL;
}

void kb_audit_bg_start(void *ctx, void (*task)(void *arg), void *arg) {
    kb_audit_bg *bg = ctx;
    bg->task = task;
    bg->arg = arg;
    bg->running = pthread_create(&bg->tid, NULL, bg_main, bg) == 0;
    if (!bg->running) task(arg);
}

void kb_audit_bg_join(void *ctx) {
    kb_audit_bg *bg = ctx;
    if (bg->running) pthread_join(bg->tid, NULL);
    bg->running = false;
}
