/* kasboek-bench: one run on one machine measures kasboek against its
 * ceilings (nng echo, RocksDB synced writes) and its peer (PostgreSQL as an
 * event store), plus replay/verify/restart and footprint (issue 3).
 *
 * Modules:
 *   main.c      orchestration, cleanup on every path
 *   args.c      command line, locating kasboekd / kasboek-audit / PostgreSQL
 *   stats.c     clocks, latency sets and percentiles
 *   proc.c      child processes, temp dirs, the cleanup registry, du, RSS
 *   server.c    kasboekd lifecycle (start, ready, stop, peak RSS)
 *   workload.c  the RecordPayment/RefundPayment command stream, message sizes
 *   load.c      closed-loop clients: one thread and one REQ socket each
 *   kasboek.c   modes kasboek_single and kasboek_batch
 *   echo.c      mode nng_echo (REP server with contexts in this process)
 *   rocks.c     mode rocksdb_sync (RocksDB C API, sync=1)
 *   pg.c        a throw-away PostgreSQL cluster; pgbench.c drives it
 *   replay.c    log build, kasboek-audit verify/replay, restart, footprint
 *   report.c    tables, ratios, JSON, --check
 *
 * Ownership: every struct here is caller-owned; strings in kbb_config are
 * fixed buffers. Functions return 0 on success and -1 after printing why to
 * stderr, unless stated otherwise. */
#ifndef KBB_BENCH_H
#define KBB_BENCH_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "kasboek.h"

/* ------------------------------------------------------------ limits */

#define KBB_PATH_BYTES_MAX     512
#define KBB_IPC_PATH_BYTES_MAX 100 /* sun_path is 108 bytes */
#define KBB_POINTS_MAX         4   /* points per series */
#define KBB_CLIENTS_MAX        256
#define KBB_CHILDREN_MAX       16 /* live child processes at once */
#define KBB_TEMP_DIRS_MAX      8
#define KBB_ERROR_BYTES        256
#define KBB_BATCH_COMMANDS_MAX 1000 /* KB_SUBMIT_BATCH_COMMANDS_MAX */
#define KBB_COMMAND_BYTES_MAX  1024 /* one packed command payload */

#define KBB_CALL_TIMEOUT_MS         30000 /* one client request */
#define KBB_SERVER_START_TIMEOUT_MS 60000
#define KBB_SERVER_STOP_TIMEOUT_MS  60000
#define KBB_TOOL_TIMEOUT_MS         600000 /* one kasboek-audit run */
#define KBB_PG_TIMEOUT_MS           120000 /* initdb, start, stop, psql */
#define KBB_KILL_GRACE_MS           10000  /* cleanup: SIGTERM..SIGKILL */

/* Set by SIGINT/SIGTERM: every loop checks it and winds down. */
extern volatile sig_atomic_t kbb_interrupted;

/* ------------------------------------------------------------ config */

enum {
    KBB_MODE_SINGLE = 1 << 0,
    KBB_MODE_BATCH = 1 << 1,
    KBB_MODE_ECHO = 1 << 2,
    KBB_MODE_ROCKS = 1 << 3,
    KBB_MODE_PG = 1 << 4, /* postgres and postgres_batch */
    KBB_MODE_REPLAY = 1 << 5,
    KBB_MODE_ALL = (1 << 6) - 1,
};

typedef struct kbb_config {
    bool quick;
    bool check;
    bool allow_missing_pg;
    unsigned modes;        /* KBB_MODE_* */
    const char *json_path; /* NULL = no JSON */
    char kasboekd[KBB_PATH_BYTES_MAX];
    char audit[KBB_PATH_BYTES_MAX];
    char pg_bin[KBB_PATH_BYTES_MAX]; /* "" = PostgreSQL not found */
    char tmp_base[KBB_PATH_BYTES_MAX];
    double point_s;              /* seconds per measured point */
    uint32_t payment_ids;        /* ids per kasboek_single point */
    uint32_t batch_commands_max; /* commands per kasboek_batch point */
    uint32_t batch_clients;      /* clients of the batched modes */
    uint64_t echo_requests_max;  /* requests per nng_echo point */
    uint64_t rocks_records_max;  /* records per rocksdb_sync point */
    uint64_t log_events;         /* events of the replay log */
    double log_build_s_max;      /* bound on building it */
    uint32_t clients[3];         /* 1, 16, 64 */
    uint32_t batch_sizes[2];     /* 100, 1000 */
    uint32_t rocks_batches[3];   /* 1, 100, 1000 */
    uint32_t pg_batch;           /* events per batched transaction */
} kbb_config;

