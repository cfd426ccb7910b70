/* Helpers for programs that print what they observe, so that two builds of one program (native
 * and as a vmm guest) can be compared line by line: errno by name, never by text (each C
 * library words strerror its own way), and results as "ok" or the errno's name. */
#ifndef OBSERVE_H
#define OBSERVE_H
#include <errno.h>

static const char *errno_name(int e) {
    switch (e) {
    case 0: return "0";
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case ESRCH: return "ESRCH";
    case EIO: return "EIO";
    case EBADF: return "EBADF";
    case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM";
    case EACCES: return "EACCES";
    case EFAULT: return "EFAULT";
    case EEXIST: return "EEXIST";
    case ENODEV: return "ENODEV";
    case EINVAL: return "EINVAL";
    case ENOSPC: return "ENOSPC";
    case ENOSYS: return "ENOSYS";
    case EIDRM: return "EIDRM";
    case EBUSY: return "EBUSY";
    default: return "E?";
    }
}

/* "ok" for a call that returned 0 (or any non-negative value), else its errno's name. */
static const char *outcome(long r) { return r >= 0 ? "ok" : errno_name(errno); }

#endif
