/* Port of gVisor's mlock, munlock, mlockall, munlockall, mlock2, MAP_LOCKED and mremap-locked
 * tests (every TEST of the file, in its order).
 * Origin: github.com/google/gvisor, test/syscalls/linux/mlock.cc, commit
 * 2029379971f97bb6379b3fb54c3277d539ad22ce. License: Apache-2.0 (Copyright 2018 The gVisor
 * Authors). The calls and checks are gVisor's; the code is vmm's own C (gtest →
 * guests/ported/ported.h; gVisor's test utilities CanMlock, IsPageMlocked, HaveCapability,
 * SetCapability, ScopedSetSoftRlimit and InForkedProcess are redone below with the same calls).
 *
 * gVisor's runner starts every TEST in a fresh process; here they share one, so a TEST that drops
 * CAP_IPC_LOCK raises it again at its end (where it was raised), as the next fresh process
 * would have it.
 *
 * Forks: MlockTest_Fork and MlockallTest_Future (InForkedProcess). */
// vmm-needs: root
#define _GNU_SOURCE
#include <linux/capability.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ported.h"

#define kPageSize 4096UL

static int have_capability(int cap) {
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    if (syscall(SYS_capget, &hdr, data) < 0)
        return -1;
    return (data[cap / 32].effective & (1U << (cap % 32))) != 0;
}

static int set_capability(int cap, int on) {
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    if (syscall(SYS_capget, &hdr, data) < 0)
        return -1;
    if (on)
        data[cap / 32].effective |= 1U << (cap % 32);
    else
        data[cap / 32].effective &= ~(1U << (cap % 32));
    return syscall(SYS_capset, &hdr, data);
}

static int can_mlock(void) {
    struct rlimit rlim;
    if (getrlimit(RLIMIT_MEMLOCK, &rlim) < 0)
        return -1;
    if (rlim.rlim_cur != 0)
        return 1;
    return have_capability(CAP_IPC_LOCK);
}

/* Whether the page containing addr is mlocked: msync(MS_INVALIDATE) fails with EBUSY on a
 * locked page (tested by MlockTest_MsyncInvalidate). -1 for any other answer. */
static int is_page_mlocked(uintptr_t addr) {
    int rv = msync((void *)(addr & ~(kPageSize - 1)), kPageSize, MS_ASYNC | MS_INVALIDATE);
    if (rv == 0)
        return 0;
    return errno == EBUSY ? 1 : -1;
}

static void *mmap_anon(size_t len, int prot, int flags) {
    return mmap(NULL, len, prot, flags | MAP_ANONYMOUS, -1, 0);
}

#define SKIP_IF_CANNOT_MLOCK()                                                                 \
    do {                                                                                       \
        int ported_c_ = can_mlock();                                                           \
        ASSERT_ERRNO(ported_c_ >= 0);                                                          \
        if (!ported_c_)                                                                        \
            SKIP("!CanMlock()");                                                               \
    } while (0)

/* Drops CAP_IPC_LOCK if held; *had says whether to raise it again. */
#define DROP_IPC_LOCK(had)                                                                     \
    do {                                                                                       \
        int ported_h_ = have_capability(CAP_IPC_LOCK);                                         \
        ASSERT_ERRNO(ported_h_ >= 0);                                                          \
        (had) = ported_h_;                                                                     \
        if (ported_h_)                                                                         \
            ASSERT_OK(set_capability(CAP_IPC_LOCK, 0));                                        \
    } while (0)

static void restore(int had, const struct rlimit *old) {
    if (old)
        setrlimit(RLIMIT_MEMLOCK, old);
    if (had)
        set_capability(CAP_IPC_LOCK, 1);
}

/* ScopedSetSoftRlimit(RLIMIT_MEMLOCK, cur): the old limit in *old. */
static int set_soft_memlock(rlim_t cur, struct rlimit *old) {
    if (getrlimit(RLIMIT_MEMLOCK, old) < 0)
        return -1;
    struct rlimit n = *old;
    n.rlim_cur = cur;
    return setrlimit(RLIMIT_MEMLOCK, &n);
}

static void MlockTest_Basic(void) {
    SKIP_IF_CANNOT_MLOCK();
    char *m;
    ASSERT_MAPS(m, mmap_anon(kPageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE));
    EXPECT_EQ(is_page_mlocked((uintptr_t)m), 0);
    ASSERT_OK(mlock(m, kPageSize));
    EXPECT_EQ(is_page_mlocked((uintptr_t)m), 1);
    munmap(m, kPageSize);
}

