/* One guest's store is seen by another through a segment after the page was paged out and
 * brought back, and the other way round. */
// vmm-guests: 2
#include "vmm.h"
#define P 4096
#define KEY 777

VMM_MAIN {
    int me = vmm_guest_index();
    int id = shmget(KEY, 2 * P, IPC_CREAT | 0600);
    VMM_CHECK(id >= 0);
    volatile int *s = shmat(id, 0, 0);
    VMM_CHECK(s != (void *)-1);
    if (me == 0) s[P / 4 + 3] = 0x1234567;
    VMM_CHECK(vmm_barrier() == 0);
    if (me == 1) {
        vmm_reclaim(1 << 20);
        VMM_CHECK(vmm_resident((void *)s, 2) == 0);
        VMM_CHECK(s[P / 4 + 3] == 0x1234567);
        s[5] = 42;
        vmm_reclaim(1 << 20);
    }
    VMM_CHECK(vmm_barrier() == 0);
    if (me == 0) VMM_CHECK(s[5] == 42);
    VMM_CHECK(vmm_barrier() == 0);
    VMM_CHECK(shmdt((void *)s) == 0);
    if (me == 0) VMM_CHECK(shmctl(id, IPC_RMID, 0) == 0);
    return 0;
}
