/* Two guests share a segment. SHM_LOCK by one survives the other's munlock; the other's mlock
 * survives SHM_UNLOCK; only when both let go does the segment page out, data intact. */
// vmm-guests: 2
#include "vmm.h"
#define P 4096
#define KEY 4242

VMM_MAIN {
    int me = vmm_guest_index();
    int id = shmget(KEY, 4 * P, IPC_CREAT | 0666);
    VMM_CHECK(id >= 0);
    char *s = shmat(id, 0, 0);
    VMM_CHECK(s != (void *)-1);
    if (me == 0) {
        for (int i = 0; i < 4; i++) s[i * P + 7] = (char)('a' + i);
        VMM_CHECK(shmctl(id, SHM_LOCK, 0) == 0);
    }
    VMM_CHECK(vmm_barrier() == 0);
    if (me == 1) VMM_CHECK(munlock(s, 4 * P) == 0); /* unlocked range: not an error, and no unwiring */
    VMM_CHECK(vmm_barrier() == 0);
    vmm_reclaim(1 << 20);
    VMM_CHECK(vmm_resident(s, 4) == 1);
    for (int i = 0; i < 4; i++) VMM_CHECK(s[i * P + 7] == (char)('a' + i));
    VMM_CHECK(vmm_barrier() == 0);

    if (me == 1) VMM_CHECK(mlock(s, 4 * P) == 0);
    VMM_CHECK(vmm_barrier() == 0);
    if (me == 0) VMM_CHECK(shmctl(id, SHM_UNLOCK, 0) == 0);
    VMM_CHECK(vmm_barrier() == 0);
    vmm_reclaim(1 << 20);
    VMM_CHECK(vmm_resident(s, 4) == 1); /* guest 1's mlock still holds them */
    VMM_CHECK(vmm_barrier() == 0);

    if (me == 1) VMM_CHECK(munlock(s, 4 * P) == 0);
    VMM_CHECK(vmm_barrier() == 0);
    vmm_reclaim(1 << 20);
    VMM_CHECK(vmm_resident(s, 4) == 0);
    VMM_CHECK(vmm_barrier() == 0);
    for (int i = 0; i < 4; i++) VMM_CHECK(s[i * P + 7] == (char)('a' + i));
    VMM_CHECK(vmm_barrier() == 0);
    VMM_CHECK(shmdt(s) == 0);
    if (me == 0) VMM_CHECK(shmctl(id, IPC_RMID, 0) == 0);
    return 0;
}
