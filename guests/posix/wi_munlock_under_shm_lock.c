/* Two processes share a segment; one SHM_LOCKs it, the other munlocks its attachment, which
 * no mlock holds: munlock succeeds and takes nothing away. Residency before and after a touch
 * shows whether SHM_LOCK brought the pages in. Prints one observation a line, process by
 * process; builds with any C compiler. */
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
    int id = procs_segment(me, 2 * pg);
    char *s = shmat(id, NULL, 0);
    printf("process %d attached: %s\n", me, s == (char *)-1 ? errno_name(errno) : "ok");
    procs_barrier();
    if (me == 0) printf("SHM_LOCK: %s\n", outcome(shmctl(id, SHM_LOCK, NULL)));
    procs_barrier();
    if (me == 1) printf("munlock: %s\n", outcome(munlock(s, 2 * pg)));
    procs_barrier();
    show_core("before any touch", s, 2, pg);
    procs_barrier();
    if (me == 1) s[pg] = 'x';
    procs_barrier();
    show_core("after process 1 touched page 1", s, 2, pg);
    show_locked("locked", id);
    printf("page 1 holds: %c\n", s[pg]);
    procs_barrier();
    if (me == 0) printf("SHM_UNLOCK: %s\n", outcome(shmctl(id, SHM_UNLOCK, NULL)));
    procs_barrier();
    printf("shmdt: %s\n", outcome(shmdt(s)));
    procs_barrier();
    if (me == 0) printf("IPC_RMID: %s\n", outcome(shmctl(id, IPC_RMID, NULL)));
    return procs_end(0);
}