/* Fills cfg from argv. Returns 0, 1 after --help, or 2 on a usage error. */
int kbb_args_parse(kbb_config *cfg, int argc, char **argv);

/* ----------------------------------------------------------- results */

typedef struct kbb_point {
    bool ran;
    uint32_t key; /* client count or batch size */
    uint32_t clients;
    uint32_t batch;                 /* commands/records per request */
    double ops_per_s;               /* commands or records per second */
    double p50_ms, p99_ms, p999_ms; /* per request */
    uint64_t ops, requests;
    double secs;
    double server_us_per_op; /* kasboekd CPU per command, 0 = not measured */
} kbb_point;

typedef struct kbb_series {
    const char *json_key;
    const char *key_name; /* "clients" or "batch" */
    kbb_point pts[KBB_POINTS_MAX];
    int n;
    bool skipped; /* PostgreSQL missing and allowed */
    bool failed;
} kbb_series;

typedef struct kbb_results {
    kbb_series single, batch, echo, rocks, shape, pg, pg_batch;
    double replay_events_per_s;       /* the rebuild rate `kasboek-audit replay` prints */
    double replay_audit_events_per_s; /* its wall time: rebuild, then the compare */
    double verify_events_per_s;
    double verify_cpu_s; /* its CPU time, user + system, every thread */
    /* The rebuild's floor (floor.c): the rows a rebuild of the log writes,
     * into table files alone, one thread. */
    uint64_t floor_rows;
    double floor_sst_s;
    double restart_s;
    double bytes_per_event; /* allocated blocks (du) */
    double apparent_bytes_per_event;
    double compacted_bytes_per_event; /* after flush + full compaction */
    double peak_rss_mb;
    double log_build_s;
    uint64_t log_events;
    /* The log's kasboekd, VmHWM when half the log was in and at the end:
     * how its memory grows with the log rather than with its options. */
    double log_rss_half_mb, log_rss_full_mb;
    uint64_t log_events_half;
    bool replay_failed;
    size_t request_bytes;       /* a RecordPayment Request envelope */
    size_t response_bytes;      /* its Response envelope */
    size_t record_bytes;        /* a stored PaymentRecorded EventRecord */
    size_t event_payload_bytes; /* its packed Event */
    char started_at[32];
    double load_avg_start;
    /* kbb_cpu_probe_ms at the start and at the end of the run: this VM's
     * speed drifts, and the two say by how much during the run. */
    double cpu_probe_start_ms, cpu_probe_end_ms;
} kbb_results;

/* ------------------------------------------------------------- stats */

double kbb_now_s(void); /* CLOCK_MONOTONIC */
/* A fixed piece of CPU work (BLAKE2b over 16 MiB, best of three), in
 * ms: the same on the same machine, so a change says the machine's speed
 * moved (< 0 when its buffer cannot be had). */
double kbb_cpu_probe_ms(void);
uint64_t kbb_now_ns(void);
void kbb_sleep_ms(int ms);

typedef struct kbb_latency {
    uint64_t *ns;
    size_t n, cap;
} kbb_latency;

int kbb_latency_init(kbb_latency *l, size_t cap);
void kbb_latency_fini(kbb_latency *l);
static inline void kbb_latency_add(kbb_latency *l, uint64_t ns) {
    if (l->n < l->cap) l->ns[l->n++] = ns;
}
/* Sorts l and sets p50/p99/p99.9 in ms (nearest rank); zeros when empty. */
void kbb_latency_summary(kbb_latency *l, double *p50, double *p99, double *p999);

/* -------------------------------------------------------------- proc */

typedef struct kbb_spawn {
    const char *const *argv; /* argv[0] is the path */
    const char *out_path;    /* stdout (NULL: /dev/null) */
    const char *err_path;    /* stderr (NULL: same file as stdout) */
    const char *cwd;         /* NULL: inherit */
    bool as_postgres;        /* drop to the postgres user (when root) */
    int stop_sig;            /* cleanup sends this first */
    int death_sig;           /* sent by the kernel if the bench dies */
} kbb_spawn;

