/* The POSIX layer of vmm guests on wasi-libc: mmap and friends, mlock and friends, and SysV
 * shared memory, each a call of the vmm host. Programs pass the libc's numbers; this translates
 * them to the guest ABI's (NetBSD's, vmm_abi.h) and translates the host's errno back to the
 * libc's E* values. Linked into every standard C guest. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <unistd.h>
#include "vmm_abi.h"

#define VMM_IMPORT(name) __attribute__((import_module("vmm"), import_name(#name)))
VMM_IMPORT(mmap) int __vmm_mmap(int addr, int len, int prot, int flags);
VMM_IMPORT(munmap) int __vmm_munmap(int addr, int len);
VMM_IMPORT(mprotect) int __vmm_mprotect(int addr, int len, int prot);
VMM_IMPORT(mincore) int __vmm_mincore(int addr, int len, int vec);
VMM_IMPORT(mlock) int __vmm_mlock(int addr, int len);
VMM_IMPORT(mlock2) int __vmm_mlock2(int addr, int len, int flags);
VMM_IMPORT(munlock) int __vmm_munlock(int addr, int len);
VMM_IMPORT(mlockall) int __vmm_mlockall(int flags);
VMM_IMPORT(munlockall) int __vmm_munlockall(void);
VMM_IMPORT(msync) int __vmm_msync(int addr, int len, int flags);
VMM_IMPORT(madvise) int __vmm_madvise(int addr, int len, int advice);
VMM_IMPORT(shmget) int __vmm_shmget(int key, int size, int flags);
VMM_IMPORT(shmat) int __vmm_shmat(int id, int addr, int flags);
VMM_IMPORT(shmdt) int __vmm_shmdt(int addr);
VMM_IMPORT(shmctl) int __vmm_shmctl(int id, int cmd, int buf);
VMM_IMPORT(procfs_read) int __vmm_procfs_read(int path, int pathlen, int buf, int cap);

#define P(x) ((int)(uintptr_t)(x))

/* The libc's errno for an ABI errno. */
static int from_abi_errno(int e) {
    switch (e) {
    case VMM_ABI_EPERM: return EPERM;
    case VMM_ABI_ENOENT: return ENOENT;
    case VMM_ABI_ESRCH: return ESRCH;
    case VMM_ABI_EIO: return EIO;
    case VMM_ABI_ENOMEM: return ENOMEM;
    case VMM_ABI_EACCES: return EACCES;
    case VMM_ABI_EFAULT: return EFAULT;
    case VMM_ABI_EBUSY: return EBUSY;
    case VMM_ABI_EEXIST: return EEXIST;
    case VMM_ABI_EINVAL: return EINVAL;
    case VMM_ABI_ENOSPC: return ENOSPC;
    case VMM_ABI_EAGAIN: return EAGAIN;
    case VMM_ABI_ENOSYS: return ENOSYS;
    case VMM_ABI_EIDRM: return EIDRM;
    default: return EIO;
    }
}

/* A raw host result: a negated ABI errno becomes -1 with errno set. */
static int ret(int r) {
    if (r >= -4095 && r <= -1) {
        errno = from_abi_errno(-r);
        return -1;
    }
    return r;
}

/* <vmm_test.h>'s helpers return a host result through this, as the calls here do. */
int __vmm_ret(int r) { return ret(r); }

static int fail(int e) {
    errno = e;
    return -1;
}

/* Lengths are wasm32 values: the host reads them as unsigned 32-bit. */
static int len32(size_t len) { return (int)(uint32_t)len; }

static int prot_to_abi(int prot, int *out) {
    if (prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC)) return -1;
    *out = (prot & PROT_READ ? VMM_ABI_PROT_READ : 0) | (prot & PROT_WRITE ? VMM_ABI_PROT_WRITE : 0) |
           (prot & PROT_EXEC ? VMM_ABI_PROT_EXEC : 0);
    return 0;
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
    int p, f = 0;
    if (prot_to_abi(prot, &p) != 0) return (errno = EINVAL, MAP_FAILED);
    /* Hints with no meaning here are accepted, as Linux accepts them. */
    int known = MAP_SHARED | MAP_PRIVATE | MAP_FIXED | MAP_ANON | MAP_NORESERVE | MAP_POPULATE |
                MAP_LOCKED;
    if (flags & ~known) return (errno = EINVAL, MAP_FAILED);
    if (!(flags & MAP_ANON)) return (errno = fd < 0 ? EBADF : ENODEV, MAP_FAILED);
    if (off != 0) return (errno = EINVAL, MAP_FAILED);
    if (flags & MAP_SHARED) f |= VMM_ABI_MAP_SHARED;
    if (flags & MAP_PRIVATE) f |= VMM_ABI_MAP_PRIVATE;
    if (flags & MAP_FIXED) f |= VMM_ABI_MAP_FIXED;
    if (flags & MAP_LOCKED) f |= VMM_ABI_MAP_WIRED;
    if (flags & MAP_POPULATE) f |= VMM_ABI_MAP_POPULATE;
    f |= VMM_ABI_MAP_ANON;
    int r = ret(__vmm_mmap(P(addr), len32(len), p, f));
    return r == -1 ? MAP_FAILED : (void *)(uintptr_t)(uint32_t)r;
}

