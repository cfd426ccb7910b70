/* Port of LTP's shmget06: with shm_next_id set to an id already in use, shmget() answers a new
 * id, not the used one.
 * Origin: github.com/linux-test-project/ltp, testcases/kernel/syscalls/shmget/shmget06.c,
 * commit 695827725f4fc14fe583043127e0335c29bbd52d. License: GPL-2.0-or-later (Copyright (c) 2021 FUJITSU LIMITED). The
 * calls and checks are LTP's; the code is vmm's own C (tst_test → guests/ported/ported.h).
 * .needs_kconfigs CONFIG_CHECKPOINT_RESTORE=y is asked of /proc/sys/kernel/shm_next_id, which
 * that option provides: TCONF without it. */
// vmm-needs: root
#include <errno.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/types.h>

#include "ported.h"

#define SHM_RW 0600
#define SHM_SIZE 2048

static int shm_id[2] = {-1, -1}, pid;
static key_t shmkey[2];

static void verify_shmget(void) {
    SAFE_FILE_PRINTF_INT("/proc/sys/kernel/shm_next_id", shm_id[0]);
    shm_id[1] = SAFE(shmget(shmkey[1], SHM_SIZE, IPC_CREAT | SHM_RW));
    if (shm_id[1] == shm_id[0])
        ported_fail(__LINE__, "shm id has existed, shmget() returns the same shm id unexpectedly",
                    -1);
    SAFE(shmctl(shm_id[1], IPC_RMID, NULL));
    shm_id[1] = -1;
}

static void setup(void) {
    shmkey[0] = ported_getipckey();
    shmkey[1] = ported_getipckey();
    pid = getpid();
    SAFE_FILE_PRINTF_INT("/proc/sys/kernel/shm_next_id", pid);
    shm_id[0] = SAFE(shmget(shmkey[0], SHM_SIZE, IPC_CREAT | SHM_RW));
}

static void cleanup(void) {
    for (int i = 0; i < 2; i++)
        if (shm_id[i] != -1)
            SAFE(shmctl(shm_id[i], IPC_RMID, NULL));
    ported_tmpdir_remove();
}

int main(void) {
    ported_name = "setup";
    if (access("/proc/sys/kernel/shm_next_id", F_OK) != 0) {
        printf("SKIP shmget06: CONFIG_CHECKPOINT_RESTORE=y (no /proc/sys/kernel/shm_next_id)\n");
        ported_skipped++;
        return ported_summary();
    }
    ported_cleanup = cleanup;
    ported_tmpdir();
    setup();
    RUN(verify_shmget);
    ported_cleanup = NULL;
    cleanup();
    return ported_summary();
}
