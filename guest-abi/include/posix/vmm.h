/* Not for standard C programs: "vmm.h" (in quotes, with VMM_MAIN) is the raw ABI of freestanding
 * guests, which replaces the libc. A program with the libc's headers and `int main` includes
 * <vmm_test.h> for vmm's helpers. */
#error "<vmm.h> is the raw ABI for freestanding guests (#include \"vmm.h\", VMM_MAIN); a standard C program includes <vmm_test.h> for vmm_reclaim, vmm_barrier, vmm_guest_index, vmm_dump and vmm_resident"
