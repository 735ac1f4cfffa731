/*
 * failmalloc.h: makes the Nth allocation of the calling thread fail.
 *
 * The test program defines malloc, calloc, realloc, free, strdup, strndup
 * and (failnew.cpp) every operator new and delete itself, exported with
 * -rdynamic, so the calls of libqmp.so, jansson and libstdc++ land here
 * first and pass through to the next definition (libc's, or a sanitizer's
 * or valgrind's).  Only the thread that armed a countdown is affected, and
 * only once per arming.  Allocations made by GLib are never failed: g_malloc
 * aborts by design when malloc fails.
 */
#ifndef QMP_TEST_FAILMALLOC_H
#define QMP_TEST_FAILMALLOC_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* From now on in this thread, the n-th allocation (1: the next) fails; 0 disarms (keeping what fired). */
void failmalloc_arm(long n);
/* While held (1), this thread's allocations neither count nor fail: the test's own set-up. */
void failmalloc_hold(int on);
/* 1 once the armed allocation has failed (it stays 1 until the next arming). */
int failmalloc_fired(void);
/* Allocations of this thread counted since failmalloc_arm(). */
long failmalloc_seen(void);
/* Allocations of every thread that reached the interposer (proves it is in the path). */
long failmalloc_total(void);

/* The allocator behind operator new (failnew.cpp): caller is the return address that decides. */
void *failmalloc_alloc(size_t size, void *caller);

#ifdef __cplusplus
}
#endif

#endif /* QMP_TEST_FAILMALLOC_H */
