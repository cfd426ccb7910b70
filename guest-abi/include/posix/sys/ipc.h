/* <sys/ipc.h> for vmm guests on wasi-libc: the SysV IPC permission structure and flags, with the
 * libc's (Linux's) numbers; the POSIX layer translates. */
#ifndef _SYS_IPC_H
#define _SYS_IPC_H
#ifdef __cplusplus
extern "C" {
#endif

#define __NEED_uid_t
#define __NEED_gid_t
#define __NEED_mode_t
#define __NEED_key_t
#include <bits/alltypes.h>

struct ipc_perm {
    key_t __ipc_perm_key;
    uid_t uid;
    gid_t gid;
    uid_t cuid;
    gid_t cgid;
    mode_t mode;
    int __ipc_perm_seq;
};

#define IPC_PRIVATE ((key_t)0)

#define IPC_CREAT 01000
#define IPC_EXCL 02000
#define IPC_NOWAIT 04000

#define IPC_RMID 0
#define IPC_SET 1
#define IPC_STAT 2
#define IPC_INFO 3

key_t ftok(const char *path, int id);

#ifdef __cplusplus
}
#endif
#endif