int munmap(void *addr, size_t len) { return ret(__vmm_munmap(P(addr), len32(len))); }

int mprotect(void *addr, size_t len, int prot) {
    int p;
    if (prot_to_abi(prot, &p) != 0) return fail(EINVAL);
    return ret(__vmm_mprotect(P(addr), len32(len), p));
}

int mincore(void *addr, size_t len, unsigned char *vec) {
    return ret(__vmm_mincore(P(addr), len32(len), P(vec)));
}

int mlock(const void *addr, size_t len) { return ret(__vmm_mlock(P(addr), len32(len))); }
int munlock(const void *addr, size_t len) { return ret(__vmm_munlock(P(addr), len32(len))); }

int mlock2(const void *addr, size_t len, unsigned int flags) {
    if (flags & ~(unsigned)MLOCK_ONFAULT) return fail(EINVAL);
    return ret(__vmm_mlock2(P(addr), len32(len), flags & MLOCK_ONFAULT ? VMM_ABI_MLOCK_ONFAULT : 0));
}

int mlockall(int flags) {
    if (flags == 0 || (flags & ~(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT))) return fail(EINVAL);
    int f = (flags & MCL_CURRENT ? VMM_ABI_MCL_CURRENT : 0) | (flags & MCL_FUTURE ? VMM_ABI_MCL_FUTURE : 0) |
            (flags & MCL_ONFAULT ? VMM_ABI_MCL_ONFAULT : 0);
    return ret(__vmm_mlockall(f));
}

int munlockall(void) { return ret(__vmm_munlockall()); }

int madvise(void *addr, size_t len, int advice) {
    int a;
    switch (advice) {
    case MADV_NORMAL: a = VMM_ABI_MADV_NORMAL; break;
    case MADV_RANDOM: a = VMM_ABI_MADV_RANDOM; break;
    case MADV_SEQUENTIAL: a = VMM_ABI_MADV_SEQUENTIAL; break;
    case MADV_WILLNEED: a = VMM_ABI_MADV_WILLNEED; break;
    case MADV_DONTNEED: a = VMM_ABI_MADV_DONTNEED; break;
    case MADV_FREE: a = VMM_ABI_MADV_FREE; break;
    case MADV_DONTNEED_LOCKED: a = VMM_ABI_MADV_DONTNEED_LOCKED; break;
    default: return fail(EINVAL);
    }
    return ret(__vmm_madvise(P(addr), len32(len), a));
}

/* As the C libraries have it: the error is returned, errno is left alone, and DONTNEED (which
 * drops data on Linux, where POSIX only allows a hint) does nothing. */
int posix_madvise(void *addr, size_t len, int advice) {
    if (advice == POSIX_MADV_DONTNEED) return 0;
    int saved = errno;
    int r = madvise(addr, len, advice);
    int e = r < 0 ? errno : 0;
    errno = saved;
    return e;
}

int msync(void *addr, size_t len, int flags) {
    if (flags & ~(MS_ASYNC | MS_INVALIDATE | MS_SYNC)) return fail(EINVAL);
    int f = (flags & MS_ASYNC ? VMM_ABI_MS_ASYNC : 0) | (flags & MS_INVALIDATE ? VMM_ABI_MS_INVALIDATE : 0) |
            (flags & MS_SYNC ? VMM_ABI_MS_SYNC : 0);
    return ret(__vmm_msync(P(addr), len32(len), f));
}

