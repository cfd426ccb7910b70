/* Port of LTP's mincore04: pages of a private file mapping that a child process mlock()s are
 * all resident as the parent's mincore() sees them.
 * Origin: github.com/linux-test-project/ltp, testcases/kernel/syscalls/mincore/mincore04.c,
 * commit 695827725f4fc14fe583043127e0335c29bbd52d. License: GPL-2.0-or-later (Copyright (c)
 * Zilogic Systems Pvt. Ltd., 2020). The calls and checks are LTP's, in its order; the code is
 * vmm's own C (tst_test → guests/ported/ported.h; TST_CHECKPOINT_WAKE/WAIT are two pipes; the
 * file lives in a tst_tmpdir() directory under /tmp).
 *
 * Forks: the child that mlock()s (SAFE_FORK). */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ported.h"

#define NUM_PAGES 3

static int fd;
static int size;
static void *ptr;
static int checkpoint[2][2];

static void checkpoint_wake(int n) {
    if (write(checkpoint[n][1], "x", 1) != 1)
        BROK("TST_CHECKPOINT_WAKE");
}

static void checkpoint_wait(int n) {
    char c;
    if (read(checkpoint[n][0], &c, 1) != 1)
        BROK("TST_CHECKPOINT_WAIT");
}

static void cleanup(void) {
    if (fd > 0)
        SAFE(close(fd));
    if (ptr) {
        SAFE(munlock(ptr, size));
        SAFE(munmap(ptr, size));
    }
    unlink("FILE");
    ported_tmpdir_remove();
}

static void setup(void) {
    int page_size, ret;

    page_size = getpagesize();
    size = page_size * NUM_PAGES;
    fd = SAFE(open("FILE", O_CREAT | O_RDWR, 0600));
    SAFE(ftruncate(fd, size));
    /* File pages from file creation are cleared from cache. */
    SAFE(fsync(fd));
    ret = posix_fadvise(fd, 0, size, POSIX_FADV_DONTNEED);
    if (ret == -1)
        BROK("fadvise failed");
    SAFE(pipe(checkpoint[0]));
    SAFE(pipe(checkpoint[1]));
}

static void lock_file(void) {
    SAFE(mlock(ptr, size));
    checkpoint_wake(0);
    checkpoint_wait(1);
}

static int count_pages_in_cache(void) {
    int locked_pages = 0;
    int count, ret;
    unsigned char vec[NUM_PAGES];

    checkpoint_wait(0);
    ret = mincore(ptr, size, vec);
    if (ret == -1)
        BROK("mincore failed");
    for (count = 0; count < NUM_PAGES; count++)
        if (vec[count] & 1)
            locked_pages++;
    checkpoint_wake(1);
    return locked_pages;
}

static void test_mincore(void) {
    int locked_pages;

    ptr = SAFE_PTR(mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0));
    fflush(stdout);
    pid_t child_pid = SAFE(ported_fork());
    if (child_pid == 0) {
        ported_cleanup = NULL;
        lock_file();
        exit(0);
    }
    locked_pages = count_pages_in_cache();
#ifndef __wasi__
    while (wait(NULL) > 0) /* tst_reap_children */
        ;
#endif
    if (locked_pages != NUM_PAGES) {
        char w[96];
        snprintf(w, sizeof w, "mincore reports %d pages resident but %d pages locked by child",
                 locked_pages, NUM_PAGES);
        ported_fail(__LINE__, w, -1);
    }
}

int main(void) {
    ported_name = "setup";
    ported_cleanup = cleanup;
    ported_tmpdir();
    setup();
    RUN(test_mincore);
    ported_cleanup = NULL;
    cleanup();
    return ported_summary();
}
