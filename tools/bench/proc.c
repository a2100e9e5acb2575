/* Child processes: spawn (own process group, parent-death signal, optional
 * drop to the postgres user), bounded waits, and the registry that
 * kbb_cleanup_all empties on every exit path. */
#define _DEFAULT_SOURCE /* setgroups */

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

typedef struct child_slot {
    pid_t pid; /* 0 = free */
    int stop_sig;
} child_slot;

static child_slot children[KBB_CHILDREN_MAX];

static child_slot *slot_of(pid_t pid) {
    for (int i = 0; i < KBB_CHILDREN_MAX; i++) {
        if (children[i].pid == pid) return &children[i];
    }
    return NULL;
}

static void child_fail(const char *what) {
    (void)!write(2, "kasboek-bench: child: ", 22);
    (void)!write(2, what, strlen(what));
    (void)!write(2, "\n", 1);
    _exit(127);
}

/* In the child: only async-signal-safe calls until execv. */
static _Noreturn void child_exec(const kbb_spawn *s, int in, int out, int err, bool drop, uid_t uid,
                                 gid_t gid, pid_t parent) {
    if (setpgid(0, 0) != 0) child_fail("setpgid failed");
    if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err >= 0 ? err : out, 2) < 0) {
        child_fail("dup2 failed");
    }
    if (drop && (setgroups(0, NULL) != 0 || setgid(gid) != 0 || setuid(uid) != 0)) {
        child_fail("cannot switch to the postgres user");
    }
    if (s->cwd && chdir(s->cwd) != 0) child_fail("chdir failed");
    /* After the uid change, which clears it. */
    if (prctl(PR_SET_PDEATHSIG, s->death_sig ? s->death_sig : SIGKILL) != 0) {
        child_fail("prctl failed");
    }
    if (getppid() != parent) _exit(127);
    execv(s->argv[0], (char *const *)s->argv);
    child_fail("exec failed");
    _exit(127);
}

static int open_out(const char *path) {
    int fd = open(path ? path : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) fprintf(stderr, "kasboek-bench: cannot open %s: %s\n", path, strerror(errno));
    return fd;
}

static int fork_child(const kbb_spawn *s, int in, int out, int err, pid_t *pid) {
    uid_t uid = 0;
    gid_t gid = 0;
    bool drop = s->as_postgres && kbb_postgres_ids(&uid, &gid);
    if (s->as_postgres && geteuid() == 0 && !drop) {
        fprintf(stderr, "kasboek-bench: running as root but there is no postgres user\n");
        return -1;
    }
    pid_t parent = getpid();
    pid_t p = fork();
    if (p < 0) {
        fprintf(stderr, "kasboek-bench: fork: %s\n", strerror(errno));
        return -1;
    }
    if (p == 0) child_exec(s, in, out, err, drop, uid, gid, parent);
    *pid = p;
    return 0;
}

int kbb_proc_spawn(const kbb_spawn *s, pid_t *pid) {
    child_slot *slot = slot_of(0);
    if (!slot) {
        fprintf(stderr, "kasboek-bench: more than %d child processes\n", KBB_CHILDREN_MAX);
        return -1;
    }
    int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int out = open_out(s->out_path);
    int err = s->err_path ? open_out(s->err_path) : -1;
    int rc = -1;
    if (in >= 0 && out >= 0 && (!s->err_path || err >= 0)) rc = fork_child(s, in, out, err, pid);
    if (in >= 0) close(in);
    if (out >= 0) close(out);
    if (err >= 0) close(err);
    if (rc != 0) return -1;
    slot->pid = *pid;
    slot->stop_sig = s->stop_sig ? s->stop_sig : SIGTERM;
    return 0;
}

static int decode_status(int st) {
    if (WIFEXITED(st)) return WEXITSTATUS(st);
    if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
    return 255;
}

int kbb_proc_wait(pid_t pid, int timeout_ms, int *status) {
    double until = kbb_now_s() + timeout_ms / 1000.0;
    for (;;) {
        int st = 0;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) {
            child_slot *slot = slot_of(pid);
            if (slot) slot->pid = 0;
            *status = decode_status(st);
            return 0;
        }
        if (r < 0 && errno != EINTR) {
            fprintf(stderr, "kasboek-bench: waitpid %d: %s\n", (int)pid, strerror(errno));
            child_slot *slot = slot_of(pid);
            if (slot && errno == ECHILD) slot->pid = 0;
            return -1;
        }
        if (kbb_now_s() >= until) return 1;
        kbb_sleep_ms(1);
    }
}

int kbb_proc_stop(pid_t pid, int sig, int timeout_ms, int *status) {
    if (kill(pid, sig) != 0 && errno != ESRCH) {
        fprintf(stderr, "kasboek-bench: kill %d: %s\n", (int)pid, strerror(errno));
    }
    int rc = kbb_proc_wait(pid, timeout_ms, status);
    if (rc != 1) return rc;
    fprintf(stderr, "kasboek-bench: process %d did not stop in %d ms; killing it\n", (int)pid,
            timeout_ms);
    kill(-pid, SIGKILL); /* its whole process group */
    kill(pid, SIGKILL);
    rc = kbb_proc_wait(pid, KBB_KILL_GRACE_MS, status);
    return rc == 0 ? 0 : -1;
}

int kbb_proc_run(const kbb_spawn *s, int timeout_ms, double *wall_s) {
    pid_t pid;
    double t0 = kbb_now_s();
    if (kbb_proc_spawn(s, &pid) != 0) return -1;
    int status = 0, rc = 1;
    while (rc == 1 && !kbb_interrupted && kbb_now_s() - t0 < timeout_ms / 1000.0) {
        rc = kbb_proc_wait(pid, 100, &status);
    }
    if (wall_s) *wall_s = kbb_now_s() - t0;
    if (rc == 1) {
        fprintf(stderr, "kasboek-bench: %s %s; stopping it\n", s->argv[0],
                kbb_interrupted ? "interrupted" : "timed out");
        kbb_proc_stop(pid, s->stop_sig ? s->stop_sig : SIGTERM, KBB_KILL_GRACE_MS, &status);
        return -1;
    }
    if (rc != 0) return -1;
    if (status != 0) {
        fprintf(stderr, "kasboek-bench: %s exited with status %d\n", s->argv[0], status);
        return -1;
    }
    return 0;
}

void kbb_cleanup_children(void) {
    for (int i = 0; i < KBB_CHILDREN_MAX; i++) {
        if (!children[i].pid) continue;
        int status;
        kbb_proc_stop(children[i].pid, children[i].stop_sig, KBB_KILL_GRACE_MS, &status);
        children[i].pid = 0;
    }
}

void kbb_print_tail(const char *path, int lines) {
    char buf[4096];
    FILE *f = fopen(path, "r");
    if (!f) return;
    long start = 0;
    if (fseek(f, 0, SEEK_END) == 0) {
        long size = ftell(f);
        start = size > (long)sizeof buf - 1 ? size - (long)sizeof buf + 1 : 0;
    }
    size_t n = 0;
    if (fseek(f, start, SEEK_SET) == 0) n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = buf + n;
    for (int seen = 0; p > buf; p--) {
        if (p[-1] == '\n' && p != buf + n && ++seen > lines) break;
    }
    fprintf(stderr, "---- last lines of %s\n%s%s----\n", path, p,
            n && buf[n - 1] != '\n' ? "\n" : "");
}
