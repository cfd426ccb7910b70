/* mlockall(MCL_FUTURE): new mmap, shmat and memory growth start wired; munlockall lets go. */
#include "vmm.h"
#define P 4096

VMM_MAIN {
    VMM_CHECK(mlockall(MCL_FUTURE) == 0);
    char *a = mmap(0, 3 * P, PROT_READ | PROT_WRITE, MAP_ANON | MAP_PRIVATE, -1, 0);
    VMM_CHECK(a != MAP_FAILED);
    int id = shmget(IPC_PRIVATE, 2 * P, 0600);
    VMM_CHECK(id >= 0);
    char *s = shmat(id, 0, 0);
    VMM_CHECK(s != (void *)-1);
    int old = __builtin_wasm_memory_grow(0, 1);
    VMM_CHECK(old > 0);
    char *g = (char *)(old * 65536);
    vmm_reclaim(1 << 20);
    VMM_CHECK(vmm_resident(a, 3) == 1);
    VMM_CHECK(vmm_resident(s, 2) == 1);
    VMM_CHECK(vmm_resident(g, 16) == 1);
    a[0] = 1;
    VMM_CHECK(munlockall() == 0);
    vmm_reclaim(1 << 20);
    VMM_CHECK(vmm_resident(a, 3) == 0);
    VMM_CHECK(vmm_resident(s, 2) == 0);
    VMM_CHECK(vmm_resident(g, 16) == 0);
    VMM_CHECK(a[0] == 1);
    VMM_CHECK(shmdt(s) == 0);
    VMM_CHECK(shmctl(id, IPC_RMID, 0) == 0);
    return 0;
}
