/* A throw-away PostgreSQL cluster for the peer modes (pg.c) and the pgbench
 * runs against it (pgbench.c). Unix socket only, fsync and
 * synchronous_commit on, trust authentication for the one superuser. */
#ifndef KBB_PG_H
#define KBB_PG_H

#include "bench.h"

#define KBB_PG_USER "kbbench"

typedef struct kbb_pg {
    char bin[KBB_PATH_BYTES_MAX];  /* .../postgresql/NN/bin */
    char dir[KBB_PATH_BYTES_MAX];  /* temp dir: socket, logs; postgres-owned */
    char data[KBB_PATH_BYTES_MAX]; /* dir/data */
    char log_path[KBB_PATH_BYTES_MAX];
    char tmp[KBB_PATH_BYTES_MAX]; /* the bench's own dir: scripts, pgbench logs */
    pid_t pid;                    /* the postmaster, 0 when stopped */
} kbb_pg;

/* initdb + start + wait until ready. On failure everything is stopped. */
int kbb_pg_start(const kbb_config *cfg, const char *tmp, kbb_pg *pg);
/* Fast shutdown, then the temp dir goes. */
void kbb_pg_stop(kbb_pg *pg);
/* Runs SQL text through psql (ON_ERROR_STOP). */
int kbb_pg_sql(const kbb_pg *pg, const char *name, const char *sql);

/* The peer modes: postgres (1, 16, 64 clients) and postgres_batch. */
int kbb_pgbench_modes(const kbb_config *cfg, const kbb_pg *pg, kbb_results *res);

#endif
