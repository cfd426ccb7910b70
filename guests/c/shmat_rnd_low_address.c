/* shmat(id, (void *)1, SHM_RND) rounds the address down to 0, which NetBSD and Linux both take as
 * a fixed attach at 0, never as "choose for me". Page 0 is this guest's own memory, so the attach
 * fails with EINVAL. (LTP's shmat03 accepts EINVAL or an attachment somewhere usable.) Either way
 * the segment must not land past the end of memory, and a second segment attached with a null
 * address gets room of its own: two segments, two addresses, both keep their data. */
#include "vmm.h"
#define P 4096

VMM_MAIN {
    int a = shmget(IPC_PRIVATE, 2 * P, 0600);
    int b = shmget(IPC_PRIVATE, 2 * P, 0600);
    VMM_CHECK(a >= 0 && b >= 0);
    char *pa = shmat(a, (void *)1, SHM_RND);
    if (pa == (void *)-1) {
        VMM_CHECK(errno == EINVAL);
        pa = shmat(a, 0, 0);
        VMM_CHECK(pa != (void *)-1);
    }
    pa[0] = 'A';
    pa[P] = 'a';
    char *pb = shmat(b, 0, 0);
    VMM_CHECK(pb != (void *)-1);
    VMM_CHECK(pb + 2 * P <= pa || pa + 2 * P <= pb);
    pb[0] = 'B';
    VMM_CHECK(pa[0] == 'A' && pa[P] == 'a' && pb[0] == 'B');
    struct shmid_ds ds;
    VMM_CHECK(shmctl(a, IPC_STAT, &ds) == 0 && ds.shm_nattch == 1);
    VMM_CHECK(shmctl(b, IPC_STAT, &ds) == 0 && ds.shm_nattch == 1);
    VMM_CHECK(shmdt(pa) == 0);
    VMM_CHECK(shmdt(pb) == 0);
    VMM_CHECK(shmdt(pa) == -1 && errno == EINVAL);
    VMM_CHECK(shmctl(a, IPC_RMID, 0) == 0);
    VMM_CHECK(shmctl(b, IPC_RMID, 0) == 0);
    return 0;
}
