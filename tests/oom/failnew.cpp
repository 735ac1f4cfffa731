// failnew.cpp: every replaceable operator new and delete, over the
// interposed malloc and free (failmalloc.c), so that C++ allocations of the
// library fail on the armed count whatever allocator libstdc++, valgrind or
// a sanitizer would otherwise use.  The caller of operator new decides
// (GLib never calls it).
#include <cstdlib>
#include <new>

#include "failmalloc.h"

namespace {

void *allocate(std::size_t size, void *caller) {
    void *p = failmalloc_alloc(size ? size : 1, caller);
    if (!p) throw std::bad_alloc();
    return p;
}

void *allocate_nothrow(std::size_t size, void *caller) noexcept {
    return failmalloc_alloc(size ? size : 1, caller);
}

}  // namespace

void *operator new(std::size_t size) { return allocate(size, __builtin_return_address(0)); }
void *operator new[](std::size_t size) { return allocate(size, __builtin_return_address(0)); }
void *operator new(std::size_t size, const std::nothrow_t &) noexcept {
    return allocate_nothrow(size, __builtin_return_address(0));
}
void *operator new[](std::size_t size, const std::nothrow_t &) noexcept {
    return allocate_nothrow(size, __builtin_return_address(0));
}
void operator delete(void *p) noexcept { std::free(p); }
void operator delete[](void *p) noexcept { std::free(p); }
void operator delete(void *p, std::size_t) noexcept { std::free(p); }
void operator delete[](void *p, std::size_t) noexcept { std::free(p); }
void operator delete(void *p, const std::nothrow_t &) noexcept { std::free(p); }
void operator delete[](void *p, const std::nothrow_t &) noexcept { std::free(p); }
