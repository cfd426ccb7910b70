/* Output from memory that was paged out: a line written early sits in the heap while a much
 * larger allocation is touched page by page (on a small vmm machine that evicts the line's page),
 * then the line is written with fwrite, which hands the host a pointer into it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BIG (4 << 20)

int main(void) {
    char *line = malloc(64);
    if (!line) return 1;
    strcpy(line, "this line was written before the pressure\n");
    char *big = malloc(BIG);
    if (!big) return 1;
    for (long i = 0; i < BIG; i += 4096) big[i] = (char)(i >> 12);
    fwrite(line, 1, strlen(line), stdout);
    long sum = 0;
    for (long i = 0; i < BIG; i += 4096) sum += big[i];
    printf("sum of one byte a page: %ld\n", sum);
    printf("done\n");
    free(big);
    free(line);
    return 0;
}
