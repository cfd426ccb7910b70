/* Port of LTP's shmget05: after writing N to /proc/sys/kernel/shm_next_id, the next shmget()
 * answers id N, and shm_next_id is back to -1.
 * Origin: github.com/linux-test-project/ltp, testcases/kernel/syscalls/shmget/shmget05.c,
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

static int shm_id = -1, pid;
static key_t shmkey;

static void verify_shmget(void) {
    SAFE_FILE_PRINTF_INT("/proc/sys/kernel/shm_next_id", pid);
    shm_id = SAFE(shmget(shmkey, SHM_SIZE, SHM_RW | IPC_CREAT));
    if (shm_id != pid) {
        char w[96];
        snprintf(w, sizeof w, "shm_next_id failed, expected id %d, but got %d", pid, shm_id);
        ported_fail(__LINE__, w, -1);
    }
    TST_ASSERT_INT("/proc/sys/kernel/shm_next_id", -1);
    SAFE(shmctl(shm_id, IPC_RMID, NULL));
    shm_id = -1;
    pid++;
}

static void setup(void) {
    shmkey = ported_getipckey();
    pid = getpid();
}

static void cleanup(void) {
    if (shm_id != -1)
        SAFE(shmctl(shm_id, IPC_RMID, NULL));
    ported_tmpdir_remove();
}

int main(void) {
    ported_name = "setup";
    if (access("/proc/sys/kernel/shm_next_id", F_OK) != 0) {
        printf("SKIP shmget05: CONFIG_CHECKPOINT_RESTORE=y (no /proc/sys/kernel/shm_next_id)\n");
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
