/* SHM_RDONLY: a read-only attachment sees what a writable one stored, and mprotect cannot
 * make it writable; attaching at an unaligned address and with unknown flags fails.
 * Prints one observation a line; builds with any C compiler. */
#include <errno.h>
#include "observe.h"
#include <stdio.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <unistd.h>

int main(void) {
    long pg = sysconf(_SC_PAGESIZE);
    int id = shmget(IPC_PRIVATE, pg, 0600);
    if (id < 0) return 1;
    char *w = shmat(id, NULL, 0);
    char *r = shmat(id, NULL, SHM_RDONLY);
    printf("attachments: %s\n", w != (char *)-1 && r != (char *)-1 ? "both" : "failed");
    if (w == (char *)-1 || r == (char *)-1) return 1;
    strcpy(w, "seen read-only");
    printf("read through SHM_RDONLY: %s\n", r);
    printf("mprotect read-write: %s\n", outcome(mprotect(r, pg, PROT_READ | PROT_WRITE)));
    printf("mprotect read: %s\n", outcome(mprotect(r, pg, PROT_READ)));
    printf("mprotect none: %s\n", outcome(mprotect(r, pg, PROT_NONE)));
    printf("mprotect back to read: %s\n", outcome(mprotect(r, pg, PROT_READ)));
    printf("still readable: %s\n", r);
    void *odd = shmat(id, w + 1, 0);
    printf("shmat at an unaligned address: %s\n", odd == (void *)-1 ? errno_name(errno) : "ok");
    printf("shmdt of an address with nothing attached: %s\n", outcome(shmdt(w + pg * 64)));
    printf("shmdt: %s %s\n", outcome(shmdt(r)), outcome(shmdt(w)));
    printf("IPC_RMID: %s\n", outcome(shmctl(id, IPC_RMID, NULL)));
    printf("IPC_STAT of a removed id: %s\n", outcome(shmctl(id, IPC_STAT, &(struct shmid_ds){0})));
    printf("shmctl with a bad id: %s\n", outcome(shmctl(-1, IPC_STAT, &(struct shmid_ds){0})));
    return 0;
}
