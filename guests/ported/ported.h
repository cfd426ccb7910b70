/* The small harness the ported kernel tests share (guests/ported/, docs/ported.md).
 *
 * Each upstream test case is one function run by RUN(); inside it the checks print nothing
 * while they hold, and one line when they do not:
 *   PASS name              every check held
 *   FAIL name: line N, what   a check failed (the errno by name, never by text)
 *   SKIP name: why         the case's own skip condition held
 * EXPECT_* go on after a failure (gtest's EXPECT, LTP's TST_EXP_* without a return); ASSERT_*
 * end the case (gtest's ASSERT, ATF_REQUIRE, LTP's SAFE_* macros). ported_summary() prints
 * "N passed, N failed, N skipped" and gives the exit status: 1 if anything failed.
 *
 * Nothing printed depends on an address or a time, so a native build and a vmm guest print the
 * same lines when the calls answer the same.
 *
 * ported_fork() is fork() where the C library has it; a vmm guest has no fork yet, and there it
 * answers -1 with ENOSYS, so a forking case fails visibly while the rest of its program runs. */
#ifndef PORTED_H
#define PORTED_H
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static inline const char *ported_errno_name(int e) {
    switch (e) {
    case 0: return "0";
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case ESRCH: return "ESRCH";
    case EINTR: return "EINTR";
    case EIO: return "EIO";
    case E2BIG: return "E2BIG";
    case EBADF: return "EBADF";
    case ECHILD: return "ECHILD";
    case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM";
    case EACCES: return "EACCES";
    case EFAULT: return "EFAULT";
    case EBUSY: return "EBUSY";
    case EEXIST: return "EEXIST";
    case ENODEV: return "ENODEV";
    case ENOTDIR: return "ENOTDIR";
    case EISDIR: return "EISDIR";
    case EINVAL: return "EINVAL";
    case ENFILE: return "ENFILE";
    case EMFILE: return "EMFILE";
    case ENOSPC: return "ENOSPC";
    case ESPIPE: return "ESPIPE";
    case EROFS: return "EROFS";
    case ERANGE: return "ERANGE";
    case ENOSYS: return "ENOSYS";
    case ENOTSUP: return "ENOTSUP";
    case EOVERFLOW: return "EOVERFLOW";
    case EIDRM: return "EIDRM";
#ifdef ENOTCAPABLE
    case ENOTCAPABLE: return "ENOTCAPABLE";
#endif
    default: {
        static char buf[4][24];
        static int next;
        char *b = buf[next++ % 4];
        snprintf(b, sizeof buf[0], "E?(%d)", e);
        return b;
    }
    }
}

static const char *ported_name;
static int ported_failed_now, ported_skipped_now;
static int ported_passed, ported_failed, ported_skipped;

static inline void ported_fail(int line, const char *what, int e) {
    if (e >= 0)
        printf("FAIL %s: line %d, %s (errno %s)\n", ported_name, line, what, ported_errno_name(e));
    else
        printf("FAIL %s: line %d, %s\n", ported_name, line, what);
    fflush(stdout);
    ported_failed_now = 1;
}

/* Runs one case and prints its line (FAIL lines were printed as they came). */
#define RUN(fn) ported_run(#fn, fn)
static inline void ported_run(const char *name, void (*fn)(void)) {
    ported_name = name;
    ported_failed_now = ported_skipped_now = 0;
    fn();
    if (ported_failed_now)
        ported_failed++;
    else if (ported_skipped_now)
        ported_skipped++;
    else {
        ported_passed++;
        printf("PASS %s\n", name);
    }
    fflush(stdout);
}

/* A named case inside one function (LTP's test cases of one tcnt loop, t_sysv's cases). */
#define CASE_BEGIN(label) (ported_name = (label), ported_failed_now = ported_skipped_now = 0)
#define CASE_END() ported_case_end()
static inline void ported_case_end(void) {
    if (ported_failed_now)
        ported_failed++;
    else if (ported_skipped_now)
        ported_skipped++;
    else {
        ported_passed++;
        printf("PASS %s\n", ported_name);
    }
    fflush(stdout);
}

