/* A main() for the fuzz targets without libFuzzer (KB_FUZZ=OFF, any
 * compiler): calls LLVMFuzzerInitialize once, then LLVMFuzzerTestOneInput
 * for every file named on the command line, a directory standing for the
 * files in it (in name order). The ctest fuzz.<target> replays the target's
 * corpus this way, so each normal and ASan run re-checks every kept input.
 *
 *   fuzz_engine tests/fuzz/corpus/fuzz_engine [crash-file ...]
 *
 * Exit status 0 when at least one input ran (and none aborted). */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return -1;
    }
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0, got;
    do {
        if (len == cap) {
            cap = cap ? 2 * cap : 4096;
            uint8_t *grown = realloc(buf, cap);
            if (!grown) abort();
            buf = grown;
        }
        got = fread(buf + len, 1, cap - len, f);
        len += got;
    } while (got > 0);
    fclose(f);
    LLVMFuzzerTestOneInput(buf, len);
    free(buf);
    return 1;
}

static int skip_dots(const struct dirent *d) {
    return d->d_name[0] != '.';
}

static int run_dir(const char *dir) {
    struct dirent **names;
    int n = scandir(dir, &names, skip_dots, alphasort);
    if (n < 0) {
        perror(dir);
        return -1;
    }
    int ran = 0;
    for (int i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
        struct stat st;
        if (ran >= 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            int r = run_file(path);
            ran = r < 0 ? -1 : ran + r;
        }
        free(names[i]);
    }
    free(names);
    return ran;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s corpus-dir-or-file...\n", argv[0]);
        return 2;
    }
    LLVMFuzzerInitialize(&argc, &argv);
    int total = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        int r =
            stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode) ? run_dir(argv[i]) : run_file(argv[i]);
        if (r < 0) return 1;
        total += r;
    }
    printf("%s: replayed %d inputs\n", argv[0], total);
    return total > 0 ? 0 : 1;
}
