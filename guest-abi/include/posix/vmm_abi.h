/* The vmm guest ABI's numbers (NetBSD's), prefixed so that they never meet the libc's own names.
 * Only the POSIX layer (vmm_posix.c) uses them: programs see the libc's numbers. A test checks
 * every value against guest-abi's Rust table. */
#ifndef VMM_ABI_H
#define VMM_ABI_H

#define VMM_ABI_EPERM 1
#define VMM_ABI_ENOENT 2
#define VMM_ABI_ESRCH 3
#define VMM_ABI_EIO 5
#define VMM_ABI_ENOMEM 12
#define VMM_ABI_EACCES 13
#define VMM_ABI_EFAULT 14
#define VMM_ABI_EBUSY 16
#define VMM_ABI_EEXIST 17
#define VMM_ABI_EINVAL 22
#define VMM_ABI_ENOSPC 28
#define VMM_ABI_EAGAIN 35
#define VMM_ABI_ENOSYS 78
#define VMM_ABI_EIDRM 82

#define VMM_ABI_PROT_NONE 0x0
#define VMM_ABI_PROT_READ 0x1
#define VMM_ABI_PROT_WRITE 0x2
#define VMM_ABI_PROT_EXEC 0x4
#define VMM_ABI_MAP_SHARED 0x0001
#define VMM_ABI_MAP_PRIVATE 0x0002
#define VMM_ABI_MAP_FIXED 0x0010
#define VMM_ABI_MAP_ANON 0x1000
#define VMM_ABI_MAP_WIRED 0x0800
#define VMM_ABI_MAP_POPULATE 0x100000
#define VMM_ABI_MCL_CURRENT 0x1
#define VMM_ABI_MCL_FUTURE 0x2
#define VMM_ABI_MCL_ONFAULT 0x4
#define VMM_ABI_MLOCK_ONFAULT 0x1
#define VMM_ABI_MADV_NORMAL 0
#define VMM_ABI_MADV_RANDOM 1
#define VMM_ABI_MADV_SEQUENTIAL 2
#define VMM_ABI_MADV_WILLNEED 3
#define VMM_ABI_MADV_DONTNEED 4
#define VMM_ABI_MADV_FREE 6
#define VMM_ABI_MADV_DONTNEED_LOCKED 24
#define VMM_ABI_MS_ASYNC 0x1
#define VMM_ABI_MS_INVALIDATE 0x2
#define VMM_ABI_MS_SYNC 0x4

#define VMM_ABI_IPC_PRIVATE 0
#define VMM_ABI_IPC_CREAT 01000
#define VMM_ABI_IPC_EXCL 02000
#define VMM_ABI_IPC_RMID 0
#define VMM_ABI_IPC_SET 1
#define VMM_ABI_IPC_STAT 2
#define VMM_ABI_SHM_LOCK 3
#define VMM_ABI_SHM_UNLOCK 4
#define VMM_ABI_IPC_INFO 0x103
#define VMM_ABI_SHM_STAT 0x10d
#define VMM_ABI_SHM_INFO 0x10e
#define VMM_ABI_SHM_STAT_ANY 0x10f
#define VMM_ABI_SHM_RDONLY 010000
#define VMM_ABI_SHM_RND 020000
#define VMM_ABI_SHM_LOCKED 04000
#define VMM_ABI_SHM_DEST 01000

/* struct shmid_ds as the host writes it: 13 little-endian 32-bit fields at these offsets. */
#define VMM_ABI_DS_SIZE 52
#define VMM_ABI_DS_UID 0
#define VMM_ABI_DS_GID 4
#define VMM_ABI_DS_CUID 8
#define VMM_ABI_DS_CGID 12
#define VMM_ABI_DS_MODE 16
#define VMM_ABI_DS_KEY 20
#define VMM_ABI_DS_SEGSZ 24
#define VMM_ABI_DS_LPID 28
#define VMM_ABI_DS_CPID 32
#define VMM_ABI_DS_NATTCH 36
#define VMM_ABI_DS_ATIME 40
#define VMM_ABI_DS_DTIME 44
#define VMM_ABI_DS_CTIME 48

/* struct shminfo (IPC_INFO) and struct shm_info (SHM_INFO): little-endian 32-bit fields. */
#define VMM_ABI_SHMINFO_SIZE 20
#define VMM_ABI_SHMINFO_SHMMAX 0
#define VMM_ABI_SHMINFO_SHMMIN 4
#define VMM_ABI_SHMINFO_SHMMNI 8
#define VMM_ABI_SHMINFO_SHMSEG 12
#define VMM_ABI_SHMINFO_SHMALL 16
#define VMM_ABI_SHM_INFO_SIZE 24
#define VMM_ABI_SHM_INFO_USED_IDS 0
#define VMM_ABI_SHM_INFO_SHM_TOT 4
#define VMM_ABI_SHM_INFO_SHM_RSS 8
#define VMM_ABI_SHM_INFO_SHM_SWP 12
#define VMM_ABI_SHM_INFO_SWAP_ATTEMPTS 16
#define VMM_ABI_SHM_INFO_SWAP_SUCCESSES 20

#endif