static void MlockTest_ProtNone(void) {
    SKIP_IF_CANNOT_MLOCK();
    char *m;
    ASSERT_MAPS(m, mmap_anon(kPageSize, PROT_NONE, MAP_PRIVATE));
    EXPECT_EQ(is_page_mlocked((uintptr_t)m), 0);
    ASSERT_FAILS(mlock(m, kPageSize), ENOMEM);
    /* ENOMEM because mlock cannot populate the page, but it is still considered locked. */
    EXPECT_EQ(is_page_mlocked((uintptr_t)m), 1);
    munmap(m, kPageSize);
}

static void MlockTest_MadviseDontneed(void) {
    SKIP_IF_CANNOT_MLOCK();
    char *m;
    ASSERT_MAPS(m, mmap_anon(kPageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE));
    ASSERT_OK(mlock(m, kPageSize));
    EXPECT_FAILS(madvise(m, kPageSize, MADV_DONTNEED), EINVAL);
    munmap(m, kPageSize);
}

static void MlockTest_MsyncInvalidate(void) {
    SKIP_IF_CANNOT_MLOCK();
    char *m;
    ASSERT_MAPS(m, mmap_anon(kPageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE));
    ASSERT_OK(mlock(m, kPageSize));
    EXPECT_FAILS(msync(m, kPageSize, MS_ASYNC | MS_INVALIDATE), EBUSY);
    EXPECT_FAILS(msync(m, kPageSize, MS_SYNC | MS_INVALIDATE), EBUSY);
    munmap(m, kPageSize);
}

static char *fork_mapping;
static void fork_child(void) { EXPECT(is_page_mlocked((uintptr_t)fork_mapping) == 0); }

static void MlockTest_Fork(void) {
    SKIP_IF_CANNOT_MLOCK();
    char *m;
    ASSERT_MAPS(m, mmap_anon(kPageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE));
    EXPECT_EQ(is_page_mlocked((uintptr_t)m), 0);
    ASSERT_OK(mlock(m, kPageSize));
    EXPECT_EQ(is_page_mlocked((uintptr_t)m), 1);
    fork_mapping = m;
    int status;
    EXPECT_ERRNO((status = ported_in_forked_process(fork_child)) != -1);
    if (status != -1)
        EXPECT_EQ(status, 0);
    munmap(m, kPageSize);
}

static void MlockTest_RlimitMemlockZero(void) {
    int had;
    struct rlimit old;
    DROP_IPC_LOCK(had);
    if (set_soft_memlock(0, &old) < 0) {
        ported_fail(__LINE__, "ScopedSetSoftRlimit(RLIMIT_MEMLOCK, 0)", errno);
        restore(had, NULL);
        return;
    }
    char *m = mmap_anon(kPageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE);
    if (m == MAP_FAILED) {
        ported_fail(__LINE__, "MmapAnon(kPageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE)", errno);
    } else {
        EXPECT_EQ(is_page_mlocked((uintptr_t)m), 0);
        EXPECT_FAILS(mlock(m, kPageSize), EPERM);
        munmap(m, kPageSize);
    }
    restore(had, &old);
}

static void MlockTest_RlimitMemlockInsufficient(void) {
    int had;
    struct rlimit old;
    DROP_IPC_LOCK(had);
    if (set_soft_memlock(kPageSize, &old) < 0) {
        ported_fail(__LINE__, "ScopedSetSoftRlimit(RLIMIT_MEMLOCK, kPageSize)", errno);
        restore(had, NULL);
        return;
    }
    char *m = mmap_anon(2 * kPageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE);
    if (m == MAP_FAILED) {
        ported_fail(__LINE__, "MmapAnon(2 * kPageSize, ...)", errno);
    } else {
        EXPECT_EQ(is_page_mlocked((uintptr_t)m), 0);
        EXPECT_FAILS(mlock(m, 2 * kPageSize), ENOMEM);
        munmap(m, 2 * kPageSize);
    }
    restore(had, &old);
}

static void MunlockTest_Basic(void) {
    SKIP_IF_CANNOT_MLOCK();
    char *m;
    ASSERT_MAPS(m, mmap_anon(kPageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE));
    EXPECT_EQ(is_page_mlocked((uintptr_t)m), 0);
    ASSERT_OK(mlock(m, kPageSize));
    EXPECT_EQ(is_page_mlocked((uintptr_t)m), 1);
    ASSERT_OK(munlock(m, kPageSize));
    EXPECT_EQ(is_page_mlocked((uintptr_t)m), 0);
    munmap(m, kPageSize);
}

