/* Port of LTP's shmctl03: shmctl(IPC_INFO) answers shmmin 1 and the shmmax, shmmni and shmall
 * that /proc/sys/kernel holds.
 * Origin: github.com/linux-test-project/ltp, testcases/kernel/syscalls/shmctl/shmctl03.c,
 * commit 695827725f4fc14fe583043127e0335c29bbd52d. License: GPL-2.0-or-later (Copyright (C) 2020 Cyril Hrubis). The
 * calls and checks are LTP's, in its order; the code is vmm's own C (tst_test →
 * guests/ported/ported.h; TST_ASSERT_ULONG reads the file and compares). */
#define _GNU_SOURCE
#include <sys/ipc.h>
#include <sys/shm.h>

#include "ported.h"

static void verify_ipcinfo(void) {
    struct shminfo info;
    errno = 0;
    long ret = shmctl(0, IPC_INFO, (struct shmid_ds *)&info);
    if (ret < 0) {
        ported_fail(__LINE__, "shmctl(0, IPC_INFO, ...) returned -1", errno);
        return;
    }
    if (info.shmmin != 1) {
        char w[64];
        snprintf(w, sizeof w, "shmmin = %li, expected 1", (long)info.shmmin);
        ported_fail(__LINE__, w, -1);
    }
    TST_ASSERT_ULONG("/proc/sys/kernel/shmmax", info.shmmax);
    TST_ASSERT_ULONG("/proc/sys/kernel/shmmni", info.shmmni);
    TST_ASSERT_ULONG("/proc/sys/kernel/shmall", info.shmall);
}

int main(void) {
    RUN(verify_ipcinfo);
    return ported_summary();
}