int kbb_proc_spawn(const kbb_spawn *s, pid_t *pid);
/* Waits up to timeout_ms. 0 with *status (exit code, or 128+signal) when it
 * ended; 1 on timeout (still running); -1 on error. */
int kbb_proc_wait(pid_t pid, int timeout_ms, int *status);
/* Sends sig, waits up to timeout_ms, then SIGKILL. *status as above. */
int kbb_proc_stop(pid_t pid, int sig, int timeout_ms, int *status);
/* Spawns, waits up to timeout_ms (killing it after), *wall_s = run time.
 * Returns 0 when it exited with status 0. */
int kbb_proc_run(const kbb_spawn *s, int timeout_ms, double *wall_s);
/* Stops every registered child (its stop signal, then SIGKILL). */
void kbb_cleanup_children(void);
/* Prints the last lines of a log file to stderr (diagnostics). */
void kbb_print_tail(const char *path, int lines);

/* A fresh directory under base named prefix-XXXXXX, registered for
 * removal by kbb_cleanup_all. */
int kbb_tempdir_make(const char *base, const char *prefix, char out[KBB_PATH_BYTES_MAX]);
/* Removes a tree (no symlinks followed). 0 on success. */
int kbb_rmtree(const char *dir);
/* Removes a registered temp dir and forgets it. */
void kbb_tempdir_remove(const char *dir);
/* Kills every child still running and removes every temp dir. Idempotent. */
void kbb_cleanup_all(void);

/* Sums the sizes under dir: allocated (st_blocks) and apparent bytes. */
int kbb_dir_bytes(const char *dir, uint64_t *allocated, uint64_t *apparent);
/* VmHWM of pid in kB; 0 when unreadable. */
uint64_t kbb_proc_hwm_kb(pid_t pid);
/* User + system CPU seconds of a live process (0 when unreadable). */
double kbb_proc_cpu_s(pid_t pid);
/* uid/gid of the postgres user when we are root; false if not needed. */
bool kbb_postgres_ids(uid_t *uid, gid_t *gid);
/* Reads a whole small file into buf (NUL-terminated). */
int kbb_read_file(const char *path, char *buf, size_t n);
int kbb_write_file(const char *path, const char *text);

/* ------------------------------------------------------------ server */

typedef struct kbb_server {
    char dir[KBB_PATH_BYTES_MAX]; /* parent of data/, the socket, the log */
    char data_dir[KBB_PATH_BYTES_MAX];
    char url[KBB_PATH_BYTES_MAX];
    char log_path[KBB_PATH_BYTES_MAX];
    pid_t pid;
    double ready_s;  /* spawn to first GetStatus answer */
    uint64_t hwm_kb; /* VmHWM read just before the stop */
    double cpu_s;    /* user + system CPU read just before the stop */
} kbb_server;

/* Starts kasboekd on dir/data (created if missing), socket dir/k.sock. */
int kbb_server_start(const kbb_config *cfg, const char *dir, kbb_server *s);
/* Reads VmHWM, sends SIGTERM, waits; 0 when it exited with status 0. */
int kbb_server_stop(kbb_server *s);
int kbb_server_head(const kbb_server *s, uint64_t *head_seq);
/* Opens a client to the server; 0 or -1. */
int kbb_client_open(const char *url, kb_client **out);

/* ---------------------------------------------------------- workload */

/* The command stream of one client: RecordPayment of new card payments
 * (100.00 EUR) with every ninth-and-tenth command a 1.00 EUR RefundPayment
 * of one of this client's earlier payments (so it succeeds). Ids and keys
 * are unique per (tag, client). */
typedef struct kbb_cmd {
    const char *method;          /* "RecordPayment" / "RefundPayment" */
    const ProtobufCMessage *msg; /* valid until the next kbb_gen_next */
    const char *idempotency_key;
    uint32_t events; /* events the command appends */
} kbb_cmd;

typedef struct kbb_gen kbb_gen;
kbb_gen *kbb_gen_new(const char *tag, uint32_t client, uint32_t ids_max);
void kbb_gen_free(kbb_gen *g);
/* false when this client's payment ids are used up. */
bool kbb_gen_next(kbb_gen *g, kbb_cmd *out);

