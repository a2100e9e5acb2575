/* kasboek-audit replay DATA_DIR [--scratch DIR] [--keep]: rebuilds every
 * projection from the log into a scratch store with the engine's own code
 * (evolve, index and the engine's diff: ledger/rebuild.h), then compares it
 * with the live store byte for byte.
 *
 * The rebuild writes what the engine writes, except the events themselves:
 * the state rows and index changes, the stream index entries and the head.
 * A reader thread walks the log and checks its hash chain (scan.h); this
 * thread folds the records in chunks (kb_rebuild). Each chunk goes into the
 * scratch store as sorted table files, one per family, made on a thread of
 * its own (kb_audit_bg) while the next chunk folds, with a helper
 * (kb_audit_run_tasks), and ingested; the store's automatic compactions are
 * off (it is read once, by the compare, which runs the families on two
 * threads too). */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS, beside POSIX 2008 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "audit.h"
#include "keys.h"
#include "log.h"
#include "rebuild.h"
#include "scan.h"

/* The chunk bounds by default: a chunk ends at whichever comes first. The
 * fold stops at the bytes; saving the chunk adds up to as much again, two
 * chunks are held (one folds while the other is written), and RocksDB's
 * caches come on top. Measured on a 1M-event log (2026-12-07, 2 cores):
 * 16 and 32 MB rebuilt in 5.5-5.8 s, 64 MB in 6.8 s, 128 MB in 6.0 s
 * (smaller chunks overlap more of the fold with the writes); peak RSS of
 * the whole replay 351 MB at 32 MB, 590 MB at 128 MB. */
#define REPLAY_CHUNK_EVENTS_DEFAULT KB_REBUILD_CHUNK_EVENTS_MAX
#define REPLAY_CHUNK_MB_DEFAULT     32u
#define REPLAY_CHUNK_MB_MAX         16384u

typedef struct replay_opts {
    const char *data_dir;
    const char *scratch; /* NULL: a new directory under $TMPDIR */
    bool keep;
    size_t chunk_events; /* hidden --chunk-events N (tests): events per chunk */
    size_t chunk_bytes;  /* --chunk-mb N: memory per chunk */
} replay_opts;

/* Shared between kasboek-audit and the child process that replays. The
 * fold trusts that each event was once accepted (DESIGN.md 2: evolve is
 * total on those); a record written by hand, whose chain checks, may
 * still crash it (a review: a PaymentSettled as a stream's first event
 * made evolve read a NULL amount). So the replay runs in a child, and a
 * child that dies is reported as the data's failure at the record it was
 * folding. */
typedef struct replay_watch {
    _Atomic uint64_t seq;  /* the record being folded (0: not folding) */
    atomic_int phase;      /* what the child was doing */
    atomic_bool done;      /* the child returned normally */
    atomic_bool dir_ready; /* it made dir (remove it after a crash) */
    bool dir_ours;
    char dir[KB_AUDIT_PATH_BYTES_MAX];
} replay_watch;

enum { PHASE_SETUP, PHASE_FOLD, PHASE_COMPARE };

typedef struct replay_run {
    replay_watch *watch;
    kb_store *live;
    kb_snapshot *snap; /* every live read goes through it */
    kb_store *scratch;
    kb_rebuild *rebuild;
    kb_audit_bg bg;   /* the rebuild's chunk writes */
    kb_log_walk walk; /* the reader thread's chain check */
    uint64_t bad_seq; /* seq the rebuild stopped at (0 = none) */
    bool data_bad;    /* it stopped on the data, not on the environment */
    char why[256];
    char dir[KB_AUDIT_PATH_BYTES_MAX];
    bool dir_ours;  /* we created dir (else it was given and empty) */
    bool dir_ready; /* dir exists and is to be cleaned up */
} replay_run;

/* 1..KB_REBUILD_CHUNK_EVENTS_MAX, else 0. */
static size_t parse_chunk_events(const char *v) {
    char *end;
    unsigned long long n = strtoull(v, &end, 10);
    if (*v < '0' || *v > '9' || *end || n == 0 || n > KB_REBUILD_CHUNK_EVENTS_MAX) return 0;
    return (size_t)n;
}

