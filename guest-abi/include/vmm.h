/*
 * vmm.h: the guest interface of vmm, for C guests compiled with clang --target=wasm32.
 *
 * Every host function lives in the import module "vmm", takes and returns int; a result in
 * -4095..-1 is a negated errno. The POSIX-style wrappers below return -1 (or MAP_FAILED /
 * (void *)-1) and set errno instead, so ported test code reads naturally. Numbers are NetBSD's.
 * This file and guest-abi/src/lib.rs state the same interface; a test checks they agree.
 */
#ifndef VMM_H
#define VMM_H

#include <stddef.h>
#include <stdint.h>

/* <sys/errno.h> */
#define EPERM 1
#define ENOENT 2
#define ESRCH 3
#define EIO 5
#define ENOMEM 12
#define EACCES 13
#define EFAULT 14
#define EBUSY 16
#define EEXIST 17
#define EINVAL 22
#define ENOSPC 28
#define EAGAIN 35
#define ENOSYS 78
#define EIDRM 82

/* <sys/mman.h> */
#define PROT_NONE 0x0
#define PROT_READ 0x1
#define PROT_WRITE 0x2
#define PROT_EXEC 0x4
#define MAP_SHARED 0x0001
#define MAP_PRIVATE 0x0002
#define MAP_FIXED 0x0010
#define MAP_ANON 0x1000
#define MAP_WIRED 0x0800
#define MAP_POPULATE 0x100000
#define MAP_FAILED ((void *)-1)
#define MCL_CURRENT 0x1
#define MCL_FUTURE 0x2
#define MCL_ONFAULT 0x4
#define MLOCK_ONFAULT 0x1
#define MADV_NORMAL 0
#define MADV_RANDOM 1
#define MADV_SEQUENTIAL 2
#define MADV_WILLNEED 3
#define MADV_DONTNEED 4
#define MADV_FREE 6
#define MADV_DONTNEED_LOCKED 24
#define MS_ASYNC 0x1
#define MS_INVALIDATE 0x2
#define MS_SYNC 0x4

/* <sys/ipc.h> and <sys/shm.h> */
#define IPC_PRIVATE 0
#define IPC_CREAT 01000
#define IPC_EXCL 02000
#define IPC_NOWAIT 04000
#define IPC_RMID 0
#define IPC_SET 1
#define IPC_STAT 2
#define SHM_LOCK 3
#define SHM_UNLOCK 4
#define IPC_INFO 0x103
#define SHM_STAT 0x10d
#define SHM_INFO 0x10e
#define SHM_STAT_ANY 0x10f
#define SHM_RDONLY 010000
#define SHM_RND 020000
#define SHMLBA 4096
#define SHM_LOCKED 04000
#define SHM_DEST 01000

#define VMM_PAGE_SIZE 4096

/* vmm_dump(flags) */
#define VMM_DUMP_PAGES 0x1
#define VMM_DUMP_MACHINE 0x2

typedef int key_t;

struct ipc_perm {
    uint32_t uid;
    uint32_t gid;
    uint32_t cuid;
    uint32_t cgid;
    uint32_t mode;
    int32_t _key;
};

struct shmid_ds {
    struct ipc_perm shm_perm;
    uint32_t shm_segsz;
    uint32_t shm_lpid;
    uint32_t shm_cpid;
    uint32_t shm_nattch;
    uint32_t shm_atime;
    uint32_t shm_dtime;
    uint32_t shm_ctime;
};

#define VMM_IMPORT(name) __attribute__((import_module("vmm"), import_name(#name)))

/* The raw host functions (negated errno on failure). */
VMM_IMPORT(mmap) int vmm_mmap(int addr, int len, int prot, int flags);
VMM_IMPORT(munmap) int vmm_munmap(int addr, int len);
VMM_IMPORT(mprotect) int vmm_mprotect(int addr, int len, int prot);
VMM_IMPORT(mincore) int vmm_mincore(int addr, int len, int vec);
VMM_IMPORT(mlock) int vmm_mlock(int addr, int len);
VMM_IMPORT(mlock2) int vmm_mlock2(int addr, int len, int flags);
VMM_IMPORT(munlock) int vmm_munlock(int addr, int len);
VMM_IMPORT(mlockall) int vmm_mlockall(int flags);
VMM_IMPORT(munlockall) int vmm_munlockall(void);
VMM_IMPORT(madvise) int vmm_madvise(int addr, int len, int advice);
VMM_IMPORT(msync) int vmm_msync(int addr, int len, int flags);
VMM_IMPORT(shmget) int vmm_shmget(int key, int size, int shmflg);
VMM_IMPORT(shmat) int vmm_shmat(int shmid, int addr, int shmflg);
VMM_IMPORT(shmdt) int vmm_shmdt(int addr);
VMM_IMPORT(shmctl) int vmm_shmctl(int shmid, int cmd, int buf);
VMM_IMPORT(getpagesize) int vmm_getpagesize(void);
VMM_IMPORT(vmm_guest_index) int vmm_guest_index(void);
VMM_IMPORT(vmm_guest_count) int vmm_guest_count(void);
VMM_IMPORT(vmm_barrier) int vmm_barrier(void);
VMM_IMPORT(vmm_reclaim) int vmm_reclaim(int npages);
VMM_IMPORT(vmm_print) int vmm_print(int ptr, int len);
VMM_IMPORT(vmm_dump) int vmm_dump(int flags);

