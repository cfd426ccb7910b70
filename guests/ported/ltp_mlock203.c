/* Port of LTP's mlock203: mlock2(MLOCK_ONFAULT) of one page adds one page to VmLck, and
 * mlock2(0) of the same page again does not add to it.
 * Origin: github.com/linux-test-project/ltp, testcases/kernel/syscalls/mlock2/mlock203.c,
 * commit 695827725f4fc14fe583043127e0335c29bbd52d. License: GPL-2.0-or-later (Copyright (c) 2018
 * FUJITSU LIMITED). The calls and checks are LTP's, in its order; the code is vmm's own C
 * (tst_test → guests/ported/ported.h; SAFE_FILE_LINES_SCANF reads /proc/self/status). */
// vmm-needs: root linux
#define _GNU_SOURCE
#include <errno.h>
#include <linux/mman.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ported.h"

#ifndef MLOCK_ONFAULT
#define MLOCK_ONFAULT 0x01
#endif

static unsigned long pgsz;
static char *addr;

/* SAFE_FILE_LINES_SCANF("/proc/self/status", "VmLck: %lu", v). */
static void vmlck(unsigned long *v) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    int found = 0;
    if (!f)
        BROK("fopen(\"/proc/self/status\")");
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmLck: %lu", v) == 1) {
            found = 1;
            break;
        }
    fclose(f);
    if (!found)
        BROK("SAFE_FILE_LINES_SCANF(\"/proc/self/status\", \"VmLck: %lu\")");
}

static long tst_syscall_mlock2(void *a, size_t len, int flags) {
    long r = syscall(SYS_mlock2, a, len, flags);
    if (r == -1 && errno == ENOSYS) {
        printf("SKIP %s: syscall __NR_mlock2 not supported\n", ported_name);
        ported_skipped++;
        exit(ported_summary());
    }
    return r;
}

static void verify_mlock2(void) {
    unsigned long bsize, asize1, asize2;

    vmlck(&bsize);
    errno = 0;
    long ret = tst_syscall_mlock2(addr, pgsz, MLOCK_ONFAULT);
    if (ret != 0) {
        if (errno == EINVAL)
            CONF("mlock2() didn't support MLOCK_ONFAULT");
        else
            ported_fail(__LINE__, "mlock2(MLOCK_ONFAULT) failed", errno);
        return;
    }
    vmlck(&asize1);
    if ((asize1 - bsize) * 1024 != pgsz) {
        char w[96];
        snprintf(w, sizeof w, "mlock2(MLOCK_ONFAULT) locked %lu size, expected %lu",
                 (asize1 - bsize) * 1024, pgsz);
        ported_fail(__LINE__, w, -1);
        goto end;
    }
    errno = 0;
    ret = tst_syscall_mlock2(addr, pgsz, 0);
    if (ret != 0) {
        ported_fail(__LINE__, "mlock2() failed", errno);
        goto end;
    }
    vmlck(&asize2);
    if (asize1 != asize2)
        ported_fail(__LINE__, "Locking one memory again increased VmLck", -1);
end:
    SAFE(munlock(addr, pgsz));
}

static void setup(void) {
    pgsz = getpagesize();
    addr = SAFE_PTR(mmap(NULL, pgsz, PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, 0, 0));
}

static void cleanup(void) {
    if (addr)
        SAFE(munmap(addr, pgsz));
}

int main(void) {
    ported_name = "setup";
    ported_cleanup = cleanup;
    setup();
    RUN(verify_mlock2);
    ported_cleanup = NULL;
    cleanup();
    return ported_summary();
}
