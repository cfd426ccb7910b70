/* Four guests on their own threads hammer two shared segments for a while: attach, detach,
 * SHM_LOCK, SHM_UNLOCK, mlock, munlock, munmap and remap, with vmm_reclaim paging constantly.
 * Each writes whole-page patterns in its own page of each segment and in private memory, and
 * checks them after every step: nothing may be lost or torn. */
// vmm-guests: 4
#include "vmm.h"
#define P 4096
#define G 4
#define ROUNDS 400

static unsigned rng_state;
static unsigned next(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

static int page_is(const char *p, char b) {
    for (int i = 0; i < P; i += 61) if (p[i] != b) return 0;
    return p[P - 1] == b;
}

static void fill(char *p, char b) {
    for (int i = 0; i < P; i++) p[i] = b;
}

VMM_MAIN {
    int me = vmm_guest_index();
    rng_state = 2654435761u * (unsigned)(me + 1);
    int ids[2];
    char *at[2] = {0, 0};
    char mark[2] = {0, 0};
    for (int k = 0; k < 2; k++) {
        ids[k] = shmget(8800 + k, G * P, IPC_CREAT | 0666);
        VMM_CHECK(ids[k] >= 0);
    }
    char *priv = mmap(0, 4 * P, PROT_READ | PROT_WRITE, MAP_ANON | MAP_PRIVATE, -1, 0);
    VMM_CHECK(priv != MAP_FAILED);
    char pmark = 0;
    for (int round = 1; round <= ROUNDS; round++) {
        int k = (int)(next() % 2);
        char b = (char)(round % 120 + 1);
        switch (next() % 8) {
        case 0:
        case 1:
            if (!at[k]) {
                at[k] = shmat(ids[k], 0, 0);
                VMM_CHECK(at[k] != (void *)-1);
            }
            VMM_CHECK(page_is(at[k] + me * P, mark[k]));
            fill(at[k] + me * P, b);
            mark[k] = b;
            break;
        case 2:
            if (at[k]) {
                VMM_CHECK(page_is(at[k] + me * P, mark[k]));
                VMM_CHECK(shmdt(at[k]) == 0);
                at[k] = 0;
            }
            break;
        case 3: {
            int r = shmctl(ids[k], (next() & 1) ? SHM_LOCK : SHM_UNLOCK, 0);
            VMM_CHECK(r == 0 || errno == ENOMEM);
            break;
        }
        case 4:
            if (at[k]) {
                int r = (next() & 1) ? mlock(at[k], G * P) : munlock(at[k], G * P);
                VMM_CHECK(r == 0 || errno == EAGAIN);
            }
            break;
        case 5:
            VMM_CHECK(page_is(priv, pmark));
            fill(priv, b);
            pmark = b;
            break;
        case 6:
            VMM_CHECK(munmap(priv, 4 * P) == 0);
            priv = mmap(0, 4 * P, PROT_READ | PROT_WRITE, MAP_ANON | MAP_PRIVATE, -1, 0);
            VMM_CHECK(priv != MAP_FAILED);
            pmark = 0;
            break;
        default:
            vmm_reclaim((int)(next() % 16));
        }
    }
    VMM_CHECK(page_is(priv, pmark));
    for (int k = 0; k < 2; k++) {
        if (at[k]) {
            VMM_CHECK(page_is(at[k] + me * P, mark[k]));
            VMM_CHECK(shmdt(at[k]) == 0);
        }
    }
    VMM_CHECK(vmm_barrier() == 0);
    if (me == 0) {
        for (int k = 0; k < 2; k++) VMM_CHECK(shmctl(ids[k], IPC_RMID, 0) == 0);
    }
    return 0;
}
