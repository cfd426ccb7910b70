/* IPC_RMID while attached: the key goes at once, attaching fails with EIDRM, and the segment
 * goes with its last detach. */
// vmm-guests: 2
#include "vmm.h"
#define P 4096
#define KEY 9090

VMM_MAIN {
    int me = vmm_guest_index();
    int id = shmget(KEY, 3 * P, IPC_CREAT | 0666);
    VMM_CHECK(id >= 0);
    char *s = shmat(id, 0, 0);
    VMM_CHECK(s != (void *)-1);
    VMM_CHECK(vmm_barrier() == 0);
    if (me == 0) {
        VMM_CHECK(shmctl(id, SHM_LOCK, 0) == 0);
        VMM_CHECK(shmctl(id, IPC_RMID, 0) == 0);
    }
    VMM_CHECK(vmm_barrier() == 0);
    struct shmid_ds ds;
    VMM_CHECK(shmctl(id, IPC_STAT, &ds) == 0);
    VMM_CHECK(ds.shm_nattch == 2);
    VMM_CHECK(ds.shm_segsz == 3 * P);
    VMM_CHECK(ds.shm_perm.mode & SHM_DEST);
    VMM_CHECK(ds.shm_perm.mode & SHM_LOCKED);
    VMM_CHECK(shmget(KEY, 0, 0) == -1 && errno == ENOENT);
    VMM_CHECK(shmat(id, 0, 0) == (void *)-1 && errno == EIDRM);
    VMM_CHECK(vmm_barrier() == 0);
    VMM_CHECK(shmdt(s) == 0);
    VMM_CHECK(vmm_barrier() == 0);
    VMM_CHECK(shmctl(id, IPC_STAT, &ds) == -1 && errno == EINVAL);
    return 0;
}
