// Bit scans of 64-bit words, for the radix sort of a tile's keys and the bit sets of
// its ranks.
#ifndef CRCX_MEDIAN_BITS_H
#define CRCX_MEDIAN_BITS_H

#include <cstdint>
#if defined(__BMI2__)
#include <immintrin.h>
#endif

// Index of the lowest set bit of `x` (not 0).
static inline int crcx_lowest_bit(uint64_t x) {
    return __builtin_ctzll((unsigned long long)x);
}

// Bits up to and including the highest set bit of `x` (not 0).
static inline int crcx_bit_length(uint64_t x) {
    return 64 - __builtin_clzll((unsigned long long)x);
}

// Position of the set bit of `word` with `n` set bits below it.
static inline int crcx_select_bit(uint64_t word, int n) {
#if defined(__BMI2__)
    return __builtin_ctzll(_pdep_u64((uint64_t)1 << n, word));
#else
    for (int i = 0; i < n; ++i)
        word &= word - 1;
    return __builtin_ctzll(word);
#endif
}

#endif
