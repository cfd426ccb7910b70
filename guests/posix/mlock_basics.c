/* mlock and munlock on anonymous memory, observed through mincore and errno: POSIX's unbalanced
 * lock (twice locked, once unlocked), what mincore reports before and after a touch, and the
 * errors every kernel agrees on. Prints one observation a line; builds with any C compiler. */
#include <errno.h>
#include "observe.h"
#include "show.h"
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static const char *err(int r) { return outcome(r); }


int main(void) {
    long pg = sysconf(_SC_PAGESIZE);
    printf("page size: %ld\n", pg);
    char *p = mmap(NULL, 4 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        printf("mmap: %s\n", errno_name(errno));
        return 1;
    }
    show_core("untouched", p, 4, pg);
    p[0] = 1;
    p[2 * pg] = 1;
    show_core("two touched", p, 4, pg);
    printf("mlock: %s\n", err(mlock(p, 4 * pg)));
    show_core("locked", p, 4, pg);
    printf("mlock again: %s\n", err(mlock(p, 4 * pg)));
    printf("munlock once: %s\n", err(munlock(p, 4 * pg)));
    printf("munlock of an unlocked range: %s\n", err(munlock(p, 4 * pg)));
    printf("mlock of an unaligned address: %s\n", err(mlock(p + 100, 10)));
    printf("munlock of it: %s\n", err(munlock(p + 100, 10)));
    printf("munmap of the last page: %s\n", err(munmap(p + 3 * pg, pg)));
    printf("mlock over the hole: %s\n", err(mlock(p, 4 * pg)));
    printf("munlock over the hole: %s\n", err(munlock(p, 4 * pg)));
    printf("mincore over the hole: %s\n", err(mincore(p, 4 * pg, (unsigned char[4]){0})));
    printf("mlockall(0): %s\n", err(mlockall(0)));
    printf("mmap of length 0: %s\n",
           mmap(NULL, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED ? errno_name(errno) : "mapped");
    printf("munmap: %s\n", err(munmap(p, 3 * pg)));
    return 0;
}
