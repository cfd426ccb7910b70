/* Port of gVisor's System V shared memory tests (every TEST of the file, in its order).
 * Origin: github.com/google/gvisor, test/syscalls/linux/shm.cc, commit
 * 2353a35dca93c025be77407b9769b84ddb9a6cbd. License: Apache-2.0 (Copyright 2018 The gVisor
 * Authors). The calls and checks are gVisor's; the code is vmm's own C (gtest →
 * guests/ported/ported.h). ShmSegment's destructor (IPC_RMID, expected to succeed) is an explicit
 * rmid() at the end of each TEST; TempPath::CreateFile is mkstemp in /tmp (gVisor's TEST_TMPDIR
 * default); IsRunningOnGvisor() and GvisorPlatform() answer "native" here, as they do on Linux.
 * After a failed ASSERT the TEST returns without removing its segment (gtest's destructor would).
 *
 * Forks: ShmDeathTest_ReadonlySegment (gtest's EXPECT_EXIT runs the statement in a child) and
 * ShmDeathTest_SegmentNotAccessibleAfterDetach (InForkedProcess). */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "ported.h"

#define kPageSize 4096ULL
static const uint64_t kAllocSize = kPageSize * 128ULL;

static int rmid(int id) { return shmctl(id, IPC_RMID, NULL); }

/* TempPath::CreateFile(): a new empty file; its path in buf. */
static int temp_file(char *buf, size_t n) {
    snprintf(buf, n, "/tmp/ported-shm-XXXXXX");
    int fd = mkstemp(buf);
    if (fd < 0)
        return -1;
    close(fd);
    return 0;
}

