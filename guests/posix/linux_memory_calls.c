/* Linux's other memory calls, observed the same way natively and as a guest under
 * `--semantics linux`: mlock2(MLOCK_ONFAULT) and mlockall(MCL_ONFAULT) (nothing brought in,
 * pages locked as they are touched), MAP_LOCKED and MAP_POPULATE, msync(MS_INVALIDATE) of a
 * locked page (EBUSY: gVisor's lock oracle), madvise (DONTNEED drops private data and is
 * refused over a lock, DONTNEED_LOCKED is not), mincore up to a hole (the vector is filled for
 * the pages before it), shmctl's IPC_INFO, SHM_INFO and SHM_STAT, and shmid_ds' times, which are
 * seconds since the Epoch. Prints one observation a line, never an address, a limit or a time. */
#define _GNU_SOURCE
#include <errno.h>
#include "observe.h"
#include "show.h"
#include <stdio.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <time.h>
#include <unistd.h>

#ifndef MADV_DONTNEED_LOCKED
#define MADV_DONTNEED_LOCKED 24
#endif

static const char *err(long r) { return outcome(r); }

int main(void) {
    long pg = sysconf(_SC_PAGESIZE);
    int prot = PROT_READ | PROT_WRITE, anon = MAP_PRIVATE | MAP_ANONYMOUS;
    char *p = mmap(NULL, 4 * pg, prot, anon, -1, 0);
    if (p == MAP_FAILED) return 1;

    p[pg] = 1;
    printf("mlock2(MLOCK_ONFAULT): %s\n", err(mlock2(p, 4 * pg, MLOCK_ONFAULT)));
    show_core("locked on fault", p, 4, pg);
    p[3 * pg] = 1;
    show_core("one more touched", p, 4, pg);
    printf("mlock2 with an unknown flag: %s\n", err(mlock2(p, pg, 0x10)));
    printf("msync(MS_INVALIDATE) of it: %s\n", err(msync(p, 4 * pg, MS_INVALIDATE)));
    printf("msync(MS_SYNC) of it: %s\n", err(msync(p, 4 * pg, MS_SYNC)));
    printf("msync(MS_ASYNC | MS_SYNC): %s\n", err(msync(p, pg, MS_ASYNC | MS_SYNC)));
    printf("msync of an unaligned address: %s\n", err(msync(p + 1, pg, MS_SYNC)));
    printf("madvise(MADV_DONTNEED) of it: %s\n", err(madvise(p, 4 * pg, MADV_DONTNEED)));
    printf("madvise(MADV_FREE) of it: %s\n", err(madvise(p, 4 * pg, MADV_FREE)));
    printf("mlock (a whole lock now): %s\n", err(mlock(p, 4 * pg)));
    show_core("locked", p, 4, pg);
    p[0] = 42;
    printf("madvise(MADV_DONTNEED_LOCKED): %s\n", err(madvise(p, 2 * pg, MADV_DONTNEED_LOCKED)));
    show_core("after DONTNEED_LOCKED", p, 4, pg);
    printf("the dropped page reads %d\n", p[0]);
    printf("munlock: %s\n", err(munlock(p, 4 * pg)));
    printf("msync(MS_INVALIDATE) unlocked: %s\n", err(msync(p, 4 * pg, MS_INVALIDATE)));

    p[2 * pg] = 7;
    printf("madvise(MADV_DONTNEED): %s\n", err(madvise(p + 2 * pg, pg, MADV_DONTNEED)));
    printf("the page reads %d after DONTNEED\n", p[2 * pg]);
    printf("madvise(MADV_WILLNEED): %s\n", err(madvise(p, 4 * pg, MADV_WILLNEED)));
    printf("madvise(MADV_RANDOM): %s\n", err(madvise(p, pg, MADV_RANDOM)));
    printf("madvise with unknown advice: %s\n", err(madvise(p, pg, 12345)));
    printf("munmap of the last page: %s\n", err(munmap(p + 3 * pg, pg)));
    unsigned char v[4] = {9, 9, 9, 9};
    printf("mincore over the hole: %s\n", err(mincore(p, 4 * pg, v)));
    printf("its vector: %d %d %d %d\n", v[0], v[1], v[2], v[3]);
    printf("madvise over the hole: %s\n", err(madvise(p, 4 * pg, MADV_NORMAL)));
    munmap(p, 3 * pg);

    char *l = mmap(NULL, 2 * pg, prot, anon | MAP_LOCKED, -1, 0);
    printf("mmap(MAP_LOCKED): %s\n", l == MAP_FAILED ? errno_name(errno) : "mapped");
    if (l != MAP_FAILED) {
        show_core("MAP_LOCKED", l, 2, pg);
        printf("msync(MS_INVALIDATE) of it: %s\n", err(msync(l, 2 * pg, MS_INVALIDATE)));
        munmap(l, 2 * pg);
    }
    char *q = mmap(NULL, 3 * pg, prot, anon | MAP_POPULATE, -1, 0);
    printf("mmap(MAP_POPULATE): %s\n", q == MAP_FAILED ? errno_name(errno) : "mapped");
    if (q != MAP_FAILED) {
        show_core("MAP_POPULATE", q, 3, pg);
        munmap(q, 3 * pg);
    }
    printf("mmap without a share type: %s\n",
           mmap(NULL, pg, prot, MAP_ANONYMOUS, -1, 0) == MAP_FAILED ? errno_name(errno) : "mapped");

    printf("mlockall(MCL_ONFAULT) alone: %s\n", err(mlockall(MCL_ONFAULT)));
    printf("mlockall(MCL_FUTURE | MCL_ONFAULT): %s\n", err(mlockall(MCL_FUTURE | MCL_ONFAULT)));
    char *f = mmap(NULL, 2 * pg, prot, anon, -1, 0);
    show_core("a new mapping", f, 2, pg);
    f[0] = 1;
    show_core("touched", f, 2, pg);
    printf("msync(MS_INVALIDATE) of it: %s\n", err(msync(f, 2 * pg, MS_INVALIDATE)));
    printf("munlockall: %s\n", err(munlockall()));
    munmap(f, 2 * pg);

    time_t t0 = time(NULL);
    int id = shmget(IPC_PRIVATE, 2 * pg, IPC_CREAT | 0600);
    printf("shmget: %s\n", id < 0 ? errno_name(errno) : "ok");
    if (id < 0) return 0;
    char *s = shmat(id, NULL, 0);
    s[0] = 1;
    struct shmid_ds ds;
    printf("IPC_STAT: %s\n", err(shmctl(id, IPC_STAT, &ds)));
    time_t t1 = time(NULL);
    printf("shm_ctime is the creation's second: %s\n",
           ds.shm_ctime >= t0 && ds.shm_ctime <= t1 ? "yes" : "no");
    printf("shm_atime is the attach's second: %s\n",
           ds.shm_atime >= t0 && ds.shm_atime <= t1 ? "yes" : "no");
    printf("shm_cpid is shm_lpid: %s\n", ds.shm_cpid == ds.shm_lpid && ds.shm_cpid > 0 ? "yes" : "no");
    struct shminfo li;
    int max = shmctl(0, IPC_INFO, (struct shmid_ds *)(void *)&li);
    printf("IPC_INFO: %s\n", max < 0 ? errno_name(errno) : "ok");
    printf("shmmin %lu, shmmni and shmseg agree: %s\n", (unsigned long)li.shmmin,
           li.shmmni == li.shmseg ? "yes" : "no");
    struct shm_info si;
    int max2 = shmctl(0, SHM_INFO, (struct shmid_ds *)(void *)&si);
    printf("SHM_INFO: %s, same index: %s, a segment in use: %s\n", max2 < 0 ? errno_name(errno) : "ok",
           max == max2 ? "yes" : "no", si.used_ids >= 1 ? "yes" : "no");
    int found = 0;
    for (int i = 0; i <= max; i++) {
        struct shmid_ds d;
        int sid = shmctl(i, SHM_STAT, &d);
        if (sid == id) found = d.shm_segsz == (size_t)(2 * pg);
    }
    printf("SHM_STAT finds the segment by index: %s\n", found ? "yes" : "no");
    printf("SHM_STAT past the last index: %s\n", err(shmctl(max + 1, SHM_STAT, &ds)));
    shmdt(s);
    shmctl(id, IPC_RMID, NULL);
    return 0;
}
