/* The process around the memory calls for vmm guests on wasi-libc: user and group ids, getpid
 * and getppid, capget and capset, getrlimit and setrlimit (each a call of the vmm host), a
 * fixed user and group database (getpwnam and friends), the temporary-file calls wasi-libc
 * declares but leaves out (mkstemp, mkdtemp and friends, for the guest's private /tmp), and
 * syscall() for the Linux x86_64 numbers of <sys/syscall.h>. Linked into every standard C guest beside vmm_posix.c. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "vmm_abi.h"

#define VMM_IMPORT(name) __attribute__((import_module("vmm"), import_name(#name)))
VMM_IMPORT(getuid) int __vmm_getuid(void);
VMM_IMPORT(geteuid) int __vmm_geteuid(void);
VMM_IMPORT(getgid) int __vmm_getgid(void);
VMM_IMPORT(getegid) int __vmm_getegid(void);
VMM_IMPORT(setuid) int __vmm_setuid(int uid);
VMM_IMPORT(seteuid) int __vmm_seteuid(int uid);
VMM_IMPORT(setgid) int __vmm_setgid(int gid);
VMM_IMPORT(setegid) int __vmm_setegid(int gid);
VMM_IMPORT(getpid) int __vmm_host_getpid(void);
VMM_IMPORT(capget) int __vmm_capget(int hdrp, int datap);
VMM_IMPORT(capset) int __vmm_capset(int hdrp, int datap);
VMM_IMPORT(getrlimit) int __vmm_getrlimit(int resource, int rlim);
VMM_IMPORT(setrlimit) int __vmm_setrlimit(int resource, int rlim);

#define P(x) ((int)(uintptr_t)(x))

/* vmm_posix.c: a raw host result, a negated ABI errno becoming -1 with the libc's errno. */
int __vmm_ret(int r);

uid_t getuid(void) { return (uid_t)__vmm_getuid(); }
uid_t geteuid(void) { return (uid_t)__vmm_geteuid(); }
gid_t getgid(void) { return (gid_t)__vmm_getgid(); }
gid_t getegid(void) { return (gid_t)__vmm_getegid(); }
int setuid(uid_t uid) { return __vmm_ret(__vmm_setuid((int)uid)); }
int seteuid(uid_t uid) { return __vmm_ret(__vmm_seteuid((int)uid)); }
int setgid(gid_t gid) { return __vmm_ret(__vmm_setgid((int)gid)); }
int setegid(gid_t gid) { return __vmm_ret(__vmm_setegid((int)gid)); }

pid_t __vmm_getpid(void) { return (pid_t)__vmm_host_getpid(); }
#undef getpid
/* For a program that calls getpid without <unistd.h>. */
pid_t getpid(void) { return __vmm_getpid(); }
/* No guest has a parent among the guests (there is no fork): init's pid, as for an orphan. */
pid_t getppid(void) { return 1; }

int capget(cap_user_header_t hdrp, cap_user_data_t datap) {
    return __vmm_ret(__vmm_capget(P(hdrp), P(datap)));
}
int capset(cap_user_header_t hdrp, const cap_user_data_t datap) {
    return __vmm_ret(__vmm_capset(P(hdrp), P(datap)));
}

/* The ABI's resource number for the libc's (Linux's), or -1 for one the host does not know
 * (RLIMIT_LOCKS and the later Linux-only ones), which is EINVAL. */
static int to_abi_resource(int r) {
    switch (r) {
    case RLIMIT_CPU: return VMM_ABI_RLIMIT_CPU;
    case RLIMIT_FSIZE: return VMM_ABI_RLIMIT_FSIZE;
    case RLIMIT_DATA: return VMM_ABI_RLIMIT_DATA;
    case RLIMIT_STACK: return VMM_ABI_RLIMIT_STACK;
    case RLIMIT_CORE: return VMM_ABI_RLIMIT_CORE;
    case RLIMIT_RSS: return VMM_ABI_RLIMIT_RSS;
    case RLIMIT_NPROC: return VMM_ABI_RLIMIT_NPROC;
    case RLIMIT_NOFILE: return VMM_ABI_RLIMIT_NOFILE;
    case RLIMIT_MEMLOCK: return VMM_ABI_RLIMIT_MEMLOCK;
    case RLIMIT_AS: return VMM_ABI_RLIMIT_AS;
    default: return -1;
    }
}

/* struct rlimit is the ABI's layout already: two little-endian 64-bit fields. */
_Static_assert(sizeof(struct rlimit) == VMM_ABI_RLIMIT_SIZE, "struct rlimit as the host has it");

