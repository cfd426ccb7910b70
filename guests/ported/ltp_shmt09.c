/* Port of LTP's shmt09: shmat() at an address inside the heap (below the break) fails with EINVAL; an
 * SHM_RND attachment just above the break makes the next sbrk() fail with ENOMEM.
 * Origin: github.com/linux-test-project/ltp, testcases/kernel/mem/shmt/shmt09.c, commit
 * 695827725f4fc14fe583043127e0335c29bbd52d. License: GPL-2.0-or-later (Copyright (c)
 * International Business Machines Corp., 2002; (c) 2025 SUSE LLC Ricardo B. Marlière). The calls
 * and checks are LTP's, in its order; the code is vmm's own C (tst_test →
 * guests/ported/ported.h: TST_EXP_* are checks that go on, SAFE_* failing is BROK; GETIPCKEY is
 * ftok of the working directory, as LTP's). */
#include <sys/ipc.h>
#include <sys/shm.h>
#include <unistd.h>

#include "ported.h"

#define SHMSIZE 16
#define SHMBYTES (SHMLBA - 1)
#define SHMALIGN(p) (((unsigned long)(p) + SHMBYTES) & ~SHMBYTES)
#ifdef __ia64__
#define INCREMENT 8388608
#elif defined(__mips__) || defined(__hppa__) || defined(__sparc__)
#define INCREMENT 262144
#elif defined __sh__ || defined(__arm__) || defined(__aarch64__)
#define INCREMENT 16384
#else
#define INCREMENT SHMLBA
#endif

/* tst_brk(TFAIL, ...): the case fails and the program ends. */
#define BRK_FAIL(what)                                                                         \
    do {                                                                                       \
        ported_fail(__LINE__, (what), errno);                                                  \
        ported_failed++;                                                                       \
        exit(ported_summary());                                                                \
    } while (0)

static void run(void) {
    void *vp;
    int shmid;
    key_t key;

    key = ported_getipckey();
    if ((unsigned long)sbrk(16384) >= (-4095UL))
        BRK_FAIL("Error: sbrk failed");
    if ((unsigned long)sbrk(-4097) >= (-4095UL))
        BRK_FAIL("Error: sbrk failed");
    shmid = SAFE(shmget(key, 10 * SHMSIZE, IPC_CREAT | 0666));
    SAFE_PTR(shmat(shmid, NULL, 0));
    if ((unsigned long)sbrk(32 * SHMSIZE) >= (-4095UL))
        BRK_FAIL("Error: sbrk failed");
    vp = (void *)((char *)sbrk(0) - 2 * SHMSIZE);
    EXPECT_FAILS((long)shmat(shmid, vp, 0), EINVAL);
    if ((unsigned long)sbrk(-16000) >= (-4095UL))
        BRK_FAIL("Error: sbrk failed");
#ifdef __mips__
    vp = (void *)((char *)sbrk(0) + 256 * SHMSIZE);
#elif defined(__powerpc__) || defined(__powerpc64__)
    vp = (void *)((char *)sbrk(0) + getpagesize());
#else
    /* SHM_RND rounds vp down to a multiple of SHMLBA. */
    vp = (void *)SHMALIGN((char *)sbrk(0) + 1);
#endif
    SAFE_PTR(shmat(shmid, vp, SHM_RND));
    EXPECT_FAILS((long)sbrk(INCREMENT), ENOMEM);
    SAFE(shmctl(shmid, IPC_RMID, NULL));
}

int main(void) {
    RUN(run);
    return ported_summary();
}
