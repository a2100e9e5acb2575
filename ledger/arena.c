#include "arena.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KB_ARENA_CHUNK_BYTES (64u * 1024u)

struct kb_arena_chunk {
    kb_arena_chunk *next;
    size_t cap;
    size_t off;
    _Alignas(16) unsigned char data[];
};

static void *pb_alloc(void *data, size_t size) {
    return kb_arena_alloc(data, size);
}

static void pb_free(void *data, void *p) {
    (void)data;
    (void)p; /* released at reset */
}

void kb_arena_init(kb_arena *a, size_t bytes_max) {
    memset(a, 0, sizeof *a);
    a->bytes_max = bytes_max;
    a->pb.alloc = pb_alloc;
    a->pb.free = pb_free;
    a->pb.allocator_data = a;
}

static void free_chain(kb_arena_chunk *c) {
    while (c) {
        kb_arena_chunk *next = c->next;
        free(c);
        c = next;
    }
}

void kb_arena_fini(kb_arena *a) {
    free_chain(a->head);
    a->head = NULL;
    a->used_bytes = 0;
}

void kb_arena_reset(kb_arena *a) {
    if (a->head) {
        free_chain(a->head->next);
        a->head->next = NULL;
        a->head->off = 0;
    }
    a->used_bytes = 0;
}

void *kb_arena_alloc(kb_arena *a, size_t n) {
    size_t need = (n + 15u) & ~(size_t)15u;
    if (need < n || a->used_bytes + need > a->bytes_max) return NULL;
    kb_arena_chunk *c = a->head;
    if (!c || c->cap - c->off < need) {
        size_t cap = need > KB_ARENA_CHUNK_BYTES ? need : KB_ARENA_CHUNK_BYTES;
        kb_arena_chunk *nc = malloc(sizeof *nc + cap);
        if (!nc) return NULL;
        nc->next = c;
        nc->cap = cap;
        nc->off = 0;
        a->head = c = nc;
    }
    void *p = c->data + c->off;
    c->off += need;
    a->used_bytes += need;
    memset(p, 0, n);
    return p;
}

char *kb_arena_strndup(kb_arena *a, const char *s, size_t n) {
    char *p = kb_arena_alloc(a, n + 1);
    if (!p) return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *kb_arena_strdup(kb_arena *a, const char *s) {
    return kb_arena_strndup(a, s, strlen(s));
}

char *kb_arena_printf(kb_arena *a, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return NULL;
    char *p = kb_arena_alloc(a, (size_t)n + 1);
    if (!p) return NULL;
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

void kb_arena_push(kb_arena *a, void ***arr, size_t *n, void *item) {
    void **grown = kb_arena_alloc(a, (*n + 1) * sizeof *grown);
    KB_VERIFY(grown);
    if (*n) memcpy(grown, *arr, *n * sizeof *grown);
    grown[(*n)++] = item;
    *arr = grown;
}
