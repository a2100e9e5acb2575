/* kasboek-audit replay DATA_DIR [--scratch DIR] [--keep]: rebuilds every
 * projection from the log into a scratch store with the engine's own code
 * (kb_project_record), then compares it with the live store byte for byte.
 *
 * The rebuild writes what the engine writes for each event, except the
 * event itself: the state row and index changes (kb_project_record), the
 * stream index entry (as kb_log_append does) and, once per chunk, the head.
 * Each chunk is one batch that later events read through. */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "audit.h"
#include "keys.h"
#include "log.h"
#include "project.h"

#define REPLAY_CHUNK_EVENTS 1000
#define REPLAY_CHUNK_BYTES (16u * 1024u * 1024u)
#define REPLAY_ARENA_BYTES (KB_COMMAND_ARENA_BYTES + 4u * KB_EVENT_BYTES_MAX)

typedef struct replay_opts {
    const char *data_dir;
    const char *scratch; /* NULL: a new directory under $TMPDIR */
    bool keep;
} replay_opts;

typedef struct replay_run {
    kb_store *live;
    kb_snapshot *snap; /* every live read goes through it */
    kb_store *scratch;
    kb_batch *batch;
    kb_arena arena;     /* per event */
    kb_head head;       /* of the rebuilt log so far */
    int chunk_events;   /* events in the open batch */
    uint64_t bad_seq;   /* seq the rebuild stopped at (0 = none) */
    bool data_bad;      /* it stopped on the data, not on the environment */
    char why[256];
    char dir[KB_AUDIT_PATH_BYTES_MAX];
    bool dir_ours;      /* we created dir (else it was given and empty) */
    bool dir_ready;     /* dir exists and is to be cleaned up */
} replay_run;

/* 0 = run, 1 = help shown, -1 = usage error. */
static int replay_parse(int argc, char **argv, replay_opts *o) {
    memset(o, 0, sizeof *o);
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            kb_audit_usage(stdout);
            return 1;
        } else if (strcmp(a, "--keep") == 0) {
            o->keep = true;
        } else if (strcmp(a, "--scratch") == 0 && i + 1 < argc && !o->scratch) {
            o->scratch = argv[++i];
        } else if (a[0] != '-' && !o->data_dir) {
            o->data_dir = a;
        } else {
            fprintf(stderr, "kasboek-audit replay: unexpected argument '%s'\n", a);
            return -1;
        }
    }
    if (!o->data_dir) return -1;
    if (o->scratch && strlen(o->scratch) >= KB_AUDIT_PATH_BYTES_MAX) return -1;
    return 0;
}

/* A given scratch dir must not exist, or be an empty directory. */
static bool dir_is_empty(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return false;
    bool empty = true;
    struct dirent *e;
    while (empty && (e = readdir(d)) != NULL) {
        empty = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0;
    }
    closedir(d);
    return empty;
}

static int scratch_make_dir(replay_run *r, const replay_opts *o) {
    if (!o->scratch) {
        const char *tmp = getenv("TMPDIR");
        if (!tmp || !tmp[0]) tmp = "/tmp";
        int n = snprintf(r->dir, sizeof r->dir, "%s/kasboek-replay-XXXXXX", tmp);
        if (n < 0 || (size_t)n >= sizeof r->dir || !mkdtemp(r->dir)) {
            fprintf(stderr, "error: cannot create a scratch dir under %s: %s\n", tmp,
                    strerror(errno));
            return KB_AUDIT_EXIT_USAGE;
        }
        r->dir_ours = r->dir_ready = true;
        return KB_AUDIT_EXIT_OK;
    }
    snprintf(r->dir, sizeof r->dir, "%s", o->scratch);
    if (mkdir(r->dir, 0700) == 0) {
        r->dir_ours = r->dir_ready = true;
    } else if (errno == EEXIST && dir_is_empty(r->dir)) {
        r->dir_ready = true;
    } else {
        fprintf(stderr, "error: --scratch %s must be a new or empty directory\n", r->dir);
        return KB_AUDIT_EXIT_USAGE;
    }
    return KB_AUDIT_EXIT_OK;
}

static int replay_setup(replay_run *r, const replay_opts *o) {
    if (kb_audit_open_ro(o->data_dir, &r->live) != KB_OK) return KB_AUDIT_EXIT_USAGE;
    r->snap = kb_store_snapshot(r->live);
    int rc = scratch_make_dir(r, o);
    if (rc != KB_AUDIT_EXIT_OK) return rc;
    char err[512] = "";
    kb_status st = kb_store_open(r->dir, KB_OPEN_CREATE, NULL, &r->scratch, err, sizeof err);
    if (st != KB_OK) {
        fprintf(stderr, "error: cannot create the scratch store in %s: %s\n", r->dir, err);
        return KB_AUDIT_EXIT_USAGE;
    }
    if (kb_batch_alloc(r->scratch, &r->batch) != KB_OK) {
        fprintf(stderr, "error: out of memory\n");
        return KB_AUDIT_EXIT_USAGE;
    }
    return KB_AUDIT_EXIT_OK;
}