static int errno;

static inline int vmm_is_error(int r) { return r >= -4095 && r <= -1; }
static inline int vmm_ret(int r) {
    if (vmm_is_error(r)) { errno = -r; return -1; }
    return r;
}
#define VMM_P(p) ((int)(intptr_t)(p))

static inline void *mmap(void *addr, size_t len, int prot, int flags, int fd, long off) {
    (void)fd; (void)off;
    int r = vmm_mmap(VMM_P(addr), (int)len, prot, flags);
    if (vmm_is_error(r)) { errno = -r; return MAP_FAILED; }
    return (void *)(intptr_t)r;
}
static inline int munmap(void *a, size_t len) { return vmm_ret(vmm_munmap(VMM_P(a), (int)len)); }
static inline int mprotect(void *a, size_t len, int prot) { return vmm_ret(vmm_mprotect(VMM_P(a), (int)len, prot)); }
static inline int mincore(void *a, size_t len, unsigned char *vec) { return vmm_ret(vmm_mincore(VMM_P(a), (int)len, VMM_P(vec))); }
static inline int mlock(const void *a, size_t len) { return vmm_ret(vmm_mlock(VMM_P(a), (int)len)); }
static inline int mlock2(const void *a, size_t len, unsigned int flags) { return vmm_ret(vmm_mlock2(VMM_P(a), (int)len, (int)flags)); }
static inline int munlock(const void *a, size_t len) { return vmm_ret(vmm_munlock(VMM_P(a), (int)len)); }
static inline int mlockall(int flags) { return vmm_ret(vmm_mlockall(flags)); }
static inline int munlockall(void) { return vmm_ret(vmm_munlockall()); }
static inline int madvise(void *a, size_t len, int advice) { return vmm_ret(vmm_madvise(VMM_P(a), (int)len, advice)); }
static inline int msync(void *a, size_t len, int flags) { return vmm_ret(vmm_msync(VMM_P(a), (int)len, flags)); }
static inline int shmget(key_t key, size_t size, int shmflg) { return vmm_ret(vmm_shmget(key, (int)size, shmflg)); }
static inline void *shmat(int shmid, const void *addr, int shmflg) {
    int r = vmm_shmat(shmid, VMM_P(addr), shmflg);
    if (vmm_is_error(r)) { errno = -r; return (void *)-1; }
    return (void *)(intptr_t)r;
}
static inline int shmdt(const void *addr) { return vmm_ret(vmm_shmdt(VMM_P(addr))); }
static inline int shmctl(int shmid, int cmd, struct shmid_ds *buf) { return vmm_ret(vmm_shmctl(shmid, cmd, VMM_P(buf))); }
static inline int getpagesize(void) { return vmm_getpagesize(); }

/* A guest's entry point: `VMM_MAIN { ... return 0; }` exports it as `main`. */
#define VMM_MAIN __attribute__((export_name("main"))) int vmm_main(void)

/* Helpers for test guests. */
static inline size_t vmm_strlen(const char *s) { size_t n = 0; while (s[n]) n++; return n; }
static inline void vmm_puts(const char *s) { vmm_print(VMM_P(s), (int)vmm_strlen(s)); }
/* Fails the test (returns its line number from main) when `cond` is false. */
#define VMM_CHECK(cond) \
    do { if (!(cond)) { vmm_puts("check failed: " #cond "\n"); return __LINE__; } } while (0)
/* Pages `[p, p + n * 4096)` resident (1), not resident (0) or mixed/error (-1). */
static inline int vmm_resident(void *p, int n) {
    unsigned char v[64];
    int all = 1, none = 1;
    if (n > 64 || mincore(p, (size_t)n * VMM_PAGE_SIZE, v) != 0) return -1;
    for (int i = 0; i < n; i++) { if (v[i] & 1) none = 0; else all = 0; }
    return all ? 1 : none ? 0 : -1;
}

#endif
