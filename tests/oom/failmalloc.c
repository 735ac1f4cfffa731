/*
 * failmalloc.c: the allocation interposer (see failmalloc.h).
 *
 * The next definitions are found with dlsym(RTLD_NEXT); dlsym may allocate
 * itself, so while it runs allocations come from a small static arena that
 * free() recognises and ignores.
 */
#include "failmalloc.h"

#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *(*next_malloc)(size_t);
static void *(*next_calloc)(size_t, size_t);
static void *(*next_realloc)(void *, size_t);
static void (*next_free)(void *);

static _Alignas(16) char arena[64 * 1024];
static size_t arena_used;
static int resolving;

static __thread long countdown;
static __thread long seen;
static __thread int fired;
static __thread int held;
static atomic_long total;

/* GLib's text segment: its allocations are never failed. */
static uintptr_t glib_lo, glib_hi;

static void *arena_alloc(size_t size) {
    size = (size + 15) & ~(size_t)15;
    if (arena_used + size > sizeof arena) abort();
    void *p = arena + arena_used;
    arena_used += size;
    return p;
}

static int in_arena(const void *p) {
    return (const char *)p >= arena && (const char *)p < arena + sizeof arena;
}

static int find_glib(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size;
    (void)data;
    if (!info->dlpi_name || !strstr(info->dlpi_name, "libglib-2.0")) return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD) continue;
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
        if (!glib_lo || lo < glib_lo) glib_lo = lo;
        if (hi > glib_hi) glib_hi = hi;
    }
    return 1;
}

static void resolve(void) {
    if (next_free || resolving) return;
    resolving = 1;
    *(void **)&next_malloc = dlsym(RTLD_NEXT, "malloc");
    *(void **)&next_calloc = dlsym(RTLD_NEXT, "calloc");
    *(void **)&next_realloc = dlsym(RTLD_NEXT, "realloc");
    *(void **)&next_free = dlsym(RTLD_NEXT, "free");
    resolving = 0;
    if (!next_malloc || !next_calloc || !next_realloc || !next_free) abort();
}

__attribute__((constructor)) static void failmalloc_init(void) {
    resolve();
    dl_iterate_phdr(find_glib, NULL);
}

/* Whether this allocation, made from caller, is the one to fail. */
static int should_fail(void *caller) {
    atomic_fetch_add_explicit(&total, 1, memory_order_relaxed);
    if (countdown <= 0 || held) return 0;
    uintptr_t a = (uintptr_t)caller;
    if (a >= glib_lo && a < glib_hi) return 0;
    seen++;
    if (--countdown > 0) return 0;
    fired = 1;
    return 1;
}

void failmalloc_arm(long n) {
    countdown = n;
    if (n <= 0) return; /* disarmed: what happened stays readable */
    seen = 0;
    fired = 0;
}

void failmalloc_hold(int on) { held = on; }

int failmalloc_fired(void) { return fired; }
long failmalloc_seen(void) { return seen; }
long failmalloc_total(void) { return atomic_load(&total); }

void *failmalloc_alloc(size_t size, void *caller) {
    if (!next_malloc) {
        if (resolving) return arena_alloc(size);
        resolve();
    }
    if (should_fail(caller)) {
        errno = ENOMEM;
        return NULL;
    }
    return next_malloc(size);
}

void *malloc(size_t size) { return failmalloc_alloc(size, __builtin_return_address(0)); }

void *calloc(size_t n, size_t size) {
    if (!next_calloc) {
        if (resolving) {
            if (size && n > SIZE_MAX / size) return NULL;
            return arena_alloc(n * size); /* static storage: already zero */
        }
        resolve();
    }
    if (should_fail(__builtin_return_address(0))) {
        errno = ENOMEM;
        return NULL;
    }
    return next_calloc(n, size);
}

void *realloc(void *p, size_t size) {
    if (!next_realloc) resolve();
    if (in_arena(p)) {
        void *q = failmalloc_alloc(size, __builtin_return_address(0));
        if (q) memcpy(q, p, size < (size_t)(arena + sizeof arena - (char *)p) ? size : (size_t)(arena + sizeof arena - (char *)p));
        return q;
    }
    if (size > 0 && should_fail(__builtin_return_address(0))) {
        errno = ENOMEM;
        return NULL;
    }
    return next_realloc(p, size);
}

void free(void *p) {
    if (!p || in_arena(p)) return;
    if (!next_free) resolve();
    next_free(p);
}

char *strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = failmalloc_alloc(n, __builtin_return_address(0));
    if (p) memcpy(p, s, n);
    return p;
}

char *strndup(const char *s, size_t max) {
    size_t n = strnlen(s, max);
    char *p = failmalloc_alloc(n + 1, __builtin_return_address(0));
    if (!p) return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}