int shmget(key_t key, size_t size, int shmflg) {
    if (shmflg & ~(IPC_CREAT | IPC_EXCL | 0777)) shmflg &= IPC_CREAT | IPC_EXCL | 0777;
    int f = (shmflg & IPC_CREAT ? VMM_ABI_IPC_CREAT : 0) | (shmflg & IPC_EXCL ? VMM_ABI_IPC_EXCL : 0) |
            (shmflg & 0777);
    if (size > 0x7fffffffu) return fail(EINVAL);
    return ret(__vmm_shmget(key, (int)size, f));
}

void *shmat(int shmid, const void *addr, int shmflg) {
    if (shmflg & ~(SHM_RDONLY | SHM_RND)) return (errno = EINVAL, (void *)-1);
    int f = (shmflg & SHM_RDONLY ? VMM_ABI_SHM_RDONLY : 0) | (shmflg & SHM_RND ? VMM_ABI_SHM_RND : 0);
    int r = ret(__vmm_shmat(shmid, P(addr), f));
    return r == -1 ? (void *)-1 : (void *)(uintptr_t)(uint32_t)r;
}

int shmdt(const void *addr) { return ret(__vmm_shmdt(P(addr))); }

static uint32_t field(const unsigned char *b, int off) {
    return (uint32_t)b[off] | (uint32_t)b[off + 1] << 8 | (uint32_t)b[off + 2] << 16 | (uint32_t)b[off + 3] << 24;
}

static void put(unsigned char *b, int off, uint32_t v) {
    b[off] = v;
    b[off + 1] = v >> 8;
    b[off + 2] = v >> 16;
    b[off + 3] = v >> 24;
}

int shmctl(int shmid, int cmd, struct shmid_ds *buf) {
    unsigned char raw[VMM_ABI_DS_SIZE];
    switch (cmd) {
    case IPC_INFO: {
        unsigned char li[VMM_ABI_SHMINFO_SIZE];
        int r = ret(__vmm_shmctl(shmid, VMM_ABI_IPC_INFO, P(li)));
        if (r < 0) return r;
        if (!buf) return fail(EFAULT);
        struct shminfo *i = (struct shminfo *)(void *)buf;
        memset(i, 0, sizeof *i);
        i->shmmax = field(li, VMM_ABI_SHMINFO_SHMMAX);
        i->shmmin = field(li, VMM_ABI_SHMINFO_SHMMIN);
        i->shmmni = field(li, VMM_ABI_SHMINFO_SHMMNI);
        i->shmseg = field(li, VMM_ABI_SHMINFO_SHMSEG);
        i->shmall = field(li, VMM_ABI_SHMINFO_SHMALL);
        return r;
    }
    case SHM_INFO: {
        unsigned char si[VMM_ABI_SHM_INFO_SIZE];
        int r = ret(__vmm_shmctl(shmid, VMM_ABI_SHM_INFO, P(si)));
        if (r < 0) return r;
        if (!buf) return fail(EFAULT);
        struct shm_info *u = (struct shm_info *)(void *)buf;
        memset(u, 0, sizeof *u);
        u->used_ids = (int)field(si, VMM_ABI_SHM_INFO_USED_IDS);
        u->shm_tot = field(si, VMM_ABI_SHM_INFO_SHM_TOT);
        u->shm_rss = field(si, VMM_ABI_SHM_INFO_SHM_RSS);
        u->shm_swp = field(si, VMM_ABI_SHM_INFO_SHM_SWP);
        return r;
    }
    case IPC_STAT:
    case SHM_STAT:
    case SHM_STAT_ANY: {
        int abi = cmd == IPC_STAT ? VMM_ABI_IPC_STAT : cmd == SHM_STAT ? VMM_ABI_SHM_STAT : VMM_ABI_SHM_STAT_ANY;
        int r = ret(__vmm_shmctl(shmid, abi, P(raw)));
        if (r < 0) return r;
        if (!buf) return fail(EFAULT);
        uint32_t mode = field(raw, VMM_ABI_DS_MODE);
        memset(buf, 0, sizeof *buf);
        buf->shm_perm.__ipc_perm_key = (key_t)field(raw, VMM_ABI_DS_KEY);
        buf->shm_perm.uid = field(raw, VMM_ABI_DS_UID);
        buf->shm_perm.gid = field(raw, VMM_ABI_DS_GID);
        buf->shm_perm.cuid = field(raw, VMM_ABI_DS_CUID);
        buf->shm_perm.cgid = field(raw, VMM_ABI_DS_CGID);
        buf->shm_perm.mode = (mode & 0777) | (mode & VMM_ABI_SHM_LOCKED ? SHM_LOCKED : 0) |
                             (mode & VMM_ABI_SHM_DEST ? SHM_DEST : 0);
        buf->shm_segsz = field(raw, VMM_ABI_DS_SEGSZ);
        buf->shm_atime = field(raw, VMM_ABI_DS_ATIME);
        buf->shm_dtime = field(raw, VMM_ABI_DS_DTIME);
        buf->shm_ctime = field(raw, VMM_ABI_DS_CTIME);
        buf->shm_cpid = (pid_t)field(raw, VMM_ABI_DS_CPID);
        buf->shm_lpid = (pid_t)field(raw, VMM_ABI_DS_LPID);
        buf->shm_nattch = field(raw, VMM_ABI_DS_NATTCH);
        return r;
    }
    case IPC_SET:
        if (!buf) return fail(EFAULT);
        memset(raw, 0, sizeof raw);
        put(raw, VMM_ABI_DS_UID, buf->shm_perm.uid);
        put(raw, VMM_ABI_DS_GID, buf->shm_perm.gid);
        put(raw, VMM_ABI_DS_MODE, buf->shm_perm.mode & 0777);
        return ret(__vmm_shmctl(shmid, VMM_ABI_IPC_SET, P(raw)));
    case IPC_RMID: return ret(__vmm_shmctl(shmid, VMM_ABI_IPC_RMID, 0));
    case SHM_LOCK: return ret(__vmm_shmctl(shmid, VMM_ABI_SHM_LOCK, 0));
    case SHM_UNLOCK: return ret(__vmm_shmctl(shmid, VMM_ABI_SHM_UNLOCK, 0));
    default: return fail(EINVAL);
    }
}

