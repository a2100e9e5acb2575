/* A bump allocator with a hard cap. Everything one command (or one replayed
 * event) allocates lives here and dies at kb_arena_reset: decoded protobuf
 * messages, events decide() builds, state evolve() grows.
 *
 * Ownership: the arena owns every pointer it returns; they stay valid until
 * the next kb_arena_reset or kb_arena_fini. Not thread-safe. */
#ifndef KB_ARENA_H
#define KB_ARENA_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

#include "status.h"

typedef struct kb_arena_chunk kb_arena_chunk;

typedef struct kb_arena {
    kb_arena_chunk *head;  /* current chunk, chained to older ones */
    size_t used_bytes;     /* total handed out since reset */
    size_t bytes_max;      /* cap on used_bytes */
    ProtobufCAllocator pb; /* protobuf-c allocator backed by this arena */
} kb_arena;

void kb_arena_init(kb_arena *a, size_t bytes_max);
void kb_arena_fini(kb_arena *a);
/* Frees everything allocated since init/reset (keeps one chunk for reuse). */
void kb_arena_reset(kb_arena *a);

/* 16-byte aligned, zeroed memory; NULL when the cap would be exceeded. */
void *kb_arena_alloc(kb_arena *a, size_t n);
/* Copies n bytes (+ a NUL) into the arena. */
char *kb_arena_strndup(kb_arena *a, const char *s, size_t n);
char *kb_arena_strdup(kb_arena *a, const char *s);
char *kb_arena_printf(kb_arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends item to a protobuf repeated field (*arr, *n): a grown copy of the
 * array in the arena. Aborts when the arena is exhausted (what states grow
 * is bounded by kb_limits.h and the arena is sized for it). */
void kb_arena_push(kb_arena *a, void ***arr, size_t *n, void *item);

#endif
