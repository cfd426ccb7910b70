/* A command's world: its arguments, the environment it was given, and its exit status. */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    printf("%d arguments after the program\n", argc - 1);
    for (int i = 1; i < argc; i++) printf("argv[%d] = %s\n", i, argv[i]);
    const char *g = getenv("GREETING");
    printf("GREETING = %s\n", g ? g : "(unset)");
    printf("HOME = %s\n", getenv("HOME") ? "set" : "(unset)");
    fflush(stdout);
    exit(argc > 1 ? atoi(argv[1]) : 0);
}
