/* <sys/shm.h> for vmm guests on wasi-libc: SysV shared memory, served by the vmm host, with the
 * libc's (Linux's) numbers; the POSIX layer translates. */
#ifndef _SYS_SHM_H
#define _SYS_SHM_H
#ifdef __cplusplus
extern "C" {
#endif

#define __NEED_time_t
#define __NEED_size_t
#define __NEED_pid_t
#include <bits/alltypes.h>
#include <sys/ipc.h>

#define SHMLBA 4096

#define SHM_RDONLY 010000
#define SHM_RND 020000
#define SHM_REMAP 040000
#define SHM_EXEC 0100000

#define SHM_LOCK 11
#define SHM_UNLOCK 12
#define SHM_STAT 13
#define SHM_INFO 14
#define SHM_STAT_ANY 15

/* State bits in shm_perm.mode, as Linux reports them. */
#define SHM_DEST 01000
#define SHM_LOCKED 02000

typedef unsigned long shmatt_t;

struct shmid_ds {
    struct ipc_perm shm_perm;
    size_t shm_segsz;
    time_t shm_atime;
    time_t shm_dtime;
    time_t shm_ctime;
    pid_t shm_cpid;
    pid_t shm_lpid;
    shmatt_t shm_nattch;
};

/* shmctl(IPC_INFO): the limits (Linux's struct shminfo). */
struct shminfo {
    unsigned long shmmax, shmmin, shmmni, shmseg, shmall, __unused[4];
};

/* shmctl(SHM_INFO): what the segments use, in pages (Linux's struct shm_info, glibc's names). */
struct shm_info {
    int used_ids;
    unsigned long shm_tot, shm_rss, shm_swp;
    unsigned long swap_attempts, swap_successes;
};
#define __used_ids used_ids
#define __swap_attempts swap_attempts
#define __swap_successes swap_successes

void *shmat(int shmid, const void *addr, int shmflg);
int shmctl(int shmid, int cmd, struct shmid_ds *buf);
int shmdt(const void *addr);
int shmget(key_t key, size_t size, int shmflg);

#ifdef __cplusplus
}
#endif
#endif
