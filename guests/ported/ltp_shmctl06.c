/* Port of LTP's shmctl06: shmctl(IPC_STAT) clears the time_high fields of a 32-bit
 * struct shmid64_ds; TCONF where the structure has none (64-bit longs).
 * Origin: github.com/linux-test-project/ltp, testcases/kernel/syscalls/shmctl/shmctl06.c,
 * commit 695827725f4fc14fe583043127e0335c29bbd52d. License: GPL-2.0-or-later (Copyright (c) 2020 Viresh Kumar). The calls
 * and checks are LTP's; the code is vmm's own C (tst_test → guests/ported/ported.h). The
 * generic struct shmid64_ds of LTP's include/lapi/shmbuf.h is redone below with the same rule:
 * it has time_high fields where long is 32 bits (wasm32 is such an architecture; x86_64 is not,
 * and there the test is TCONF). */
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/types.h>

#include "ported.h"

#define SHM_RW 0600
#define SHM_SIZE 2048

#if __SIZEOF_LONG__ == 4
#define HAVE_SHMID64_DS_TIME_HIGH
struct ipc64_perm_ {
    int key;
    unsigned int uid, gid, cuid, cgid;
    unsigned int mode;
    unsigned short seq, pad2;
    unsigned long unused1, unused2;
};
struct shmid64_ds {
    struct ipc64_perm_ shm_perm;
    size_t shm_segsz;
    unsigned long shm_atime;
    unsigned long shm_atime_high;
    unsigned long shm_dtime;
    unsigned long shm_dtime_high;
    unsigned long shm_ctime;
    unsigned long shm_ctime_high;
    int shm_cpid;
    int shm_lpid;
    unsigned long shm_nattch;
    unsigned long unused4;
    unsigned long unused5;
};
#endif

#ifdef HAVE_SHMID64_DS_TIME_HIGH
static void run(void) {
    struct shmid64_ds buf_ds = {
        .shm_atime_high = 0x0A0A,
        .shm_dtime_high = 0x0A0A,
        .shm_ctime_high = 0x0A0A,
    };
    int shmid;
    key_t key;

    key = ported_getipckey();
    shmid = shmget(key, SHM_SIZE, IPC_CREAT | IPC_EXCL | SHM_RW);
    if (shmid == -1)
        BROK("couldn't create shared memory segment");
    errno = 0;
    if (shmctl(shmid, IPC_STAT, (struct shmid_ds *)&buf_ds) == -1)
        BROK("shmctl() failed");
    if (buf_ds.shm_atime_high || buf_ds.shm_dtime_high || buf_ds.shm_ctime_high)
        ported_fail(__LINE__, "time_high fields aren't cleared by the kernel", -1);
    SAFE(shmctl(shmid, IPC_RMID, NULL));
}

int main(void) {
    ported_name = "setup";
    ported_cleanup = ported_tmpdir_remove;
    ported_tmpdir();
    RUN(run);
    ported_tmpdir_remove();
    return ported_summary();
}
#else
int main(void) {
    printf("SKIP shmctl06: test requires struct shmid64_ds to have the time_high fields\n");
    ported_skipped++;
    return ported_summary();
}
#endif
