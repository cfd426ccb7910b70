/* Port of LTP's shmt10: a parent and its child each attach, write and detach one segment 500 times.
 * Origin: github.com/linux-test-project/ltp, testcases/kernel/mem/shmt/shmt10.c, commit
 * 695827725f4fc14fe583043127e0335c29bbd52d. License: GPL-2.0-or-later (Copyright (c)
 * International Business Machines Corp., 2002; (c) 2025 SUSE LLC Ricardo B. Marlière). The calls
 * and checks are LTP's, in its order; the code is vmm's own C (tst_test →
 * guests/ported/ported.h: TST_EXP_* are checks that go on, SAFE_* failing is BROK; GETIPCKEY is
 * ftok of the working directory, as LTP's).
 * The -n option (iterations) is not ported: the default, 500, is used.
 *
 * Forks: the second attacher (SAFE_FORK). */
#include <sys/ipc.h>
#include <sys/shm.h>

#include "ported.h"

#define SHMSIZE 0x32768

static long long iter_n = 500;
static int shmid;

static void do_shm_cycle(long long iter_n) {
    char *addr;
    for (int i = 0; i < iter_n; i++) {
        addr = SAFE_PTR(shmat(shmid, NULL, 0));
        addr[0] = 'a';
        SAFE(shmdt(addr));
    }
}

static void run(void) {
    key_t key;

    key = ported_getipckey();
    shmid = SAFE(shmget(key, SHMSIZE, IPC_CREAT | 0666));
    fflush(stdout);
    if (!SAFE(ported_fork())) {
        do_shm_cycle(iter_n);
        fflush(stdout);
        CHILD_EXIT();
    }
    do_shm_cycle(iter_n);
    ported_reap_children();
    SAFE(shmctl(shmid, IPC_RMID, NULL));
}

int main(void) {
    RUN(run);
    return ported_summary();
}
