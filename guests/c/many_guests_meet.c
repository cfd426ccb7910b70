/* The scale scenario: every guest attaches one shared segment, mlocks a private page, meets the
 * others at a barrier and detaches. `vmm run --copies 10000` runs it with 10,000 guests. */
// vmm-guests: 4
#include "vmm.h"
#define P 4096
#define KEY 7070

static char private_page[P] __attribute__((aligned(P)));

VMM_MAIN {
    int me = vmm_guest_index();
    int id = shmget(KEY, P, IPC_CREAT | 0666);
    VMM_CHECK(id >= 0);
    int *s = shmat(id, 0, 0);
    VMM_CHECK(s != (void *)-1);
    VMM_CHECK(mlock(private_page, P) == 0);
    private_page[0] = (char)me;
    VMM_CHECK(vmm_barrier() == 0);
    struct shmid_ds ds;
    VMM_CHECK(shmctl(id, IPC_STAT, &ds) == 0);
    VMM_CHECK(ds.shm_nattch == (unsigned long)vmm_guest_count());
    VMM_CHECK(vmm_barrier() == 0);
    VMM_CHECK(shmdt(s) == 0);
    VMM_CHECK(munlock(private_page, P) == 0);
    return 0;
}
