// The bit-set histogram of a tile's ranks (ALGORITHM_RANKED_BOX): ranks are bits of
// CRCX_RANK_WORDS 64-bit words, and a column's `prefix[w]` counts its set bits in the
// words below w. A window's prefix counts are a value (crcx_prefix), held in two vector
// registers with AVX-512: kept in memory, each step of the slide would wait on the
// previous step's store.
#ifndef CRCX_MEDIAN_RANK_SETS_H
#define CRCX_MEDIAN_RANK_SETS_H

#include <cstdint>
#if defined(__AVX512BW__)
#include <immintrin.h>
#endif

// Fixed because a window's 64 word counts fill two AVX-512 registers of 16-bit lanes.
#define CRCX_RANK_WORDS 64

// 16-bit lanes throughout: word indices and counts stay below 2 ** 16.
static const uint16_t crcx_word_index[CRCX_RANK_WORDS] = {
     0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14, 15,
    16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31,
    32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47,
    48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63};

// Rank `leaving` (none if negative) leaves a column and `entering` joins it.
static inline void crcx_column_move(uint64_t* __restrict__ bits,
                                    uint16_t* __restrict__ prefix,
                                    int entering, int leaving) {
    uint16_t in_word = (uint16_t)(entering >> 6), out_word = CRCX_RANK_WORDS;
    bits[in_word] ^= (uint64_t)1 << (entering & 63);
    if (leaving >= 0) {
        out_word = (uint16_t)(leaving >> 6);
        bits[out_word] ^= (uint64_t)1 << (leaving & 63);
    }
    for (int w = 0; w < CRCX_RANK_WORDS; ++w)
        prefix[w] = (uint16_t)(prefix[w] + (crcx_word_index[w] > in_word)
                               - (crcx_word_index[w] > out_word));
}

#if defined(__AVX512BW__)
struct crcx_prefix { __m512i low, high; };

static inline crcx_prefix crcx_prefix_zero(void) {
    return crcx_prefix{_mm512_setzero_si512(), _mm512_setzero_si512()};
}

// window + entering - leaving, each a column's prefix counts.
static inline crcx_prefix crcx_prefix_slide(crcx_prefix window,
                                            const uint16_t* entering,
                                            const uint16_t* leaving) {
    __m512i low = _mm512_sub_epi16(_mm512_loadu_si512((const void*)entering),
                                   _mm512_loadu_si512((const void*)leaving));
    __m512i high = _mm512_sub_epi16(_mm512_loadu_si512((const void*)(entering + 32)),
                                    _mm512_loadu_si512((const void*)(leaving + 32)));
    return crcx_prefix{_mm512_add_epi16(window.low, low),
                       _mm512_add_epi16(window.high, high)};
}

// The word holding the window's element of rank `rank`: the last word with at most
// `rank` set bits below it (counts are non-decreasing, the first is 0); `below` gets
// that word's count.
static inline int crcx_prefix_word(crcx_prefix window, int rank, int* below) {
    __m512i limit = _mm512_set1_epi16((short)rank);
    int w = __builtin_popcount(_mm512_cmple_epu16_mask(window.low, limit))
        + __builtin_popcount(_mm512_cmple_epu16_mask(window.high, limit)) - 1;
    __m512i at = _mm512_permutex2var_epi16(window.low, _mm512_set1_epi16((short)w),
                                           window.high);
    *below = (uint16_t)_mm512_cvtsi512_si32(at);
    return w;
}
#else
struct crcx_prefix { uint16_t count[CRCX_RANK_WORDS]; };

static inline crcx_prefix crcx_prefix_zero(void) {
    return crcx_prefix{};
}

static inline crcx_prefix crcx_prefix_slide(crcx_prefix window,
                                            const uint16_t* entering,
                                            const uint16_t* leaving) {
    for (int w = 0; w < CRCX_RANK_WORDS; ++w)
        window.count[w] = (uint16_t)(window.count[w] + entering[w] - leaving[w]);
    return window;
}

static inline int crcx_prefix_word(const crcx_prefix& window, int rank, int* below) {
    int count = 0;
    for (int w = 0; w < CRCX_RANK_WORDS; ++w)
        count += window.count[w] <= rank;
    *below = window.count[count - 1];
    return count - 1;
}
#endif

#endif