#define SKIP(why)                                                                              \
    do {                                                                                       \
        printf("SKIP %s: %s\n", ported_name, (why));                                           \
        ported_skipped_now = 1;                                                                \
        return;                                                                                \
    } while (0)

/* A condition; the _ERRNO forms add errno, for a call's result. */
#define EXPECT(c)                                                                              \
    do {                                                                                       \
        if (!(c))                                                                              \
            ported_fail(__LINE__, #c, -1);                                                     \
    } while (0)
#define ASSERT(c)                                                                              \
    do {                                                                                       \
        if (!(c)) {                                                                            \
            ported_fail(__LINE__, #c, -1);                                                     \
            return;                                                                            \
        }                                                                                      \
    } while (0)
#define EXPECT_ERRNO(c)                                                                        \
    do {                                                                                       \
        if (!(c))                                                                              \
            ported_fail(__LINE__, #c, errno);                                                  \
    } while (0)
#define ASSERT_ERRNO(c)                                                                        \
    do {                                                                                       \
        if (!(c)) {                                                                            \
            ported_fail(__LINE__, #c, errno);                                                  \
            return;                                                                            \
        }                                                                                      \
    } while (0)

/* A call that must succeed (not -1): gtest's SyscallSucceeds, LTP's TST_EXP_PASS. */
#define EXPECT_OK(call) EXPECT_ERRNO((long)(call) != -1)
#define ASSERT_OK(call) ASSERT_ERRNO((long)(call) != -1)

/* A call that must fail with -1 and errno `e`: SyscallFailsWithErrno, TST_EXP_FAIL. */
#define EXPECT_FAILS(call, e)                                                                  \
    ({                                                                                         \
        errno = 0;                                                                             \
        long ported_r_ = (long)(call);                                                         \
        ported_fails_with(__LINE__, #call, ported_r_, errno, (e));                             \
    })
#define ASSERT_FAILS(call, e)                                                                  \
    do {                                                                                       \
        if (!EXPECT_FAILS(call, e))                                                            \
            return;                                                                            \
    } while (0)
static inline int ported_fails_with(int line, const char *what, long r, int got, int want) {
    char buf[256];
    if (r == -1 && got == want)
        return 1;
    if (r != -1)
        snprintf(buf, sizeof buf, "%s succeeded, expected %s", what, ported_errno_name(want));
    else
        snprintf(buf, sizeof buf, "%s failed with %s, expected %s", what, ported_errno_name(got),
                 ported_errno_name(want));
    ported_fail(line, buf, -1);
    return 0;
}

/* A pointer-returning call (mmap, shmat) that must succeed, or that must fail with `e`. */
#define ASSERT_MAPS(p, call)                                                                   \
    do {                                                                                       \
        errno = 0;                                                                             \
        (p) = (call);                                                                          \
        if ((void *)(p) == (void *)-1) {                                                       \
            ported_fail(__LINE__, #call, errno);                                               \
            return;                                                                            \
        }                                                                                      \
    } while (0)
#define EXPECT_MAP_FAILS(call, e)                                                              \
    do {                                                                                       \
        errno = 0;                                                                             \
        void *ported_p_ = (void *)(call);                                                      \
        ported_fails_with(__LINE__, #call, ported_p_ == (void *)-1 ? -1 : 0, errno, (e));      \
    } while (0)

/* Two numbers that must compare as `op`; both printed when they do not. */
#define EXPECT_CMP(a, op, b)                                                                   \
    do {                                                                                       \
        __typeof__(a) ported_a_ = (a);                                                         \
        __typeof__(b) ported_b_ = (b);                                                         \
        if (!(ported_a_ op ported_b_)) {                                                       \
            char ported_w_[256];                                                               \
            snprintf(ported_w_, sizeof ported_w_, "%s %s %s: %lld against %lld", #a, #op, #b, \
                     (long long)ported_a_, (long long)ported_b_);                              \
            ported_fail(__LINE__, ported_w_, -1);                                              \
        }                                                                                      \
    } while (0)
#define ASSERT_CMP(a, op, b)                                                                   \
    do {                                                                                       \
        int ported_was_ = ported_failed_now;                                                   \
        ported_failed_now = 0;                                                                 \
        EXPECT_CMP(a, op, b);                                                                  \
        if (ported_failed_now)                                                                 \
            return;                                                                            \
        ported_failed_now = ported_was_;                                                       \
    } while (0)
#define EXPECT_EQ(a, b) EXPECT_CMP(a, ==, b)
#define ASSERT_EQ(a, b) ASSERT_CMP(a, ==, b)

/* Prints the summary; the program's exit status. */
static inline int ported_summary(void) {
    printf("%d passed, %d failed, %d skipped\n", ported_passed, ported_failed, ported_skipped);
    fflush(stdout);
    return ported_failed ? 1 : 0;
}

/* LTP's tst_brk(TBROK): the case fails, the program's cleanup runs, and the program ends with
 * its summary (a failed SAFE_* call). Set ported_cleanup to the port's cleanup. */
static void (*ported_cleanup)(void);
#define BROK(what) ported_brk(__LINE__, (what), errno)
static inline void ported_brk(int line, const char *what, int e) {
    ported_fail(line, what, e);
    ported_failed++;
    if (ported_cleanup) {
        void (*c)(void) = ported_cleanup;
        ported_cleanup = NULL;
        c();
    }
    exit(ported_summary());
}
/* LTP's SAFE_* wrappers: a call that must not answer -1 (or MAP_FAILED). */
#define SAFE(call)                                                                             \
    ({                                                                                         \
        long ported_s_ = (long)(call);                                                         \
        if (ported_s_ == -1)                                                                   \
            BROK(#call);                                                                       \
        ported_s_;                                                                             \
    })
#define SAFE_PTR(call)                                                                         \
    ({                                                                                         \
        void *ported_s_ = (void *)(call);                                                      \
        if (ported_s_ == (void *)-1)                                                           \
            BROK(#call);                                                                       \
        ported_s_;                                                                             \
    })
/* LTP's tst_res(TCONF) inside a case: the case is skipped, and goes on as LTP's does. */
#define CONF(why)                                                                              \
    do {                                                                                       \
        printf("SKIP %s: %s\n", ported_name, (why));                                           \
        ported_skipped_now = 1;                                                                \
    } while (0)

/* LTP's .needs_tmpdir: a new directory under /tmp becomes the working directory (removed by
 * ported_tmpdir_remove, with what LTP would leave in it). */
static char ported_tmp[64];
static inline void ported_tmpdir(void) {
    snprintf(ported_tmp, sizeof ported_tmp, "/tmp/ltp-ported-XXXXXX");
    if (!mkdtemp(ported_tmp))
        BROK("tst_tmpdir: mkdtemp(\"/tmp/ltp-ported-XXXXXX\")");
    if (chdir(ported_tmp) == -1)
        BROK("tst_tmpdir: chdir");
}
static inline void ported_tmpdir_remove(void) {
    if (ported_tmp[0] && chdir("/") == 0)
        rmdir(ported_tmp);
}

/* LTP's GETIPCKEY(): ftok of the working directory, with 'a', 'b', ... in turn. */
#include <sys/ipc.h>
static inline key_t ported_getipckey(void) {
    static int count;
    char buf[1024];
    if (!getcwd(buf, sizeof buf))
        BROK("safe_getcwd");
    int id = count % 26 + (int)'a';
    count++;
    key_t key = ftok(buf, id);
    if (key == -1)
        BROK("ftok() failed");
    return key;
}

/* LTP's TST_ASSERT_ULONG(path, val) / TST_ASSERT_INT: the file holds the number. */
static inline void ported_assert_file_num(int line, const char *path, long long val,
                                          int is_unsigned) {
    FILE *f = fopen(path, "r");
    if (!f) {
        ported_brk(line, path, errno);
        return;
    }
    char buf[64];
    char *got = fgets(buf, sizeof buf, f);
    fclose(f);
    if (!got) {
        ported_brk(line, path, -1);
        return;
    }
    long long v = is_unsigned ? (long long)strtoull(buf, NULL, 10) : strtoll(buf, NULL, 10);
    if (v != val) {
        char w[160];
        if (is_unsigned)
            snprintf(w, sizeof w, "%s != %llu got %llu", path, (unsigned long long)val,
                     (unsigned long long)v);
        else
            snprintf(w, sizeof w, "%s != %lld got %lld", path, val, v);
        ported_fail(line, w, -1);
    }
}
#define TST_ASSERT_ULONG(path, val) ported_assert_file_num(__LINE__, (path), (long long)(val), 1)
#define TST_ASSERT_INT(path, val) ported_assert_file_num(__LINE__, (path), (long long)(val), 0)

/* LTP's SAFE_FILE_PRINTF(path, "%d", v). */
static inline void ported_file_printf_int(int line, const char *path, int v) {
    FILE *f = fopen(path, "w");
    if (!f) {
        ported_brk(line, path, errno);
        return;
    }
    if (fprintf(f, "%d", v) < 0 || fclose(f) != 0)
        ported_brk(line, path, errno);
}
#define SAFE_FILE_PRINTF_INT(path, v) ported_file_printf_int(__LINE__, (path), (v))

/* The first bytes of LTP's tst_rand_data (lib/tst_rand_data.c). */
static inline const char *ported_rand_data(void) {
    return "\xa5\xf8\xde\x82\x8a\x94\x8d\xa0\x02\x67\x79\x53\xf9\x77\x34\x69";
}

/* LTP's TST_CHECKPOINT_WAKE(n) / TST_CHECKPOINT_WAIT(n) between a parent and its child: a pipe
 * per checkpoint, made before the fork by ported_checkpoint_init(). A guest has neither fork nor
 * pipe: there the init does nothing (the fork after it fails with ENOSYS) and a wake or wait is
 * BROK with ENOSYS. */
static int ported_checkpoints[2][2];
static inline void ported_checkpoint_init(void) {
#ifndef __wasi__
    for (int i = 0; i < 2; i++)
        if (pipe(ported_checkpoints[i]) == -1)
            BROK("tst_checkpoint_init: pipe");
#endif
}
static inline void ported_checkpoint_wake(int n) {
#ifdef __wasi__
    errno = ENOSYS;
#else
    if (write(ported_checkpoints[n][1], "x", 1) != 1)
#endif
        BROK("TST_CHECKPOINT_WAKE");
}
static inline void ported_checkpoint_wait(int n) {
#ifdef __wasi__
    errno = ENOSYS;
#else
    char c;
    if (read(ported_checkpoints[n][0], &c, 1) != 1)
#endif
        BROK("TST_CHECKPOINT_WAIT");
}

#ifdef __wasi__
#include <sys/types.h>
static inline pid_t ported_fork(void) {
    errno = ENOSYS;
    return -1;
}
#else
#include <sys/wait.h>
#define ported_fork() fork()
#endif

/* LTP's tst_reap_children() / SAFE_WAIT: waits for every child. A child whose checks failed
 * printed its FAIL lines and exits 1, which fails the parent's case too; any other non-zero
 * end is a failure of its own. */
static inline void ported_reap_children(void) {
#ifndef __wasi__
    int status;
    while (wait(&status) > 0) {
        if (WIFEXITED(status) && WEXITSTATUS(status) == 1)
            ported_failed_now = 1;
        else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            char w[64];
            snprintf(w, sizeof w, "child ended with wait status %d", status);
            ported_fail(__LINE__, w, -1);
        }
    }
#endif
}
/* A child's _exit(0) in LTP: here its status says whether its checks held. */
#define CHILD_EXIT() _exit(ported_failed_now ? 1 : 0)

/* Runs fn in a child process (gVisor's InForkedProcess): the child's failed checks print their
 * FAIL lines and make it exit 1. Answers the child's wait status, or -1 with errno when there
 * is no child (a guest: ENOSYS). */
static inline int ported_in_forked_process(void (*fn)(void)) {
    fflush(stdout);
    pid_t pid = ported_fork();
    if (pid == -1)
        return -1;
#ifdef __wasi__
    (void)fn;
    return -1;
#else
    if (pid == 0) {
        ported_failed_now = 0;
        fn();
        fflush(stdout);
        _exit(ported_failed_now ? 1 : 0);
    }
    int status;
    if (waitpid(pid, &status, 0) != pid)
        return -1;
    return status;
#endif
}

#endif
