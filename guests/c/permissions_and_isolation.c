/* SysV permissions between two identities, and private memory that stays private.
 * Guest 0 is root; guest 1 is uid 1000 in group 100. Guest 0 makes a segment readable by
 * others; guest 1 may look it up and attach it read-only, but not read-write, and may not
 * change, remove or lock it. Both write their own pattern at the same private address. */
// vmm-guests: 2
// vmm-creds: 0:0 1000:100
#include "vmm.h"
#define P 4096
#define KEY 6060

static char mine[2 * P];

VMM_MAIN {
    int me = vmm_guest_index();
    for (int i = 0; i < 2 * P; i += 97) mine[i] = (char)(me * 50 + i % 13);
    if (me == 0) {
        int id = shmget(KEY, P, IPC_CREAT | IPC_EXCL | 0604);
        VMM_CHECK(id >= 0);
        char *s = shmat(id, 0, 0);
        VMM_CHECK(s != (void *)-1);
        s[5] = 42;
    }
    VMM_CHECK(vmm_barrier() == 0);
    if (me == 1) {
        VMM_CHECK(shmget(KEY, 0, 0600) == -1 && errno == EACCES); /* asks for rw- as owner bits */
        int id = shmget(KEY, 0, 0);
        VMM_CHECK(id >= 0);
        VMM_CHECK(shmat(id, 0, 0) == (void *)-1 && errno == EACCES);
        char *r = shmat(id, 0, SHM_RDONLY);
        VMM_CHECK(r != (void *)-1);
        VMM_CHECK(r[5] == 42);
        struct shmid_ds ds;
        VMM_CHECK(shmctl(id, IPC_STAT, &ds) == 0);
        VMM_CHECK(ds.shm_perm.uid == 0 && (ds.shm_perm.mode & 0777) == 0604);
        ds.shm_perm.mode = 0666;
        VMM_CHECK(shmctl(id, IPC_SET, &ds) == -1 && errno == EPERM);
        VMM_CHECK(shmctl(id, IPC_RMID, 0) == -1 && errno == EPERM);
        VMM_CHECK(shmctl(id, SHM_LOCK, 0) == -1 && errno == EPERM);
        VMM_CHECK(shmctl(id, SHM_UNLOCK, 0) == -1 && errno == EPERM);
        VMM_CHECK(shmdt(r) == 0);
    }
    VMM_CHECK(vmm_barrier() == 0);
    vmm_reclaim(1 << 20);
    for (int i = 0; i < 2 * P; i += 97) VMM_CHECK(mine[i] == (char)(me * 50 + i % 13));
    VMM_CHECK(vmm_barrier() == 0);
    if (me == 0) {
        int id = shmget(KEY, 0, 0);
        VMM_CHECK(shmctl(id, IPC_RMID, 0) == 0);
    }
    return 0;
}
