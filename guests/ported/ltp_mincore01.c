/* Port of LTP's mincore01: mincore() fails with EINVAL (unaligned address), EFAULT (vector in
 * unmapped memory), ENOMEM (range with an unmapped part) and ENOMEM (range past RLIMIT_AS).
 * Origin: github.com/linux-test-project/ltp, testcases/kernel/syscalls/mincore/mincore01.c,
 * commit 695827725f4fc14fe583043127e0335c29bbd52d. License: GPL-2.0-or-later (Copyright (c)
 * International Business Machines Corp., 2001; (c) 2004 Gernot Payer; (c) 2013 Cyril Hrubis).
 * The cases, calls and checks are LTP's (the old test.h harness), in its order, once; the code
 * is vmm's own C (guests/ported/ported.h). The file mapping lives in a tst_tmpdir() directory
 * under /tmp. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "ported.h"

static int pagesize;
static rlim_t STACK_LIMIT = 10485760;
static char *global_pointer;
static unsigned char *global_vec;
static int global_len;

struct test_case_t;
static void setup1(struct test_case_t *tc);
static void setup2(struct test_case_t *tc);
static void setup3(struct test_case_t *tc);
static void setup4(struct test_case_t *tc);

static struct test_case_t {
    char *addr;
    size_t len;
    unsigned char *vector;
    int exp_errno;
    void (*setupfunc)(struct test_case_t *tc);
} TC[] = {
    {NULL, 0, NULL, EINVAL, setup1},
    {NULL, 0, NULL, EFAULT, setup2},
    {NULL, 0, NULL, ENOMEM, setup3},
    {NULL, 0, NULL, ENOMEM, setup4},
};
#define TST_TOTAL 4

static void cleanup(void) {
    free(global_vec);
    if (munmap(global_pointer, global_len) == -1)
        printf("TWARN mincore01: munmap failed (errno %s)\n", ported_errno_name(errno));
    unlink("mincore01");
    ported_tmpdir_remove();
}

static void setup1(struct test_case_t *tc) {
    tc->addr = global_pointer + 1;
    tc->len = global_len;
    tc->vector = global_vec;
}

static void setup2(struct test_case_t *tc) {
    unsigned char *t;
    struct rlimit limit;

    t = SAFE_PTR(mmap(NULL, global_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
                      0));
    SAFE(munmap(t, global_len));
    /* The stack limit makes the unmapped pointer invalid on architectures like s390. */
    limit.rlim_cur = STACK_LIMIT;
    limit.rlim_max = STACK_LIMIT;
    if (setrlimit(RLIMIT_STACK, &limit) != 0)
        BROK("setrlimit failed");
    tc->addr = global_pointer;
    tc->len = global_len;
    tc->vector = t;
}

static void setup3(struct test_case_t *tc) {
    tc->addr = global_pointer;
    tc->len = global_len * 2;
    SAFE(munmap(global_pointer + global_len, global_len));
    tc->vector = global_vec;
}

static void setup4(struct test_case_t *tc) {
    struct rlimit as_lim;
    SAFE(getrlimit(RLIMIT_AS, &as_lim));
    tc->addr = global_pointer;
    tc->len = as_lim.rlim_cur - (rlim_t)(uintptr_t)global_pointer + pagesize;
    tc->vector = global_vec;
}

static void setup(void) {
    char *buf;
    int fd;

    pagesize = getpagesize();
    ported_tmpdir();
    global_len = pagesize * 2;
    buf = malloc(global_len);
    if (!buf)
        BROK("SAFE_MALLOC");
    memset(buf, 42, global_len);
    fd = SAFE(open("mincore01", O_CREAT | O_RDWR, S_IRUSR | S_IWUSR));
    if (write(fd, buf, global_len) != global_len)
        BROK("SAFE_WRITE(SAFE_WRITE_ALL, fd, buf, global_len)");
    free(buf);
    global_pointer =
        SAFE_PTR(mmap(NULL, global_len * 2, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
    global_vec = malloc((global_len + pagesize - 1) / pagesize);
    if (!global_vec)
        BROK("SAFE_MALLOC");
    SAFE(close(fd));
}

static void mincore_verify(struct test_case_t *tc) {
    if (tc->setupfunc)
        tc->setupfunc(tc);
    errno = 0;
    int r = mincore(tc->addr, tc->len, tc->vector);
    int e = errno;
    if (r != -1) {
        ported_fail(__LINE__, "succeeded unexpectedly", -1);
        return;
    }
    if (e != tc->exp_errno) {
        char w[96];
        snprintf(w, sizeof w, "mincore failed unexpectedly (%s); expected: %s",
                 ported_errno_name(e), ported_errno_name(tc->exp_errno));
        ported_fail(__LINE__, w, -1);
    }
}

int main(void) {
    static char names[TST_TOTAL][48];
    ported_name = "setup";
    ported_cleanup = cleanup;
    setup();
    for (int i = 0; i < TST_TOTAL; i++) {
        snprintf(names[i], sizeof names[i], "mincore01 case %d (expects %s)", i,
                 ported_errno_name(TC[i].exp_errno));
        CASE_BEGIN(names[i]);
        mincore_verify(&TC[i]);
        CASE_END();
    }
    ported_cleanup = NULL;
    cleanup();
    return ported_summary();
}