static void MunlockTest_NotLocked(void) {
    SKIP_IF_CANNOT_MLOCK();
    char *m;
    ASSERT_MAPS(m, mmap_anon(kPageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE));
    EXPECT_EQ(is_page_mlocked((uintptr_t)m), 0);
    EXPECT_OK(munlock(m, kPageSize));
    EXPECT_EQ(is_page_mlocked((uintptr_t)m), 0);
    munmap(m, kPageSize);
}

static void future_child(void) {
    char *m = mmap_anon(kPageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE);
    if (m == MAP_FAILED) {
        ported_fail(__LINE__, "MmapAnon", errno);
        return;
    }
    EXPECT(is_page_mlocked((uintptr_t)m) == 0);
    EXPECT_ERRNO(mlockall(MCL_FUTURE) == 0);
    char *m2 = mmap_anon(kPageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE);
    if (m2 == MAP_FAILED) {
        ported_fail(__LINE__, "MmapAnon", errno);
        munlockall();
        return;
    }
    EXPECT(is_page_mlocked((uintptr_t)m2) == 1);
    EXPECT_ERRNO(munlockall() == 0);
    char *m3 = mmap_anon(kPageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE);
    if (m3 == MAP_FAILED)
        ported_fail(__LINE__, "MmapAnon", errno);
    /* gVisor checks mapping2 here (not mapping3), as written upstream. */
    EXPECT(is_page_mlocked((uintptr_t)m2) == 0);
}

static void MlockallTest_Future(void) {
    SKIP_IF_CANNOT_MLOCK();
    int status;
    EXPECT_ERRNO((status = ported_in_forked_process(future_child)) != -1);
    if (status != -1)
        EXPECT_EQ(status, 0);
}

static void MunlockallTest_Basic(void) {
    SKIP_IF_CANNOT_MLOCK();
    char *m;
    ASSERT_MAPS(m, mmap_anon(kPageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_LOCKED));
    EXPECT_EQ(is_page_mlocked((uintptr_t)m), 1);
    ASSERT_OK(munlockall());
    EXPECT_EQ(is_page_mlocked((uintptr_t)m), 0);
    munmap(m, kPageSize);
}

#ifndef MLOCK_ONFAULT
#define MLOCK_ONFAULT 0x01
#endif

#ifdef SYS_mlock2
static int mlock2_(const void *addr, size_t len, int flags) {
    return syscall(SYS_mlock2, addr, len, flags);
}

static void Mlock2Test_NoFlags(void) {
    SKIP_IF_CANNOT_MLOCK();
    char *m;
    ASSERT_MAPS(m, mmap_anon(kPageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE));
    EXPECT_EQ(is_page_mlocked((uintptr_t)m), 0);
    ASSERT_OK(mlock2_(m, kPageSize, 0));
    EXPECT_EQ(is_page_mlocked((uintptr_t)m), 1);
    munmap(m, kPageSize);
}

static void Mlock2Test_MlockOnfault(void) {
    SKIP_IF_CANNOT_MLOCK();
    char *m;
    ASSERT_MAPS(m, mmap_anon(kPageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE));
    EXPECT_EQ(is_page_mlocked((uintptr_t)m), 0);
    ASSERT_OK(mlock2_(m, kPageSize, MLOCK_ONFAULT));
    EXPECT_EQ(is_page_mlocked((uintptr_t)m), 1);
    munmap(m, kPageSize);
}

static void Mlock2Test_UnknownFlags(void) {
    SKIP_IF_CANNOT_MLOCK();
    char *m;
    ASSERT_MAPS(m, mmap_anon(kPageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE));
    EXPECT_FAILS(mlock2_(m, kPageSize, ~0), EINVAL);
    munmap(m, kPageSize);
}
#endif

static void MapLockedTest_Basic(void) {
    SKIP_IF_CANNOT_MLOCK();
    char *m;
    ASSERT_MAPS(m, mmap_anon(kPageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_LOCKED));
    EXPECT_EQ(is_page_mlocked((uintptr_t)m), 1);
    EXPECT_OK(munlock(m, kPageSize));
    EXPECT_EQ(is_page_mlocked((uintptr_t)m), 0);
    munmap(m, kPageSize);
}

static void MapLockedTest_RlimitMemlockZero(void) {
    int had;
    struct rlimit old;
    DROP_IPC_LOCK(had);
    if (set_soft_memlock(0, &old) < 0) {
        ported_fail(__LINE__, "ScopedSetSoftRlimit(RLIMIT_MEMLOCK, 0)", errno);
        restore(had, NULL);
        return;
    }
    EXPECT_MAP_FAILS(mmap_anon(kPageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_LOCKED),
                     EPERM);
    restore(had, &old);
}

