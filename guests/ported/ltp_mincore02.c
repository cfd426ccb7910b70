/* Port of LTP's mincore02: every page of an mlock()ed shared file mapping is resident.
 * Origin: github.com/linux-test-project/ltp, testcases/kernel/syscalls/mincore/mincore02.c,
 * commit 695827725f4fc14fe583043127e0335c29bbd52d. License: GPL-2.0-or-later (Copyright (c)
 * International Business Machines Corp., 2001; (c) 2004 Gernot Payer; (c) 2013 Cyril Hrubis;
 * (C) 2024 SUSE LLC Andrea Manzini). The calls and checks are LTP's, in its order; the code is
 * vmm's own C (tst_test → guests/ported/ported.h: TST_EXP_PASS and TST_EXP_EQ_SZ are checks
 * that go on). */
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ported.h"

#define NUM_PAGES 4

static void *addr;
static int size;
static unsigned char vec[NUM_PAGES];
static int fd;

static void cleanup(void) {
    if (addr) {
        SAFE(munlock(addr, size));
        SAFE(munmap(addr, size));
    }
    if (fd > 0)
        SAFE(close(fd));
    unlink("mincore02");
    ported_tmpdir_remove();
}

static void setup(void) {
    size = getpagesize() * NUM_PAGES;
    char buf[size];
    memset(buf, 42, size);
    /* As upstream, this fd shadows the global one (which cleanup closes only if set). */
    int fd = SAFE(open("mincore02", O_CREAT | O_RDWR, 0600));
    if (write(fd, buf, size) != size)
        BROK("SAFE_WRITE(SAFE_WRITE_ALL, fd, buf, size)");
    addr = SAFE_PTR(mmap(NULL, size, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_SHARED, fd, 0));
    SAFE(mlock(addr, size));
}

static void check_mincore(void) {
    EXPECT_OK(mincore(addr, size, vec));
    int locked_pages = 0;
    for (int i = 0; i < NUM_PAGES; i++)
        locked_pages += (vec[i] & 1);
    EXPECT_EQ(locked_pages, NUM_PAGES);
}

int main(void) {
    ported_name = "setup";
    ported_cleanup = cleanup;
    ported_tmpdir();
    setup();
    RUN(check_mincore);
    ported_cleanup = NULL;
    cleanup();
    return ported_summary();
}
