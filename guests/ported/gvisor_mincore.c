/* Port of gVisor's mincore tests.
 * Origin: github.com/google/gvisor, test/syscalls/linux/mincore.cc, commit
 * 4d52a5520101a88424fb63dd99412a1db33fbd06. License: Apache-2.0 (Copyright 2018 The gVisor
 * Authors). The cases, their calls and their checks are gVisor's, in its order; the code is
 * vmm's own C (gtest → guests/ported/ported.h). */
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ported.h"

#define kPageSize 4096

static size_t count_set_lsbs(const unsigned char *vec, size_t n) {
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += (vec[i] & 1) != 0;
    return c;
}

static void MincoreTest_DirtyAnonPagesAreResident(void) {
    const size_t kTestPageCount = 10;
    const size_t kTestMappingBytes = kTestPageCount * kPageSize;
    char *m;
    ASSERT_MAPS(m, mmap(NULL, kTestMappingBytes, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    memset(m, 0, kTestMappingBytes);
    unsigned char vec[10] = {0};
    ASSERT_OK(mincore(m, kTestMappingBytes, vec));
    EXPECT_EQ(kTestPageCount, count_set_lsbs(vec, kTestPageCount));
    munmap(m, kTestMappingBytes);
}

static void MincoreTest_UnalignedAddressFails(void) {
    const size_t kTestPageCount = 2;
    const size_t kTestMappingBytes = kTestPageCount * kPageSize;
    char *m;
    ASSERT_MAPS(m, mmap(NULL, kTestMappingBytes, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    memset(m, 0, kTestMappingBytes);
    unsigned char vec[2] = {0};
    EXPECT_FAILS(mincore(m + kPageSize / 2, kPageSize, vec), EINVAL);
    munmap(m, kTestMappingBytes);
}

static void MincoreTest_UnalignedLengthSucceedsAndIsRoundedUp(void) {
    const size_t kTestPageCount = 2;
    const size_t kTestMappingBytes = kTestPageCount * kPageSize;
    char *m;
    ASSERT_MAPS(m, mmap(NULL, kTestMappingBytes, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    memset(m, 0, kTestMappingBytes);
    unsigned char vec[2] = {0};
    ASSERT_OK(mincore(m, kPageSize + kPageSize / 2, vec));
    EXPECT_EQ(kTestPageCount, count_set_lsbs(vec, kTestPageCount));
    munmap(m, kTestMappingBytes);
}

static void MincoreTest_ZeroLengthSucceedsAndAllowsAnyVecBelowTaskSize(void) {
    EXPECT_OK(mincore(NULL, 0, NULL));
}

static void MincoreTest_InvalidLengthFails(void) {
    EXPECT_FAILS(mincore(NULL, (size_t)-1, NULL), ENOMEM);
}

int main(void) {
    RUN(MincoreTest_DirtyAnonPagesAreResident);
    RUN(MincoreTest_UnalignedAddressFails);
    RUN(MincoreTest_UnalignedLengthSucceedsAndIsRoundedUp);
    RUN(MincoreTest_ZeroLengthSucceedsAndAllowsAnyVecBelowTaskSize);
    RUN(MincoreTest_InvalidLengthFails);
    return ported_summary();
}