/* Megabytes in 1..REPLAY_CHUNK_MB_MAX as bytes, else 0. */
static size_t parse_chunk_mb(const char *v) {
    char *end;
    unsigned long long n = strtoull(v, &end, 10);
    if (*v < '0' || *v > '9' || *end || n == 0 || n > REPLAY_CHUNK_MB_MAX) return 0;
    return (size_t)n * 1024u * 1024u;
}

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
        } else if (strcmp(a, "--chunk-events") == 0 && i + 1 < argc && !o->chunk_events) {
            o->chunk_events = parse_chunk_events(argv[++i]);
            if (!o->chunk_events) return -1;
        } else if (strcmp(a, "--chunk-mb") == 0 && i + 1 < argc && !o->chunk_bytes) {
            o->chunk_bytes = parse_chunk_mb(argv[++i]);
            if (!o->chunk_bytes) return -1;
        } else if (a[0] != '-' && !o->data_dir) {
            o->data_dir = a;
        } else {
            fprintf(stderr, "kasboek-audit replay: unexpected argument '%s'\n", a);
            return -1;
        }
    }
    if (!o->data_dir) return -1;
    if (!o->chunk_events) o->chunk_events = REPLAY_CHUNK_EVENTS_DEFAULT;
    if (!o->chunk_bytes) o->chunk_bytes = (size_t)REPLAY_CHUNK_MB_DEFAULT * 1024u * 1024u;
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

/* A store of another schema holds rows this build would not write: every
 * one would show as a difference. kasboekd reprojects it on open. */
static int replay_schema_check(replay_run *r, const replay_opts *o) {
    uint32_t v;
    if (kb_schema_version(r->live, &v) != KB_OK) {
        fprintf(stderr, "error: cannot read the schema version of %s\n", o->data_dir);
        return KB_AUDIT_EXIT_USAGE;
    }
    if (v == KB_SCHEMA_VERSION) return KB_AUDIT_EXIT_OK;
    fprintf(stderr,
            "error: %s holds projections of schema %u, this build writes schema %u: "
            "open it with this kasboekd once (it reprojects), or replay it with a build of "
            "schema %u (verify checks the log of any schema)\n",
            o->data_dir, v, KB_SCHEMA_VERSION, v);
    return KB_AUDIT_EXIT_USAGE;
}

static int replay_setup(replay_run *r, const replay_opts *o) {
    if (kb_audit_open_ro(o->data_dir, &r->live) != KB_OK) return KB_AUDIT_EXIT_USAGE;
    int rc = replay_schema_check(r, o);
    if (rc != KB_AUDIT_EXIT_OK) return rc;
    r->snap = kb_store_snapshot(r->live);
    rc = scratch_make_dir(r, o);
    if (rc != KB_AUDIT_EXIT_OK) return rc;
    char err[512] = "";
    kb_status st = kb_store_open(r->dir, KB_OPEN_CREATE, NULL, &r->scratch, err, sizeof err);
    if (st != KB_OK) {
        fprintf(stderr, "error: cannot create the scratch store in %s: %s\n", r->dir, err);
        return KB_AUDIT_EXIT_USAGE;
    }
    if (kb_store_bulk_mode(r->scratch) != KB_OK) {
        fprintf(stderr, "error: cannot set up the scratch store in %s\n", r->dir);
        return KB_AUDIT_EXIT_USAGE;
    }
    const kb_rebuild_config cfg = {.chunk_events = o->chunk_events,
                                   .chunk_bytes = o->chunk_bytes,
                                   .sst_dir = r->dir,
                                   .run = kb_audit_run_tasks,
                                   .start = kb_audit_bg_start,
                                   .join = kb_audit_bg_join,
                                   .run_ctx = &r->bg};
    if (kb_rebuild_open(r->scratch, &cfg, &r->rebuild) != KB_OK) {
        fprintf(stderr, "error: out of memory\n");
        return KB_AUDIT_EXIT_USAGE;
    }
    return KB_AUDIT_EXIT_OK;
}

