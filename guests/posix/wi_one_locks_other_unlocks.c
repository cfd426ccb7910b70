/* One process SHM_LOCKs a shared segment, the other SHM_UNLOCKs it, then the first unlocks
 * too: the lock is the segment's, whoever set it; both unlocks succeed and the data stays.
 * Prints one observation a line, process by process; builds with any C compiler. */
// vmm-guests: 2
// vmm-needs: root
#include <errno.h>
#include "observe.h"
#include "procs.h"
#include "show.h"
#include <stdio.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <unistd.h>

int main(void) {
    long pg = sysconf(_SC_PAGESIZE);
    int me = procs_start(2);
    int id = procs_segment(me, 4 * pg);
    char *s = shmat(id, NULL, 0);
    if (s == (char *)-1) return procs_end(1);
    procs_barrier();
    if (me == 0) {
        fill(s, 4, pg, 'a');
        printf("SHM_LOCK: %s\n", outcome(shmctl(id, SHM_LOCK, NULL)));
    }
    procs_barrier();
    if (me == 1) printf("SHM_UNLOCK by the other: %s\n", outcome(shmctl(id, SHM_UNLOCK, NULL)));
    procs_barrier();
    if (me == 0) printf("SHM_UNLOCK by the locker: %s\n", outcome(shmctl(id, SHM_UNLOCK, NULL)));
    procs_barrier();
    show_locked("after both unlocks", id);
    show_core("resident", s, 4, pg);
    check_fill(s, 4, pg, 'a');
    procs_barrier();
    printf("shmdt: %s\n", outcome(shmdt(s)));
    procs_barrier();
    if (me == 0) printf("IPC_RMID: %s\n", outcome(shmctl(id, IPC_RMID, NULL)));
    return procs_end(0);
}
