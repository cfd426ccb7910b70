/* Port of LTP's shmt03: two attachments of one segment see the same data.
 * Origin: github.com/linux-test-project/ltp, testcases/kernel/mem/shmt/shmt03.c, commit
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
    char *cp1, *cp2;
    int shmid;
    key_t key;

    key = ported_getipckey();
    shmid = SAFE(shmget(key, SHMSIZE, IPC_CREAT | 0666));
    cp1 = SAFE_PTR(shmat(shmid, NULL, 0));
    memcpy(cp1, ported_rand_data(), SHMSIZE);
    cp2 = SAFE_PTR(shmat(shmid, NULL, 0));
    EXPECT_EQ(memcmp(cp2, ported_rand_data(), SHMSIZE), 0);
    SAFE(shmctl(shmid, IPC_RMID, NULL));
}

int main(void) {
    RUN(run);
    return ported_summary();
}
