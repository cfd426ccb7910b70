/* The process that SHM_LOCKed a segment detaches first; the segment stays locked with one
 * attacher left, which unlocks it, removes it and detaches last, freeing it.
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
        fill(s, 4, pg, 'k');
        printf("SHM_LOCK: %s\n", outcome(shmctl(id, SHM_LOCK, NULL)));
        printf("the locker detaches: %s\n", outcome(shmdt(s)));
    }
    procs_barrier();
    if (me == 1) {
        show_stat("left to the other", id);
        show_core("resident", s, 4, pg);
        printf("SHM_UNLOCK: %s\n", outcome(shmctl(id, SHM_UNLOCK, NULL)));
        check_fill(s, 4, pg, 'k');
        printf("IPC_RMID: %s\n", outcome(shmctl(id, IPC_RMID, NULL)));
        show_stat("marked", id);
        printf("the last detach: %s\n", outcome(shmdt(s)));
        show_stat("after it", id);
    }
    return procs_end(0);
}
