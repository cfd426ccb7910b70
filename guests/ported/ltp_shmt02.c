/* Port of LTP's shmt02: a segment a child created, filled and removed (IPC_RMID) is gone: shmget(IPC_CREAT) of
 * the same key afterwards gives a new, zeroed segment.
 * Origin: github.com/linux-test-project/ltp, testcases/kernel/mem/shmt/shmt02.c, commit
 * 695827725f4fc14fe583043127e0335c29bbd52d. License: GPL-2.0-or-later (Copyright (c)
 * International Business Machines Corp., 2002; (c) 2025 SUSE LLC Ricardo B. Marlière). The calls
 * and checks are LTP's, in its order; the code is vmm's own C (tst_test →
 * guests/ported/ported.h: TST_EXP_* are checks that go on, SAFE_* failing is BROK; GETIPCKEY is
 * ftok of the working directory, as LTP's).
 *
 * Forks: the child that creates the segment (SAFE_FORK). */
#include <sys/ipc.h>
#include <sys/shm.h>

#include "ported.h"

#define SHMSIZE 16

static void run(void) {
    char *cp;
    int shmid;
    key_t key;

    key = ported_getipckey();
    ported_checkpoint_init();
    fflush(stdout);
    if (!SAFE(ported_fork())) {
        shmid = SAFE(shmget(key, SHMSIZE, IPC_CREAT | 0666));
        cp = SAFE_PTR(shmat(shmid, NULL, 0));
        memcpy(cp, ported_rand_data(), SHMSIZE);
        SAFE(shmctl(shmid, IPC_RMID, NULL));
        EXPECT_EQ(memcmp(cp, ported_rand_data(), SHMSIZE), 0);
        ported_checkpoint_wake(0);
        fflush(stdout);
        CHILD_EXIT();
    }
    ported_checkpoint_wait(0);
    ported_reap_children();
    shmid = SAFE(shmget(key, SHMSIZE, IPC_CREAT | 0666));
    cp = SAFE_PTR(shmat(shmid, NULL, 0));
    EXPECT(memcmp(cp, ported_rand_data(), SHMSIZE) < 0);
    SAFE(shmctl(shmid, IPC_RMID, NULL));
}

int main(void) {
    RUN(run);
    return ported_summary();
}
