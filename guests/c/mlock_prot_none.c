/* mlock of a PROT_NONE mapping fails and wires nothing. NetBSD's own test (t_mlock.c, mlock_mmap)
 * requires the failure, and NetBSD's errno is EINVAL; Linux refuses it with ENOMEM. A range that
 * merely contains a PROT_NONE page fails whole, and mlockall(MCL_FUTURE) leaves a new PROT_NONE
 * mapping unlocked, as NetBSD's uvm_mmaplock does. */
#include "vmm.h"
#define P 4096

VMM_MAIN {
    char *p = mmap(0, 2 * P, PROT_NONE, MAP_ANON | MAP_PRIVATE, -1, 0);
    VMM_CHECK(p != MAP_FAILED);
    VMM_CHECK(mlock(p, P) == -1 && errno == EINVAL);
    VMM_CHECK(vmm_resident(p, 2) == 0);
    VMM_CHECK(mprotect(p + P, P, PROT_READ | PROT_WRITE) == 0);
    VMM_CHECK(mlock(p, 2 * P) == -1 && errno == EINVAL);
    VMM_CHECK(vmm_resident(p + P, 1) == 0);
    VMM_CHECK(mlock(p + P, P) == 0);
    VMM_CHECK(vmm_resident(p + P, 1) == 1);
    VMM_CHECK(munlock(p, 2 * P) == 0);
    VMM_CHECK(mlockall(MCL_FUTURE) == 0);
    char *q = mmap(0, P, PROT_NONE, MAP_ANON | MAP_PRIVATE, -1, 0);
    VMM_CHECK(q != MAP_FAILED);
    VMM_CHECK(vmm_resident(q, 1) == 0);
    VMM_CHECK(mprotect(q, P, PROT_READ | PROT_WRITE) == 0);
    VMM_CHECK(vmm_reclaim(1000) >= 0);
    VMM_CHECK(vmm_resident(q, 1) == 0);
    VMM_CHECK(munlockall() == 0);
    VMM_CHECK(munmap(q, P) == 0);
    VMM_CHECK(munmap(p, 2 * P) == 0);
    return 0;
}
