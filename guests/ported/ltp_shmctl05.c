/* Port of LTP's shmctl05: regression test for Linux commit 3f05317d9889 (ipc/shm: fix
 * use-after-free of shm file via remap_file_pages()): one thread attaches a segment and calls
 * remap_file_pages() on it until it fails, while another removes the id and creates a new
 * segment under the same key; remap_file_pages() must fail with EIDRM or EINVAL, and the kernel
 * must not crash.
 * Origin: github.com/linux-test-project/ltp, testcases/kernel/syscalls/shmctl/shmctl05.c,
 * commit 695827725f4fc14fe583043127e0335c29bbd52d. License: GPL-2.0-or-later (Copyright (c) 2018
 * Google, Inc.). The calls and checks are LTP's, in its order; the code is vmm's own C (tst_test
 * → guests/ported/ported.h). LTP's fuzzy sync (tst_fuzzy_sync.h) pairs the two threads' race
 * windows and runs for at least 40 s; here a pthread barrier starts and ends each round, for
 * 2000 rounds or 2 s, whichever comes first (the race is the same; fewer tries at it).
 *
 * Threads: a second thread (pthread_create), no fork. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "ported.h"

#define ROUNDS 2000
#define SECONDS 2

static pthread_barrier_t start, end;
static volatile int done;

static long tst_syscall(long nr, long a, long b, long c, long d, long e) {
    long r = syscall(nr, a, b, c, d, e);
    if (r == -1 && errno == ENOSYS) {
        printf("SKIP shmctl05: syscall %ld not supported\n", nr);
        ported_skipped++;
        exit(ported_summary());
    }
    return r;
}

/* Thread 2: removes the id and reallocates it for a new segment, once a round. */
static void *thrproc(void *unused) {
    int id = SAFE(shmget(0xF00F, 4096, IPC_CREAT | 0700));
    for (;;) {
        pthread_barrier_wait(&start);
        if (done)
            break;
        SAFE(shmctl(id, IPC_RMID, NULL));
        id = SAFE(shmget(0xF00F, 4096, IPC_CREAT | 0700));
        pthread_barrier_wait(&end);
    }
    return unused;
}

static void setup(void) {
    /* Skip the test if either remap_file_pages() or SysV IPC is unavailable. */
    tst_syscall(SYS_remap_file_pages, 0, 0, 0, 0, 0);
    tst_syscall(SYS_shmctl, 0xF00F, IPC_RMID, 0, 0, 0);
    pthread_barrier_init(&start, NULL, 2);
    pthread_barrier_init(&end, NULL, 2);
}

static void do_test(void) {
    pthread_t t;
    time_t t0 = time(NULL);

    if (pthread_create(&t, NULL, thrproc, NULL) != 0)
        BROK("SAFE_PTHREAD_CREATE");
    for (int round = 0; round < ROUNDS && time(NULL) - t0 < SECONDS; round++) {
        int id;
        void *addr;
        long ret;
        int err;

        id = SAFE(shmget(0xF00F, 4096, IPC_CREAT | 0700));
        addr = SAFE_PTR(shmat(id, NULL, 0));
        pthread_barrier_wait(&start);
        do {
            /* The system call that crashed. */
            errno = 0;
            ret = syscall(SYS_remap_file_pages, addr, 4096, 0, 0, 0);
            err = errno;
        } while (ret == 0);
        pthread_barrier_wait(&end);
        if (err != EIDRM && err != EINVAL) {
            errno = err;
            BROK("Unexpected remap_file_pages() error");
        }
        /* May fail on v4.0+: remap_file_pages() already unmapped the segment. */
        shmdt(addr);
    }
    done = 1;
    pthread_barrier_wait(&start);
    pthread_join(t, NULL);
}

static void cleanup(void) {
    int id = shmget(0xF00F, 4096, 0);
    if (id == -1) {
        if (errno != ENOENT)
            printf("TWARN shmctl05: shmget() (errno %s)\n", ported_errno_name(errno));
        return;
    }
    SAFE(shmctl(id, IPC_RMID, NULL));
}

int main(void) {
    ported_name = "setup";
    setup();
    ported_cleanup = cleanup;
    RUN(do_test);
    ported_cleanup = NULL;
    cleanup();
    return ported_summary();
}
