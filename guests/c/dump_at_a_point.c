/* vmm_dump at a chosen point: two guests share a SHM_LOCKed segment, guest 1 has a range
 * mlocked twice and a page paged out; guest 1 dumps its map with page runs and the machine. */
// vmm-guests: 2
#include "vmm.h"
#define P 4096
#define KEY 5150

VMM_MAIN {
    int me = vmm_guest_index();
    int id = shmget(KEY, 2 * P, IPC_CREAT | 0640);
    VMM_CHECK(id >= 0);
    char *s = shmat(id, 0, 0);
    VMM_CHECK(s != (void *)-1);
    VMM_CHECK(vmm_barrier() == 0);
    if (me == 0) VMM_CHECK(shmctl(id, SHM_LOCK, 0) == 0);
    char *a = 0;
    if (me == 1) {
        a = mmap(0, 4 * P, PROT_READ | PROT_WRITE, MAP_ANON | MAP_PRIVATE, -1, 0);
        VMM_CHECK(a != MAP_FAILED);
        a[0] = 1;
        VMM_CHECK(mlock(a + P, 2 * P) == 0);
        VMM_CHECK(mlock(a + P, 2 * P) == 0);
    }
    VMM_CHECK(vmm_barrier() == 0);
    if (me == 1) {
        vmm_reclaim(1 << 20);
        VMM_CHECK(vmm_resident(a, 1) == 0);
        VMM_CHECK(vmm_resident(a + P, 2) == 1);
        VMM_CHECK(vmm_dump(VMM_DUMP_PAGES | VMM_DUMP_MACHINE) == 0);
        VMM_CHECK(vmm_dump(0x80) == -EINVAL);
        VMM_CHECK(a[0] == 1);
    }
    VMM_CHECK(vmm_barrier() == 0);
    VMM_CHECK(shmdt(s) == 0);
    if (me == 0) VMM_CHECK(shmctl(id, IPC_RMID, 0) == 0);
    return 0;
}