static void replay_teardown(replay_run *r, const replay_opts *o) {
    kb_batch_free(r->batch);
    kb_store_close(r->scratch);
    if (r->live) kb_store_snapshot_release(r->live, r->snap);
    kb_store_close(r->live);
    kb_arena_fini(&r->arena);
    if (!r->dir_ready) return;
    if (o->keep) {
        fprintf(stderr, "replay: scratch store kept in %s\n", r->dir);
    } else {
        (void)kb_audit_rmtree(r->dir, !r->dir_ours);
    }
}

/* The stream index entry kb_log_append writes: tenant/type/id/version -> seq. */
static kb_status replay_stream_entry(replay_run *r, const Kasboek__V1__EventRecord *rec) {
    const char *slash = strchr(rec->stream, '/');
    if (!slash || slash == rec->stream || !slash[1]) return KB_ERR_CORRUPT;
    char *type = kb_arena_strndup(&r->arena, rec->stream, (size_t)(slash - rec->stream));
    if (!type) return KB_ERR_NOMEM;
    kb_key k;
    kb_key_stream(&k, rec->tenant, type, slash + 1, rec->version);
    unsigned char seqv[8];
    kb_be64_put(seqv, rec->seq);
    kb_batch_put(r->batch, KB_CF_STREAMS, k.bytes, k.len, seqv, sizeof seqv);
    return KB_OK;
}

/* Records where and why the rebuild stopped. A record that fails its checks
 * or cannot be read from the live log is the data's fault (FAIL, exit 1);
 * anything else (memory, the scratch store) is the environment's (exit 2). */
static kb_status replay_fail(replay_run *r, uint64_t seq, kb_status st, bool data_bad,
                             const char *why) {
    r->bad_seq = seq;
    r->data_bad = data_bad;
    snprintf(r->why, sizeof r->why, "%s", why);
    return st;
}

/* Checks one stored record against the chain and applies it to the batch. */
static kb_status replay_event(replay_run *r, const char *key, size_t kl, const char *val,
                              size_t vl) {
    uint64_t expect = r->head.seq + 1;
    uint64_t seq = kl == 8 ? kb_be64_get((const unsigned char *)key) : 0;
    if (seq != expect) {
        char why[96];
        snprintf(why, sizeof why, "missing event (next stored key is seq %llu)",
                 (unsigned long long)seq);
        return replay_fail(r, expect, KB_ERR_CORRUPT, true, why);
    }
    kb_arena_reset(&r->arena);
    Kasboek__V1__EventRecord *rec;
    if (kb_log_decode(val, vl, seq, r->head.hash, &r->arena, &rec) != KB_OK) {
        return replay_fail(r, seq, KB_ERR_CORRUPT, true, "record does not match its hash chain");
    }
    /* Bounds the key builders assert; a record that checks was written by
     * kb_log_append from validated ids, so this never fires on real data. */
    if (strlen(rec->tenant) > KB_ID_LEN_MAX || strlen(rec->stream) > KB_STREAM_LEN_MAX) {
        return replay_fail(r, seq, KB_ERR_CORRUPT, true, "tenant or stream name too long");
    }
    kb_status st = kb_project_record(r->scratch, r->batch, &r->arena, rec);
    if (st == KB_OK) st = replay_stream_entry(r, rec);
    if (st != KB_OK) {
        char why[96];
        snprintf(why, sizeof why, "cannot project the event (%s)", kb_status_str(st));
        return replay_fail(r, seq, st, st == KB_ERR_CORRUPT, why);
    }
    r->head.seq = seq;
    memcpy(r->head.hash, rec->hash.data, KB_HASH_BYTES);
    r->chunk_events++;
    return KB_OK;
}

/* Commits the open chunk (no sync: the scratch store is disposable). */
static kb_status replay_flush(replay_run *r) {
    if (r->chunk_events == 0) return KB_OK;
    kb_log_head_put(r->batch, &r->head);
    kb_status st = kb_store_write(r->scratch, r->batch, false);
    kb_batch_clear(r->batch);
    r->chunk_events = 0;
    if (st != KB_OK) snprintf(r->why, sizeof r->why, "writing the scratch store failed");
    return st;
}

