/* POSIX locks are not counted: two mlocks, one munlock, and the range is pageable again. */
#include "vmm.h"
#define P 4096

VMM_MAIN {
    char *a = mmap(0, 4 * P, PROT_READ | PROT_WRITE, MAP_ANON | MAP_PRIVATE, -1, 0);
    VMM_CHECK(a != MAP_FAILED);
    for (int i = 0; i < 4; i++) a[i * P] = (char)(i + 1);
    VMM_CHECK(mlock(a, 4 * P) == 0);
    VMM_CHECK(mlock(a, 4 * P) == 0);
    vmm_reclaim(1 << 20);
    VMM_CHECK(vmm_resident(a, 4) == 1);
    VMM_CHECK(munlock(a, 4 * P) == 0);
    VMM_CHECK(vmm_reclaim(1 << 20) >= 4);
    VMM_CHECK(vmm_resident(a, 4) == 0);
    for (int i = 0; i < 4; i++) VMM_CHECK(a[i * P] == (char)(i + 1));
    VMM_CHECK(vmm_resident(a, 4) == 1);
    VMM_CHECK(munmap(a, 4 * P) == 0);
    return 0;
}
