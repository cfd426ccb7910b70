/* Port of LTP's shmt05: shmat() of a segment at an address inside an existing attachment fails with EINVAL.
 * Origin: github.com/linux-test-project/ltp, testcases/kernel/mem/shmt/shmt05.c, commit
 * 695827725f4fc14fe583043127e0335c29bbd52d. License: GPL-2.0-or-later (Copyright (c)
 * International Business Machines Corp., 2002; (c) 2025 SUSE LLC Ricardo B. Marlière). The calls
 * and checks are LTP's, in its order; the code is vmm's own C (tst_test →
 * guests/ported/ported.h: TST_EXP_* are checks that go on, SAFE_* failing is BROK; GETIPCKEY is
 * ftok of the working directory, as LTP's). */
#include <sys/ipc.h>
#include <sys/shm.h>

#include "ported.h"

#define SHMSIZE 16

static void run(void) {
    int shmid, shmid1;
    char *cp;
    key_t key[2];

    key[0] = ported_getipckey();
    key[1] = ported_getipckey();
    shmid = SAFE(shmget(key[0], SHMSIZE, IPC_CREAT | 0666));
    cp = SAFE_PTR(shmat(shmid, NULL, 0));
    shmid1 = SAFE(shmget(key[1], SHMSIZE, IPC_CREAT | 0666));
    EXPECT_FAILS((long)shmat(shmid, cp + (SHMSIZE / 2), 0), EINVAL);
    SAFE(shmctl(shmid, IPC_RMID, NULL));
    SAFE(shmctl(shmid1, IPC_RMID, NULL));
}

int main(void) {
    RUN(run);
    return ported_summary();
}
