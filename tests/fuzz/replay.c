/*
 * The replay driver: runs a fuzz target's LLVMFuzzerTestOneInput over files
 * without libFuzzer, so the normal suite (and its valgrind and sanitizer
 * runs) replays the corpus and every regression input with any compiler.
 *
 *   replay-TARGET PATH...     each PATH a file or a folder of files
 *
 * A target that finds a bug aborts, which fails the test.  Exits 1 when a
 * PATH cannot be read or when no input was found at all.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replayed;

static int replay_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return -1;
    }
    size_t cap = 4096, len = 0;
    uint8_t *buf = malloc(cap);
    size_t n;
    while (buf && (n = fread(buf + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap) {
            uint8_t *bigger = realloc(buf, cap *= 2);
            if (!bigger) free(buf);
            buf = bigger;
        }
    }
    fclose(f);
    if (!buf) {
        fprintf(stderr, "%s: out of memory\n", path);
        return -1;
    }
    /* An exact-size copy, so a read past the end is caught (ASan, valgrind). */
    uint8_t *exact = malloc(len ? len : 1);
    if (!exact) {
        free(buf);
        return -1;
    }
    memcpy(exact, buf, len);
    free(buf);
    if (getenv("REPLAY_VERBOSE")) fprintf(stderr, "replay %s (%zu bytes)\n", path, len);
    LLVMFuzzerTestOneInput(exact, len);
    free(exact);
    replayed++;
    return 0;
}

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int replay_path(const char *path) {
    struct stat st;
    if (stat(path, &st) < 0) {
        perror(path);
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) return replay_file(path);
    DIR *d = opendir(path);
    if (!d) {
        perror(path);
        return -1;
    }
    char **names = NULL;
    size_t count = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue; /* ., .., .gitkeep */
        char **more = realloc(names, (count + 1) * sizeof *names);
        if (!more) break;
        names = more;
        size_t len = strlen(path) + strlen(e->d_name) + 2;
        names[count] = malloc(len);
        if (!names[count]) break;
        snprintf(names[count], len, "%s/%s", path, e->d_name);
        count++;
    }
    closedir(d);
    if (count > 0) qsort(names, count, sizeof *names, cmp); /* the same order every run */
    int rc = 0;
    for (size_t i = 0; i < count; i++) {
        if (replay_path(names[i]) < 0) rc = -1;
        free(names[i]);
    }
    free(names);
    return rc;
}

int main(int argc, char **argv) {
    int rc = 0;
    for (int i = 1; i < argc; i++)
        if (replay_path(argv[i]) < 0) rc = 1;
    printf("replayed %d inputs\n", replayed);
    if (replayed == 0) {
        fprintf(stderr, "no inputs to replay\n");
        rc = 1;
    }
    return rc;
}