/* ftok as the C libraries compute it: the file's inode and device with the project id. */
key_t ftok(const char *path, int id) {
    struct stat st;
    if (stat(path, &st) < 0) return -1;
    return (key_t)((st.st_ino & 0xffff) | ((st.st_dev & 0xff) << 16) | ((id & 0xffu) << 24));
}

int getpagesize(void) { return 4096; }

#undef sysconf
long __vmm_sysconf(int name) {
    if (name == _SC_PAGESIZE) return 4096;
    return sysconf(name);
}

/* /proc, as Linux's tests read it (under --semantics linux; ENOENT elsewhere): the host makes
 * the file when it is opened, and it is read from memory through a descriptor of this layer's
 * own, numbered far above WASI's. The build links every guest with -Wl,--wrap for the calls
 * below, so that the C library's own uses (fopen, fread, fclose) find these descriptors too. */
#define PROC_FD0 0x3f000000
#define PROC_FILES 16
static struct {
    char *data;
    size_t len, off;
} proc_files[PROC_FILES];

static int proc_slot(int fd) {
    if (fd < PROC_FD0 || fd >= PROC_FD0 + PROC_FILES) return -1;
    return proc_files[fd - PROC_FD0].data ? fd - PROC_FD0 : -1;
}

static int is_proc(const char *path) { return path && strncmp(path, "/proc/", 6) == 0; }

static int proc_open(const char *path, int flags) {
    if ((flags & O_ACCMODE) != O_RDONLY) return fail(EACCES);
    int plen = (int)strlen(path);
    int n = ret(__vmm_procfs_read(P(path), plen, 0, 0));
    if (n < 0) return -1;
    char *buf = malloc((size_t)n + 1);
    if (!buf) return fail(ENOMEM);
    int m = ret(__vmm_procfs_read(P(path), plen, P(buf), n));
    if (m < 0) {
        free(buf);
        return -1;
    }
    for (int i = 0; i < PROC_FILES; i++) {
        if (!proc_files[i].data) {
            proc_files[i].data = buf;
            proc_files[i].len = (size_t)(m < n ? m : n);
            proc_files[i].off = 0;
            return PROC_FD0 + i;
        }
    }
    free(buf);
    return fail(EMFILE);
}

static size_t proc_copy(int i, void *dst, size_t n) {
    size_t left = proc_files[i].len - proc_files[i].off;
    if (n > left) n = left;
    memcpy(dst, proc_files[i].data + proc_files[i].off, n);
    proc_files[i].off += n;
    return n;
}

