/* A segment marked by IPC_RMID while attached: IPC_STAT shows it, it can still be attached
 * while it lives, an attachment that munmap removed is gone for shmdt, and the segment goes
 * with its last attachment. Prints one observation a line; builds with any C compiler. */
// vmm-needs: linux
#include <errno.h>
#include "observe.h"
#include <stdio.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <unistd.h>

static void stat_line(const char *what, int id) {
    struct shmid_ds ds;
    if (shmctl(id, IPC_STAT, &ds) != 0) {
        printf("%s: %s\n", what, errno_name(errno));
        return;
    }
    printf("%s: nattch %lu, dest %s\n", what, (unsigned long)ds.shm_nattch,
           ds.shm_perm.mode & SHM_DEST ? "yes" : "no");
}

int main(void) {
    long pg = sysconf(_SC_PAGESIZE);
    int id = shmget(IPC_PRIVATE, 2 * pg, 0600);
    if (id < 0) return 1;
    char *a = shmat(id, NULL, 0);
    if (a == (char *)-1) return 1;
    strcpy(a, "before removal");
    stat_line("attached", id);
    printf("IPC_RMID: %s\n", outcome(shmctl(id, IPC_RMID, NULL)));
    stat_line("marked", id);
    char *b = shmat(id, NULL, 0);
    printf("shmat after IPC_RMID: %s\n", b == (char *)-1 ? errno_name(errno) : "ok");
    if (b != (char *)-1) {
        printf("it shares the data: %s\n", b);
        stat_line("attached twice", id);
        printf("munmap of the second attachment: %s\n", outcome(munmap(b, 2 * pg)));
        stat_line("after munmap", id);
        printf("shmdt of it: %s\n", outcome(shmdt(b)));
    }
    printf("shmdt of the first: %s\n", outcome(shmdt(a)));
    stat_line("after the last detach", id);
    printf("shmat of the id: %s\n", shmat(id, NULL, 0) == (void *)-1 ? errno_name(errno) : "ok");
    return 0;
}
