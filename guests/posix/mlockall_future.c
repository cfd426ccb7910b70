/* mlockall: MCL_FUTURE makes later mappings start locked (and so resident), munlockall ends it,
 * MCL_CURRENT alone leaves later mappings alone, and no flag at all is an error.
 * Prints one observation a line; builds with any C compiler. */
// vmm-needs: root
#include <errno.h>
#include "observe.h"
#include "show.h"
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>


static char *map(long pages, long pg) {
    char *p = mmap(NULL, pages * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

int main(void) {
    long pg = sysconf(_SC_PAGESIZE);
    printf("mlockall(0): %s\n", outcome(mlockall(0)));
    printf("mlockall(MCL_FUTURE): %s\n", outcome(mlockall(MCL_FUTURE)));
    char *a = map(3, pg);
    if (!a) return 1;
    show_core("mapped under MCL_FUTURE", a, 3, pg);
    printf("munlockall: %s\n", outcome(munlockall()));
    char *b = map(3, pg);
    if (!b) return 1;
    show_core("mapped after munlockall", b, 3, pg);
    printf("mlockall(MCL_CURRENT): %s\n", outcome(mlockall(MCL_CURRENT)));
    show_core("the earlier mapping, locked", b, 3, pg);
    char *c = map(2, pg);
    if (!c) return 1;
    show_core("mapped after MCL_CURRENT alone", c, 2, pg);
    printf("munlockall: %s\n", outcome(munlockall()));
    printf("munmap: %s %s %s\n", outcome(munmap(a, 3 * pg)), outcome(munmap(b, 3 * pg)),
           outcome(munmap(c, 2 * pg)));
    return 0;
}
