/* Temp dirs (registered for removal), tree removal and sizes, /proc reads,
 * small files. nftw has no user pointer: the walkers use file statics and
 * run on the main thread only. */
#include <errno.h>
#include <ftw.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench.h"

static char temp_dirs[KBB_TEMP_DIRS_MAX][KBB_PATH_BYTES_MAX];

int kbb_tempdir_make(const char *base, const char *prefix, char out[KBB_PATH_BYTES_MAX]) {
    int slot = -1;
    for (int i = 0; i < KBB_TEMP_DIRS_MAX && slot < 0; i++) {
        if (!temp_dirs[i][0]) slot = i;
    }
    int n = snprintf(out, KBB_PATH_BYTES_MAX, "%s/%s-XXXXXX", base, prefix);
    if (slot < 0 || n < 0 || n >= KBB_PATH_BYTES_MAX) {
        fprintf(stderr, "kasboek-bench: cannot make a temp dir under %s\n", base);
        return -1;
    }
    if (!mkdtemp(out)) {
        fprintf(stderr, "kasboek-bench: mkdtemp %s: %s\n", out, strerror(errno));
        return -1;
    }
    memcpy(temp_dirs[slot], out, (size_t)n + 1);
    return 0;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)ftw;
    int rc = (flag == FTW_DP) ? rmdir(path) : unlink(path);
    if (rc != 0 && errno != ENOENT) {
        fprintf(stderr, "kasboek-bench: cannot remove %s: %s\n", path, strerror(errno));
    }
    return 0; /* keep going: remove as much as possible */
}

int kbb_rmtree(const char *dir) {
    struct stat st;
    if (lstat(dir, &st) != 0) return errno == ENOENT ? 0 : -1;
    nftw(dir, rm_entry, 32, FTW_DEPTH | FTW_PHYS);
    return lstat(dir, &st) == 0 ? -1 : 0;
}

void kbb_tempdir_remove(const char *dir) {
    for (int i = 0; i < KBB_TEMP_DIRS_MAX; i++) {
        if (temp_dirs[i][0] && strcmp(temp_dirs[i], dir) == 0) {
            if (kbb_rmtree(temp_dirs[i]) != 0) {
                fprintf(stderr, "kasboek-bench: could not remove all of %s\n", temp_dirs[i]);
            }
            temp_dirs[i][0] = 0;
        }
    }
}

void kbb_cleanup_all(void) {
    kbb_cleanup_children();
    for (int i = 0; i < KBB_TEMP_DIRS_MAX; i++) {
        if (temp_dirs[i][0]) kbb_tempdir_remove(temp_dirs[i]);
    }
}

static uint64_t du_allocated, du_apparent;

static int du_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)path;
    (void)ftw;
    if (flag == FTW_F || flag == FTW_SL) {
        du_allocated += (uint64_t)sb->st_blocks * 512u;
        du_apparent += (uint64_t)sb->st_size;
    }
    return 0;
}

int kbb_dir_bytes(const char *dir, uint64_t *allocated, uint64_t *apparent) {
    du_allocated = du_apparent = 0;
    if (nftw(dir, du_entry, 32, FTW_PHYS) != 0) {
        fprintf(stderr, "kasboek-bench: cannot walk %s: %s\n", dir, strerror(errno));
        return -1;
    }
    *allocated = du_allocated;
    *apparent = du_apparent;
    return 0;
}

uint64_t kbb_proc_hwm_kb(pid_t pid) {
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    if (kbb_read_file(path, buf, sizeof buf) != 0) return 0;
    const char *p = strstr(buf, "VmHWM:");
    if (!p) return 0;
    return strtoull(p + 6, NULL, 10);
}

double kbb_proc_cpu_s(pid_t pid) {
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    if (kbb_read_file(path, buf, sizeof buf) != 0) return 0;
    const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    unsigned long long utime, stime;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
                     &stime) != 2) {
        return 0;
    }
    long hz = sysconf(_SC_CLK_TCK);
    return hz > 0 ? (double)(utime + stime) / (double)hz : 0;
}

bool kbb_postgres_ids(uid_t *uid, gid_t *gid) {
    if (geteuid() != 0) return false;
    struct passwd *pw = getpwnam("postgres");
    if (!pw) return false;
    *uid = pw->pw_uid;
    *gid = pw->pw_gid;
    return true;
}

int kbb_read_file(const char *path, char *buf, size_t n) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t got = fread(buf, 1, n - 1, f);
    int bad = ferror(f);
    fclose(f);
    buf[got] = 0;
    return bad ? -1 : 0;
}

int kbb_write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "kasboek-bench: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t n = strlen(text);
    bool ok = fwrite(text, 1, n, f) == n;
    if (fclose(f) != 0) ok = false;
    if (!ok) fprintf(stderr, "kasboek-bench: writing %s failed\n", path);
    return ok ? 0 : -1;
}
