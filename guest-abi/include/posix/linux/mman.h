/* <linux/mman.h> for vmm guests: Linux's own mman header, which programs include for
 * MLOCK_ONFAULT and the MAP_ and MCL_ flags; here they are all in the POSIX layer's
 * <sys/mman.h>. */
#ifndef _LINUX_MMAN_H
#define _LINUX_MMAN_H
#include <sys/mman.h>
#endif
