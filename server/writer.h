/* The single writer thread: it drains queued commands (up to a bound) and
 * runs each through the engine against the open batch; a committer thread
 * writes the sealed batch as one synced WriteBatch (group commit: one fsync
 * for all) while the writer runs the next, then completes every job. A
 * job's done() runs on the committer thread (or the writer's, for a batch
 * that was never written) after its batch is durable or failed; it must not
 * block. */
#ifndef KBD_WRITER_H
#define KBD_WRITER_H

#include <stdbool.h>
#include <stdint.h>

#include "clock.h"
#include "config.h"
#include "engine.h"

typedef enum kbd_job_kind {
    KBD_JOB_COMMAND,
    KBD_JOB_SET_CLOCK,
    KBD_JOB_TICK,
    KBD_JOB_CHECKPOINT,
} kbd_job_kind;

typedef struct kbd_job kbd_job;
struct kbd_job {
    kbd_job *next;
    kbd_job_kind kind;
    kb_request rq;       /* strings borrowed from the submitter until done() */
    int64_t arg_time_us; /* SET_CLOCK */
    const char *arg_dir; /* CHECKPOINT */
    int64_t enqueued_ms;
    kb_reply reply; /* filled by the writer; payload freed by the owner */
    void (*done)(kbd_job *job);
    void *owner;
};

typedef struct kbd_writer kbd_writer;

typedef struct kbd_writer_stats {
    uint64_t batches;
    uint64_t commands;
    uint64_t failed_commits;
} kbd_writer_stats;

kbd_writer *kbd_writer_start(kb_engine *e, kb_store *s, kbd_clock *clock, const kbd_config *cfg);
/* Queues job; false when the writer is stopping (job not taken). */
bool kbd_writer_submit(kbd_writer *w, kbd_job *job);
/* Completes every queued job, then joins the thread and frees w. Returns
 * the final counts. */
kbd_writer_stats kbd_writer_stop(kbd_writer *w);
kbd_writer_stats kbd_writer_get_stats(kbd_writer *w);

#endif
