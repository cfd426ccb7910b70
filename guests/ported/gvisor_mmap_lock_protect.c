/* Port of the locking and mprotect cases of gVisor's mmap tests: MapLocked, ProtectProtWrite,
 * MprotectReadOnlyDeath, MprotectNotPageAligned, MprotectProtNone, MprotectHugeLength and
 * SettingProtNoneDoesntFreeMemory, in the file's order (its other TESTs are not ported).
 * Origin: github.com/google/gvisor, test/syscalls/linux/mmap.cc, commit
 * 3c5eee17dc45659fb86843531074f38e78e0cc35. License: Apache-2.0 (Copyright 2018 The gVisor
 * Authors). The calls and checks are gVisor's; the code is vmm's own C (gtest →
 * guests/ported/ported.h; the fixture's Map/Protect/TearDown are map()/protect()/teardown()).
 *
 * Forks: MMapTest_MprotectReadOnlyDeath (EXPECT_EXIT) and MMapTest_MprotectProtNone
 * (InForkedProcess). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ported.h"

#define kPageSize 4096UL

static void *addr_;
static size_t length_;

/* MMapTest::Map: remembers the mapping so that teardown() unmaps it. */
static uintptr_t map(uintptr_t addr, size_t length, int prot, int flags, int fd, off_t off) {
    void *ret = mmap((void *)addr, length, prot, flags, fd, off);
    if (ret != MAP_FAILED) {
        addr_ = ret;
        length_ = length;
    }
    return (uintptr_t)ret;
}

static int protect(uintptr_t addr, size_t length, int prot) {
    return mprotect((void *)addr, length, prot);
}

/* MMapTest::TearDown. */
static void teardown(void) {
    if (addr_) {
        EXPECT_OK(munmap(addr_, length_));
        addr_ = NULL;
        length_ = 0;
    }
}

static sigjmp_buf jmpbuf;
static volatile int si_code_received;

static void mprotect_prot_none_handler(int sig, siginfo_t *info, void *ctx) {
    (void)sig;
    (void)ctx;
    si_code_received = info->si_code;
    siglongjmp(jmpbuf, 1);
}

static void MMapTest_MapLocked(void) {
    EXPECT_OK(map(0, kPageSize, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_LOCKED, -1, 0));
    teardown();
}

static void MMapTest_ProtectProtWrite(void) {
    uintptr_t addr;
    const uint8_t kFirstWord[] = {42, 42, 42, 42};
    EXPECT_OK(addr = map(0, kPageSize, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    ASSERT_OK(protect(addr, kPageSize, PROT_READ | PROT_WRITE));
    memset((void *)addr, 42, kPageSize);
    EXPECT_EQ(0, memcmp((void *)addr, kFirstWord, sizeof kFirstWord));
    teardown();
}

static void MMapTest_MprotectReadOnlyDeath(void) {
    uintptr_t addr;
    ASSERT_OK(addr = map(0, kPageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
                         0));
    volatile int *val = (int *)addr;
    *val = 42;
    ASSERT_OK(protect(addr, kPageSize, PROT_READ));
    fflush(stdout);
    pid_t pid = ported_fork();
    if (pid == -1) {
        ported_fail(__LINE__, "EXPECT_EXIT(*val = 0, KilledBySignal(SIGSEGV)): fork", errno);
    }
#ifndef __wasi__
    else if (pid == 0) {
        *val = 0;
        _exit(0);
    } else {
        int status;
        waitpid(pid, &status, 0);
        EXPECT(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV);
    }
#endif
    teardown();
}

static void MMapTest_MprotectNotPageAligned(void) {
    uintptr_t addr;
    ASSERT_OK(addr = map(0, kPageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
                         0));
    if (!EXPECT_FAILS(protect(addr + 1, kPageSize - 1, PROT_READ), EINVAL)) {
        teardown();
        return;
    }
    teardown();
}

static void prot_none_rest(void) {
    void *p = mmap(NULL, kPageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        ported_fail(__LINE__, "p != MAP_FAILED", errno);
        return;
    }
    *(volatile char *)p = 1;
    if (mprotect(p, kPageSize, PROT_NONE) != 0) {
        ported_fail(__LINE__, "mprotect(p, kPageSize, PROT_NONE) == 0", errno);
        return;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = mprotect_prot_none_handler;
    sa.sa_flags = SA_SIGINFO;
    if (sigaction(SIGSEGV, &sa, NULL) != 0) {
        ported_fail(__LINE__, "sigaction(SIGSEGV, &sa, nullptr) == 0", errno);
        return;
    }
    if (sigsetjmp(jmpbuf, 1) == 0)
        (void)*(volatile char *)p;
    EXPECT(si_code_received == SEGV_ACCERR);
}

static void MMapTest_MprotectProtNone(void) {
    int status;
    EXPECT_ERRNO((status = ported_in_forked_process(prot_none_rest)) != -1);
    if (status != -1)
        EXPECT_EQ(status, 0);
    teardown();
}

static void MMapTest_MprotectHugeLength(void) {
    uintptr_t addr;
    ASSERT_OK(addr = map(0, kPageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
                         0));
    if (!EXPECT_FAILS(protect(addr, (size_t)-1, PROT_READ), ENOMEM)) {
        teardown();
        return;
    }
    teardown();
}

static void MMapTest_SettingProtNoneDoesntFreeMemory(void) {
    uintptr_t addr;
    const uint8_t kFirstWord[] = {42, 42, 42, 42};
    EXPECT_ERRNO((long)(addr = map(0, kPageSize, PROT_READ | PROT_WRITE,
                                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)) > 0);
    memset((void *)addr, 42, kPageSize);
    ASSERT_OK(protect(addr, kPageSize, PROT_NONE));
    ASSERT_OK(protect(addr, kPageSize, PROT_READ | PROT_WRITE));
    EXPECT_EQ(0, memcmp((void *)addr, kFirstWord, sizeof kFirstWord));
    teardown();
}

int main(void) {
    RUN(MMapTest_MapLocked);
    RUN(MMapTest_ProtectProtWrite);
    RUN(MMapTest_MprotectReadOnlyDeath);
    RUN(MMapTest_MprotectNotPageAligned);
    RUN(MMapTest_MprotectProtNone);
    RUN(MMapTest_MprotectHugeLength);
    RUN(MMapTest_SettingProtNoneDoesntFreeMemory);
    return ported_summary();
}
