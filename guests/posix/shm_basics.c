/* SysV shared memory in one process: two attachments of one segment share their bytes,
 * IPC_STAT counts them, IPC_RMID hides the segment's key at once and frees it with the last
 * detach, and the errors of shmget. Prints one observation a line; builds with any C compiler. */
#include <errno.h>
#include "observe.h"
#include <stdio.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <unistd.h>

static const char *err(int r) { return outcome(r); }

static void stat_line(const char *what, int id) {
    struct shmid_ds ds;
    if (shmctl(id, IPC_STAT, &ds) != 0) {
        printf("%s: %s\n", what, errno_name(errno));
        return;
    }
    printf("%s: nattch %lu, size %lu, mode %o, dest %s\n", what, (unsigned long)ds.shm_nattch,
           (unsigned long)ds.shm_segsz, (unsigned)(ds.shm_perm.mode & 0777),
           ds.shm_perm.mode & SHM_DEST ? "yes" : "no");
}

int main(void) {
    long pg = sysconf(_SC_PAGESIZE);
    key_t key = 0x766d6d01;
    /* A segment left by an earlier run that was killed goes first, silently. */
    int old = shmget(key, 0, 0);
    if (old != -1) shmctl(old, IPC_RMID, NULL);
    int id = shmget(key, 3 * pg, IPC_CREAT | IPC_EXCL | 0600);
    printf("shmget create: %s\n", err(id));
    if (id == -1) return 1;
    printf("shmget again: %s\n", shmget(key, 3 * pg, 0600) == id ? "same id" : "other");
    printf("shmget exclusive: %s\n", err(shmget(key, pg, IPC_CREAT | IPC_EXCL | 0600)));
    printf("shmget larger: %s\n", err(shmget(key, 4 * pg, 0600)));
    printf("shmget missing key: %s\n", err(shmget(key + 1, pg, 0600)));
    printf("shmget size 0: %s\n", err(shmget(IPC_PRIVATE, 0, 0600)));
    stat_line("created", id);
    char *a = shmat(id, NULL, 0);
    char *b = shmat(id, NULL, 0);
    printf("two attachments: %s\n", a != (char *)-1 && b != (char *)-1 && a != b ? "distinct" : "failed");
    strcpy(a + pg, "written through the first");
    printf("read through the second: %s\n", b + pg);
    stat_line("attached twice", id);
    printf("shmdt second: %s\n", err(shmdt(b)));
    printf("shmdt second again: %s\n", err(shmdt(b)));
    stat_line("attached once", id);
    printf("IPC_RMID: %s\n", err(shmctl(id, IPC_RMID, NULL)));
    stat_line("marked for removal", id);
    printf("key after IPC_RMID: %s\n", err(shmget(key, pg, 0600)));
    printf("data still there: %s\n", a + pg);
    printf("shmdt last: %s\n", err(shmdt(a)));
    stat_line("after the last detach", id);
    return 0;
}
