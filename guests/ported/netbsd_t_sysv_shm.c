/* Port of the shm test case of NetBSD's System V IPC tests (the msg and sem cases are not
 * ported).
 * Origin: github.com/freebsd/freebsd-src, contrib/netbsd-tests/kernel/t_sysv.c ($NetBSD:
 * t_sysv.c,v 1.4 2014/03/02 20:13:12 jmmv Exp $), commit
 * 0c1c1404524dc9688d924c07d80968f5442e559c. License: BSD-2-Clause (Copyright (c) 1999, 2007 The
 * NetBSD Foundation, Inc.). The calls and checks are NetBSD's, in its order; the code is vmm's
 * own C (ATF → guests/ported/ported.h: ATF_REQUIRE_MSG is ASSERT). The ATF cleanup (IPC_RMID of
 * the segment) runs at the end of the case instead of through a file in the working directory.
 * print_shmid_ds prints what upstream prints except the pids and the three times (ctime), which
 * differ between any two runs; it checks the same fields.
 *
 * Forks: shm (the sharer child, reaped in a SIGCHLD handler around sigsuspend). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/types.h>
#include <sys/wait.h>

#include "ported.h"

static volatile int did_sigsys, did_sigchild;
static volatile int child_status, child_count;

static const char *m2_str = "The quick brown fox jumped over the lazy dog.";
static size_t pgsize;
static pid_t child_pid;
static key_t shmkey;

static void sigsys_handler(int signo) {
    (void)signo;
    did_sigsys = 1;
}

static void sigchld_handler(int signo) {
    int c_status;
    (void)signo;
    did_sigchild = 1;
    if (wait(&c_status) == -1)
        child_status = -errno;
    else
        child_status = c_status;
    child_count--;
}

/* get_ftok: a key from a new file in a new directory under /tmp, both removed again;
 * (key_t)-1 after a failure it has reported. */
static key_t get_ftok(int id) {
    int fd;
    char token_key[96], token_dir[64];
    char *tmpdir;
    key_t key;

    snprintf(token_key, sizeof token_key, "/tmp/t_sysv.XXXXXX");
    tmpdir = mkdtemp(token_key);
    if (tmpdir == NULL) {
        ported_fail(__LINE__, "mkdtemp() failed", errno);
        return (key_t)-1;
    }
    snprintf(token_dir, sizeof token_dir, "%s", tmpdir);
    snprintf(token_key, sizeof token_key, "%s/token_key", token_dir);

    fd = open(token_key, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd == -1) {
        rmdir(token_dir);
        ported_fail(__LINE__, "open() of temp file failed", errno);
        return (key_t)-1;
    }
    close(fd);

    key = ftok(token_key, id);

    if (unlink(token_key) == -1) {
        ported_fail(__LINE__, "unlink() failed", errno);
        return (key_t)-1;
    }
    if (rmdir(token_dir) == -1) {
        ported_fail(__LINE__, "rmdir() failed", errno);
        return (key_t)-1;
    }
    return key;
}

/* Prints the segment's state and checks its owner and mode; 0 when a check failed. */
static int print_shmid_ds(struct shmid_ds *sp, mode_t mode) {
    uid_t uid = geteuid();
    gid_t gid = getegid();

    printf("PERM: uid %d, gid %d, cuid %d, cgid %d, mode 0%o\n", (int)sp->shm_perm.uid,
           (int)sp->shm_perm.gid, (int)sp->shm_perm.cuid, (int)sp->shm_perm.cgid,
           (unsigned)(sp->shm_perm.mode & 0777));
    printf("segsz %lu, nattch %u\n", (unsigned long)sp->shm_segsz, (unsigned)sp->shm_nattch);

    if (!(sp->shm_perm.uid == uid && sp->shm_perm.cuid == uid)) {
        ported_fail(__LINE__, "uid mismatch", -1);
        return 0;
    }
    if (!(sp->shm_perm.gid == gid && sp->shm_perm.cgid == gid)) {
        ported_fail(__LINE__, "gid mismatch", -1);
        return 0;
    }
    if ((sp->shm_perm.mode & 0777) != mode) {
        ported_fail(__LINE__, "mode mismatch", -1);
        return 0;
    }
    return 1;
}

