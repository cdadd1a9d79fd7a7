/* replay.c - the main() of a fuzz target built without libFuzzer (make fuzz-replay, part
 * of make test): gives every file named on the command line, or found in a directory named
 * there (not recursively), to LLVMFuzzerTestOneInput once, in name order. A target's
 * checks abort on a failed input, so every saved input (tests/fuzz/corpus/<name>/) is
 * checked on every run of the tests, with whatever sanitizers the build has (make asan).
 * Prints how many inputs ran; exits 1 if a file cannot be read or none was given. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Largest input replayed: above every target's -max_len (tests/fuzz/<name>.options). */
#define REPLAY_MAX_BYTES (1024 * 1024)
/* Most files replayed from one directory. */
#define REPLAY_MAX_FILES 100000

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return -1;
    }
    uint8_t *data = malloc(REPLAY_MAX_BYTES);
    size_t n = data ? fread(data, 1, REPLAY_MAX_BYTES, f) : 0;
    int bad = !data || ferror(f) || !feof(f);
    fclose(f);
    if (bad) {
        fprintf(stderr, "%s: cannot read it whole (at most %d bytes)\n", path, REPLAY_MAX_BYTES);
        free(data);
        return -1;
    }
    /* A copy of exactly n bytes, so ASan sees a read past the input. */
    uint8_t *exact = malloc(n ? n : 1);
    if (!exact) {
        free(data);
        return -1;
    }
    memcpy(exact, data, n);
    free(data);
    LLVMFuzzerTestOneInput(exact, n);
    free(exact);
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static long replay_dir(const char *dir)
{
    DIR *d = opendir(dir);
    char **names = NULL;
    size_t n = 0;
    long ran = 0;
    struct dirent *e;

    if (!d) {
        perror(dir);
        return -1;
    }
    while ((e = readdir(d)) != NULL && n < REPLAY_MAX_FILES) {
        if (e->d_name[0] == '.')
            continue;
        char **more = realloc(names, (n + 1) * sizeof(*names));
        if (!more)
            break;
        names = more;
        if (!(names[n] = strdup(e->d_name)))
            break;
        n++;
    }
    closedir(d);
    qsort(names, n, sizeof(*names), by_name);
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        if (ran >= 0 && replay_file(path) == 0)
            ran++;
        else
            ran = -1;
        free(names[i]);
    }
    free(names);
    return ran;
}

int main(int argc, char **argv)
{
    long total = 0;

    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
        return 1;
    }
    for (int i = 1; i < argc; i++) {
        struct stat st;
        long ran;
        if (stat(argv[i], &st) != 0) {
            perror(argv[i]);
            return 1;
        }
        ran = S_ISDIR(st.st_mode) ? replay_dir(argv[i]) : replay_file(argv[i]) == 0 ? 1 : -1;
        if (ran < 0)
            return 1;
        total += ran;
    }
    printf("%s: %ld inputs replayed, all passed\n", argv[0], total);
    return total > 0 ? 0 : 1;
}
