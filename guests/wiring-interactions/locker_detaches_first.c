/* The guest that SHM_LOCKed a segment detaches first; the other unlocks it, removes it and
 * detaches last.
 *
 * Proposed rules: the segment stays wired with no attachment in the locker; SHM_UNLOCK by the
 * other guest unwires it; the last detach frees it.
 *
 * netbsd-2019: the other guest's attachment was never counted, so its SHM_UNLOCK unwires the
 * object, fails (EIO) and leaves the mark; freeing a segment still marked locked unwires the
 * object's pages a second time.
 *
 * freebsd: SHM_LOCK is EINVAL (sys/kern/sysv_shm.c, kern_shmctl_locked has no such case). */
// vmm-guests: 2
// netbsd-2019: corrupt object-unwired-twice
// freebsd: check-fails shmctl(id, SHM_LOCK, 0) == 0
#include "vmm.h"
#define P 4096
#define N 4
#define KEY 7002

VMM_MAIN {
    int me = vmm_guest_index();
    int id = shmget(KEY, N * P, IPC_CREAT | 0666);
    VMM_CHECK(id >= 0);
    char *s = shmat(id, 0, 0);
    VMM_CHECK(s != (void *)-1);
    VMM_CHECK(vmm_barrier() == 0);
    if (me == 0) {
        for (int i = 0; i < N; i++) s[i * P] = (char)('k' + i);
        VMM_CHECK(shmctl(id, SHM_LOCK, 0) == 0);
        VMM_CHECK(shmdt(s) == 0);
    }
    VMM_CHECK(vmm_barrier() == 0);
    if (me == 1) {
        vmm_reclaim(1 << 20);
        VMM_CHECK(vmm_resident(s, N) == 1); /* locked, though its locker has gone */
        int unlocked = shmctl(id, SHM_UNLOCK, 0);
        vmm_reclaim(1 << 20);
        int out = vmm_resident(s, N);
        int intact = 1;
        for (int i = 0; i < N; i++) intact &= s[i * P] == (char)('k' + i);
        int removed = shmctl(id, IPC_RMID, 0);
        int detached = shmdt(s); /* the last detach frees the segment */
        VMM_CHECK(unlocked == 0);
        VMM_CHECK(out == 0);
        VMM_CHECK(intact);
        VMM_CHECK(removed == 0);
        VMM_CHECK(detached == 0);
        VMM_CHECK(shmctl(id, IPC_STAT, 0) == -1 && errno == EINVAL);
    }
    return 0;
}
