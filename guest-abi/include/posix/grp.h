/* <grp.h> for vmm guests (wasi-libc has none): the group database is a small fixed table
 * (root, daemon, bin, nogroup and nobody) in vmm_process.c. */
#ifndef VMM_POSIX_GRP_H
#define VMM_POSIX_GRP_H
#include <stddef.h>
#include <sys/types.h>
#ifdef __cplusplus
extern "C" {
#endif

struct group {
    char *gr_name;
    char *gr_passwd;
    gid_t gr_gid;
    char **gr_mem;
};

struct group *getgrnam(const char *name);
struct group *getgrgid(gid_t gid);
void setgrent(void);
struct group *getgrent(void);
void endgrent(void);

#ifdef __cplusplus
}
#endif
#endif
