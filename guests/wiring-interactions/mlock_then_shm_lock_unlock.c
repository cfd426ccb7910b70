/* mlock an attached segment, then SHM_LOCK and SHM_UNLOCK it: the mlock must still hold.
 *
 * Proposed rules: mlock is a flag, SHM_LOCK a count; SHM_UNLOCK drops only the count.
 *
 * netbsd-2019: mlock and SHM_LOCK share one count (2); SHM_UNLOCK forces it to 0, so the
 * mlocked pages silently lose their wiring and page out: a wrong answer, no corruption.
 *
 * freebsd: SHM_LOCK is EINVAL (sys/kern/sysv_shm.c, kern_shmctl_locked has no such case). */
// netbsd-2019: check-fails vmm_resident(s, N) == 1
// freebsd: check-fails shmctl(id, SHM_LOCK, 0) == 0
#include "vmm.h"
#define P 4096
#define N 4

VMM_MAIN {
    int id = shmget(IPC_PRIVATE, N * P, 0600);
    VMM_CHECK(id >= 0);
    char *s = shmat(id, 0, 0);
    VMM_CHECK(s != (void *)-1);
    for (int i = 0; i < N; i++) s[i * P] = (char)('m' + i);
    VMM_CHECK(mlock(s, N * P) == 0);
    VMM_CHECK(shmctl(id, SHM_LOCK, 0) == 0);
    VMM_CHECK(shmctl(id, SHM_UNLOCK, 0) == 0);
    vmm_reclaim(1 << 20);
    VMM_CHECK(vmm_resident(s, N) == 1); /* the mlock still holds them */
    VMM_CHECK(munlock(s, N * P) == 0);
    vmm_reclaim(1 << 20);
    VMM_CHECK(vmm_resident(s, N) == 0);
    for (int i = 0; i < N; i++) VMM_CHECK(s[i * P] == (char)('m' + i));
    VMM_CHECK(shmdt(s) == 0);
    VMM_CHECK(shmctl(id, IPC_RMID, 0) == 0);
    return 0;
}
