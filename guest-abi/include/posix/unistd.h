/* <unistd.h> for vmm guests: wasi-libc's, with the page size the vmm host pages by (4096, not
 * wasm's 64 KiB) from getpagesize() and sysconf(_SC_PAGESIZE), and the process calls wasi-libc
 * leaves out (user and group ids, getpid without its deprecation, getppid, syscall), which
 * vmm_process.c implements over the vmm host. */
#ifndef VMM_POSIX_UNISTD_H
#define VMM_POSIX_UNISTD_H
#include_next <unistd.h>
#ifdef __cplusplus
extern "C" {
#endif
int getpagesize(void);
long __vmm_sysconf(int name);
#define sysconf(name) __vmm_sysconf(name)

uid_t getuid(void);
uid_t geteuid(void);
gid_t getgid(void);
gid_t getegid(void);
int setuid(uid_t);
int seteuid(uid_t);
int setgid(gid_t);
int setegid(gid_t);
/* wasi-libc declares getpid deprecated (it has no process ids); a vmm guest has one. */
pid_t __vmm_getpid(void);
#define getpid __vmm_getpid
pid_t getppid(void);
/* Linux's syscall(2), for the numbers <sys/syscall.h> defines. */
long syscall(long number, ...);
#ifdef __cplusplus
}
#endif
#endif