static void sharer(void) {
    int shmid;
    void *shm_buf;

    shmid = shmget(shmkey, pgsize, 0);
    if (shmid == -1) {
        ported_fail(__LINE__, "receiver: shmget", errno);
        exit(1);
    }
    shm_buf = shmat(shmid, NULL, 0);
    if (shm_buf == (void *)-1) {
        ported_fail(__LINE__, "receiver: shmat", errno);
        exit(1);
    }
    printf("%s\n", (const char *)shm_buf);
    if (strcmp((const char *)shm_buf, m2_str) != 0) {
        ported_fail(__LINE__, "receiver: data isn't correct", -1);
        exit(1);
    }
    exit(0);
}

static int sender_shmid = -1;

static void shm_body(void) {
    struct sigaction sa;
    struct shmid_ds s_ds;
    sigset_t sigmask;
    char *shm_buf;
    int c_status;

    did_sigsys = 0;
    sa.sa_handler = sigsys_handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    ASSERT_ERRNO(sigaction(SIGSYS, &sa, NULL) != -1);

    did_sigchild = 0;
    child_count = 0;
    sa.sa_handler = sigchld_handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    ASSERT_ERRNO(sigaction(SIGCHLD, &sa, NULL) != -1);

    pgsize = sysconf(_SC_PAGESIZE);

    shmkey = get_ftok(4160);
    ASSERT(shmkey != (key_t)-1);

    ASSERT_ERRNO((sender_shmid = shmget(shmkey, pgsize, IPC_CREAT | 0640)) != -1);
    ASSERT_ERRNO(shmctl(sender_shmid, IPC_STAT, &s_ds) != -1);
    if (!print_shmid_ds(&s_ds, 0640))
        return;

    s_ds.shm_perm.mode = (s_ds.shm_perm.mode & ~0777) | 0600;
    ASSERT_ERRNO(shmctl(sender_shmid, IPC_SET, &s_ds) != -1);

    memset(&s_ds, 0, sizeof(s_ds));
    ASSERT_ERRNO(shmctl(sender_shmid, IPC_STAT, &s_ds) != -1);
    ASSERT((s_ds.shm_perm.mode & 0777) == 0600);
    if (!print_shmid_ds(&s_ds, 0600))
        return;

    shm_buf = shmat(sender_shmid, NULL, 0);
    ASSERT_ERRNO(shm_buf != (void *)-1);

    strcpy(shm_buf, m2_str);

    fflush(stdout);
    switch ((child_pid = ported_fork())) {
    case -1:
        ported_fail(__LINE__, "fork", errno);
        return;
    case 0:
        sharer();
        break;
    default:
        break;
    }

    sigemptyset(&sigmask);
    (void)sigsuspend(&sigmask);

    if (did_sigchild) {
        c_status = child_status;
        if (c_status < 0)
            ported_fail(__LINE__, "waitpid", -c_status);
        else if (WIFEXITED(c_status) == 0)
            ported_fail(__LINE__, "c abnormal exit", -1);
        else if (WEXITSTATUS(c_status) != 0)
            ported_fail(__LINE__, "c status non-zero", -1);
        else {
            ASSERT_ERRNO(shmctl(sender_shmid, IPC_STAT, &s_ds) != -1);
            print_shmid_ds(&s_ds, 0600);
        }
    } else
        ported_fail(__LINE__, "sender: received unexpected signal", -1);
}

static void shm(void) {
    shm_body();
    /* ATF_TC_CLEANUP(shm). */
    if (sender_shmid != -1 && shmctl(sender_shmid, IPC_RMID, NULL) == -1)
        ported_fail(__LINE__, "shmctl IPC_RMID", errno);
}

int main(void) {
    RUN(shm);
    return ported_summary();
}
