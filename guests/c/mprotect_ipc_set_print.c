/* mprotect changes what the guest may do (checked through IPC_STAT-free means: a read-only page
 * can still be read and locked), IPC_SET changes owner and mode as IPC_STAT then reports, and
 * vmm_print returns the bytes it wrote. */
#include "vmm.h"
#define P 4096

VMM_MAIN {
    char *a = mmap(0, 2 * P, PROT_READ | PROT_WRITE, MAP_ANON | MAP_PRIVATE, -1, 0);
    VMM_CHECK(a != MAP_FAILED);
    a[0] = 5;
    VMM_CHECK(mprotect(a, P, PROT_READ) == 0);
    VMM_CHECK(a[0] == 5);
    VMM_CHECK(mlock(a, 2 * P) == 0);
    VMM_CHECK(mprotect(a, P, PROT_READ | PROT_WRITE) == 0);
    a[1] = 6;
    VMM_CHECK(a[0] + a[1] == 11);
    VMM_CHECK(munlock(a, 2 * P) == 0);

    int id = shmget(IPC_PRIVATE, P, 0600);
    VMM_CHECK(id >= 0);
    struct shmid_ds ds;
    VMM_CHECK(shmctl(id, IPC_STAT, &ds) == 0);
    VMM_CHECK(ds.shm_perm.mode == 0600 && ds.shm_nattch == 0 && ds.shm_segsz == P);
    ds.shm_perm.uid = 1234;
    ds.shm_perm.gid = 99;
    ds.shm_perm.mode = 0640;
    VMM_CHECK(shmctl(id, IPC_SET, &ds) == 0);
    struct shmid_ds back;
    VMM_CHECK(shmctl(id, IPC_STAT, &back) == 0);
    VMM_CHECK(back.shm_perm.uid == 1234 && back.shm_perm.gid == 99 && back.shm_perm.mode == 0640);
    VMM_CHECK(back.shm_perm.cuid == 0);
    VMM_CHECK(shmctl(id, IPC_SET, (struct shmid_ds *)0x7ffffff0) == -1 && errno == EFAULT);
    VMM_CHECK(shmctl(id, IPC_RMID, 0) == 0);

    const char msg[] = "hello from a guest\n";
    VMM_CHECK(vmm_print(VMM_P(msg), sizeof msg - 1) == sizeof msg - 1);
    VMM_CHECK(vmm_print(0x7ffffff0, 4) == -EFAULT);
    return 0;
}
