/*
 * corpus_main.c: replays a fuzz target's corpus without libFuzzer (ctest
 * fuzz_<target>): every file named, or every file in every directory
 * named, once through LLVMFuzzerTestOneInput. Prints the count; a crash
 * or a broken oracle aborts.
 */
#include "vspc/compat.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

#define CORPUS_FILE_MAX (1 << 20)

static int
run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf;
    size_t n;

    if (f == NULL) {
        perror(path);
        return -1;
    }
    if ((buf = malloc(CORPUS_FILE_MAX)) == NULL)
        abort();
    n = fread(buf, 1, CORPUS_FILE_MAX, f);
    fclose(f);
    LLVMFuzzerTestOneInput(buf, n);
    free(buf);
    return 0;
}

int
main(int argc, char **argv)
{
    size_t runs = 0;

    for (int i = 1; i < argc; i++) {
        struct stat st;
        DIR *d;
        struct dirent *e;

        if (stat(argv[i], &st) != 0) {
            perror(argv[i]);
            return 1;
        }
        if (!S_ISDIR(st.st_mode)) {
            if (run_file(argv[i]) != 0)
                return 1;
            runs++;
            continue;
        }
        if ((d = opendir(argv[i])) == NULL) {
            perror(argv[i]);
            return 1;
        }
        while ((e = readdir(d)) != NULL) {
            char path[4096];

            if (e->d_name[0] == '.')
                continue;
            snprintf(path, sizeof(path), "%s/%s", argv[i], e->d_name);
            if (run_file(path) != 0) {
                closedir(d);
                return 1;
            }
            runs++;
        }
        closedir(d);
    }
    if (runs == 0) {
        fprintf(stderr, "no corpus input found\n");
        return 1;
    }
    printf("%zu inputs replayed, no crash, every oracle held\n", runs);
    return 0;
}
