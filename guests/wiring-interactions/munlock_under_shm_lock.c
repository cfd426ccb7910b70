/* A second guest munlocks its attachment of a segment the first guest SHM_LOCKed.
 *
 * Proposed rules: munlock of memory no mlock holds succeeds and unwires nothing (POSIX).
 *
 * netbsd-2019: munlock fails with EINVAL unless every entry in the range has a wire count, and
 * the second guest's attachment has none: a wrong answer, no corruption.
 *
 * linux: SHM_LOCK does not fault pages in (mm/shmem.c, shmem_lock only marks the mapping
 * unevictable), so the untouched segment is not resident afterwards.
 *
 * freebsd: SHM_LOCK is EINVAL (sys/kern/sysv_shm.c, kern_shmctl_locked has no such case). */
// vmm-guests: 2
// netbsd-2019: check-fails munlock(s, N * P) == 0
// linux: check-fails vmm_resident(s, N) == 1
// freebsd: check-fails shmctl(id, SHM_LOCK, 0) == 0
#include "vmm.h"
#define P 4096
#define N 2
#define KEY 7003

VMM_MAIN {
    int me = vmm_guest_index();
    int id = shmget(KEY, N * P, IPC_CREAT | 0666);
    VMM_CHECK(id >= 0);
    char *s = shmat(id, 0, 0);
    VMM_CHECK(s != (void *)-1);
    VMM_CHECK(vmm_barrier() == 0);
    if (me == 0) VMM_CHECK(shmctl(id, SHM_LOCK, 0) == 0);
    VMM_CHECK(vmm_barrier() == 0);
    if (me == 1) VMM_CHECK(munlock(s, N * P) == 0);
    VMM_CHECK(vmm_barrier() == 0);
    vmm_reclaim(1 << 20);
    VMM_CHECK(vmm_resident(s, N) == 1);
    VMM_CHECK(vmm_barrier() == 0);
    if (me == 0) VMM_CHECK(shmctl(id, SHM_UNLOCK, 0) == 0);
    VMM_CHECK(vmm_barrier() == 0);
    VMM_CHECK(shmdt(s) == 0);
    if (me == 0) VMM_CHECK(shmctl(id, IPC_RMID, 0) == 0);
    return 0;
}
