/* Port of LTP's mlockall03: mlockall() fails with ENOMEM (MCL_CURRENT as nobody over a
 * 7-byte RLIMIT_MEMLOCK), EPERM (RLIMIT_MEMLOCK 0, as nobody) and EINVAL (unknown flags).
 * Origin: github.com/linux-test-project/ltp, testcases/kernel/syscalls/mlockall/mlockall03.c,
 * commit 695827725f4fc14fe583043127e0335c29bbd52d. License: GPL-2.0-or-later (Copyright (C) Bull
 * S.A. 2005). The cases, calls and checks are LTP's (the old test.h harness), in its order,
 * once (TEST_LOOPING's default); the code is vmm's own C (guests/ported/ported.h: tst_resm TFAIL
 * is a FAIL line, tst_brkm ends the program). The kernel-release guard (2.6.8 and earlier:
 * TCONF) is kept. */
// vmm-needs: root
#include <ctype.h>
#include <errno.h>
#include <pwd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "ported.h"

static const char *ref_release = "2.6.8";

static struct test_case_t {
    int flag;
    int error;
    const char *edesc;
} TC[] = {
    {MCL_CURRENT, ENOMEM, "tried to lock more memory than the limit permitted"},
    {MCL_CURRENT, EPERM, "Not a superuser and RLIMIT_MEMLOCK was 0"},
    {~(MCL_CURRENT | MCL_FUTURE), EINVAL, "Unknown flag"},
};
#define TST_TOTAL 3

static int compare(const char s1[], const char s2[]) {
    int i = 0;
    while (s1[i] == s2[i] && s1[i])
        i++;
    if (i < 4)
        return s2[i] - s1[i];
    if ((i == 4) && (isalnum((unsigned char)s2[i + 1])))
        return 1;
    return s2[i] - s1[i];
}

/* tst_brkm: the case fails and the program ends. */
static void brkm(int line, const char *what, int e) {
    ported_fail(line, what, e);
    ported_failed++;
    exit(ported_summary());
}

static int setup_test(int i) {
    struct rlimit rl;
    struct passwd *ltpuser;

    switch (i) {
    case 0:
        ltpuser = getpwnam("nobody");
        if (seteuid(ltpuser->pw_uid) == -1) {
            brkm(__LINE__, "seteuid() failed to change euid to nobody", errno);
            return 1;
        }
        rl.rlim_max = 10;
        rl.rlim_cur = 7;
        if (setrlimit(RLIMIT_MEMLOCK, &rl) != 0) {
            printf("TWARN %s: setrlimit failed to set RLIMIT_MEMLOCK (errno %s)\n", ported_name,
                   ported_errno_name(errno));
            return 1;
        }
        return 0;
    case 1:
        rl.rlim_max = 0;
        rl.rlim_cur = 0;
        if (setrlimit(RLIMIT_MEMLOCK, &rl) != 0) {
            printf("TWARN %s: setrlimit failed to set RLIMIT_MEMLOCK (errno %s)\n", ported_name,
                   ported_errno_name(errno));
            return 1;
        }
        ltpuser = getpwnam("nobody");
        if (seteuid(ltpuser->pw_uid) == -1) {
            brkm(__LINE__, "seteuid() failed to change euid to nobody", errno);
            return 1;
        }
        return 0;
    }
    return 0;
}

static void cleanup_test(int i) {
    struct rlimit rl;
    switch (i) {
    case 0:
    case 1:
        if (seteuid(0) == -1)
            brkm(__LINE__, "SAFE_SETEUID(cleanup, 0)", errno);
        rl.rlim_max = -1;
        rl.rlim_cur = -1;
        if (setrlimit(RLIMIT_MEMLOCK, &rl) != 0)
            brkm(__LINE__, "setrlimit failed to reset the resource for RLIMIT_MEMLOCK", errno);
        return;
    }
}

int main(void) {
    static char names[TST_TOTAL][48];
    struct utsname *buf;

    ported_name = "mlockall03";
    if ((buf = malloc(sizeof(struct utsname))) == NULL)
        brkm(__LINE__, "malloc failed for buf", -1);
    if (uname(buf) < 0)
        ported_fail(__LINE__, "uname failed getting release number", errno);
    if (compare(ref_release, buf->release) <= 0) {
        printf("SKIP mlockall03: In Linux 2.6.8 and earlier this test will not run.\n");
        ported_skipped++;
        return ported_summary();
    }
    for (int i = 0; i < TST_TOTAL; i++) {
        snprintf(names[i], sizeof names[i], "mlockall03 case %d (expects %s)", i,
                 ported_errno_name(TC[i].error));
        CASE_BEGIN(names[i]);
        if (setup_test(i)) {
            char w[128];
            snprintf(w, sizeof w, "mlockall() Failed while setup for checking error %s",
                     TC[i].edesc);
            ported_fail(__LINE__, w, -1);
            CASE_END();
            continue;
        }
        errno = 0;
        int r = mlockall(TC[i].flag);
        int e = errno;
        if (r == -1) {
            if (e != TC[i].error) {
                char w[160];
                snprintf(w, sizeof w, "mlockall() Failed with wrong errno, expected %s, got %s",
                         ported_errno_name(TC[i].error), ported_errno_name(e));
                brkm(__LINE__, w, -1);
            }
        } else {
            char w[96];
            snprintf(w, sizeof w, "mlockall() Failed, expected return value=-1, got %d", r);
            munlockall();
            brkm(__LINE__, w, -1);
        }
        cleanup_test(i);
        CASE_END();
    }
    return ported_summary();
}
