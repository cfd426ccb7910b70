/* Linux's /proc files that kernel tests read about locking and shared memory, the same
 * natively and as a guest under `--semantics linux`: VmLck in /proc/self/status before and after
 * mlock, the shm limits in /proc/sys/kernel beside IPC_INFO's, and a segment's line in
 * /proc/sysvipc/shm. Prints relations and its own values only, never a limit of the host. */
#define _GNU_SOURCE
#include <errno.h>
#include "observe.h"
#include <stdio.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <unistd.h>

/* A `Name: value kB` field of /proc/self/status, or -1. */
static long status_kb(const char *name) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long v = -1;
    size_t n = strlen(name);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, name, n) == 0 && line[n] == ':') sscanf(line + n + 1, "%ld", &v);
    fclose(f);
    return v;
}

static long sysctl(const char *path) {
    FILE *f = fopen(path, "r");
    unsigned long v = 0;
    if (!f) return -1;
    int ok = fscanf(f, "%lu", &v) == 1;
    fclose(f);
    return ok ? (long)v : -1;
}

int main(void) {
    long pg = sysconf(_SC_PAGESIZE);
    long before = status_kb("VmLck");
    printf("VmLck before: %ld kB\n", before);
    char *p = mmap(NULL, 3 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("mlock: %s\n", outcome(mlock(p, 3 * pg)));
    printf("VmLck grew by: %ld kB\n", status_kb("VmLck") - before);
    printf("munlock: %s\n", outcome(munlock(p, 3 * pg)));
    printf("VmLck after munlock: %ld kB\n", status_kb("VmLck") - before);
    printf("fopen of /proc/self/nothing: %s\n",
           fopen("/proc/self/nothing", "r") ? "opened" : errno_name(errno));

    struct shminfo li;
    if (shmctl(0, IPC_INFO, (struct shmid_ds *)(void *)&li) < 0) {
        printf("IPC_INFO: %s\n", errno_name(errno));
        return 0;
    }
    printf("shmmni agrees with IPC_INFO: %s\n",
           sysctl("/proc/sys/kernel/shmmni") == (long)li.shmmni ? "yes" : "no");
    printf("shmall agrees with IPC_INFO: %s\n",
           sysctl("/proc/sys/kernel/shmall") == (long)li.shmall ? "yes" : "no");

    key_t key = 0x5eed1234;
    int id = shmget(key, 2 * pg, IPC_CREAT | IPC_EXCL | 0640);
    if (id < 0) {
        printf("shmget: %s\n", errno_name(errno));
        return 0;
    }
    char *s = shmat(id, NULL, 0);
    FILE *f = fopen("/proc/sysvipc/shm", "r");
    char line[512];
    int listed = 0;
    if (f && fgets(line, sizeof line, f)) {
        printf("header starts with key: %s\n", strstr(line, "key") ? "yes" : "no");
        while (fgets(line, sizeof line, f)) {
            long k, sid, size;
            unsigned perms, nattch;
            if (sscanf(line, "%ld %ld %o %ld %*d %*d %u", &k, &sid, &perms, &size, &nattch) == 5 &&
                sid == id) {
                listed = 1;
                printf("listed: key ok %s, perms %o, size %ld, nattch %u\n",
                       k == key ? "yes" : "no", perms, size, nattch);
            }
        }
    }
    if (f) fclose(f);
    printf("the segment is listed: %s\n", listed ? "yes" : "no");
    shmdt(s);
    shmctl(id, IPC_RMID, NULL);
    return 0;
}
