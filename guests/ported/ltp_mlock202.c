/* Port of LTP's mlock202: mlock2() fails with EINVAL (unknown flag), ENOMEM (over
 * RLIMIT_MEMLOCK as nobody), EPERM (RLIMIT_MEMLOCK 0 as nobody) and ENOMEM (unmapped range).
 * Origin: github.com/linux-test-project/ltp, testcases/kernel/syscalls/mlock2/mlock202.c,
 * commit 695827725f4fc14fe583043127e0335c29bbd52d. License: GPL-2.0-or-later (Copyright (c) 2018
 * FUJITSU LIMITED). The cases, calls and checks are LTP's, in its order; the code is vmm's own C
 * (tst_test → guests/ported/ported.h: TFAIL is a FAIL line, SAFE_* failing is BROK,
 * tst_syscall's ENOSYS ends the program as TCONF). */
// vmm-needs: root
#define _GNU_SOURCE
#include <errno.h>
#include <pwd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

#include "ported.h"

#define PAGES 8

static size_t pgsz;
static size_t max_sz1, max_sz2;
static char *addr, *unmapped_addr;
static struct passwd *nobody;

static struct tcase {
    char **taddr;
    int flag;
    size_t *max_size;
    int user; /* 1: nobody, 0: root */
    int exp_err;
} tcases[] = {
    {&addr, -1, NULL, 0, EINVAL},
    {&addr, 0, &max_sz1, 1, ENOMEM},
    {&addr, 0, &max_sz2, 1, EPERM},
    {&unmapped_addr, 0, NULL, 0, ENOMEM},
};

/* tst_syscall: ENOSYS ends the test as TCONF. */
static long tst_syscall_mlock2(void *a, size_t len, int flags) {
    long r = syscall(SYS_mlock2, a, len, flags);
    if (r == -1 && errno == ENOSYS) {
        printf("SKIP %s: syscall __NR_mlock2 not supported\n", ported_name);
        ported_skipped++;
        exit(ported_summary());
    }
    return r;
}

static void verify_mlock2(unsigned int n) {
    struct tcase *tc = &tcases[n];
    struct rlimit orig_limit, new_limit;

    if (tc->user) {
        SAFE(getrlimit(RLIMIT_MEMLOCK, &orig_limit));
        new_limit.rlim_cur = *tc->max_size;
        new_limit.rlim_max = *tc->max_size;
        SAFE(setrlimit(RLIMIT_MEMLOCK, &new_limit));
        SAFE(seteuid(nobody->pw_uid));
    }

    errno = 0;
    long ret = tst_syscall_mlock2(*tc->taddr, pgsz, tc->flag);
    int err = errno;
    if (ret != -1) {
        ported_fail(__LINE__, "mlock2() succeeded", -1);
        SAFE(munlock(*tc->taddr, pgsz));
        goto end;
    }
    if (err != tc->exp_err) {
        char w[96];
        snprintf(w, sizeof w, "mlock2() failed unexpectedly (%s), expected %s",
                 ported_errno_name(err), ported_errno_name(tc->exp_err));
        ported_fail(__LINE__, w, -1);
    }

end:
    if (tc->user) {
        SAFE(seteuid(0));
        SAFE(setrlimit(RLIMIT_MEMLOCK, &orig_limit));
    }
}

static void setup(void) {
    pgsz = getpagesize();
    nobody = getpwnam("nobody");
    if (!nobody)
        BROK("SAFE_GETPWNAM(\"nobody\")");
    addr = SAFE_PTR(mmap(NULL, pgsz, PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, 0, 0));
    unmapped_addr =
        SAFE_PTR(mmap(NULL, pgsz * PAGES, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, 0, 0));
    SAFE(munmap(unmapped_addr, pgsz * PAGES));
    unmapped_addr = unmapped_addr + pgsz * PAGES / 2;
    max_sz1 = pgsz - 1;
}

static void cleanup(void) {
    if (addr)
        SAFE(munmap(addr, pgsz));
}

int main(void) {
    static char names[4][48];
    ported_name = "setup";
    ported_cleanup = cleanup;
    setup();
    for (unsigned n = 0; n < sizeof tcases / sizeof tcases[0]; n++) {
        snprintf(names[n], sizeof names[n], "mlock202 case %u (expects %s)", n,
                 ported_errno_name(tcases[n].exp_err));
        CASE_BEGIN(names[n]);
        verify_mlock2(n);
        CASE_END();
    }
    ported_cleanup = NULL;
    cleanup();
    return ported_summary();
}
