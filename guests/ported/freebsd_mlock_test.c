/* Port of FreeBSD's mlock tests (every test case, in the order ATF_TP_ADD_TCS adds them).
 * Origin: github.com/freebsd/freebsd-src, tests/sys/vm/mlock_test.c, commit
 * 3d497e17ebd33fe0f58d773e35ab994d750258d6. License: BSD-2-Clause (Copyright (c) 2019 Mark
 * Johnston). The calls and checks are FreeBSD's; the code is vmm's own C (ATF →
 * guests/ported/ported.h: ATF_REQUIRE is ASSERT). ptrace's PT_* requests are the names glibc
 * also defines (PT_TRACE_ME, PT_READ_D, PT_WRITE_D, PT_CONTINUE).
 *
 * On Linux mlock__copy_on_write_anon fails as upstream would: its mmap passes MAP_ANON without
 * MAP_PRIVATE or MAP_SHARED, which FreeBSD accepts and Linux refuses (EINVAL); see
 * docs/ported.md.
 *
 * Forks: mlock__copy_on_write_anon and mlock__copy_on_write_vnode (fork and ptrace). */
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ported.h"

static void test_wired_copy_on_write(void *addr, size_t len) {
    int status, val;
    pid_t pid;

    fflush(stdout);
    pid = ported_fork();
    ASSERT_ERRNO(pid != -1);
    if (pid == 0) {
        if (mlock(addr, len) != 0)
            _exit(1);
        if (ptrace(PT_TRACE_ME, 0, NULL, 0) != 0)
            _exit(2);
        if (raise(SIGSTOP) != 0)
            _exit(3);
        if (munlock(addr, len) != 0)
            _exit(4);
        _exit(0);
    }
    ASSERT(waitpid(pid, &status, 0) == pid);
    if (WIFEXITED(status)) {
        char w[64];
        snprintf(w, sizeof w, "child exited with status %d", WEXITSTATUS(status));
        ported_fail(__LINE__, w, -1);
        return;
    }
    ASSERT(WIFSTOPPED(status));
    ASSERT(WSTOPSIG(status) == SIGSTOP);

    errno = 0;
    val = ptrace(PT_READ_D, pid, addr, 0);
    ASSERT_ERRNO(errno == 0);
    ASSERT_ERRNO(ptrace(PT_WRITE_D, pid, addr, val) == 0);
    ASSERT_ERRNO(ptrace(PT_CONTINUE, pid, (caddr_t)1, 0) == 0);
    ASSERT(waitpid(pid, &status, 0) == pid);
    ASSERT(WIFEXITED(status));
    if (WEXITSTATUS(status) != 0) {
        char w[64];
        snprintf(w, sizeof w, "child exited with status %d", WSTOPSIG(status));
        ported_fail(__LINE__, w, -1);
    }
}

static void mlock__copy_on_write_anon(void) {
    char *addr;
    int len;

    len = getpagesize();
    addr = mmap(NULL, len, PROT_READ, MAP_ANON, -1, 0);
    ASSERT_ERRNO(addr != MAP_FAILED);
    test_wired_copy_on_write(addr, len);
}

static void mlock__copy_on_write_vnode(void) {
    void *addr;
    int len;

    len = getpagesize();
    addr = (void *)((uintptr_t)test_wired_copy_on_write & ~(len - 1));
    test_wired_copy_on_write(addr, len);
}

static void mlock__truncate_and_resize(void) {
    char filename[16];
    char *addr;
    int fd, i, len;

    snprintf(filename, sizeof(filename), "tmp.XXXXXX");
    fd = mkstemp(filename);
    ASSERT_ERRNO(fd >= 0);
    ASSERT_ERRNO(unlink(filename) == 0);

    len = getpagesize();
    ASSERT_ERRNO(ftruncate(fd, len) == 0);

    addr = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ASSERT_ERRNO(addr != MAP_FAILED);
    ASSERT_ERRNO(mlock(addr, len) == 0);
    memset(addr, 1, len);
    ASSERT_ERRNO(ftruncate(fd, 0) == 0);
    ASSERT_ERRNO(ftruncate(fd, len) == 0);
    for (i = 0; i < len; i++)
        ASSERT(addr[i] == 0);
    ASSERT_ERRNO(munlock(addr, len) == 0);
}

static void mlock__truncate_and_unlock(void) {
    char filename[16];
    void *addr;
    int fd, len;

    snprintf(filename, sizeof(filename), "tmp.XXXXXX");
    fd = mkstemp(filename);
    ASSERT_ERRNO(fd >= 0);
    ASSERT_ERRNO(unlink(filename) == 0);

    len = getpagesize();
    ASSERT_ERRNO(ftruncate(fd, len) == 0);

    addr = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ASSERT_ERRNO(addr != MAP_FAILED);
    ASSERT_ERRNO(mlock(addr, len) == 0);
    ASSERT_ERRNO(ftruncate(fd, 0) == 0);
    ASSERT_ERRNO(munlock(addr, len) == 0);
}

int main(void) {
    RUN(mlock__copy_on_write_anon);
    RUN(mlock__copy_on_write_vnode);
    RUN(mlock__truncate_and_resize);
    RUN(mlock__truncate_and_unlock);
    return ported_summary();
}
