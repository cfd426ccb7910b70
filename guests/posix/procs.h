/* Several processes, portably: natively the program forks, as vmm guests each process is one
 * guest of `vmm run --copies N` (the program says `// vmm-guests: N`). Either way:
 *
 *   int me = procs_start(N);   process index, 0 to N-1
 *   procs_barrier();           every process waits for all the others
 *   return procs_end(status);  in process 0: the first non-zero status of all, in order
 *
 * Output is kept per process and printed process by process, 0 first, so that the two builds
 * print the same lines in the same order however the processes interleaved. procs_key(i) is a
 * SysV key no earlier run left behind (natively it carries the parent's pid). */
#ifndef PROCS_H
#define PROCS_H
#include <stdio.h>
#include <stdlib.h>
#include <sys/ipc.h>
#include <unistd.h>

#define PROCS_MAX 16

#ifdef __wasm__

__attribute__((import_module("vmm"), import_name("vmm_guest_index"))) int procs_vmm_index(void);
__attribute__((import_module("vmm"), import_name("vmm_barrier"))) int procs_vmm_barrier(void);

static int procs_start(int n) {
    (void)n;
    return procs_vmm_index();
}
static void procs_barrier(void) {
    fflush(stdout);
    procs_vmm_barrier();
}
static int procs_end(int status) {
    fflush(stdout);
    return status;
}
static key_t procs_key(int i) { return 0x70720000 + i; }

#else

#include <sys/wait.h>

static int procs_n = 1, procs_me = 0, procs_up[2], procs_down[PROCS_MAX][2];
static pid_t procs_pid[PROCS_MAX];
static FILE *procs_out[PROCS_MAX];
static long procs_base;

static int procs_start(int n) {
    if (n < 1 || n > PROCS_MAX) abort();
    procs_n = n;
    procs_base = (long)getpid();
    fflush(stdout);
    if (pipe(procs_up) != 0) abort();
    for (int i = 1; i < n; i++) {
        if (pipe(procs_down[i]) != 0 || !(procs_out[i] = tmpfile())) abort();
    }
    for (int i = 1; i < n; i++) {
        pid_t p = fork();
        if (p < 0) abort();
        if (p == 0) {
            procs_me = i;
            /* This child's lines go to its own file, printed after process 0's. */
            fflush(stdout);
            if (dup2(fileno(procs_out[i]), STDOUT_FILENO) < 0) abort();
            return i;
        }
        procs_pid[i] = p;
    }
    return 0;
}

static void procs_barrier(void) {
    char c = 0;
    fflush(stdout);
    if (procs_me == 0) {
        for (int i = 1; i < procs_n; i++)
            if (read(procs_up[0], &c, 1) != 1) abort();
        for (int i = 1; i < procs_n; i++)
            if (write(procs_down[i][1], &c, 1) != 1) abort();
    } else {
        if (write(procs_up[1], &c, 1) != 1) abort();
        if (read(procs_down[procs_me][0], &c, 1) != 1) abort();
    }
}

static int procs_end(int status) {
    fflush(stdout);
    if (procs_me != 0) exit(status);
    int first = status;
    for (int i = 1; i < procs_n; i++) {
        int st = 0;
        if (waitpid(procs_pid[i], &st, 0) < 0) abort();
        int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        if (first == 0) first = code;
        char buf[4096];
        size_t got;
        rewind(procs_out[i]);
        while ((got = fread(buf, 1, sizeof buf, procs_out[i])) > 0) fwrite(buf, 1, got, stdout);
    }
    fflush(stdout);
    return first;
}

static key_t procs_key(int i) { return (key_t)(((procs_base & 0x7fff) << 12) | 0x40000000 | i); }

#endif

#include <sys/shm.h>

/* One segment of `size` bytes for every process: process 0 creates it under procs_key(0),
 * and after a barrier each process has its id (-1 and errno if it could not). */
static int procs_segment(int me, size_t size) {
    int id = me == 0 ? shmget(procs_key(0), size, IPC_CREAT | IPC_EXCL | 0600) : -1;
    procs_barrier();
    if (me != 0) id = shmget(procs_key(0), size, 0600);
    return id;
}
#endif
