/* Clocks, latency sets and percentiles. */
#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"

double kbb_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

uint64_t kbb_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void kbb_sleep_ms(int ms) {
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !kbb_interrupted) {
    }
}

int kbb_latency_init(kbb_latency *l, size_t cap) {
    l->n = 0;
    l->cap = cap;
    l->ns = malloc((cap ? cap : 1) * sizeof *l->ns);
    return l->ns ? 0 : -1;
}

void kbb_latency_fini(kbb_latency *l) {
    free(l->ns);
    l->ns = NULL;
    l->n = l->cap = 0;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Nearest rank: the smallest value with at least p of the set at or below. */
static double rank_ms(const kbb_latency *l, size_t per_mille) {
    size_t k = (l->n * per_mille + 999) / 1000;
    if (k < 1) k = 1;
    if (k > l->n) k = l->n;
    return (double)l->ns[k - 1] / 1e6;
}

void kbb_latency_summary(kbb_latency *l, double *p50, double *p99, double *p999) {
    *p50 = *p99 = *p999 = 0;
    if (l->n == 0) return;
    qsort(l->ns, l->n, sizeof *l->ns, cmp_u64);
    *p50 = rank_ms(l, 500);
    *p99 = rank_ms(l, 990);
    *p999 = rank_ms(l, 999);
}

double kbb_cpu_probe_ms(void) {
    enum { PROBE_BYTES = 16 << 20, PROBE_ROUNDS = 3 };
    unsigned char *buf = malloc(PROBE_BYTES), out[32];
    if (!buf) return -1;
    for (size_t i = 0; i < PROBE_BYTES; i++) buf[i] = (unsigned char)(i * 131u + 7u);
    double best = -1;
    for (int r = 0; r < PROBE_ROUNDS; r++) {
        double t = kbb_now_s();
        crypto_generichash(out, sizeof out, buf, PROBE_BYTES, NULL, 0);
        double ms = (kbb_now_s() - t) * 1e3;
        if (best < 0 || ms < best) best = ms;
        buf[r] ^= out[0]; /* the next round hashes other bytes */
    }
    free(buf);
    return best;
}