static void MapLockedTest_RlimitMemlockInsufficient(void) {
    int had;
    struct rlimit old;
    DROP_IPC_LOCK(had);
    if (set_soft_memlock(kPageSize, &old) < 0) {
        ported_fail(__LINE__, "ScopedSetSoftRlimit(RLIMIT_MEMLOCK, kPageSize)", errno);
        restore(had, NULL);
        return;
    }
    EXPECT_MAP_FAILS(
        mmap_anon(2 * kPageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_LOCKED), EAGAIN);
    restore(had, &old);
}

static void MremapLockedTest_Basic(void) {
    SKIP_IF_CANNOT_MLOCK();
    char *m;
    ASSERT_MAPS(m, mmap_anon(kPageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_LOCKED));
    EXPECT_EQ(is_page_mlocked((uintptr_t)m), 1);
    void *addr = mremap(m, kPageSize, 2 * kPageSize, MREMAP_MAYMOVE, NULL);
    if (addr == MAP_FAILED) {
        ported_fail(__LINE__, "mremap failed", errno);
        munmap(m, kPageSize);
        return;
    }
    EXPECT_EQ(is_page_mlocked((uintptr_t)addr), 1);
    munmap(addr, 2 * kPageSize);
}

static void MremapLockedTest_RlimitMemlockZero(void) {
    SKIP_IF_CANNOT_MLOCK();
    char *m;
    ASSERT_MAPS(m, mmap_anon(kPageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_LOCKED));
    EXPECT_EQ(is_page_mlocked((uintptr_t)m), 1);
    int had;
    struct rlimit old;
    DROP_IPC_LOCK(had);
    if (set_soft_memlock(0, &old) < 0) {
        ported_fail(__LINE__, "ScopedSetSoftRlimit(RLIMIT_MEMLOCK, 0)", errno);
        restore(had, NULL);
        return;
    }
    errno = 0;
    void *addr = mremap(m, kPageSize, 2 * kPageSize, MREMAP_MAYMOVE, NULL);
    int e = errno;
    if (!(addr == MAP_FAILED && e == EAGAIN))
        ported_fail(__LINE__, "addr == MAP_FAILED && errno == EAGAIN", addr == MAP_FAILED ? e : 0);
    restore(had, &old);
    munmap(addr == MAP_FAILED ? (void *)m : addr, addr == MAP_FAILED ? kPageSize : 2 * kPageSize);
}

static void MremapLockedTest_RlimitMemlockInsufficient(void) {
    SKIP_IF_CANNOT_MLOCK();
    char *m;
    ASSERT_MAPS(m, mmap_anon(kPageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_LOCKED));
    EXPECT_EQ(is_page_mlocked((uintptr_t)m), 1);
    int had;
    struct rlimit old;
    DROP_IPC_LOCK(had);
    if (set_soft_memlock(kPageSize, &old) < 0) {
        ported_fail(__LINE__, "ScopedSetSoftRlimit(RLIMIT_MEMLOCK, mapping.len())", errno);
        restore(had, NULL);
        return;
    }
    errno = 0;
    void *addr = mremap(m, kPageSize, 2 * kPageSize, MREMAP_MAYMOVE, NULL);
    int e = errno;
    if (!(addr == MAP_FAILED && e == EAGAIN))
        ported_fail(__LINE__, "addr == MAP_FAILED && errno == EAGAIN", addr == MAP_FAILED ? e : 0);
    restore(had, &old);
    munmap(addr == MAP_FAILED ? (void *)m : addr, addr == MAP_FAILED ? kPageSize : 2 * kPageSize);
}

int main(void) {
    RUN(MlockTest_Basic);
    RUN(MlockTest_ProtNone);
    RUN(MlockTest_MadviseDontneed);
    RUN(MlockTest_MsyncInvalidate);
    RUN(MlockTest_Fork);
    RUN(MlockTest_RlimitMemlockZero);
    RUN(MlockTest_RlimitMemlockInsufficient);
    RUN(MunlockTest_Basic);
    RUN(MunlockTest_NotLocked);
    RUN(MlockallTest_Future);
    RUN(MunlockallTest_Basic);
#ifdef SYS_mlock2
    RUN(Mlock2Test_NoFlags);
    RUN(Mlock2Test_MlockOnfault);
    RUN(Mlock2Test_UnknownFlags);
#endif
    RUN(MapLockedTest_Basic);
    RUN(MapLockedTest_RlimitMemlockZero);
    RUN(MapLockedTest_RlimitMemlockInsufficient);
    RUN(MremapLockedTest_Basic);
    RUN(MremapLockedTest_RlimitMemlockZero);
    RUN(MremapLockedTest_RlimitMemlockInsufficient);
    return ported_summary();
}
