/* <pwd.h> for vmm guests (wasi-libc has none): the user database is a small fixed table
 * (root, daemon, bin, nobody) in vmm_process.c. */
#ifndef VMM_POSIX_PWD_H
#define VMM_POSIX_PWD_H
#include <stddef.h>
#include <sys/types.h>
#ifdef __cplusplus
extern "C" {
#endif

struct passwd {
    char *pw_name;
    char *pw_passwd;
    uid_t pw_uid;
    gid_t pw_gid;
    char *pw_gecos;
    char *pw_dir;
    char *pw_shell;
};

struct passwd *getpwnam(const char *name);
struct passwd *getpwuid(uid_t uid);
int getpwnam_r(const char *name, struct passwd *pwd, char *buf, size_t len, struct passwd **result);
int getpwuid_r(uid_t uid, struct passwd *pwd, char *buf, size_t len, struct passwd **result);
void setpwent(void);
struct passwd *getpwent(void);
void endpwent(void);

#ifdef __cplusplus
}
#endif
#endif
