/* mlock of memory that may not be accessed, and of nothing: what a PROT_NONE mapping answers
 * before and after mprotect gives it access, and mlock and munlock of length 0.
 * Prints one observation a line; builds with any C compiler. */
#include <errno.h>
#include "observe.h"
#include "show.h"
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>


int main(void) {
    long pg = sysconf(_SC_PAGESIZE);
    char *p = mmap(NULL, 2 * pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return 1;
    printf("mlock of PROT_NONE: %s\n", outcome(mlock(p, pg)));
    show_core("after the refused lock", p, 2, pg);
    printf("mlock of length 0: %s\n", outcome(mlock(p, 0)));
    printf("munlock of length 0: %s\n", outcome(munlock(p, 0)));
    printf("mprotect to read-write: %s\n", outcome(mprotect(p, pg, PROT_READ | PROT_WRITE)));
    printf("mlock of the first page: %s\n", outcome(mlock(p, pg)));
    show_core("first page locked", p, 2, pg);
    printf("mlock of both pages: %s\n", outcome(mlock(p, 2 * pg)));
    printf("munlock of both pages: %s\n", outcome(munlock(p, 2 * pg)));
    printf("munmap: %s\n", outcome(munmap(p, 2 * pg)));
    return 0;
}
