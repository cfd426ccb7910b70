/* One guest SHM_LOCKs a shared segment, another SHM_UNLOCKs it, then the first unlocks too.
 *
 * Proposed rules: the lock is the segment's state, whoever set it; the other guest's SHM_UNLOCK
 * removes it everywhere and the first guest's finds nothing to do.
 *
 * netbsd-2019: SHM_LOCK counted only the locker's own attachment. The other guest's SHM_UNLOCK
 * unwires the object, finds its own attachment uncounted (EIO) and leaves the segment marked
 * locked; the locker's SHM_UNLOCK then unwires the object's pages a second time.
 *
 * freebsd: SHM_LOCK is EINVAL (sys/kern/sysv_shm.c, kern_shmctl_locked has no such case). */
// vmm-guests: 2
// netbsd-2019: corrupt object-unwired-twice
// freebsd: check-fails shmctl(id, SHM_LOCK, 0) == 0
#include "vmm.h"
#define P 4096
#define N 4
#define KEY 7001

VMM_MAIN {
    int me = vmm_guest_index();
    int id = shmget(KEY, N * P, IPC_CREAT | 0666);
    VMM_CHECK(id >= 0);
    char *s = shmat(id, 0, 0);
    VMM_CHECK(s != (void *)-1);
    VMM_CHECK(vmm_barrier() == 0);
    if (me == 0) {
        for (int i = 0; i < N; i++) s[i * P] = (char)('a' + i);
        VMM_CHECK(shmctl(id, SHM_LOCK, 0) == 0);
    }
    VMM_CHECK(vmm_barrier() == 0);
    int r = 0;
    if (me == 1) r = shmctl(id, SHM_UNLOCK, 0);
    VMM_CHECK(vmm_barrier() == 0);
    if (me == 0) r = shmctl(id, SHM_UNLOCK, 0);
    VMM_CHECK(vmm_barrier() == 0);
    VMM_CHECK(r == 0);
    struct shmid_ds ds;
    VMM_CHECK(shmctl(id, IPC_STAT, &ds) == 0);
    VMM_CHECK((ds.shm_perm.mode & SHM_LOCKED) == 0);
    vmm_reclaim(1 << 20);
    VMM_CHECK(vmm_resident(s, N) == 0);
    VMM_CHECK(vmm_barrier() == 0);
    for (int i = 0; i < N; i++) VMM_CHECK(s[i * P] == (char)('a' + i));
    VMM_CHECK(vmm_barrier() == 0);
    VMM_CHECK(shmdt(s) == 0);
    if (me == 0) VMM_CHECK(shmctl(id, IPC_RMID, 0) == 0);
    return 0;
}
