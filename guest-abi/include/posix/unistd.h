/* <unistd.h> for vmm guests: wasi-libc's, with the page size the vmm host pages by (4096, not
 * wasm's 64 KiB) from getpagesize() and sysconf(_SC_PAGESIZE). */
#ifndef VMM_POSIX_UNISTD_H
#define VMM_POSIX_UNISTD_H
#include_next <unistd.h>
#ifdef __cplusplus
extern "C" {
#endif
int getpagesize(void);
long __vmm_sysconf(int name);
#define sysconf(name) __vmm_sysconf(name)
#ifdef __cplusplus
}
#endif
#endif
