/* Pages the machine's pagedaemon takes away (vmm_reclaim, from <vmm_test.h>) come back when
 * touched, with their data, and mincore says they are resident again. Natively vmm_reclaim
 * reclaims nothing (the host kernel pages on its own), so the program prints only what holds
 * both ways, and checks that its pages went out only where the machine says it reclaimed some.
 * Prints one observation a line; builds with any C compiler given <vmm_test.h>'s directory. */
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>
#include <vmm_test.h>
#include "observe.h"
#include "show.h"

int main(void) {
    long pg = sysconf(_SC_PAGESIZE);
    char *p = mmap(NULL, 4 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        printf("mmap: %s\n", errno_name(errno));
        return 1;
    }
    fill(p, 4, pg, 'a');
    show_core("filled", p, 4, pg);
    int n = vmm_reclaim(1 << 20);
    printf("vmm_reclaim: %s\n", outcome(n));
    if (n > 0 && vmm_resident(p, 4) != 0) {
        printf("the machine reclaimed %d pages but left ours in\n", n);
        return 2;
    }
    check_fill(p, 4, pg, 'a');
    show_core("touched again", p, 4, pg);
    printf("vmm_resident: %d\n", vmm_resident(p, 4));
    printf("munmap: %s\n", outcome(munmap(p, 4 * pg)));
    return 0;
}
