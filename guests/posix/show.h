/* Printing what a process sees, the same way natively and as a guest: mincore vectors, a
 * segment's IPC_STAT fields (never an address or a time), and the data it holds. */
#ifndef SHOW_H
#define SHOW_H
#include <errno.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include "observe.h"

static inline void show_core(const char *what, void *p, size_t pages, long pg) {
    unsigned char v[16];
    printf("%s:", what);
    if (pages > 16 || mincore(p, pages * pg, v) != 0) {
        printf(" %s\n", errno_name(errno));
        return;
    }
    for (size_t i = 0; i < pages; i++) printf(" %d", v[i] & 1);
    printf("\n");
}

static inline void show_locked(const char *what, int id) {
    struct shmid_ds ds;
    if (shmctl(id, IPC_STAT, &ds) != 0)
        printf("%s: IPC_STAT %s\n", what, errno_name(errno));
    else
        printf("%s: SHM_LOCKED %s\n", what, ds.shm_perm.mode & SHM_LOCKED ? "set" : "clear");
}

static inline void show_stat(const char *what, int id) {
    struct shmid_ds ds;
    if (shmctl(id, IPC_STAT, &ds) != 0) {
        printf("%s: IPC_STAT %s\n", what, errno_name(errno));
        return;
    }
    printf("%s: nattch %lu, size %lu, mode %o, locked %s, dest %s\n", what,
           (unsigned long)ds.shm_nattch, (unsigned long)ds.shm_segsz,
           (unsigned)(ds.shm_perm.mode & 0777), ds.shm_perm.mode & SHM_LOCKED ? "yes" : "no",
           ds.shm_perm.mode & SHM_DEST ? "yes" : "no");
}

/* Writes `first`, `first + 1`, ... at the start of each page. */
static inline void fill(char *s, int pages, long pg, char first) {
    for (int i = 0; i < pages; i++) s[i * pg] = (char)(first + i);
}

static inline void check_fill(const char *s, int pages, long pg, char first) {
    int intact = 1;
    for (int i = 0; i < pages; i++) intact &= s[i * pg] == (char)(first + i);
    printf("data: %s\n", intact ? "intact" : "CHANGED");
}
#endif
