/* mlock of an attachment, then SHM_LOCK and SHM_UNLOCK of its segment: SHM_UNLOCK leaves the
 * POSIX lock alone, and munlock afterwards still has a lock to undo. Prints one observation a
 * line; builds with any C compiler. */
// vmm-needs: root
#include <errno.h>
#include "observe.h"
#include "show.h"
#include <stdio.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <unistd.h>

int main(void) {
    long pg = sysconf(_SC_PAGESIZE);
    int id = shmget(IPC_PRIVATE, 2 * pg, 0600);
    char *s = shmat(id, NULL, 0);
    if (id < 0 || s == (char *)-1) return 1;
    printf("mlock: %s\n", outcome(mlock(s, 2 * pg)));
    show_core("mlocked", s, 2, pg);
    fill(s, 2, pg, 'm');
    printf("SHM_LOCK: %s\n", outcome(shmctl(id, SHM_LOCK, NULL)));
    show_locked("both locks", id);
    printf("SHM_UNLOCK: %s\n", outcome(shmctl(id, SHM_UNLOCK, NULL)));
    show_core("after SHM_UNLOCK", s, 2, pg);
    printf("munlock: %s\n", outcome(munlock(s, 2 * pg)));
    check_fill(s, 2, pg, 'm');
    printf("shmdt: %s\n", outcome(shmdt(s)));
    printf("IPC_RMID: %s\n", outcome(shmctl(id, IPC_RMID, NULL)));
    return 0;
}