#define ASSERT_SHMGET(id, key, size, flg)                                                      \
    do {                                                                                       \
        errno = 0;                                                                             \
        (id) = shmget((key), (size), (flg));                                                   \
        if ((id) == -1) {                                                                      \
            ported_fail(__LINE__, "Shmget(" #key ", " #size ", " #flg ")", errno);             \
            return;                                                                            \
        }                                                                                      \
    } while (0)

#define ASSERT_KEYFILE(key, path)                                                              \
    do {                                                                                       \
        ASSERT_ERRNO(temp_file(path, sizeof path) == 0);                                       \
        (key) = ftok(path, 1);                                                                 \
    } while (0)

static void ShmTest_AttachDetach(void) {
    int id;
    ASSERT_SHMGET(id, IPC_PRIVATE, kAllocSize, IPC_CREAT | 0777);
    struct shmid_ds attr;
    ASSERT_OK(shmctl(id, IPC_STAT, &attr));
    EXPECT_EQ(attr.shm_segsz, kAllocSize);
    EXPECT_EQ(attr.shm_nattch, 0);

    char *addr;
    ASSERT_MAPS(addr, shmat(id, NULL, 0));
    ASSERT_OK(shmctl(id, IPC_STAT, &attr));
    EXPECT_EQ(attr.shm_nattch, 1);

    char *addr2;
    ASSERT_MAPS(addr2, shmat(id, NULL, 0));
    ASSERT_OK(shmctl(id, IPC_STAT, &attr));
    EXPECT_EQ(attr.shm_nattch, 2);

    ASSERT_OK(shmdt(addr));
    ASSERT_OK(shmctl(id, IPC_STAT, &attr));
    EXPECT_EQ(attr.shm_nattch, 1);

    ASSERT_OK(shmdt(addr2));
    ASSERT_OK(shmctl(id, IPC_STAT, &attr));
    EXPECT_EQ(attr.shm_nattch, 0);
    EXPECT_OK(rmid(id));
}

static void ShmTest_LookupByKey(void) {
    char path[64];
    key_t key;
    ASSERT_KEYFILE(key, path);
    int id, id2;
    ASSERT_SHMGET(id, key, kAllocSize, IPC_CREAT | 0777);
    ASSERT_SHMGET(id2, key, kAllocSize, 0777);
    EXPECT_EQ(id, id2);
    EXPECT_OK(rmid(id));
    unlink(path);
}

static void ShmTest_DetachedSegmentsPersist(void) {
    int id;
    ASSERT_SHMGET(id, IPC_PRIVATE, kAllocSize, IPC_CREAT | 0777);
    char *addr;
    ASSERT_MAPS(addr, shmat(id, NULL, 0));
    addr[0] = 'x';
    ASSERT_OK(shmdt(addr));
    ASSERT_MAPS(addr, shmat(id, NULL, 0));
    EXPECT_EQ(addr[0], 'x');
    ASSERT_OK(shmdt(addr));
    EXPECT_OK(rmid(id));
}

static void ShmTest_MultipleDetachFails(void) {
    int id;
    ASSERT_SHMGET(id, IPC_PRIVATE, kAllocSize, IPC_CREAT | 0777);
    char *addr;
    ASSERT_MAPS(addr, shmat(id, NULL, 0));
    ASSERT_OK(shmdt(addr));
    EXPECT_FAILS(shmdt(addr), EINVAL);
    EXPECT_OK(rmid(id));
}

static void ShmTest_IpcStat(void) {
    char path[64];
    key_t key;
    ASSERT_KEYFILE(key, path);
    const time_t start = time(NULL);
    int id;
    ASSERT_SHMGET(id, key, kAllocSize, IPC_CREAT | 0777);
    const uid_t uid = getuid();
    const gid_t gid = getgid();
    const pid_t pid = getpid();

    struct shmid_ds attr;
    ASSERT_OK(shmctl(id, IPC_STAT, &attr));
    EXPECT_EQ(attr.shm_perm.__key, key);
    EXPECT_EQ(attr.shm_perm.uid, uid);
    EXPECT_EQ(attr.shm_perm.gid, gid);
    EXPECT_EQ(attr.shm_perm.cuid, uid);
    EXPECT_EQ(attr.shm_perm.cgid, gid);
    EXPECT_EQ(attr.shm_perm.mode, 0777);
    EXPECT_EQ(attr.shm_segsz, kAllocSize);
    EXPECT_EQ(attr.shm_atime, 0);
    EXPECT_EQ(attr.shm_dtime, 0);
    EXPECT_CMP(attr.shm_ctime, >=, start);
    EXPECT_EQ(attr.shm_cpid, pid);
    EXPECT_EQ(attr.shm_lpid, 0);
    EXPECT_EQ(attr.shm_nattch, 0);

    sleep(1);
    const time_t pre_attach = time(NULL);
    char *addr;
    ASSERT_MAPS(addr, shmat(id, NULL, 0));
    ASSERT_OK(shmctl(id, IPC_STAT, &attr));
    EXPECT_CMP(attr.shm_atime, >=, pre_attach);
    EXPECT_EQ(attr.shm_dtime, 0);
    EXPECT_CMP(attr.shm_ctime, <, pre_attach);
    EXPECT_EQ(attr.shm_lpid, pid);
    EXPECT_EQ(attr.shm_nattch, 1);

    sleep(1);
    const time_t pre_detach = time(NULL);
    ASSERT_OK(shmdt(addr));
    ASSERT_OK(shmctl(id, IPC_STAT, &attr));
    EXPECT_CMP(attr.shm_atime, <, pre_detach);
    EXPECT_CMP(attr.shm_dtime, >=, pre_detach);
    EXPECT_CMP(attr.shm_ctime, <, pre_detach);
    EXPECT_EQ(attr.shm_lpid, pid);
    EXPECT_EQ(attr.shm_nattch, 0);
    EXPECT_OK(rmid(id));
    unlink(path);
}

static void ShmTest_ShmStat(void) {
    /* Relies on the segment being the system's first (slot 1), which a general Linux host
     * does not promise. */
    SKIP("GvisorPlatform() == Platform::kNative");
}

static void ShmTest_IpcInfo(void) {
    struct shminfo info;
    ASSERT_OK(shmctl(0, IPC_INFO, (struct shmid_ds *)&info));
    EXPECT_EQ(info.shmmin, 1);
    EXPECT_CMP(info.shmmax, >, info.shmmin);
    EXPECT_CMP(info.shmmni, >, 0);
    EXPECT_CMP(info.shmseg, >, 0);
    EXPECT_CMP(info.shmall, >, 0);
}

static void ShmTest_ShmInfo(void) {
    struct shm_info snap;
    ASSERT_OK(shmctl(0, SHM_INFO, (struct shmid_ds *)&snap));
    int id;
    ASSERT_SHMGET(id, IPC_PRIVATE, kAllocSize, IPC_CREAT | 0777);
    char *addr;
    ASSERT_MAPS(addr, shmat(id, NULL, 0));
    struct shm_info info;
    ASSERT_OK(shmctl(1, SHM_INFO, (struct shmid_ds *)&info));
    /* The machine-wide numbers are checked on gVisor only (IsRunningOnGvisor()). */
    ASSERT_OK(shmdt(addr));
    EXPECT_OK(rmid(id));
}

static void ShmTest_ShmCtlSet(void) {
    int id;
    ASSERT_SHMGET(id, IPC_PRIVATE, kAllocSize, IPC_CREAT | 0777);
    char *addr;
    ASSERT_MAPS(addr, shmat(id, NULL, 0));
    struct shmid_ds attr;
    ASSERT_OK(shmctl(id, IPC_STAT, &attr));
    ASSERT_EQ(attr.shm_perm.mode, 0777);
    attr.shm_perm.mode = 0766;
    ASSERT_OK(shmctl(id, IPC_SET, &attr));
    ASSERT_OK(shmctl(id, IPC_STAT, &attr));
    ASSERT_EQ(attr.shm_perm.mode, 0766);
    ASSERT_OK(shmdt(addr));
    EXPECT_OK(rmid(id));
}

#ifndef SHM_DEST
#define SHM_DEST 0x200
#endif

static void ShmTest_RemovedSegmentsAreMarkedDeleted(void) {
    int id;
    ASSERT_SHMGET(id, IPC_PRIVATE, kAllocSize, IPC_CREAT | 0777);
    char *addr;
    ASSERT_MAPS(addr, shmat(id, NULL, 0));
    ASSERT_OK(rmid(id));
    struct shmid_ds attr;
    ASSERT_OK(shmctl(id, IPC_STAT, &attr));
    EXPECT_CMP(attr.shm_perm.mode & SHM_DEST, !=, 0);
    ASSERT_OK(shmdt(addr));
}

static void ShmTest_RemovedSegmentsAreDestroyed(void) {
    int id;
    ASSERT_SHMGET(id, IPC_PRIVATE, kAllocSize, IPC_CREAT | 0777);
    char *addr;
    ASSERT_MAPS(addr, shmat(id, NULL, 0));
    struct shm_info info;
    ASSERT_OK(shmctl(0, SHM_INFO, (struct shmid_ds *)&info));
    ASSERT_OK(rmid(id));
    ASSERT_OK(shmdt(addr));
    ASSERT_OK(shmctl(0, SHM_INFO, (struct shmid_ds *)&info));
    /* The before/after shm_tot comparison is made on gVisor only. */
}

static void ShmTest_AllowsAttachToRemovedSegmentWithRefs(void) {
    int id;
    ASSERT_SHMGET(id, IPC_PRIVATE, kAllocSize, IPC_CREAT | 0777);
    char *addr, *addr2;
    ASSERT_MAPS(addr, shmat(id, NULL, 0));
    ASSERT_OK(rmid(id));
    ASSERT_MAPS(addr2, shmat(id, NULL, 0));
    ASSERT_OK(shmdt(addr));
    ASSERT_OK(shmdt(addr2));
}

static void ShmTest_RemovedSegmentsAreNotDiscoverable(void) {
    char path[64];
    key_t key;
    ASSERT_KEYFILE(key, path);
    int id;
    ASSERT_SHMGET(id, key, kAllocSize, IPC_CREAT | 0777);
    ASSERT_OK(rmid(id));
    EXPECT_FAILS(shmget(key, kAllocSize, 0777), ENOENT);
    unlink(path);
}

static void ShmDeathTest_ReadonlySegment(void) {
    int id;
    ASSERT_SHMGET(id, IPC_PRIVATE, kAllocSize, IPC_CREAT | 0777);
    char *addr;
    ASSERT_MAPS(addr, shmat(id, NULL, SHM_RDONLY));
    (void)*(volatile char *)addr;
    fflush(stdout);
    pid_t pid = ported_fork();
    if (pid == -1) {
        ported_fail(__LINE__, "EXPECT_EXIT(addr[0] = 'x', KilledBySignal(SIGSEGV)): fork", errno);
    }
#ifndef __wasi__
    else if (pid == 0) {
        *(volatile char *)addr = 'x';
        _exit(0);
    } else {
        int status;
        waitpid(pid, &status, 0);
        EXPECT(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV);
    }
#endif
    shmdt(addr);
    EXPECT_OK(rmid(id));
}

static void not_accessible_after_detach(void) {
    int id = shmget(IPC_PRIVATE, kAllocSize, IPC_CREAT | 0777);
    if (id == -1) {
        ported_fail(__LINE__, "Shmget", errno);
        return;
    }
    char *addr = shmat(id, NULL, 0);
    if (addr == (char *)-1) {
        ported_fail(__LINE__, "Shmat", errno);
        return;
    }
    if (rmid(id) != 0) {
        ported_fail(__LINE__, "shm.Rmid()", errno);
        return;
    }
    addr[0] = 'x';
    if (shmdt(addr) != 0) {
        ported_fail(__LINE__, "Shmdt(addr)", errno);
        return;
    }
    /* This access should cause a SIGSEGV. */
    *(volatile char *)addr = 'x';
}

static void ShmDeathTest_SegmentNotAccessibleAfterDetach(void) {
    int status;
    EXPECT_ERRNO((status = ported_in_forked_process(not_accessible_after_detach)) != -1);
    if (status != -1)
        EXPECT(status == SIGSEGV || status == ((128 + SIGSEGV) << 8) || status == (128 + SIGSEGV));
}

static void ShmTest_RequestingSegmentSmallerThanSHMMINFails(void) {
    struct shminfo info;
    ASSERT_OK(shmctl(0, IPC_INFO, (struct shmid_ds *)&info));
    const uint64_t size = info.shmmin - 1;
    EXPECT_FAILS(shmget(IPC_PRIVATE, size, IPC_CREAT | 0777), EINVAL);
}

static void ShmTest_RequestingSegmentLargerThanSHMMAXFails(void) {
    struct shminfo info;
    ASSERT_OK(shmctl(0, IPC_INFO, (struct shmid_ds *)&info));
    const uint64_t size = info.shmmax + kPageSize;
    EXPECT_FAILS(shmget(IPC_PRIVATE, size, IPC_CREAT | 0777), EINVAL);
}

static void ShmTest_RequestingUnalignedSizeSucceeds(void) {
    int id;
    errno = 0;
    id = shmget(IPC_PRIVATE, 4097, IPC_CREAT | 0777);
    EXPECT_ERRNO(id != -1);
    if (id != -1)
        EXPECT_OK(rmid(id));
}

static void ShmTest_RequestingDuplicateCreationFails(void) {
    char path[64];
    key_t key;
    ASSERT_KEYFILE(key, path);
    int id;
    ASSERT_SHMGET(id, key, kAllocSize, IPC_CREAT | IPC_EXCL | 0777);
    EXPECT_FAILS(shmget(key, kAllocSize, IPC_CREAT | IPC_EXCL | 0777), EEXIST);
    EXPECT_OK(rmid(id));
    unlink(path);
}

static void ShmTest_NonExistentSegmentsAreNotFound(void) {
    char path[64];
    key_t key;
    ASSERT_KEYFILE(key, path);
    EXPECT_FAILS(shmget(key, kAllocSize, 0777), ENOENT);
    unlink(path);
}

static void ShmTest_SegmentsSizeFixedOnCreation(void) {
    char path[64];
    key_t key;
    ASSERT_KEYFILE(key, path);
    int id, id2;
    ASSERT_SHMGET(id, key, kAllocSize, IPC_CREAT | 0777);
    ASSERT_SHMGET(id2, key, kAllocSize / 2, 0777);
    EXPECT_FAILS(shmget(key, kAllocSize * 2, 0777), EINVAL);
    char *addr, *addr2;
    ASSERT_MAPS(addr, shmat(id, NULL, 0));
    ASSERT_MAPS(addr2, shmat(id2, NULL, 0));
    EXPECT(addr != addr2);
    addr[kAllocSize - 1] = 'x';
    addr2[kAllocSize - 1] = 'x';
    ASSERT_OK(shmdt(addr));
    ASSERT_OK(shmdt(addr2));
    EXPECT_OK(rmid(id));
    unlink(path);
}

static void ShmTest_PartialUnmap(void) {
    int id;
    ASSERT_SHMGET(id, IPC_PRIVATE, kAllocSize, IPC_CREAT | 0777);
    char *addr;
    ASSERT_MAPS(addr, shmat(id, NULL, 0));
    EXPECT_OK(munmap(addr + (kAllocSize / 4), kAllocSize / 2));
    ASSERT_OK(shmdt(addr));
    EXPECT_OK(rmid(id));
}

static void ShmTest_GracefullyFailOnZeroLenSegmentCreation(void) {
    EXPECT_FAILS(shmget(IPC_PRIVATE, 0, 0), EINVAL);
}

static void ShmTest_NoDestructionOfAttachedSegmentWithMultipleRmid(void) {
    int id;
    ASSERT_SHMGET(id, IPC_PRIVATE, kAllocSize, IPC_CREAT | 0777);
    char *addr, *addr2;
    ASSERT_MAPS(addr, shmat(id, NULL, 0));
    ASSERT_MAPS(addr2, shmat(id, NULL, 0));
    for (int i = 0; i < 6; ++i)
        ASSERT_OK(rmid(id));
    addr[0] = 'x';
    ASSERT_OK(shmdt(addr));
    addr2[0] = 'x';
    ASSERT_OK(shmdt(addr2));
}

static void ShmTest_MprotectWriteOnReadonlySegmentFails(void) {
    int id;
    ASSERT_SHMGET(id, IPC_PRIVATE, kAllocSize, IPC_CREAT | 0777);
    char *addr;
    ASSERT_MAPS(addr, shmat(id, NULL, SHM_RDONLY));
    EXPECT_FAILS(mprotect(addr, kAllocSize, PROT_READ | PROT_WRITE), EACCES);
    ASSERT_OK(shmdt(addr));
    EXPECT_OK(rmid(id));
}

static void ShmTest_MprotectWriteOnWritableSegmentSucceeds(void) {
    int id;
    ASSERT_SHMGET(id, IPC_PRIVATE, kAllocSize, IPC_CREAT | 0777);
    char *addr;
    ASSERT_MAPS(addr, shmat(id, NULL, 0));
    ASSERT_OK(mprotect(addr, kAllocSize, PROT_READ));
    EXPECT_OK(mprotect(addr, kAllocSize, PROT_READ | PROT_WRITE));
    addr[0] = 'y';
    EXPECT_EQ(addr[0], 'y');
    ASSERT_OK(shmdt(addr));
    EXPECT_OK(rmid(id));
}

int main(void) {
    RUN(ShmTest_AttachDetach);
    RUN(ShmTest_LookupByKey);
    RUN(ShmTest_DetachedSegmentsPersist);
    RUN(ShmTest_MultipleDetachFails);
    RUN(ShmTest_IpcStat);
    RUN(ShmTest_ShmStat);
    RUN(ShmTest_IpcInfo);
    RUN(ShmTest_ShmInfo);
    RUN(ShmTest_ShmCtlSet);
    RUN(ShmTest_RemovedSegmentsAreMarkedDeleted);
    RUN(ShmTest_RemovedSegmentsAreDestroyed);
    RUN(ShmTest_AllowsAttachToRemovedSegmentWithRefs);
    RUN(ShmTest_RemovedSegmentsAreNotDiscoverable);
    RUN(ShmDeathTest_ReadonlySegment);
    RUN(ShmDeathTest_SegmentNotAccessibleAfterDetach);
    RUN(ShmTest_RequestingSegmentSmallerThanSHMMINFails);
    RUN(ShmTest_RequestingSegmentLargerThanSHMMAXFails);
    RUN(ShmTest_RequestingUnalignedSizeSucceeds);
    RUN(ShmTest_RequestingDuplicateCreationFails);
    RUN(ShmTest_NonExistentSegmentsAreNotFound);
    RUN(ShmTest_SegmentsSizeFixedOnCreation);
    RUN(ShmTest_PartialUnmap);
    RUN(ShmTest_GracefullyFailOnZeroLenSegmentCreation);
    RUN(ShmTest_NoDestructionOfAttachedSegmentWithMultipleRmid);
    RUN(ShmTest_MprotectWriteOnReadonlySegmentFails);
    RUN(ShmTest_MprotectWriteOnWritableSegmentSucceeds);
    return ported_summary();
}
