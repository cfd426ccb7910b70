/* Port of LTP's mincore03: mincore() reports untouched anonymous pages as not resident, and
 * mlock()ed ones as resident.
 * Origin: github.com/linux-test-project/ltp, testcases/kernel/syscalls/mincore/mincore03.c,
 * commit 695827725f4fc14fe583043127e0335c29bbd52d. License: GPL-2.0-or-later (Copyright (c)
 * Zilogic Systems Pvt. Ltd., 2020). The cases, calls and checks are LTP's, in its order; the code
 * is vmm's own C (tst_test → guests/ported/ported.h). */
#include <stdbool.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ported.h"

#define NUM_PAGES 3

static struct tcase {
    bool mlock;
    int expected_pages;
    const char *desc;
} tcases[] = {
    {false, 0, "untouched pages are not resident"},
    {true, NUM_PAGES, "locked pages are resident"},
};

static int size, page_size;
static void *ptr;

static void cleanup(void) {
    if (ptr)
        SAFE(munmap(ptr, size));
}

static void setup(void) {
    page_size = getpagesize();
    size = page_size * NUM_PAGES;
}

static void test_mincore(unsigned int test_nr) {
    const struct tcase *tc = &tcases[test_nr];
    unsigned char vec[NUM_PAGES];
    int locked_pages;
    int count, mincore_ret;

    ptr = SAFE_PTR(mmap(NULL, size, PROT_WRITE | PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, 0, 0));
    if (tc->mlock)
        SAFE(mlock(ptr, size));
    mincore_ret = mincore(ptr, size, vec);
    if (mincore_ret == -1)
        BROK("mincore failed");
    locked_pages = 0;
    for (count = 0; count < NUM_PAGES; count++)
        if (vec[count] & 1)
            locked_pages++;
    if (locked_pages != tc->expected_pages) {
        char w[96];
        snprintf(w, sizeof w, "mincore reports resident pages as %d, but expected %d",
                 locked_pages, tc->expected_pages);
        ported_fail(__LINE__, w, -1);
    }
    if (tc->mlock)
        SAFE(munlock(ptr, size));
    SAFE(munmap(ptr, size));
    ptr = NULL;
}

int main(void) {
    static char names[2][64];
    ported_name = "setup";
    ported_cleanup = cleanup;
    setup();
    for (unsigned n = 0; n < 2; n++) {
        snprintf(names[n], sizeof names[n], "mincore03: %s", tcases[n].desc);
        CASE_BEGIN(names[n]);
        test_mincore(n);
        CASE_END();
    }
    ported_cleanup = NULL;
    cleanup();
    return ported_summary();
}
