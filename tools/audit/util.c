/* Small helpers shared by the subcommands: opening, printing, the clock and
 * removing the scratch store. */
#define _XOPEN_SOURCE 700 /* nftw */

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"

kb_status kb_audit_open_ro(const char *dir, kb_store **out) {
    char err[512] = "";
    kb_status st = kb_store_open(dir, KB_OPEN_READ_ONLY, NULL, out, err, sizeof err);
    if (st != KB_OK) {
        fprintf(stderr, "error: cannot open %s read-only: %s (%s)\n", dir,
                err[0] ? err : "failed", kb_status_str(st));
    }
    return st;
}

void kb_audit_print_hex(FILE *f, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) fprintf(f, "%02x", b[i]);
}

void kb_audit_print_key(FILE *f, const void *p, size_t n) {
    const unsigned char *b = p;
    bool printable = true;
    for (size_t i = 0; i < n && printable; i++) {
        printable = b[i] >= 0x20 && b[i] < 0x7f && b[i] != '"' && b[i] != '\\';
    }
    if (printable) {
        fprintf(f, "\"%.*s\"", (int)n, (const char *)p);
        return;
    }
    fputs("x'", f);
    kb_audit_print_hex(f, p, n);
    fputc('\'', f);
}

double kb_audit_now_s(void) {
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) return 0.0;
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool rm_keep_top; /* nftw has no user pointer */

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    if (ftw->level == 0 && rm_keep_top) return 0;
    int rc = (flag == FTW_DP) ? rmdir(path) : unlink(path);
    if (rc != 0) fprintf(stderr, "warning: cannot remove %s: %s\n", path, strerror(errno));
    return rc;
}

int kb_audit_rmtree(const char *dir, bool keep_top) {
    rm_keep_top = keep_top;
    /* FTW_DEPTH: children before their directory; FTW_PHYS: no symlinks. */
    return nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}
