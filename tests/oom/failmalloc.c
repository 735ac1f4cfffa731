/*
 * failmalloc.c: the allocation interposer (see failmalloc.h).
 *
 * The next definitions are found with dlsym(RTLD_NEXT), once, by this
 * program's constructor.  Until they are known (allocations made by the
 * libraries' constructors, by dlsym itself, and by ASan's start-up, whose
 * failed look-ups allocate their error messages) allocations come from a
 * static arena that free() recognises and ignores: calling dlsym from inside
 * a dlsym that is allocating would recurse until the stack is gone.
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

static _Alignas(16) char arena[1024 * 1024];
static size_t arena_used;

static __thread long countdown;
static __thread long seen;
static __thread int fired;
static __thread int held;
static atomic_long total;

/* Libraries whose allocations are never failed: GLib (g_malloc aborts by
   design) and the dynamic loader (dlopen, e.g. of NSS modules or libgcc_s,
   leaks what it had in its own error path, which is not libqmp's to fix). */
struct spared {
    const char *name;
    uintptr_t lo, hi;
};
static struct spared spared[] = {{"libglib-2.0", 0, 0}, {"ld-linux", 0, 0}};

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

static int find_spared(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size;
    (void)data;
    for (size_t k = 0; k < sizeof spared / sizeof spared[0]; k++) {
        if (!info->dlpi_name || !strstr(info->dlpi_name, spared[k].name)) continue;
        for (int i = 0; i < info->dlpi_phnum; i++) {
            const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
            if (ph->p_type != PT_LOAD) continue;
            uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
            if (!spared[k].lo || lo < spared[k].lo) spared[k].lo = lo;
            if (hi > spared[k].hi) spared[k].hi = hi;
        }
    }
    return 0;
}

static void resolve(void) {
    if (next_free) return;
    /* Looked up first and published after, so that what the look-ups
       allocate comes from the arena and is never handed to the real free. */
    void *m = dlsym(RTLD_NEXT, "malloc"), *c = dlsym(RTLD_NEXT, "calloc");
    void *r = dlsym(RTLD_NEXT, "realloc"), *f = dlsym(RTLD_NEXT, "free");
    if (!m || !c || !r || !f) abort();
    *(void **)&next_free = f;
    *(void **)&next_realloc = r;
    *(void **)&next_calloc = c;
    *(void **)&next_malloc = m;
}

__attribute__((constructor)) static void failmalloc_init(void) {
    resolve();
    dl_iterate_phdr(find_spared, NULL);
}

/* Whether this allocation, made from caller, is the one to fail. */
static int should_fail(void *caller) {
    atomic_fetch_add_explicit(&total, 1, memory_order_relaxed);
    if (countdown <= 0 || held) return 0;
    uintptr_t a = (uintptr_t)caller;
    for (size_t k = 0; k < sizeof spared / sizeof spared[0]; k++)
        if (a >= spared[k].lo && a < spared[k].hi) return 0;
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
    if (!next_malloc) return arena_alloc(size); /* before the constructor, or in it */
    if (should_fail(caller)) {
        errno = ENOMEM;
        return NULL;
    }
    return next_malloc(size);
}

void *malloc(size_t size) { return failmalloc_alloc(size, __builtin_return_address(0)); }

void *calloc(size_t n, size_t size) {
    if (!next_calloc) {
        if (size && n > SIZE_MAX / size) return NULL;
        return arena_alloc(n * size); /* static storage: already zero */
    }
    if (should_fail(__builtin_return_address(0))) {
        errno = ENOMEM;
        return NULL;
    }
    return next_calloc(n, size);
}

void *realloc(void *p, size_t size) {
    if (!p) return failmalloc_alloc(size, __builtin_return_address(0));
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
    if (!p || in_arena(p) || !next_free) return;
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