static kb_status replay_rebuild(replay_run *r) {
    kb_iter *it = kb_iter_open(r->live, r->snap, KB_CF_EVENTS, NULL, 0);
    if (!it) return KB_ERR_NOMEM;
    kb_status st = KB_OK;
    for (kb_iter_seek_first(it); st == KB_OK && kb_iter_valid(it); kb_iter_next(it)) {
        size_t kl, vl;
        const char *key = kb_iter_key(it, &kl);
        const char *val = kb_iter_value(it, &vl);
        st = replay_event(r, key, kl, val, vl);
        if (st == KB_OK && (r->chunk_events >= REPLAY_CHUNK_EVENTS ||
                            kb_batch_bytes(r->batch) >= REPLAY_CHUNK_BYTES)) {
            st = replay_flush(r);
        }
    }
    if (st == KB_OK) {
        st = kb_iter_status(it);
        if (st != KB_OK) {
            (void)replay_fail(r, r->head.seq + 1, st, true, "storage error reading the log");
        }
    }
    kb_iter_close(it);
    if (st == KB_OK) st = replay_flush(r);
    return st;
}

static int replay_rebuild_report(replay_run *r) {
    double t0 = kb_audit_now_s();
    kb_status st = replay_rebuild(r);
    double secs = kb_audit_now_s() - t0;
    if (st != KB_OK && r->data_bad) {
        printf("FAIL at seq %llu: %s\n", (unsigned long long)r->bad_seq, r->why);
        return KB_AUDIT_EXIT_FAIL;
    }
    if (st != KB_OK) {
        fprintf(stderr, "error: rebuild stopped at seq %llu: %s (%s)\n",
                (unsigned long long)(r->bad_seq ? r->bad_seq : r->head.seq + 1),
                r->why[0] ? r->why : "failed", kb_status_str(st));
        return KB_AUDIT_EXIT_USAGE;
    }
    fprintf(stderr, "replay: rebuilt %llu events in %.3f s (%.0f events/s)\n",
            (unsigned long long)r->head.seq, secs,
            secs > 0 ? (double)r->head.seq / secs : 0.0);
    return KB_AUDIT_EXIT_OK;
}

static int replay_compare_report(replay_run *r) {
    static const kb_cf families[] = {KB_CF_STATE, KB_CF_INDEX, KB_CF_STREAMS};
    kb_audit_cmp cmp = {.out = stdout};
    kb_status st = KB_OK;
    for (size_t i = 0; st == KB_OK && i < sizeof families / sizeof families[0]; i++) {
        st = kb_audit_cmp_family(r->live, r->snap, r->scratch, families[i], &cmp);
    }
    if (st == KB_OK) st = kb_audit_cmp_head(r->live, r->snap, r->scratch, &cmp);
    if (st != KB_OK) {
        fprintf(stderr, "error: comparing the stores: %s\n", kb_status_str(st));
        return KB_AUDIT_EXIT_USAGE;
    }
    if (cmp.diffs == 0) {
        printf("equal: %llu events; state %llu rows, index %llu entries, streams %llu entries\n",
               (unsigned long long)r->head.seq, (unsigned long long)cmp.rows[KB_CF_STATE],
               (unsigned long long)cmp.rows[KB_CF_INDEX],
               (unsigned long long)cmp.rows[KB_CF_STREAMS]);
        return KB_AUDIT_EXIT_OK;
    }
    if (cmp.diffs > KB_AUDIT_DIFFS_SHOWN_MAX) {
        printf("... %llu more differences not shown\n",
               (unsigned long long)(cmp.diffs - KB_AUDIT_DIFFS_SHOWN_MAX));
    }
    printf("DIFFERENT\n");
    return KB_AUDIT_EXIT_FAIL;
}

int kb_audit_replay(int argc, char **argv) {
    replay_opts o;
    int p = replay_parse(argc, argv, &o);
    if (p > 0) return KB_AUDIT_EXIT_OK;
    if (p < 0) {
        fprintf(stderr, "usage: kasboek-audit replay DATA_DIR [--scratch DIR] [--keep]\n");
        return KB_AUDIT_EXIT_USAGE;
    }
    replay_run r;
    memset(&r, 0, sizeof r);
    kb_arena_init(&r.arena, REPLAY_ARENA_BYTES);
    int rc = replay_setup(&r, &o);
    if (rc == KB_AUDIT_EXIT_OK) rc = replay_rebuild_report(&r);
    if (rc == KB_AUDIT_EXIT_OK) rc = replay_compare_report(&r);
    replay_teardown(&r, &o);
    return rc;
}
