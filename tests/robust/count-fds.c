/* Prints the fds this process was born with (from /proc/self/fd), one per
   line, in ascending order: the helper that test-cloexec execs. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>

static int cmp(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

int main(void) {
    DIR *d = opendir("/proc/self/fd");
    if (!d) return 1;
    int self = dirfd(d), fds[4096], n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < 4096) {
        if (e->d_name[0] == '.') continue;
        int fd = atoi(e->d_name);
        if (fd != self) fds[n++] = fd;
    }
    closedir(d);
    qsort(fds, (size_t)n, sizeof fds[0], cmp);
    for (int i = 0; i < n; i++) printf("%d\n", fds[i]);
    return 0;
}