int getrlimit(int resource, struct rlimit *rlim) {
    int r = to_abi_resource(resource);
    if (r < 0) { errno = EINVAL; return -1; }
    return __vmm_ret(__vmm_getrlimit(r, P(rlim)));
}

int setrlimit(int resource, const struct rlimit *rlim) {
    int r = to_abi_resource(resource);
    if (r < 0) { errno = EINVAL; return -1; }
    return __vmm_ret(__vmm_setrlimit(r, P(rlim)));
}

/* The user database: a fixed table, as a minimal Debian system has it. */
static struct passwd users[] = {
    {"root", "x", 0, 0, "root", "/root", "/bin/sh"},
    {"daemon", "x", 1, 1, "daemon", "/usr/sbin", "/usr/sbin/nologin"},
    {"bin", "x", 2, 2, "bin", "/bin", "/usr/sbin/nologin"},
    {"nobody", "x", 65534, 65534, "nobody", "/nonexistent", "/usr/sbin/nologin"},
};
#define NUSERS (sizeof users / sizeof users[0])
static size_t next_user;

static char *no_members[] = {0};
static struct group groups[] = {
    {"root", "x", 0, no_members},
    {"daemon", "x", 1, no_members},
    {"bin", "x", 2, no_members},
    {"nogroup", "x", 65534, no_members},
    {"nobody", "x", 65534, no_members},
};
#define NGROUPS (sizeof groups / sizeof groups[0])
static size_t next_group;

struct passwd *getpwnam(const char *name) {
    for (size_t i = 0; i < NUSERS; i++)
        if (strcmp(users[i].pw_name, name) == 0) return &users[i];
    return 0;
}

struct passwd *getpwuid(uid_t uid) {
    for (size_t i = 0; i < NUSERS; i++)
        if (users[i].pw_uid == uid) return &users[i];
    return 0;
}

/* Copies entry `e` into the caller's `pwd` and `buf` (ERANGE when it does not fit). */
static int copy_passwd(const struct passwd *e, struct passwd *pwd, char *buf, size_t len,
                       struct passwd **result) {
    *result = 0;
    if (!e) return 0;
    const char *fields[5] = {e->pw_name, e->pw_passwd, e->pw_gecos, e->pw_dir, e->pw_shell};
    char *copies[5];
    size_t used = 0;
    for (int i = 0; i < 5; i++) {
        size_t n = strlen(fields[i]) + 1;
        if (used + n > len) return ERANGE;
        memcpy(buf + used, fields[i], n);
        copies[i] = buf + used;
        used += n;
    }
    *pwd = (struct passwd){copies[0], copies[1], e->pw_uid, e->pw_gid, copies[2], copies[3], copies[4]};
    *result = pwd;
    return 0;
}

int getpwnam_r(const char *name, struct passwd *pwd, char *buf, size_t len, struct passwd **result) {
    return copy_passwd(getpwnam(name), pwd, buf, len, result);
}

int getpwuid_r(uid_t uid, struct passwd *pwd, char *buf, size_t len, struct passwd **result) {
    return copy_passwd(getpwuid(uid), pwd, buf, len, result);
}

void setpwent(void) { next_user = 0; }
struct passwd *getpwent(void) { return next_user < NUSERS ? &users[next_user++] : 0; }
void endpwent(void) { next_user = 0; }

struct group *getgrnam(const char *name) {
    for (size_t i = 0; i < NGROUPS; i++)
        if (strcmp(groups[i].gr_name, name) == 0) return &groups[i];
    return 0;
}

struct group *getgrgid(gid_t gid) {
    for (size_t i = 0; i < NGROUPS; i++)
        if (groups[i].gr_gid == gid) return &groups[i];
    return 0;
}

void setgrent(void) { next_group = 0; }
struct group *getgrent(void) { return next_group < NGROUPS ? &groups[next_group++] : 0; }
void endgrent(void) { next_group = 0; }

/* Replaces the six X's before the last `suffix` bytes of `tmpl` with random letters and digits
 * until `make` succeeds or fails other than with EEXIST (glibc's __gen_tempname). */
