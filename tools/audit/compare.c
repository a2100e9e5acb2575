/* Byte-for-byte comparison of a live store's projections with a rebuilt
 * store: two iterators walked in lockstep in key order. */
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "keys.h"
#include "log.h"

/* RocksDB's default bytewise order. */
static int key_cmp(const char *a, size_t an, const char *b, size_t bn) {
    int c = memcmp(a, b, an < bn ? an : bn);
    if (c != 0) return c;
    return an < bn ? -1 : an > bn ? 1 : 0;
}

static void report(kb_audit_cmp *cmp, const char *family, const char *key, size_t key_len,
                   const char *what) {
    cmp->diffs++;
    if (cmp->diffs > KB_AUDIT_DIFFS_SHOWN_MAX) return;
    fprintf(cmp->out, "%s ", family);
    kb_audit_print_key(cmp->out, key, key_len);
    fprintf(cmp->out, ": %s\n", what);
}

/* One lockstep step; returns false when both iterators are exhausted. */
static bool cmp_step(kb_iter *a, kb_iter *b, kb_cf cf, kb_audit_cmp *cmp) {
    bool va = kb_iter_valid(a), vb = kb_iter_valid(b);
    if (!va && !vb) return false;
    size_t akl = 0, bkl = 0;
    const char *ak = va ? kb_iter_key(a, &akl) : NULL;
    const char *bk = vb ? kb_iter_key(b, &bkl) : NULL;
    int c = !va ? 1 : !vb ? -1 : key_cmp(ak, akl, bk, bkl);
    if (c < 0) {
        report(cmp, kb_cf_name(cf), ak, akl, "missing in replay");
        cmp->rows[cf]++;
        kb_iter_next(a);
    } else if (c > 0) {
        report(cmp, kb_cf_name(cf), bk, bkl, "extra in replay");
        kb_iter_next(b);
    } else {
        size_t avl, bvl;
        const char *av = kb_iter_value(a, &avl);
        const char *bv = kb_iter_value(b, &bvl);
        if (avl != bvl || memcmp(av, bv, avl) != 0) {
            report(cmp, kb_cf_name(cf), ak, akl, "value differs");
        }
        cmp->rows[cf]++;
        kb_iter_next(a);
        kb_iter_next(b);
    }
    return true;
}

kb_status kb_audit_cmp_family(kb_store *live, const kb_snapshot *snap, kb_store *replay,
                              kb_cf cf, kb_audit_cmp *cmp) {
    kb_iter *a = kb_iter_open_seq(live, snap, cf, true);
    kb_iter *b = kb_iter_open_seq(replay, NULL, cf, false); /* every byte is compared */
    kb_status st = (a && b) ? KB_OK : KB_ERR_NOMEM;
    if (st == KB_OK) {
        kb_iter_seek_first(a);
        kb_iter_seek_first(b);
        while (cmp_step(a, b, cf, cmp)) {
        }
        st = kb_iter_status(a);
        if (st == KB_OK) st = kb_iter_status(b);
    }
    kb_iter_close(a);
    kb_iter_close(b);
    return st;
}

static kb_status head_get(kb_store *s, const kb_snapshot *snap, kb_value *out, bool *found) {
    kb_status st = kb_store_get(s, NULL, snap, KB_CF_META, KB_META_HEAD, strlen(KB_META_HEAD), out);
    *found = st == KB_OK;
    return st == KB_ERR_NOT_FOUND ? KB_OK : st;
}

/* Names both head seqs when the values have the head's shape. */
static void head_differs(kb_audit_cmp *cmp, const kb_value *a, const kb_value *b) {
    char what[128] = "value differs";
    if (a->len == 8 + KB_HASH_BYTES && b->len == 8 + KB_HASH_BYTES) {
        snprintf(what, sizeof what, "value differs (live seq %llu, replay seq %llu)",
                 (unsigned long long)kb_be64_get((const unsigned char *)a->data),
                 (unsigned long long)kb_be64_get((const unsigned char *)b->data));
    }
    report(cmp, "meta", KB_META_HEAD, strlen(KB_META_HEAD), what);
}

kb_status kb_audit_cmp_head(kb_store *live, const kb_snapshot *snap, kb_store *replay,
                            kb_audit_cmp *cmp) {
    kb_value a = {0}, b = {0};
    bool fa = false, fb = false;
    kb_status st = head_get(live, snap, &a, &fa);
    if (st == KB_OK) st = head_get(replay, NULL, &b, &fb);
    if (st == KB_OK) {
        if (fa) cmp->rows[KB_CF_META]++;
        if (fa && !fb) {
            report(cmp, "meta", KB_META_HEAD, strlen(KB_META_HEAD), "missing in replay");
        } else if (!fa && fb) {
            report(cmp, "meta", KB_META_HEAD, strlen(KB_META_HEAD), "extra in replay");
        } else if (fa && (a.len != b.len || memcmp(a.data, b.data, a.len) != 0)) {
            head_differs(cmp, &a, &b);
        }
    }
    kb_value_free(&a);
    kb_value_free(&b);
    return st;
}

/* One family's compare in kb_audit_cmp_families: its own counts and report
 * lines, merged in family order afterwards. */
typedef struct cmp_job {
    kb_cf cf;
    kb_audit_cmp cmp;
    char *text;
    size_t text_len;
    kb_status st;
} cmp_job;

typedef struct cmp_run {
    kb_store *live, *replay;
    const kb_snapshot *snap;
    cmp_job *jobs;
} cmp_run;

static void cmp_job_run(void *arg, size_t i) {
    cmp_run *p = arg;
    cmp_job *j = &p->jobs[i];
    j->cmp.out = open_memstream(&j->text, &j->text_len);
    if (!j->cmp.out) {
        j->st = KB_ERR_NOMEM;
        return;
    }
    j->st = kb_audit_cmp_family(p->live, p->snap, p->replay, j->cf, &j->cmp);
    if (fclose(j->cmp.out) != 0 && j->st == KB_OK) j->st = KB_ERR_NOMEM;
}

/* Adds j's counts to cmp and prints its lines while cmp shows any. */
static void cmp_merge(kb_audit_cmp *cmp, const cmp_job *j) {
    const char *line = j->text;
    const char *end = j->text ? j->text + j->text_len : NULL;
    for (uint64_t i = 0; i < j->cmp.diffs && line && line < end; i++) {
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        size_t n = nl ? (size_t)(nl - line) + 1 : (size_t)(end - line);
        if (cmp->diffs + i < KB_AUDIT_DIFFS_SHOWN_MAX) fwrite(line, 1, n, cmp->out);
        line += n;
    }
    cmp->diffs += j->cmp.diffs;
    for (int f = 0; f < KB_CF_COUNT_; f++) cmp->rows[f] += j->cmp.rows[f];
}

kb_status kb_audit_cmp_families(kb_store *live, const kb_snapshot *snap, kb_store *replay,
                                const kb_cf *cfs, size_t n, kb_audit_cmp *cmp) {
    cmp_job *jobs = calloc(n ? n : 1, sizeof *jobs);
    if (!jobs) return KB_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) jobs[i].cf = cfs[i];
    cmp_run p = {.live = live, .replay = replay, .snap = snap, .jobs = jobs};
    kb_audit_run_tasks(NULL, cmp_job_run, &p, n);
    kb_status st = KB_OK;
    for (size_t i = 0; i < n; i++) {
        if (st == KB_OK) cmp_merge(cmp, &jobs[i]); /* as far as it got */
        if (st == KB_OK) st = jobs[i].st;
        free(jobs[i].text);
    }
    free(jobs);
    return st;
}
