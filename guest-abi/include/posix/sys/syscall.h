/* <sys/syscall.h> for vmm guests: Linux x86_64's numbers for the calls syscall() dispatches
 * (vmm_process.c); any other number is -1 with errno ENOSYS. */
#ifndef VMM_POSIX_SYS_SYSCALL_H
#define VMM_POSIX_SYS_SYSCALL_H

#define SYS_mmap 9
#define SYS_mprotect 10
#define SYS_munmap 11
#define SYS_mincore 27
#define SYS_shmget 29
#define SYS_shmat 30
#define SYS_shmctl 31
#define SYS_getpid 39
#define SYS_shmdt 67
#define SYS_getrlimit 97
#define SYS_getuid 102
#define SYS_getgid 104
#define SYS_setuid 105
#define SYS_setgid 106
#define SYS_geteuid 107
#define SYS_getegid 108
#define SYS_getppid 110
#define SYS_capget 125
#define SYS_capset 126
#define SYS_mlock 149
#define SYS_munlock 150
#define SYS_mlockall 151
#define SYS_munlockall 152
#define SYS_setrlimit 160
#define SYS_gettid 186
#define SYS_mlock2 325

#define __NR_mmap SYS_mmap
#define __NR_mprotect SYS_mprotect
#define __NR_munmap SYS_munmap
#define __NR_mincore SYS_mincore
#define __NR_shmget SYS_shmget
#define __NR_shmat SYS_shmat
#define __NR_shmctl SYS_shmctl
#define __NR_getpid SYS_getpid
#define __NR_shmdt SYS_shmdt
#define __NR_getrlimit SYS_getrlimit
#define __NR_getuid SYS_getuid
#define __NR_getgid SYS_getgid
#define __NR_setuid SYS_setuid
#define __NR_setgid SYS_setgid
#define __NR_geteuid SYS_geteuid
#define __NR_getegid SYS_getegid
#define __NR_getppid SYS_getppid
#define __NR_capget SYS_capget
#define __NR_capset SYS_capset
#define __NR_mlock SYS_mlock
#define __NR_munlock SYS_munlock
#define __NR_mlockall SYS_mlockall
#define __NR_munlockall SYS_munlockall
#define __NR_setrlimit SYS_setrlimit
#define __NR_gettid SYS_gettid
#define __NR_mlock2 SYS_mlock2

#endif