static int gen_tempname(char *tmpl, int suffix, int (*make)(const char *, int), int flags) {
    static const char letters[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    size_t len = strlen(tmpl);
    if (suffix < 0 || len < 6 + (size_t)suffix ||
        memcmp(tmpl + len - suffix - 6, "XXXXXX", 6) != 0) {
        errno = EINVAL;
        return -1;
    }
    char *x = tmpl + len - suffix - 6;
    for (int attempt = 0; attempt < 1000; attempt++) {
        unsigned char r[6];
        if (getentropy(r, sizeof r) != 0) return -1;
        for (int i = 0; i < 6; i++) x[i] = letters[r[i] % (sizeof letters - 1)];
        int fd = make(tmpl, flags);
        if (fd >= 0 || errno != EEXIST) return fd;
    }
    errno = EEXIST;
    return -1;
}

static int make_file(const char *path, int flags) {
    return open(path, O_RDWR | O_CREAT | O_EXCL | flags, 0600);
}

static int make_dir(const char *path, int flags) {
    (void)flags;
    return mkdir(path, 0700);
}

static int name_free(const char *path, int flags) {
    (void)flags;
    struct stat st;
    if (stat(path, &st) == 0) { errno = EEXIST; return -1; }
    return errno == ENOENT ? 0 : -1;
}

int mkostemps(char *tmpl, int suffix, int flags) {
    return gen_tempname(tmpl, suffix, make_file, flags & ~O_ACCMODE);
}
int mkstemps(char *tmpl, int suffix) { return mkostemps(tmpl, suffix, 0); }
int mkostemp(char *tmpl, int flags) { return mkostemps(tmpl, 0, flags); }
int mkstemp(char *tmpl) { return mkostemps(tmpl, 0, 0); }

char *mkdtemp(char *tmpl) {
    return gen_tempname(tmpl, 0, make_dir, 0) == 0 ? tmpl : 0;
}

char *mktemp(char *tmpl) {
    if (gen_tempname(tmpl, 0, name_free, 0) != 0) tmpl[0] = 0;
    return tmpl;
}

/* syscall(2) for the numbers of <sys/syscall.h>: each to the layer's own function, so the
 * answers are those of the named call; -1 with ENOSYS for any other number. Arguments are
 * read as longs, as the kernel's registers hold them. */
long syscall(long number, ...) {
    va_list ap;
    long a[6];
    va_start(ap, number);
    for (int i = 0; i < 6; i++) a[i] = va_arg(ap, long);
    va_end(ap);
#define PTR(i) ((void *)(uintptr_t)a[i])
    switch (number) {
    case SYS_getpid:
    case SYS_gettid: /* one thread: its id is the process's */
        return __vmm_getpid();
    case SYS_getppid: return getppid();
    case SYS_getuid: return getuid();
    case SYS_geteuid: return geteuid();
    case SYS_getgid: return getgid();
    case SYS_getegid: return getegid();
    case SYS_setuid: return setuid((uid_t)a[0]);
    case SYS_setgid: return setgid((gid_t)a[0]);
    case SYS_capget: return capget(PTR(0), PTR(1));
    case SYS_capset: return capset(PTR(0), PTR(1));
    case SYS_getrlimit: return getrlimit((int)a[0], PTR(1));
    case SYS_setrlimit: return setrlimit((int)a[0], PTR(1));
    case SYS_mlock: return mlock(PTR(0), (size_t)a[1]);
    case SYS_munlock: return munlock(PTR(0), (size_t)a[1]);
    case SYS_mlockall: return mlockall((int)a[0]);
    case SYS_munlockall: return munlockall();
    case SYS_mlock2: return mlock2(PTR(0), (size_t)a[1], (unsigned)a[2]);
    case SYS_mmap: {
        void *p = mmap(PTR(0), (size_t)a[1], (int)a[2], (int)a[3], (int)a[4], (off_t)a[5]);
        return p == MAP_FAILED ? -1 : (long)(uintptr_t)p;
    }
    case SYS_munmap: return munmap(PTR(0), (size_t)a[1]);
    case SYS_mprotect: return mprotect(PTR(0), (size_t)a[1], (int)a[2]);
    case SYS_mincore: return mincore(PTR(0), (size_t)a[1], PTR(2));
    case SYS_shmget: return shmget((key_t)a[0], (size_t)a[1], (int)a[2]);
    case SYS_shmat: {
        void *p = shmat((int)a[0], PTR(1), (int)a[2]);
        return p == (void *)-1 ? -1 : (long)(uintptr_t)p;
    }
    case SYS_shmdt: return shmdt(PTR(0));
    case SYS_shmctl: return shmctl((int)a[0], (int)a[1], PTR(2));
    default:
        errno = ENOSYS;
        return -1;
    }
#undef PTR
}
