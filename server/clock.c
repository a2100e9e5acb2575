#include "clock.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "kb_limits.h"

struct kbd_clock {
    pthread_mutex_t mu;
    bool manual;
    int64_t last_us;
};

kbd_clock *kbd_clock_new(bool manual, int64_t start_us) {
    kbd_clock *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    pthread_mutex_init(&c->mu, NULL);
    c->manual = manual;
    c->last_us = start_us;
    return c;
}

void kbd_clock_free(kbd_clock *c) {
    if (!c) return;
    pthread_mutex_destroy(&c->mu);
    free(c);
}

bool kbd_clock_manual(const kbd_clock *c) {
    return c->manual;
}

int64_t kbd_clock_now(kbd_clock *c) {
    pthread_mutex_lock(&c->mu);
    if (!c->manual) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
        if (us > c->last_us) c->last_us = us;
    }
    int64_t now = c->last_us;
    pthread_mutex_unlock(&c->mu);
    return now;
}

bool kbd_clock_set(kbd_clock *c, int64_t now) {
    pthread_mutex_lock(&c->mu);
    bool ok = c->manual && now >= c->last_us && now <= KB_TIME_MAX_US;
    if (ok) c->last_us = now;
    pthread_mutex_unlock(&c->mu);
    return ok;
}

int64_t kbd_monotonic_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