static void replay_teardown(replay_run *r, const replay_opts *o) {
    kb_rebuild_free(r->rebuild);
    kb_store_close(r->scratch);
    if (r->live) kb_store_snapshot_release(r->live, r->snap);
    kb_store_close(r->live);
    if (!r->dir_ready) return;
    if (o->keep) {
        fprintf(stderr, "replay: scratch store kept in %s\n", r->dir);
    } else {
        (void)kb_audit_rmtree(r->dir, !r->dir_ours);
    }
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

/* A failure of kb_rebuild_add or _flush, as the per-event replay said it. */
static kb_status replay_fold_fail(replay_run *r, kb_status st) {
    kb_rebuild_fail f = kb_rebuild_failure(r->rebuild);
    if (f.write_failed) { /* charged to the chunk whose write failed, if known */
        return replay_fail(r, f.seq ? f.seq : kb_rebuild_head(r->rebuild)->seq + 1, st, false,
                           f.seq ? "writing the scratch store failed (the chunk that ends here)"
                                 : "writing the scratch store failed");
    }
    char why[96];
    snprintf(why, sizeof why, "cannot project the event (%s)", kb_status_str(st));
    return replay_fail(r, f.seq, st, st == KB_ERR_CORRUPT, why);
}

static bool has_nul(const uint8_t *p, size_t n) {
    return memchr(p, 0, n) != NULL;
}

/* Folds one record the reader checked (scan.h calls it in seq order). */
static kb_status replay_record(void *ctx, const char *key, size_t kl, const char *val, size_t vl) {
    replay_run *r = ctx;
    (void)key;
    (void)kl;
    kb_log_view v;
    if (!kb_log_view_parse(val, vl, &v)) {
        uint64_t seq = kb_rebuild_head(r->rebuild)->seq + 1; /* it checked: never */
        return replay_fail(r, seq, KB_ERR_CORRUPT, true, "record does not match its hash chain");
    }
    /* The per-event replay hashed the names up to their first NUL, so such
     * a record failed its chain there; it still does here. */
    if (has_nul(v.tenant, v.tenant_len) || has_nul(v.stream, v.stream_len) ||
        has_nul(v.type, v.type_len)) {
        return replay_fail(r, v.seq, KB_ERR_CORRUPT, true, "record does not match its hash chain");
    }
    atomic_store_explicit(&r->watch->seq, v.seq, memory_order_relaxed);
    kb_status st = kb_rebuild_add(r->rebuild, &v);
    return st == KB_OK ? KB_OK : replay_fold_fail(r, st);
}

/* Where the reader stopped, when it stopped first. */
static kb_status replay_reader_fail(replay_run *r, kb_status st) {
    if (st == KB_ERR_CORRUPT) return replay_fail(r, r->walk.bad_seq, st, true, r->walk.why);
    uint64_t next = kb_rebuild_head(r->rebuild)->seq + 1;
    if (st == KB_ERR_IO) return replay_fail(r, next, st, true, "storage error reading the log");
    return replay_fail(r, next, st, false, "reading the log failed");
}

static kb_status replay_rebuild(replay_run *r) {
    kb_log_walk_init(&r->walk);
    kb_audit_scan_result res;
    kb_status st = kb_audit_scan(r->live, r->snap, &r->walk, replay_record, r, &res);
    if (st != KB_OK) return res.fn != KB_OK ? st : replay_reader_fail(r, st);
    st = kb_rebuild_flush(r->rebuild);
    return st == KB_OK ? KB_OK : replay_fold_fail(r, st);
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
        fprintf(
            stderr, "error: rebuild stopped at seq %llu: %s (%s)\n",
            (unsigned long long)(r->bad_seq ? r->bad_seq : kb_rebuild_head(r->rebuild)->seq + 1),
            r->why[0] ? r->why : "failed", kb_status_str(st));
        return KB_AUDIT_EXIT_USAGE;
    }
    uint64_t n = kb_rebuild_head(r->rebuild)->seq;
    fprintf(stderr, "replay: rebuilt %llu events in %.3f s (%.0f events/s)\n",
            (unsigned long long)n, secs, secs > 0 ? (double)n / secs : 0.0);
    return KB_AUDIT_EXIT_OK;
}

