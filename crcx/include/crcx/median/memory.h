// Memory helpers of the median's scratch and output: poisoned gaps between the parts
// of one scratch block under AddressSanitizer, and the first touch of an output's pages.
#ifndef CRCX_MEDIAN_MEMORY_H
#define CRCX_MEDIAN_MEMORY_H

// Under AddressSanitizer only (setup.py's CRCX_SANITIZE=1) a poisoned gap of
// CRCX_REDZONE bytes follows each part, so that running past one part into the next
// is reported although both are in one allocation.
#if defined(__SANITIZE_ADDRESS__)
#define CRCX_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CRCX_ASAN 1
#endif
#endif
#ifdef CRCX_ASAN
#include <sanitizer/asan_interface.h>
#define CRCX_REDZONE 64
#define crcx_poison(start, n) ASAN_POISON_MEMORY_REGION(start, n)
#else
#define CRCX_REDZONE 0
#define crcx_poison(start, n) ((void)(start), (void)(n))
#endif

// Adding 0 to a byte of every page of [start, stop) maps the pages that are not
// mapped yet (a fresh array's) without changing any value: an atomic add is one
// write, which faults once, where a read then a write would fault twice (the read
// maps the shared zero page).
static inline void crcx_touch_pages(char* start, char* stop) {
    for (char* p = start; p < stop; p += 4096) {
#if defined(__GNUC__)
        __atomic_fetch_add(p, 0, __ATOMIC_RELAXED);
#else
        *(volatile char*)p = *(volatile char*)p;
#endif
    }
}

#endif
