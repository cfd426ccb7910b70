/* SHM_LOCK of a segment nobody has touched, then a touch: which pages are resident, what
 * IPC_STAT reports, and that repeating SHM_LOCK or SHM_UNLOCK is harmless.
 * Prints one observation a line; builds with any C compiler. */
// vmm-needs: root
#include <errno.h>
#include "observe.h"
#include "show.h"
#include <stdio.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <unistd.h>


static void locked(const char *what, int id) {
    struct shmid_ds ds;
    if (shmctl(id, IPC_STAT, &ds) != 0)
        printf("%s: %s\n", what, errno_name(errno));
    else
        printf("%s: SHM_LOCKED %s\n", what, ds.shm_perm.mode & SHM_LOCKED ? "set" : "clear");
}

int main(void) {
    long pg = sysconf(_SC_PAGESIZE);
    int id = shmget(IPC_PRIVATE, 4 * pg, 0600);
    if (id < 0) return 1;
    char *s = shmat(id, NULL, 0);
    if (s == (char *)-1) return 1;
    show_core("attached", s, 4, pg);
    locked("before SHM_LOCK", id);
    printf("SHM_LOCK: %s\n", outcome(shmctl(id, SHM_LOCK, NULL)));
    locked("after SHM_LOCK", id);
    show_core("locked, untouched", s, 4, pg);
    s[pg] = 1;
    s[3 * pg] = 1;
    show_core("locked, two touched", s, 4, pg);
    printf("SHM_LOCK again: %s\n", outcome(shmctl(id, SHM_LOCK, NULL)));
    printf("SHM_UNLOCK: %s\n", outcome(shmctl(id, SHM_UNLOCK, NULL)));
    locked("after SHM_UNLOCK", id);
    printf("SHM_UNLOCK again: %s\n", outcome(shmctl(id, SHM_UNLOCK, NULL)));
    show_core("unlocked", s, 4, pg);
    printf("shmdt: %s\n", outcome(shmdt(s)));
    printf("IPC_RMID: %s\n", outcome(shmctl(id, IPC_RMID, NULL)));
    return 0;
}