static int replay_compare_report(replay_run *r) {
    static const kb_cf families[] = {KB_CF_STATE, KB_CF_INDEX, KB_CF_STREAMS};
    kb_audit_cmp cmp = {.out = stdout};
    kb_status st = kb_audit_cmp_families(r->live, r->snap, r->scratch, families,
                                         sizeof families / sizeof families[0], &cmp);
    if (st == KB_OK) st = kb_audit_cmp_head(r->live, r->snap, r->scratch, &cmp);
    if (st != KB_OK) {
        fprintf(stderr, "error: comparing the stores: %s\n", kb_status_str(st));
        return KB_AUDIT_EXIT_USAGE;
    }
    if (cmp.diffs == 0) {
        printf("equal: %llu events; state %llu rows, index %llu entries, streams %llu entries\n",
               (unsigned long long)kb_rebuild_head(r->rebuild)->seq,
               (unsigned long long)cmp.rows[KB_CF_STATE], (unsigned long long)cmp.rows[KB_CF_INDEX],
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

static int replay_run_all(const replay_opts *o, replay_watch *w) {
    replay_run r;
    memset(&r, 0, sizeof r);
    r.watch = w;
    int rc = replay_setup(&r, o);
    if (r.dir_ready) {
        memcpy(w->dir, r.dir, sizeof w->dir);
        w->dir_ours = r.dir_ours;
        atomic_store(&w->dir_ready, true);
    }
    atomic_store(&w->phase, PHASE_FOLD);
    if (rc == KB_AUDIT_EXIT_OK) rc = replay_rebuild_report(&r);
    atomic_store(&w->seq, 0);
    atomic_store(&w->phase, PHASE_COMPARE);
    if (rc == KB_AUDIT_EXIT_OK) rc = replay_compare_report(&r);
    replay_teardown(&r, o);
    return rc;
}

/* The child's end: its own exit code when it returned, else FAIL at the
 * record it was folding (or an error, when it died elsewhere). */
static int replay_child_end(const replay_opts *o, replay_watch *w, int status) {
    if (atomic_load(&w->done) && WIFEXITED(status)) return WEXITSTATUS(status);
    char how[48];
    if (WIFSIGNALED(status)) {
        snprintf(how, sizeof how, "signal %d", WTERMSIG(status));
    } else {
        snprintf(how, sizeof how, "exit %d", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    }
    if (atomic_load(&w->dir_ready) && !o->keep) (void)kb_audit_rmtree(w->dir, !w->dir_ours);
    uint64_t seq = atomic_load(&w->seq);
    if (atomic_load(&w->phase) == PHASE_FOLD && seq) {
        printf(
            "FAIL at seq %llu: cannot project the event (the fold stopped: %s); a record "
            "written by hand whose chain checks\n",
            (unsigned long long)seq, how);
        return KB_AUDIT_EXIT_FAIL;
    }
    fprintf(stderr, "error: the replay stopped (%s) while %s\n", how,
            atomic_load(&w->phase) == PHASE_SETUP ? "opening the stores" : "comparing the stores");
    return KB_AUDIT_EXIT_USAGE;
}

int kb_audit_replay(int argc, char **argv) {
    replay_opts o;
    int p = replay_parse(argc, argv, &o);
    if (p > 0) return KB_AUDIT_EXIT_OK;
    if (p < 0) {
        fprintf(stderr,
                "usage: kasboek-audit replay DATA_DIR [--scratch DIR] [--keep] [--chunk-mb N]\n");
        return KB_AUDIT_EXIT_USAGE;
    }
    replay_watch *w =
        mmap(NULL, sizeof *w, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (w == MAP_FAILED) {
        fprintf(stderr, "error: mmap: %s\n", strerror(errno));
        return KB_AUDIT_EXIT_USAGE;
    }
    memset(w, 0, sizeof *w);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "error: fork: %s\n", strerror(errno));
        munmap(w, sizeof *w);
        return KB_AUDIT_EXIT_USAGE;
    }
    if (pid == 0) { /* the child does the replay; exit flushes its output */
        int rc = replay_run_all(&o, w);
        fflush(NULL);
        atomic_store(&w->done, true);
        exit(rc);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    int rc = replay_child_end(&o, w, status);
    munmap(w, sizeof *w);
    return rc;
}
