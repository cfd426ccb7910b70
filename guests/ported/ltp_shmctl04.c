/* Port of LTP's shmctl04: SHM_INFO's answer, as nobody and as root, is a valid SHM_STAT_ANY
 * index, counts every id SHM_STAT_ANY finds, and agrees with /proc/sysvipc/shm.
 * Origin: github.com/linux-test-project/ltp, testcases/kernel/syscalls/shmctl/shmctl04.c,
 * commit 695827725f4fc14fe583043127e0335c29bbd52d. License: GPL-2.0-or-later (Copyright (C) 2020
 * Cyril Hrubis). The cases, calls and checks are LTP's, in its order; the code is vmm's own C
 * (tst_test → guests/ported/ported.h). TPASS lines carry counts of the host's segments, so a
 * case prints only PASS or its FAIL lines.
 *
 * /proc/sysvipc/shm and SHM_INFO are machine-wide: a segment another process creates or removes
 * while this runs makes a native run fail, as it would LTP's. */
// vmm-needs: root
#define _GNU_SOURCE
#include <pwd.h>
#include <stdio.h>
#include <sys/ipc.h>
#include <sys/shm.h>

#include "ported.h"

#ifndef SHM_STAT_ANY
#define SHM_STAT_ANY 15
#endif
#define SHM_RW 0600
#define SHM_SIZE 2048

static int shm_id = -1;
static uid_t nobody_uid, root_uid;

static struct tcases {
    uid_t *uid;
    const char *desc;
} tests[] = {
    {&nobody_uid, "with nobody user"},
    {&root_uid, "with root user"},
};

static void parse_proc_sysvipc(struct shm_info *info) {
    int page_size = getpagesize();
    FILE *f = fopen("/proc/sysvipc/shm", "r");
    int used_ids = 0;
    int shmid_max = 0;
    unsigned long shm_rss = 0, shm_swp = 0, shm_tot = 0;
    char w[128];

    if (!f)
        BROK("SAFE_FOPEN(\"/proc/sysvipc/shm\", \"r\")");
    for (;;) {
        int c = fgetc(f);
        if (c == '\n' || c == EOF)
            break;
    }
    int shmid, rss, swap;
    unsigned long size;
    while (fscanf(f, "%*i %i %*i %lu %*i %*i %*i %*i %*i %*i %*i %*i %*i %*i %i %i", &shmid,
                  &size, &rss, &swap) == 4) {
        used_ids++;
        shm_rss += rss / page_size;
        shm_swp += swap / page_size;
        shm_tot += (size + page_size - 1) / page_size;
        if (shmid > shmid_max)
            shmid_max = shmid;
    }
    if (info->used_ids != used_ids) {
        snprintf(w, sizeof w, "used_ids = %i, expected %i", info->used_ids, used_ids);
        ported_fail(__LINE__, w, -1);
    }
    if (info->shm_rss != shm_rss) {
        snprintf(w, sizeof w, "shm_rss = %lu, expected %lu", (unsigned long)info->shm_rss, shm_rss);
        ported_fail(__LINE__, w, -1);
    }
    if (info->shm_swp != shm_swp) {
        snprintf(w, sizeof w, "shm_swp = %lu, expected %lu", (unsigned long)info->shm_swp, shm_swp);
        ported_fail(__LINE__, w, -1);
    }
    if (info->shm_tot != shm_tot) {
        snprintf(w, sizeof w, "shm_tot = %lu, expected %lu", (unsigned long)info->shm_tot, shm_tot);
        ported_fail(__LINE__, w, -1);
    }
    fclose(f);
}

static void verify_shminfo(unsigned int n) {
    struct tcases *tc = &tests[n];
    struct shm_info info;
    struct shmid_ds ds;
    int i, shmid, cnt = 0;

    SAFE(seteuid(*tc->uid));
    errno = 0;
    long ret = shmctl(0, SHM_INFO, (struct shmid_ds *)&info);
    if (ret == -1) {
        ported_fail(__LINE__, "shmctl(0, SHM_INFO, ...)", errno);
        return;
    }
    shmid = shmctl(ret, SHM_STAT_ANY, &ds);
    if (shmid == -1)
        ported_fail(__LINE__, "SHM_INFO haven't returned a valid index", errno);
    for (i = 0; i <= ret; i++)
        if (shmctl(i, SHM_STAT_ANY, &ds) != -1)
            cnt++;
    if (cnt != info.used_ids) {
        char w[96];
        snprintf(w, sizeof w, "Counted used = %i, used_ids = %i", cnt, info.used_ids);
        ported_fail(__LINE__, w, -1);
    }
    parse_proc_sysvipc(&info);
}

static void setup(void) {
    struct passwd *ltpuser = getpwnam("nobody");
    struct shmid_ds temp_ds;

    if (!ltpuser)
        BROK("SAFE_GETPWNAM(\"nobody\")");
    nobody_uid = ltpuser->pw_uid;
    root_uid = 0;
    shm_id = SAFE(shmget(IPC_PRIVATE, SHM_SIZE, IPC_CREAT | SHM_RW));
    errno = 0;
    if (shmctl(shm_id, SHM_STAT_ANY, &temp_ds) == -1) {
        if (errno == EINVAL) {
            printf("SKIP shmctl04: kernel doesn't support SHM_STAT_ANY\n");
            ported_skipped++;
            shmctl(shm_id, IPC_RMID, NULL);
            exit(ported_summary());
        }
        BROK("Current environment doesn't permit SHM_STAT_ANY");
    }
}

static void cleanup(void) {
    seteuid(0);
    if (shm_id >= 0)
        SAFE(shmctl(shm_id, IPC_RMID, NULL));
}

int main(void) {
    ported_name = "setup";
    ported_cleanup = cleanup;
    setup();
    for (unsigned n = 0; n < 2; n++) {
        char name[64];
        snprintf(name, sizeof name, "shmctl04 SHM_STAT_ANY %s", tests[n].desc);
        CASE_BEGIN(name);
        verify_shminfo(n);
        CASE_END();
    }
    ported_cleanup = NULL;
    cleanup();
    return ported_summary();
}