/* Sizes of the typical messages, computed from the generator's first
 * command (a RecordPayment). reply_payload_len: a measured CommandResult
 * size (0 = estimate). */
void kbb_workload_sizes(kbb_results *r, size_t reply_payload_len);

/* -------------------------------------------------------------- load */

enum { KBB_REQ_OK = 0, KBB_REQ_DONE = 1, KBB_REQ_FAIL = -1 };

typedef struct kbb_worker kbb_worker;

typedef struct kbb_load_ops {
    int (*open)(kbb_worker *w);    /* before the start line; 0 or -1 */
    int (*request)(kbb_worker *w); /* one request: KBB_REQ_* */
    void (*close)(kbb_worker *w);
} kbb_load_ops;

typedef struct kbb_load_spec {
    const kbb_load_ops *ops;
    void *ctx; /* the mode's, shared by all workers */
    uint32_t clients;
    uint64_t requests_max; /* per client */
    double duration_s;
} kbb_load_spec;

struct kbb_worker {
    const kbb_load_spec *spec;
    uint32_t index;
    void *state;  /* the mode's, set by open, freed by close */
    uint64_t ops; /* commands/records completed OK */
    uint64_t requests;
    kbb_latency lat;
    double end_s;
    bool failed;
    char error[KBB_ERROR_BYTES];
    atomic_bool *stop; /* set to end the run early (all workers) */
    void *run;         /* load.c's bookkeeping */
    pthread_t thread;
};

typedef struct kbb_load_result {
    uint64_t ops, requests;
    double secs;
    double p50_ms, p99_ms, p999_ms;
    double server_cpu_s; /* kasboekd's user + system CPU, 0 when not known */
    bool failed;
    char error[KBB_ERROR_BYTES];
} kbb_load_result;

/* Runs spec->clients closed-loop workers for up to duration_s (or until a
 * worker reaches requests_max or returns KBB_REQ_DONE). 0 when every
 * request succeeded; -1 otherwise (out->error says why). */
int kbb_load_run(const kbb_load_spec *spec, kbb_load_result *out);
void kbb_point_set(kbb_point *p, uint32_t key, uint32_t clients, uint32_t batch,
                   const kbb_load_result *r);

/* ------------------------------------------------------------- modes */

int kbb_mode_single(const kbb_config *cfg, const char *tmp, kbb_results *res);
int kbb_mode_batch(const kbb_config *cfg, const char *tmp, kbb_results *res);
int kbb_mode_echo(const kbb_config *cfg, const char *tmp, kbb_results *res);
/* rocksdb_sync, then rocksdb_shape. */
int kbb_mode_rocks(const kbb_config *cfg, const char *tmp, kbb_results *res);
/* One point of rocksdb_shape: kasboek's storage layer writing `batch`
 * commands' keys per synced write (shape.c). */
int kbb_shape_point(const kbb_config *cfg, const char *tmp, uint32_t batch, size_t event_bytes,
                    kbb_load_result *lr);
int kbb_mode_pg(const kbb_config *cfg, const char *tmp, kbb_results *res);
/* Flushes and fully compacts every column family of a stopped store. */
int kbb_rocks_compact(const char *dir);
int kbb_mode_replay(const kbb_config *cfg, const char *tmp, kbb_results *res);
/* floor.c: times writing data_dir's state, index and streams rows into
 * table files under tmp (res->floor_rows, res->floor_sst_s). */
int kbb_replay_floor(const char *data_dir, const char *tmp, kbb_results *res);

/* Batched kasboek load, shared by kbb_mode_batch and the log build. */
typedef struct kbb_batch_ctx {
    const char *url;
    const char *tag;
    uint32_t batch;
    uint32_t ids_per_client;
    atomic_uint_fast64_t events; /* events appended so far */
    uint64_t events_target;      /* 0 = no target */
} kbb_batch_ctx;
extern const kbb_load_ops kbb_batch_ops;

/* Records a finished server's VmHWM into res->peak_rss_mb. */
void kbb_note_rss(kbb_results *res, const kbb_server *s);

/* ------------------------------------------------------------ report */

void kbb_report_print(const kbb_config *cfg, const kbb_results *res);
int kbb_report_json(const kbb_config *cfg, const kbb_results *res, const char *path);
/* 0 when every figure is present and non-zero. */
int kbb_report_check(const kbb_config *cfg, const kbb_results *res);

#endif
