/* The seed problem: SHM_LOCK a segment, munlock the attached range, then SHM_UNLOCK twice.
 *
 * Proposed rules: munlock only clears a POSIX flag nobody set, so SHM_LOCK's wiring stays; the
 * first SHM_UNLOCK drops it, the second finds nothing to do. The pages then page out and back.
 *
 * netbsd-2019: munlock forces the entry's one wire count to 0. The first SHM_UNLOCK unwires the
 * object, then fails to unwire the entry (count already 0: EINVAL, reported as EIO) and leaves the
 * segment marked locked. The second unwires the object's pages again: a double unwire.
 *
 * freebsd: SHM_LOCK is EINVAL (sys/kern/sysv_shm.c, kern_shmctl_locked has no such case). */
// netbsd-2019: corrupt object-unwired-twice
// freebsd: check-fails shmctl(id, SHM_LOCK, 0) == 0
#include "vmm.h"
#define P 4096
#define N 4

VMM_MAIN {
    int id = shmget(IPC_PRIVATE, N * P, 0600);
    VMM_CHECK(id >= 0);
    char *s = shmat(id, 0, 0);
    VMM_CHECK(s != (void *)-1);
    for (int i = 0; i < N; i++) s[i * P] = (char)('A' + i);
    VMM_CHECK(shmctl(id, SHM_LOCK, 0) == 0);
    VMM_CHECK(munlock(s, N * P) == 0);
    vmm_reclaim(1 << 20);
    VMM_CHECK(vmm_resident(s, N) == 1); /* SHM_LOCK still holds the pages */
    /* Both results are checked after both calls, so the second call happens under both rules. */
    int first = shmctl(id, SHM_UNLOCK, 0);
    int second = shmctl(id, SHM_UNLOCK, 0);
    VMM_CHECK(first == 0);
    VMM_CHECK(second == 0);
    struct shmid_ds ds;
    VMM_CHECK(shmctl(id, IPC_STAT, &ds) == 0);
    VMM_CHECK((ds.shm_perm.mode & SHM_LOCKED) == 0);
    vmm_reclaim(1 << 20);
    VMM_CHECK(vmm_resident(s, N) == 0);
    for (int i = 0; i < N; i++) VMM_CHECK(s[i * P] == (char)('A' + i));
    VMM_CHECK(shmdt(s) == 0);
    VMM_CHECK(shmctl(id, IPC_RMID, 0) == 0);
    return 0;
}