int __real_open(const char *path, int flags, ...);
int __wrap_open(const char *path, int flags, ...) {
    if (is_proc(path)) return proc_open(path, flags);
    va_list ap;
    va_start(ap, flags);
    int mode = flags & O_CREAT ? va_arg(ap, int) : 0;
    va_end(ap);
    return __real_open(path, flags, mode);
}

int __real___wasilibc_open_nomode(const char *path, int flags);
int __wrap___wasilibc_open_nomode(const char *path, int flags) {
    if (is_proc(path)) return proc_open(path, flags);
    return __real___wasilibc_open_nomode(path, flags);
}

ssize_t __real_read(int fd, void *buf, size_t n);
ssize_t __wrap_read(int fd, void *buf, size_t n) {
    int i = proc_slot(fd);
    if (i < 0) return __real_read(fd, buf, n);
    return (ssize_t)proc_copy(i, buf, n);
}

ssize_t __real_readv(int fd, const struct iovec *iov, int count);
ssize_t __wrap_readv(int fd, const struct iovec *iov, int count) {
    int i = proc_slot(fd);
    if (i < 0) return __real_readv(fd, iov, count);
    if (count < 0) return fail(EINVAL);
    size_t total = 0;
    for (int k = 0; k < count; k++) total += proc_copy(i, iov[k].iov_base, iov[k].iov_len);
    return (ssize_t)total;
}

int __real_close(int fd);
int __wrap_close(int fd) {
    int i = proc_slot(fd);
    if (i < 0) return __real_close(fd);
    free(proc_files[i].data);
    proc_files[i].data = NULL;
    return 0;
}

static off_t proc_seek(int i, off_t off, int whence) {
    off_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? (off_t)proc_files[i].off
               : whence == SEEK_END ? (off_t)proc_files[i].len : -1;
    if (base < 0 || base + off < 0) return fail(EINVAL);
    proc_files[i].off = (size_t)(base + off) < proc_files[i].len ? (size_t)(base + off) : proc_files[i].len;
    return base + off;
}

off_t __real___lseek(int fd, off_t off, int whence);
off_t __wrap___lseek(int fd, off_t off, int whence) {
    int i = proc_slot(fd);
    return i < 0 ? __real___lseek(fd, off, whence) : proc_seek(i, off, whence);
}

off_t __real_lseek(int fd, off_t off, int whence);
off_t __wrap_lseek(int fd, off_t off, int whence) {
    int i = proc_slot(fd);
    return i < 0 ? __real_lseek(fd, off, whence) : proc_seek(i, off, whence);
}

/* A /proc file reports size 0, as Linux's do. */
int __real_fstat(int fd, struct stat *st);
int __wrap_fstat(int fd, struct stat *st) {
    if (proc_slot(fd) < 0) return __real_fstat(fd, st);
    memset(st, 0, sizeof *st);
    st->st_mode = S_IFREG | 0444;
    return 0;
}

/* access() of a /proc file: it exists if the host makes it; none can be written. */
int __real_access(const char *path, int mode);
int __wrap_access(const char *path, int mode) {
    if (!is_proc(path)) return __real_access(path, mode);
    if (ret(__vmm_procfs_read(P(path), (int)strlen(path), 0, 0)) < 0) return -1;
    return mode & W_OK ? fail(EACCES) : 0;
}

/* A /proc file's first line, without its newline, into `out` (`n` bytes); 0 if there is none. */
static int proc_line(const char *path, char *out, size_t n) {
    int len = __vmm_procfs_read(P(path), (int)strlen(path), P(out), (int)n - 1);
    if (len <= 0) return 0;
    size_t k = (size_t)len < n - 1 ? (size_t)len : n - 1;
    out[k] = 0;
    char *nl = strchr(out, '\n');
    if (nl) *nl = 0;
    return 1;
}

/* uname() says the system the guest's rule set stands for, as its native build would see it
 * (under --semantics linux: Linux and the host's release, /proc/sys/kernel/ostype and
 * osrelease); elsewhere the C library's own answer. */
int __real_uname(struct utsname *u);
int __wrap_uname(struct utsname *u) {
    int r = __real_uname(u);
    if (r != 0) return r;
    char sys[sizeof u->sysname], rel[sizeof u->release];
    if (proc_line("/proc/sys/kernel/ostype", sys, sizeof sys) &&
        proc_line("/proc/sys/kernel/osrelease", rel, sizeof rel)) {
        memcpy(u->sysname, sys, sizeof sys);
        memcpy(u->release, rel, sizeof rel);
    }
    return 0;
}

