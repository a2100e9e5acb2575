/* A preloaded shim for test_server_faults: while the file named by
 * KB_FAILSYNC_TRIGGER exists, fdatasync and fsync wait
 * KB_FAILSYNC_DELAY_MS (default 300) and then fail with EIO, as a disk
 * that stops taking writes does. Without the file they pass through. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static int failing(void) {
    const char *trigger = getenv("KB_FAILSYNC_TRIGGER");
    if (!trigger || access(trigger, F_OK) != 0) return 0;
    const char *d = getenv("KB_FAILSYNC_DELAY_MS");
    long ms = d ? strtol(d, NULL, 10) : 300;
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
    errno = EIO;
    return 1;
}

int fdatasync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    return failing() ? -1 : real(fd);
}

int fsync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    return failing() ? -1 : real(fd);
}
