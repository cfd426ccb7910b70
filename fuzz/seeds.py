#!/usr/bin/env python3
"""Writes the seed corpus: hand-made sequences reaching the interesting corners at once.
Format: vmm::callseq (8-byte steps) for corpus/calls, vmm::runtime::hostile for corpus/guest_args."""
import os

D = os.path.dirname(os.path.abspath(__file__))
MMAP, MUNMAP, MPROTECT, MINCORE, MLOCK, MUNLOCK, MLOCKALL, MUNLOCKALL = range(8)
SHMGET, SHMAT, SHMDT, SHMCTL, WRITE, READ, RECLAIM, DIE = range(8, 16)
RMID, SET, STAT, LOCK, UNLOCK = range(5)


def step(op, guest=0, *a):
    a = list(a) + [0] * (6 - len(a))
    return bytes([op, guest] + a)


calls = {
    "seed_shm_lock_munlock_unlock_twice": [
        step(SHMGET, 0, 0, 0, 0, 1), step(SHMAT, 0), step(SHMCTL, 0, 0, LOCK),
        step(MUNLOCK, 0, 0, 1), step(SHMCTL, 0, 0, UNLOCK), step(SHMCTL, 0, 0, UNLOCK),
        step(RECLAIM, 0, 255), step(READ, 0, 0, 1),
    ],
    "seed_mlock_twice_munlock_once": [
        step(MMAP, 0, 0x10, 3, 0, 3), step(WRITE, 0, 0, 0, 7), step(MLOCK, 0, 0, 3),
        step(MLOCK, 0, 0, 3), step(MUNLOCK, 0, 0, 3), step(RECLAIM, 0, 255), step(READ, 0, 0, 0),
    ],
    "seed_one_locks_other_unlocks": [
        step(SHMGET, 0, 1, 0, 0, 2), step(SHMGET, 1, 1, 0, 0, 2), step(SHMAT, 0), step(SHMAT, 1),
        step(SHMCTL, 0, 0, LOCK), step(SHMCTL, 1, 0, UNLOCK), step(SHMCTL, 0, 0, UNLOCK),
        step(WRITE, 1, 0, 3, 9), step(RECLAIM, 0, 255), step(READ, 0, 0, 3),
    ],
    "seed_locker_dies_first": [
        step(SHMGET, 0, 2, 0, 0, 3), step(SHMAT, 0), step(SHMGET, 2, 2, 0, 0, 3), step(SHMAT, 2),
        step(SHMCTL, 0, 0, LOCK), step(DIE, 0), step(SHMCTL, 2, 0, RMID), step(SHMDT, 2, 0),
    ],
    "seed_exhaustion": [
        step(MMAP, 0, 0x10, 15, 0, 3), step(MLOCK, 0, 0, 15), step(MLOCKALL, 0, 0, 0, 3),
        step(WRITE, 0, 0, 0, 1), step(WRITE, 0, 0x10, 0, 2), step(WRITE, 0, 0x20, 0, 3),
        step(MMAP, 1, 0x30, 15, 0, 3), step(WRITE, 1, 0, 0, 4), step(WRITE, 1, 0x10, 0, 5),
        step(SHMGET, 0, 0, 0, 0, 15), step(SHMAT, 0), step(SHMCTL, 0, 0, LOCK), step(RECLAIM, 0, 255),
        step(MUNLOCKALL, 0), step(DIE, 1),
    ],
    "seed_garbage": [
        step(MMAP, 0, 0xc7, 0xc7, 0, 0xff, 0xff), step(MUNMAP, 1, 0xc3, 0xc6), step(MPROTECT, 2, 0xc5, 0xc7, 0xff),
        step(MINCORE, 0, 0xc6, 0xc7), step(MLOCK, 1, 0xc4, 0xc7), step(MUNLOCK, 2, 0xc1, 0xc5),
        step(MLOCKALL, 0, 0, 0, 0), step(SHMGET, 1, 0, 0, 0, 0xc7), step(SHMAT, 2, 0xc5, 0x80, 1, 0xc2),
        step(SHMDT, 0, 0xc1), step(SHMCTL, 1, 0xc7, LOCK), step(WRITE, 2, 0xc6, 255), step(READ, 0, 0xc7, 255),
    ],
    "seed_rdonly_and_permissions": [
        step(SHMGET, 0, 3, 0, 0, 1, 0x80), step(SHMGET, 1, 3, 0, 0, 1), step(SHMAT, 1, 0, 0, 1),
        step(SHMCTL, 1, 0, LOCK), step(SHMCTL, 1, 0, SET, 7, 0xff), step(SHMCTL, 1, 0, RMID),
        step(SHMAT, 0, 0, 0, 1), step(WRITE, 0, 0, 0, 1), step(SHMCTL, 0, 0, SET, 0xe8, 0xdb),
    ],
}

VALS = 14  # vmm::runtime::hostile::VALUES.len()


def call(f, *args):
    out = bytes([f])
    for a in args:
        if isinstance(a, int) and 0 <= a < 0x80:
            out += bytes([a])
        else:
            out += bytes([0x80]) + (a[0] & 0xffffffff).to_bytes(4, "little")
    return out


# FUNCTIONS order: mmap munmap mprotect mincore mlock munlock mlockall munlockall shmget shmat
# shmdt shmctl getpagesize vmm_guest_index vmm_guest_count vmm_barrier vmm_reclaim vmm_print vmm_dump
guest = {
    "seed_map_lock_unlock": call(0, 0, 4, 2, 5) + call(4, 4, 4) + call(4, 4, 4) + call(5, 4, 4)
    + call(16, 9) + call(3, 4, 4, 4),
    "seed_shm_cycle": call(8, 0, 4, (0o1600,)) + call(9, (0,), 0, 0) + call(11, (0,), (3,), 0)
    + call(5, (0x20000,), 4) + call(11, (0,), (4,), 0) + call(11, (0,), (4,), 0) + call(10, (0x20000,)),
    "seed_hostile": b"".join(call(f, *([(-1,)] * 4)) for f in range(19))
    + b"".join(call(f, *([(0x7FFFFFFF,)] * 4)) for f in range(19)),
    "seed_dump_and_print": call(18, 3) + call(18, 99) + call(17, 0, 4) + call(17, (0x10000 - 2,), 4),
}

for name, steps in calls.items():
    open(os.path.join(D, "corpus", "calls", name), "wb").write(b"".join(steps))
for name, data in guest.items():
    open(os.path.join(D, "corpus", "guest_args", name), "wb").write(data)
print(f"{len(calls)} call seeds, {len(guest)} guest-argument seeds")
