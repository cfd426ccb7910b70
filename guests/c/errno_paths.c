/* Every call's errno paths, as NetBSD numbers them. */
#include "vmm.h"
#define P 4096

VMM_MAIN {
    VMM_CHECK(getpagesize() == P);
    char *a = mmap(0, 4 * P, PROT_READ | PROT_WRITE, MAP_ANON | MAP_PRIVATE, -1, 0);
    VMM_CHECK(a != MAP_FAILED);
    VMM_CHECK(mmap(0, P, PROT_READ, MAP_PRIVATE, -1, 0) == MAP_FAILED && errno == EINVAL);
    VMM_CHECK(mmap(0, 0, PROT_READ, MAP_ANON | MAP_PRIVATE, -1, 0) == MAP_FAILED && errno == EINVAL);
    VMM_CHECK(mmap(0, P, 0x100, MAP_ANON | MAP_PRIVATE, -1, 0) == MAP_FAILED && errno == EINVAL);
    VMM_CHECK(mmap(a + 1, P, PROT_READ, MAP_ANON | MAP_PRIVATE | MAP_FIXED, -1, 0) == MAP_FAILED && errno == EINVAL);
    VMM_CHECK(munmap(a + 1, P) == -1 && errno == EINVAL);
    VMM_CHECK(munmap(a, 0) == -1 && errno == EINVAL);
    VMM_CHECK(mprotect(a + 1, P, PROT_READ) == -1 && errno == EINVAL);
    VMM_CHECK(munmap(a + P, P) == 0);
    VMM_CHECK(mlock(a, 4 * P) == -1 && errno == ENOMEM);
    VMM_CHECK(munlock(a, 4 * P) == -1 && errno == ENOMEM);
    VMM_CHECK(mprotect(a, 2 * P, PROT_READ) == -1 && errno == ENOMEM);
    VMM_CHECK(mincore(a, 2 * P, (unsigned char *)a) == -1 && errno == ENOMEM);
    VMM_CHECK(mincore(a, P, (unsigned char *)(a + P)) == -1 && errno == EFAULT);
    VMM_CHECK(mlock(a, (size_t)-1) == -1 && errno == ENOMEM);
    VMM_CHECK(mlockall(0) == -1 && errno == EINVAL);
    VMM_CHECK(mlockall(8) == -1 && errno == EINVAL);
    VMM_CHECK(munlock(a, P) == 0);
    VMM_CHECK(shmget(31337, P, 0) == -1 && errno == ENOENT);
    VMM_CHECK(shmget(IPC_PRIVATE, 0, 0600) == -1 && errno == EINVAL);
    int id = shmget(31337, 2 * P, IPC_CREAT | 0600);
    VMM_CHECK(id >= 0);
    VMM_CHECK(shmget(31337, P, IPC_CREAT | IPC_EXCL | 0600) == -1 && errno == EEXIST);
    VMM_CHECK(shmget(31337, 3 * P, 0) == -1 && errno == EINVAL);
    VMM_CHECK(shmat(id + 1, 0, 0) == (void *)-1 && errno == EINVAL);
    VMM_CHECK(shmat(id, (void *)123, 0) == (void *)-1 && errno == EINVAL);
    VMM_CHECK(shmat(id, a, 0) == (void *)-1 && errno == EINVAL);
    VMM_CHECK(shmdt(a) == -1 && errno == EINVAL);
    VMM_CHECK(shmctl(id, 99, 0) == -1 && errno == EINVAL);
    VMM_CHECK(shmctl(-5, IPC_STAT, 0) == -1 && errno == EINVAL);
    VMM_CHECK(vmm_shmctl(id, IPC_STAT, 0x7ffffff0) == -EFAULT);
    VMM_CHECK(shmctl(id, SHM_UNLOCK, 0) == 0); /* not locked: harmless */
    VMM_CHECK(shmctl(id, IPC_RMID, 0) == 0);
    VMM_CHECK(vmm_reclaim(-1) == -EINVAL);
    return 0;
}
