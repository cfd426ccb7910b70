/* The process around the memory calls, observed the same way natively and as a guest: user ids
 * and what seteuid and setuid do to privilege (SHM_LOCK refused while the effective uid is not
 * 0, allowed again after seteuid(0), gone for good after setuid), capget and its version
 * handshake, RLIMIT_MEMLOCK and setrlimit's rules, the user database, syscall(), and files in
 * /tmp (mkstemp, mkdtemp, ftok). Prints one observation a line; builds with any C compiler on
 * Linux. */
// vmm-needs: root linux
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "observe.h"

static const char *yes(int b) { return b ? "yes" : "no"; }

/* Whether capability `cap` is in the effective set, by capget; -1 on failure. */
static int effective(int cap) {
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2];
    if (syscall(SYS_capget, &h, d) != 0) return -1;
    return (d[CAP_TO_INDEX(cap)].effective & CAP_TO_MASK(cap)) != 0;
}

int main(void) {
    printf("uid %u euid %u gid %u egid %u\n", getuid(), geteuid(), getgid(), getegid());
    printf("syscall(SYS_getuid) agrees: %s\n", yes(syscall(SYS_getuid) == (long)getuid()));
    printf("syscall(SYS_getpid) agrees: %s\n", yes(syscall(SYS_getpid) == (long)getpid()));
    printf("pid is positive: %s\n", yes(getpid() > 0));
    errno = 0;
    long r = syscall(99999);
    printf("syscall(99999): %s\n", outcome(r));

    /* capget: the version handshake, a probe with no data, and the sets. */
    struct __user_cap_header_struct h = {0x12345678, 0};
    struct __user_cap_data_struct d[2];
    r = syscall(SYS_capget, &h, d);
    printf("capget bad version: %s, header now %#x\n", outcome(r), h.version);
    h.version = _LINUX_CAPABILITY_VERSION_3;
    printf("capget no data: %s\n", outcome(syscall(SYS_capget, &h, NULL)));
    h.pid = -1;
    printf("capget pid -1: %s\n", outcome(syscall(SYS_capget, &h, d)));
    printf("CAP_IPC_LOCK %d CAP_IPC_OWNER %d CAP_SYS_ADMIN %d CAP_SYS_RESOURCE %d\n",
           effective(CAP_IPC_LOCK), effective(CAP_IPC_OWNER), effective(CAP_SYS_ADMIN),
           effective(CAP_SYS_RESOURCE));

    /* RLIMIT_MEMLOCK and setrlimit's rules. */
    struct rlimit lim, old;
    printf("getrlimit(RLIMIT_MEMLOCK): %s\n", outcome(getrlimit(RLIMIT_MEMLOCK, &old)));
    printf("soft <= hard: %s\n", yes(old.rlim_cur <= old.rlim_max));
    lim.rlim_cur = 2 * 4096;
    lim.rlim_max = 4096;
    printf("setrlimit soft above hard: %s\n", outcome(setrlimit(RLIMIT_MEMLOCK, &lim)));
    if (old.rlim_max != RLIM_INFINITY) {
        lim.rlim_cur = old.rlim_cur;
        lim.rlim_max = old.rlim_max + 4096;
        int ok = setrlimit(RLIMIT_MEMLOCK, &lim);
        printf("raise hard (CAP_SYS_RESOURCE %s): %s\n", yes(effective(CAP_SYS_RESOURCE) == 1),
               ok == 0 ? "ok" : errno_name(errno));
    }
    lim.rlim_cur = 0;
    lim.rlim_max = old.rlim_max;
    printf("lower soft to 0: %s\n", outcome(setrlimit(RLIMIT_MEMLOCK, &lim)));
    long pg = sysconf(_SC_PAGESIZE);
    char *p = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("mlock with limit 0 and CAP_IPC_LOCK: %s\n", outcome(mlock(p, pg)));
    munlock(p, pg);
    printf("syscall(SYS_mlock2): %s\n", outcome(syscall(SYS_mlock2, p, pg, 0)));
    munlock(p, pg);
    printf("restore: %s\n", outcome(setrlimit(RLIMIT_MEMLOCK, &old)));
    printf("getrlimit(99): %s\n", outcome(getrlimit(99, &lim)));

    /* Privilege follows the effective uid. */
    int id = shmget(IPC_PRIVATE, 4 * pg, IPC_CREAT | 0600);
    printf("shmget: %s\n", outcome(id));
    const char *how = outcome(seteuid(65534));
    printf("seteuid(65534): %s, euid %u, uid %u\n", how, geteuid(), getuid());
    printf("CAP_IPC_LOCK as 65534: %d\n", effective(CAP_IPC_LOCK));
    printf("SHM_LOCK as 65534: %s\n", outcome(shmctl(id, SHM_LOCK, NULL)));
    printf("seteuid(0): %s\n", outcome(seteuid(0)));
    printf("SHM_LOCK as 0: %s\n", outcome(shmctl(id, SHM_LOCK, NULL)));
    printf("SHM_UNLOCK: %s\n", outcome(shmctl(id, SHM_UNLOCK, NULL)));
    printf("IPC_RMID: %s\n", outcome(shmctl(id, IPC_RMID, NULL)));

    /* The user database. */
    struct passwd *pw = getpwnam("root");
    printf("getpwnam(root): uid %d dir %s\n", pw ? (int)pw->pw_uid : -1, pw ? pw->pw_dir : "-");
    pw = getpwuid(65534);
    printf("getpwuid(65534): %s\n", pw ? pw->pw_name : "-");
    struct group *gr = getgrgid(0);
    printf("getgrgid(0): %s\n", gr ? gr->gr_name : "-");
    printf("getpwnam(no-such-user): %s\n", getpwnam("no-such-user") ? "found" : "none");

    /* /tmp and the working directory. */
    char file[] = "/tmp/vmm-procXXXXXX";
    int fd = mkstemp(file);
    printf("mkstemp: %s\n", fd >= 0 ? "ok" : errno_name(errno));
    char buf[8] = {0};
    int wrote = fd >= 0 && write(fd, "hello", 5) == 5 && lseek(fd, 0, SEEK_SET) == 0 &&
                read(fd, buf, 5) == 5;
    printf("read back: %s\n", wrote ? buf : "-");
    key_t k1 = ftok(file, 7), k2 = ftok(file, 7);
    printf("ftok of it: %s, stable %s\n", k1 == -1 ? errno_name(errno) : "ok", yes(k1 == k2));
    printf("ftok(\"/tmp\", 1): %s\n", ftok("/tmp", 1) == -1 ? errno_name(errno) : "ok");
    printf("unlink: %s\n", outcome(unlink(file)));
    char dir[] = "/tmp/vmm-procdXXXXXX";
    printf("mkdtemp: %s\n", mkdtemp(dir) ? "ok" : errno_name(errno));
    printf("rmdir: %s\n", outcome(rmdir(dir)));

    /* setuid by root sets every uid and privilege is gone for good. */
    how = outcome(setuid(65534));
    printf("setuid(65534): %s, uid %u euid %u\n", how, getuid(), geteuid());
    printf("seteuid(0) after setuid: %s\n", outcome(seteuid(0)));
    printf("CAP_IPC_LOCK after setuid: %d\n", effective(CAP_IPC_LOCK));
    return 0;
}
