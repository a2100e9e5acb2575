/* kasboek-audit: entry point and help. */
#include <malloc.h>
#include <sodium.h>
#include <string.h>

#include "audit.h"

void kb_audit_usage(FILE *f) {
    fputs(
        "usage: kasboek-audit verify DATA_DIR\n"
        "       kasboek-audit replay DATA_DIR [--scratch DIR] [--keep] [--chunk-mb N]\n"
        "       kasboek-audit --help\n"
        "\n"
        "DATA_DIR is opened read-only: a copy of a live data dir or a RocksDB\n"
        "checkpoint directory both work.\n"
        "\n"
        "verify  Walks the hash chain from seq 1 to the head in meta and checks\n"
        "        every record (seq, prev_hash, BLAKE2b-256 hash) and the head.\n"
        "        Prints 'ok: N events, head seq S, head hash H', or\n"
        "        'FAIL at seq S: why' naming the first bad seq.\n"
        "\n"
        "replay  Rebuilds every projection from the log into a scratch store,\n"
        "        checking each record's chain on the way, then compares the\n"
        "        live families state, index and streams and the meta head key\n"
        "        with the rebuilt ones byte for byte. Prints 'equal: ...' or\n"
        "        each difference (up to 20) and 'DIFFERENT'. The rebuild rate\n"
        "        goes to stderr.\n"
        "        Not compared: the idempotency family (request fingerprints and\n"
        "        stored replies, not a projection of the log) and the other meta\n"
        "        keys (schema, clock). A store whose projections are of another\n"
        "        schema than this build's is refused (exit 2): kasboekd\n"
        "        reprojects it when it opens it.\n"
        "        --scratch DIR  build the scratch store in DIR, which must not\n"
        "                       exist or be empty (default: a new directory\n"
        "                       under $TMPDIR or /tmp)\n"
        "        --keep         keep the scratch store (its path goes to stderr)\n"
        "        --chunk-mb N   memory for one chunk of the fold (default 32);\n"
        "                       two chunks are held (one folds while the\n"
        "                       other is written): peak use is about four\n"
        "                       times this, plus RocksDB's caches\n"
        "\n"
        "exit status: 0 ok/equal, 1 FAIL/DIFFERENT, 2 usage, open or\n"
        "environment error.\n",
        f);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        kb_audit_usage(stderr);
        return KB_AUDIT_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        kb_audit_usage(stdout);
        return KB_AUDIT_EXIT_OK;
    }
    /* replay frees and remakes a chunk's memory many times: keep it rather
     * than hand it back and fault it in again (peak use is unchanged). */
    (void)mallopt(M_TRIM_THRESHOLD, 1 << 30);
    (void)mallopt(M_MMAP_THRESHOLD, 64 << 20);
    if (sodium_init() < 0) {
        fprintf(stderr, "error: libsodium failed to initialise\n");
        return KB_AUDIT_EXIT_USAGE;
    }
    if (strcmp(cmd, "verify") == 0) return kb_audit_verify(argc - 2, argv + 2);
    if (strcmp(cmd, "replay") == 0) return kb_audit_replay(argc - 2, argv + 2);
    fprintf(stderr, "kasboek-audit: unknown command '%s' (try --help)\n", cmd);
    return KB_AUDIT_EXIT_USAGE;
}
