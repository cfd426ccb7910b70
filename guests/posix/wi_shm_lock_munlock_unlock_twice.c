/* The sequence that broke NetBSD, in one process: SHM_LOCK, munlock of the attachment,
 * SHM_UNLOCK twice. Every call succeeds and the data stays; as a guest the machine's audit
 * holds too. (guests/wiring-interactions/ has the same scenario with residency checks the host
 * cannot make.) Prints one observation a line; builds with any C compiler. */
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
    int id = shmget(IPC_PRIVATE, 4 * pg, 0600);
    char *s = shmat(id, NULL, 0);
    if (id < 0 || s == (char *)-1) return 1;
    fill(s, 4, pg, 'a');
    printf("SHM_LOCK: %s\n", outcome(shmctl(id, SHM_LOCK, NULL)));
    printf("munlock of the attachment: %s\n", outcome(munlock(s, 4 * pg)));
    show_core("after munlock", s, 4, pg);
    show_locked("after munlock", id);
    printf("SHM_UNLOCK: %s\n", outcome(shmctl(id, SHM_UNLOCK, NULL)));
    printf("SHM_UNLOCK again: %s\n", outcome(shmctl(id, SHM_UNLOCK, NULL)));
    show_locked("after both", id);
    check_fill(s, 4, pg, 'a');
    printf("shmdt: %s\n", outcome(shmdt(s)));
    printf("IPC_RMID: %s\n", outcome(shmctl(id, IPC_RMID, NULL)));
    return 0;
}
