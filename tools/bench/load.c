/* Closed-loop clients: one thread per client, each with its own connection
 * (opened by the mode before the start line). A client sends a request,
 * waits for its reply, records the latency, and goes on until the run's
 * duration is over, its request bound is reached, or the mode says there
 * is nothing left; any failure ends the run for every client. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define KBB_START_TIMEOUT_S 60.0 /* all clients connected */
#define KBB_TICK_MS         5

typedef struct load_run {
    kbb_worker *workers;
    uint32_t created;
    atomic_bool stop;
    atomic_bool go;
    atomic_uint ready;    /* workers past open */
    atomic_uint finished; /* workers out of the loop */
} load_run;

static void worker_loop(kbb_worker *w) {
    const kbb_load_spec *sp = w->spec;
    while (!atomic_load(w->stop) && !kbb_interrupted) {
        if (w->requests >= sp->requests_max) break;
        uint64_t t0 = kbb_now_ns();
        int rc = sp->ops->request(w);
        uint64_t t1 = kbb_now_ns();
        if (rc == KBB_REQ_DONE) break;
        if (rc != KBB_REQ_OK) {
            w->failed = true;
            break;
        }
        kbb_latency_add(&w->lat, t1 - t0);
        w->requests++;
    }
    atomic_store(w->stop, true); /* the first client to end ends the run */
}

static void *worker_main(void *arg) {
    kbb_worker *w = arg;
    load_run *run = w->run;
    int rc = w->spec->ops->open(w);
    if (rc != 0) {
        w->failed = true;
        if (!w->error[0]) snprintf(w->error, sizeof w->error, "client %u: open failed", w->index);
        atomic_store(w->stop, true);
    }
    atomic_fetch_add(&run->ready, 1);
    while (!atomic_load(&run->go)) kbb_sleep_ms(1);
    if (rc == 0) worker_loop(w);
    w->end_s = kbb_now_s();
    w->spec->ops->close(w);
    atomic_fetch_add(&run->finished, 1);
    return NULL;
}

static int start_workers(const kbb_load_spec *spec, load_run *run) {
    for (uint32_t i = 0; i < spec->clients; i++) {
        kbb_worker *w = &run->workers[i];
        w->spec = spec;
        w->index = i;
        w->stop = &run->stop;
        w->run = run;
        if (kbb_latency_init(&w->lat, spec->requests_max) != 0) {
            fprintf(stderr, "kasboek-bench: out of memory for latencies\n");
            return -1;
        }
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            kbb_latency_fini(&w->lat);
            fprintf(stderr, "kasboek-bench: cannot start client thread %u\n", i);
            return -1;
        }
        run->created++;
    }
    return 0;
}

/* Lets the workers go once all are connected; returns the start time. */
static double go_and_wait(const kbb_load_spec *spec, load_run *run, bool started_ok) {
    double t_wait = kbb_now_s();
    while (atomic_load(&run->ready) < run->created && kbb_now_s() - t_wait < KBB_START_TIMEOUT_S) {
        kbb_sleep_ms(1);
    }
    if (!started_ok || atomic_load(&run->ready) < run->created) atomic_store(&run->stop, true);
    double t0 = kbb_now_s();
    atomic_store(&run->go, true);
    while (atomic_load(&run->finished) < run->created) {
        if (kbb_interrupted || kbb_now_s() - t0 >= spec->duration_s) atomic_store(&run->stop, true);
        kbb_sleep_ms(KBB_TICK_MS);
    }
    return t0;
}

static int collect(load_run *run, double t0, kbb_load_result *out) {
    kbb_latency all;
    size_t total = 0;
    for (uint32_t i = 0; i < run->created; i++) total += run->workers[i].lat.n;
    if (kbb_latency_init(&all, total) != 0) {
        snprintf(out->error, sizeof out->error, "out of memory for latencies");
        return -1;
    }
    double end = t0;
    for (uint32_t i = 0; i < run->created; i++) {
        kbb_worker *w = &run->workers[i];
        memcpy(all.ns + all.n, w->lat.ns, w->lat.n * sizeof *w->lat.ns);
        all.n += w->lat.n;
        out->ops += w->ops;
        out->requests += w->requests;
        if (w->end_s > end) end = w->end_s;
        if (w->failed && !out->failed) {
            out->failed = true;
            snprintf(out->error, sizeof out->error, "%s", w->error[0] ? w->error : "client failed");
        }
    }
    out->secs = end - t0;
    kbb_latency_summary(&all, &out->p50_ms, &out->p99_ms, &out->p999_ms);
    kbb_latency_fini(&all);
    return 0;
}

int kbb_load_run(const kbb_load_spec *spec, kbb_load_result *out) {
    memset(out, 0, sizeof *out);
    if (spec->clients == 0 || spec->clients > KBB_CLIENTS_MAX) {
        snprintf(out->error, sizeof out->error, "client count out of range");
        return -1;
    }
    load_run run;
    memset(&run, 0, sizeof run);
    run.workers = calloc(spec->clients, sizeof *run.workers);
    if (!run.workers) {
        snprintf(out->error, sizeof out->error, "out of memory");
        return -1;
    }
    bool started_ok = start_workers(spec, &run) == 0;
    double t0 = go_and_wait(spec, &run, started_ok);
    for (uint32_t i = 0; i < run.created; i++) pthread_join(run.workers[i].thread, NULL);
    int rc = collect(&run, t0, out);
    for (uint32_t i = 0; i < run.created; i++) kbb_latency_fini(&run.workers[i].lat);
    free(run.workers);
    if (rc == 0 && !started_ok) {
        out->failed = true;
        snprintf(out->error, sizeof out->error, "could not start every client");
    }
    if (rc == 0 && kbb_interrupted) {
        out->failed = true;
        snprintf(out->error, sizeof out->error, "interrupted");
    }
    return rc == 0 && !out->failed ? 0 : -1;
}

void kbb_point_set(kbb_point *p, uint32_t key, uint32_t clients, uint32_t batch,
                   const kbb_load_result *r) {
    memset(p, 0, sizeof *p);
    p->ran = true;
    p->key = key;
    p->clients = clients;
    p->batch = batch;
    p->ops = r->ops;
    p->requests = r->requests;
    p->secs = r->secs;
    p->ops_per_s = r->secs > 0 ? (double)r->ops / r->secs : 0;
    p->p50_ms = r->p50_ms;
    p->p99_ms = r->p99_ms;
    p->p999_ms = r->p999_ms;
    p->server_us_per_op =
        r->ops && r->server_cpu_s > 0 ? r->server_cpu_s * 1e6 / (double)r->ops : 0;
}
