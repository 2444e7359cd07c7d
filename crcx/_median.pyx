"""Compiled rank (median) filter: a line driver with four line algorithms, and a
tile driver for wide keys.

Each output line (fixed batch, z, y) reads the footprint's input lines, extended along
x by the border rule into a per-thread ring of line buffers (an input line is extended
once and reused while the window slides down), then one of the line algorithms
computes every output pixel of the line from those buffers: a selection network
(several lines at once for 2-d boxes), Huang's sliding histogram, Perreault and
Hebert's column histograms (2-d boxes of 8- and 16-bit keys, strip by strip) or
introselect. Wide (32/64-bit) keys in large windows go by tiles instead: a tile's
input region is sorted once and its ranks feed a histogram (filter_tiles) or, for 2-d
boxes, per-column bit sets (filter_box_tiles).
"""
from libc.stdint cimport int32_t, uint8_t, uint16_t, uint32_t, uint64_t, uintptr_t
from libcpp.utility cimport pair
from libc.stdlib cimport malloc, free
from libc.string cimport memcpy, memset
from cython.parallel cimport prange, parallel

import numpy as np

from crcx._keys cimport (key_t, encode, decode, encode_run, decode_run, ENCODING_UNSIGNED,
                         ENCODING_FLOAT)
from crcx._openmp cimport omp_get_thread_num

cdef extern from "<algorithm>" namespace "std" nogil:
    void nth_element[T](T first, T nth, T last)

# Pixels one network pass computes: 64 lanes fill an AVX-512 register of bytes, and
# 64 * 49 eight-byte lanes (7x7 window) still fit in a 32 KiB L1 cache.
DEF LANES = 64
# Bits per radix sort pass: 2048 buckets, whose counts stay in L1 beside a tile.
DEF RADIX_BITS = 11

# Straight-line medians of the common box windows, generated at build time from
# crcx/_selection_network.py (returns 0 for a shape it does not have); a box may need
# crcx_box_scratch values of scratch after the sorted rows.
cdef extern from "_box_networks.h":
    int crcx_box_median[T](T** rows, T* sorted_rows, Py_ssize_t length, Py_ssize_t width,
                           T* out, int n_rows, int n_columns) noexcept nogil
    Py_ssize_t crcx_box_scratch(int n_rows, int n_columns) noexcept nogil
    int crcx_box_band_available(Py_ssize_t width_bytes, int n_rows,
                                int n_columns) noexcept nogil
    bint crcx_box_median_band[T](T** lines, T** direct, Py_ssize_t x_before, T** outs,
                                 int n_out, Py_ssize_t width, int n_rows, int n_columns,
                                 int encoding, bint stream) noexcept nogil
    # Output lines per banded call.
    const int CRCX_BAND_LINES
    const bint CRCX_FLOAT_BANDS

# The compare-exchange steps over one block of lanes. Written in C++ for what Cython
# cannot say: the two wires never alias (__restrict__) and the block has a fixed
# length, so the compiler emits straight-line SIMD min/max with no runtime checks.
cdef extern from *:
    """
    template <typename T>
    static inline void crcx_lanes_ce(T* __restrict__ lo, T* __restrict__ hi) {
        for (int b = 0; b < 64; ++b) {
            T a = lo[b], c = hi[b];
            lo[b] = a < c ? a : c;
            hi[b] = a < c ? c : a;
        }
    }
    template <typename T>
    static inline void crcx_lanes_min(T* __restrict__ lo, const T* __restrict__ hi) {
        for (int b = 0; b < 64; ++b) lo[b] = lo[b] < hi[b] ? lo[b] : hi[b];
    }
    template <typename T>
    static inline void crcx_lanes_max(const T* __restrict__ lo, T* __restrict__ hi) {
        for (int b = 0; b < 64; ++b) hi[b] = lo[b] < hi[b] ? hi[b] : lo[b];
    }
    """
    void crcx_lanes_ce[T](T* lo, T* hi) noexcept nogil
    void crcx_lanes_min[T](T* lo, const T* hi) noexcept nogil
    void crcx_lanes_max[T](const T* lo, T* hi) noexcept nogil

# The bit-set histogram of ALGORITHM_RANKED_BOX (see filter_box_tiles): a tile's ranks
# are bits of RANK_WORDS 64-bit words, and a column's `prefix[w]` counts its set bits
# in words below w. A window's prefix counts are a value (crcx_prefix), held in two
# vector registers with AVX-512: kept in memory, each step of the slide would wait on
# the previous step's store.
cdef extern from *:
    """
    #if defined(__BMI2__) || defined(__AVX512BW__)
    #include <immintrin.h>
    #endif
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
    // The word holding the window's element of rank `rank`: the last word with at
    // most `rank` set bits below it (counts are non-decreasing, the first is 0);
    // `below` gets that word's count.
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
    """
    const int RANK_WORDS "CRCX_RANK_WORDS"
    ctypedef struct crcx_prefix:
        pass
    void crcx_column_move(uint64_t* bits, uint16_t* prefix, int entering,
                          int leaving) noexcept nogil
    crcx_prefix crcx_prefix_zero() noexcept nogil
    crcx_prefix crcx_prefix_slide(crcx_prefix window, const uint16_t* entering,
                                  const uint16_t* leaving) noexcept nogil
    int crcx_prefix_word(crcx_prefix window, int rank, int* below) noexcept nogil
    int crcx_select_bit(uint64_t word, int n) noexcept nogil

# Adding 0 to a byte of every page of [start, stop) maps the pages that are not
# mapped yet (a fresh array's) without changing any value: an atomic add is one
# write, which faults once, where a read then a write would fault twice (the
# read maps the shared zero page).
cdef extern from *:
    """
    static void crcx_touch_pages(char* start, char* stop) {
        for (char* p = start; p < stop; p += 4096) {
    #if defined(__GNUC__)
            __atomic_fetch_add(p, 0, __ATOMIC_RELAXED);
    #else
            *(volatile char*)p = *(volatile char*)p;
    #endif
        }
    }
    """
    void crcx_touch_pages(char* start, char* stop) noexcept nogil

cdef extern from *:
    """
    #define crcx_lowest_bit(x) __builtin_ctzll((unsigned long long)(x))
    #define crcx_bit_length(x) (64 - __builtin_clzll((unsigned long long)(x)))
    """
    int _lowest_bit "crcx_lowest_bit"(uint64_t x) noexcept nogil
    int _bit_length "crcx_bit_length"(uint64_t x) noexcept nogil

# Perreault and Hebert's column histograms (ALGORITHM_COLUMNS), as cumulative counts:
# lane j of a histogram's coarse vector counts the values whose high nibble is at most
# j, and the 16 fine vectors do the same for the low nibble within each coarse bin. A
# bin of 16 uint16 counts is one 256-bit register, adding a value is one vector add,
# and finding the bin where the counts pass a rank is one compare and a popcount.
# Written in C++ for the vector type, which Cython cannot declare.
cdef extern from *:
    """
    #include <stdint.h>
    #include <string.h>
    /* Vectors pass only between static inline functions: their ABI does not matter. */
    #pragma GCC diagnostic ignored "-Wpsabi"
    #if defined(__AVX512BW__) && defined(__AVX512VL__)
    #include <immintrin.h>
    #endif
    typedef uint16_t crcx_v16 __attribute__((vector_size(32)));

    struct crcx_columns {
        crcx_v16* coarse;         /* [n_columns]: each column's coarse counts */
        crcx_v16* fine;           /* [16][n_columns]: each column's fine counts */
        crcx_v16* window_fine;    /* [16]: the window's fine counts, updated lazily */
        Py_ssize_t* updated;      /* [16]: the output x each window_fine[c] is for */
        /* 16-bit keys: each column's keys split into high and low bytes ([n_columns][fy],
           so that a window's columns are consecutive), and the low bytes of the
           window's keys whose high byte is the median's (room for all, plus 64). */
        uint8_t* high;
        uint8_t* low;
        uint8_t* found;
        Py_ssize_t n_columns;
    };

    /* Lane j is 1 where j >= bin: the cumulative counts of one value in `bin`. */
    static inline crcx_v16 crcx_step(unsigned bin) {
        const crcx_v16 lanes = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
        return (crcx_v16)(lanes >= (uint16_t)bin) & 1;
    }

    /* Lanes whose count is at most `limit`: the bin where the counts pass it. */
    static inline unsigned crcx_count_le(crcx_v16 counts, unsigned limit) {
    #if defined(__AVX512BW__) && defined(__AVX512VL__)
        return __builtin_popcount(_mm256_cmple_epu16_mask(
            (__m256i)counts, _mm256_set1_epi16((short)limit)));
    #else
        unsigned n = 0;
        for (int j = 0; j < 16; ++j) n += counts[j] <= limit;
        return n;
    #endif
    }

    /* Bytes of `values` under `limit`. */
    static inline Py_ssize_t crcx_count_below(const uint8_t* values, Py_ssize_t n,
                                              unsigned limit) {
        Py_ssize_t count = 0;
        for (Py_ssize_t i = 0; i < n; ++i) count += values[i] < limit;
        return count;
    }

    /* The byte of rank `rank` among `n` bytes: the largest byte with at most `rank`
       values under it, found bit by bit. */
    static inline unsigned crcx_select_byte(const uint8_t* values, Py_ssize_t n,
                                            unsigned rank) {
        unsigned result = 0;
        for (unsigned bit = 128; bit; bit >>= 1)
            result |= crcx_count_below(values, n, result | bit) <= (Py_ssize_t)rank ? bit : 0;
        return result;
    }

    #if defined(__AVX512BW__)
    /* crcx_select_byte for the `n` <= 64 first bytes of a vector, two bits at a time:
       three independent counts per step keep the chain of dependent steps short. */
    static inline unsigned crcx_select_byte_vector(__m512i values, Py_ssize_t n,
                                                   unsigned rank) {
        const __mmask64 valid = _bzhi_u64(~0ull, (unsigned)n);
        unsigned result = 0;
        for (int shift = 6; shift >= 0; shift -= 2) {
            __m512i base = _mm512_set1_epi8((char)result);
            unsigned digit = 0;
            for (unsigned d = 1; d < 4; ++d) {
                __mmask64 below = _mm512_mask_cmplt_epu8_mask(
                    valid, values, _mm512_add_epi8(base, _mm512_set1_epi8((char)(d << shift))));
                digit += (unsigned)__builtin_popcountll(below) <= rank;
            }
            result |= digit << shift;
        }
        return result;
    }
    #endif

    /* Count `value` (8 bits) `sign` times in a histogram of coarse and fine vectors. */
    static inline void crcx_count(crcx_v16* coarse, crcx_v16* fine, Py_ssize_t fine_stride,
                                  unsigned value, int sign) {
        *coarse += (uint16_t)sign * crcx_step(value >> 4);
        fine[(value >> 4) * fine_stride] += (uint16_t)sign * crcx_step(value & 15);
    }

    /* Place the arrays for `n_columns` columns of `fy` keys of `key_size` bytes from
       `base` (64-byte aligned; NULL just measures); return the bytes they take. */
    static Py_ssize_t crcx_columns_place(crcx_columns* s, char* base, Py_ssize_t n_columns,
                                         Py_ssize_t fy, Py_ssize_t key_size) {
        const Py_ssize_t keys = key_size == 2 ? (n_columns * fy + 63) / 64 * 64 : 0;
        const Py_ssize_t fine = n_columns * sizeof(crcx_v16);
        const Py_ssize_t window_fine = fine + 16 * n_columns * sizeof(crcx_v16);
        const Py_ssize_t updated = window_fine + 16 * sizeof(crcx_v16);
        const Py_ssize_t high = updated + 16 * sizeof(Py_ssize_t);
        const Py_ssize_t low = high + keys;
        const Py_ssize_t found = low + keys;
        s->n_columns = n_columns;
        if (base != NULL) {
            s->coarse = (crcx_v16*)base;
            s->fine = (crcx_v16*)(base + fine);
            s->window_fine = (crcx_v16*)(base + window_fine);
            s->updated = (Py_ssize_t*)(base + updated);
            s->high = (uint8_t*)(base + high);
            s->low = (uint8_t*)(base + low);
            s->found = (uint8_t*)(base + found);
        }
        return key_size == 2 ? found + (n_columns * fy + 64 + 63) / 64 * 64 : high;
    }

    /* Empty the histograms of the first `n_columns` columns. */
    static void crcx_columns_clear(crcx_columns* s, Py_ssize_t n_columns) {
        s->n_columns = n_columns;
        memset((void*)s->coarse, 0, n_columns * sizeof(crcx_v16));
        memset((void*)s->fine, 0, 16 * n_columns * sizeof(crcx_v16));
        memset((void*)s->window_fine, 0, 16 * sizeof(crcx_v16));
    }

    static inline void crcx_column_add(crcx_columns* s, Py_ssize_t i, unsigned added) {
        crcx_count(s->coarse + i, s->fine + i, s->n_columns, added, 1);
    }

    static inline void crcx_column_move(crcx_columns* s, Py_ssize_t i, unsigned removed,
                                        unsigned added) {
        crcx_count(s->coarse + i, s->fine + i, s->n_columns, removed, -1);
        crcx_count(s->coarse + i, s->fine + i, s->n_columns, added, 1);
    }

    /* The window's fine vector of coarse bin `bin` at output x, brought up to date from
       `held` (the one at output `last`) by sliding, or summed anew when that is less
       work. */
    static inline crcx_v16 crcx_window_fine(const crcx_columns* s, unsigned bin,
                                            crcx_v16 held, Py_ssize_t last, Py_ssize_t x,
                                            Py_ssize_t fx) {
        const crcx_v16* fine = s->fine + bin * s->n_columns;
        if (2 * (x - last) > fx) {
            held = crcx_v16{};
            for (Py_ssize_t i = x; i < x + fx; ++i) held += fine[i];
            return held;
        }
        for (Py_ssize_t j = last + 1; j <= x; ++j) held += fine[j + fx - 1] - fine[j - 1];
        return held;
    }

    /* The low bytes of the window's keys with one high byte, from one output to the
       next: `n` of them, in column order, the first 64 also in `bytes`. */
    struct crcx_found {
    #if defined(__AVX512BW__) && defined(__AVX512VBMI2__) && defined(__AVX512VBMI__)
        __m512i bytes;
    #endif
        Py_ssize_t n;
        unsigned high;  /* 256: none yet */
    };

    /* The low byte of the key of rank `rank` among the window at x's keys with high
       byte `high`. The window's columns are consecutive in s->high and s->low, so
       their keys are gathered 64 bytes at a time; when the high byte is the previous
       output's and its keys fit in a register, they slide along by one column. */
    static inline unsigned crcx_low_byte(crcx_columns* s, crcx_found* f, unsigned high,
                                         unsigned rank, Py_ssize_t x, Py_ssize_t fx,
                                         Py_ssize_t fy) {
        const Py_ssize_t total = fx * fy;
        const uint8_t* highs = s->high + x * fy;
        const uint8_t* lows = s->low + x * fy;
        Py_ssize_t n = 0;
    #if defined(__AVX512BW__) && defined(__AVX512VBMI2__) && defined(__AVX512VBMI__)
        const __m512i lanes = _mm512_set_epi8(
            63, 62, 61, 60, 59, 58, 57, 56, 55, 54, 53, 52, 51, 50, 49, 48, 47, 46, 45, 44,
            43, 42, 41, 40, 39, 38, 37, 36, 35, 34, 33, 32, 31, 30, 29, 28, 27, 26, 25, 24,
            23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
        const __m512i wanted = _mm512_set1_epi8((char)high);
        if (high == f->high && f->n <= 64 && fy <= 64) {
            const __mmask64 column = _bzhi_u64(~0ull, (unsigned)fy);
            __mmask64 gone = _mm512_mask_cmpeq_epi8_mask(
                column, _mm512_maskz_loadu_epi8(column, highs - fy), wanted);
            __mmask64 come = _mm512_mask_cmpeq_epi8_mask(
                column, _mm512_maskz_loadu_epi8(column, highs + total - fy), wanted);
            Py_ssize_t kept = f->n - __builtin_popcountll(gone);
            n = kept + __builtin_popcountll(come);
            if (n <= 64) {
                __m512i bytes = _mm512_permutexvar_epi8(
                    _mm512_add_epi8(lanes, _mm512_set1_epi8((char)(f->n - kept))), f->bytes);
                f->bytes = _mm512_mask_permutexvar_epi8(
                    bytes, (__mmask64)(_bzhi_u64(~0ull, (unsigned)n)
                                       & ~_bzhi_u64(~0ull, (unsigned)kept)),
                    _mm512_sub_epi8(lanes, _mm512_set1_epi8((char)kept)),
                    _mm512_maskz_compress_epi8(
                        come, _mm512_maskz_loadu_epi8(come, lows + total - fy)));
                f->n = n;
                return crcx_select_byte_vector(f->bytes, n, rank);
            }
            n = 0;
        }
        __m512i found = _mm512_setzero_si512();
        for (Py_ssize_t o = 0; o < total; o += 64) {
            __mmask64 valid = _bzhi_u64(~0ull, (unsigned)(total - o < 64 ? total - o : 64));
            __mmask64 match = _mm512_mask_cmpeq_epi8_mask(
                valid, _mm512_maskz_loadu_epi8(valid, highs + o), wanted);
            __m512i packed = _mm512_maskz_compress_epi8(match,
                                                        _mm512_maskz_loadu_epi8(match, lows + o));
            Py_ssize_t count = __builtin_popcountll(match);
            _mm512_storeu_si512((void*)(s->found + n), packed);
            /* Lanes n .. n + count - 1 of the register (none once it is full): an OR,
               not a merge, so that successive vectors do not wait for each other. */
            __mmask64 place = _bzhi_u64(~0ull, (unsigned)(n + count < 64 ? n + count : 64))
                              & ~_bzhi_u64(~0ull, (unsigned)(n < 64 ? n : 64));
            found = _mm512_or_si512(found, _mm512_maskz_permutexvar_epi8(
                place, _mm512_sub_epi8(lanes, _mm512_set1_epi8((char)n)), packed));
            n += count;
        }
        f->bytes = found;
        f->n = n;
        f->high = high;
        if (n <= 64) return crcx_select_byte_vector(found, n, rank);
    #else
        for (Py_ssize_t o = 0; o < total; ++o) {
            s->found[n] = lows[o];
            n += highs[o] == high;
        }
    #endif
        return crcx_select_byte(s->found, n, rank);
    }

    /* Medians of one strip's `width` windows of fx columns. The coarse vector slides
       with every output; of the fine vectors only the median's is kept up to date
       (in a register while the median stays in its coarse bin), as in Perreault and
       Hebert. For 16-bit keys this finds the high byte, and the low byte comes from
       the window's keys with that high byte (crcx_low_byte). */
    template <typename T>
    static void crcx_columns_medians(crcx_columns* s, Py_ssize_t width, Py_ssize_t fx,
                                     Py_ssize_t fy, unsigned rank, T* __restrict__ out) {
        const crcx_v16* coarse = s->coarse;
        crcx_v16 window = {}, held = {};
        unsigned current = 16;
        crcx_found found = {};
        found.high = 256;
        for (int c = 0; c < 16; ++c) s->updated[c] = -fx - 1;
        for (Py_ssize_t i = 0; i < fx; ++i) window += coarse[i];
        for (Py_ssize_t x = 0; x < width; ++x) {
            if (x) window += coarse[x + fx - 1] - coarse[x - 1];
            unsigned bin = crcx_count_le(window, rank);
            unsigned below = bin ? window[bin - 1] : 0;
            if (bin != current) {
                if (current < 16) {
                    s->window_fine[current] = held;
                    s->updated[current] = x - 1;
                }
                held = crcx_window_fine(s, bin, s->window_fine[bin], s->updated[bin], x, fx);
                current = bin;
            } else {
                held += s->fine[bin * s->n_columns + x + fx - 1]
                        - s->fine[bin * s->n_columns + x - 1];
            }
            unsigned nibble = crcx_count_le(held, rank - below);
            unsigned high = bin << 4 | nibble;
            if (sizeof(T) == 1) {
                out[x] = (T)high;
            } else {
                below += nibble ? held[nibble - 1] : 0;
                out[x] = (T)(high << 8 | crcx_low_byte(s, &found, high, rank - below, x, fx, fy));
            }
        }
    }
    """
    ctypedef struct crcx_columns:
        uint8_t* high
        uint8_t* low
        Py_ssize_t n_columns
    Py_ssize_t crcx_columns_place(crcx_columns* s, char* base, Py_ssize_t n_columns,
                                  Py_ssize_t fy, Py_ssize_t key_size) noexcept nogil
    void crcx_columns_clear(crcx_columns* s, Py_ssize_t n_columns) noexcept nogil
    void crcx_column_add(crcx_columns* s, Py_ssize_t i, unsigned added) noexcept nogil
    void crcx_column_move(crcx_columns* s, Py_ssize_t i, unsigned removed,
                          unsigned added) noexcept nogil
    void crcx_columns_medians[T](crcx_columns* s, Py_ssize_t width, Py_ssize_t fx,
                                 Py_ssize_t fy, unsigned rank, T* out) noexcept nogil

cdef enum:
    OP_CE = 0
    OP_MIN = 1
    OP_MAX = 2

network_lanes = LANES

# Output columns one pass of ALGORITHM_COLUMNS covers: the column histograms of a
# strip (about 0.5 KiB per column) mostly stay in the L2 cache while the window
# slides down, and each strip costs fy lines of set-up. uint8 2048x2048, 25x25, one
# thread: 197 Mpx/s with 256, 211 with 512, 218 with 1024 and 221 with 2048 columns
# (1 MiB of L2 per core on the machine measured); once one thread takes all lines
# as one band (_run), against OpenCV: 2.89-2.94x with 1024, 3.00-3.06x with 2048.
DEF COLUMNS_STRIP = 2048
DEF COLUMNS_BAND = 256
# Outputs of at least this many bytes are stored past the caches by the banded
# kernels (non-temporal stores). 3x3 box kernel, one thread, 32 MiB of L3 cache,
# ns/px cached / streamed: float32 2048x2048 (16 MiB) 0.32 / 0.26-0.31, float32
# 4096x4096 0.39 / 0.32-0.34, uint16 4096x4096 0.185 / 0.155-0.19, but uint16
# 2048x2048 (8 MiB, which stays in the cache) 0.09-0.10 / 0.095-0.105.
DEF STREAM_MIN_BYTES = 16 << 20
# Outputs of at least this many bytes per thread have their pages mapped by one
# thread per share before several threads filter (see _run): a huge page's worth.
DEF TOUCH_MIN_BYTES = 2 << 20


cdef inline Py_ssize_t _nbytes(key_t[:, :, :, :] array) noexcept nogil:
    return (array.shape[0] * array.shape[1] * array.shape[2] * array.shape[3]
            * <Py_ssize_t>sizeof(key_t))


cdef inline Py_ssize_t _row_length(const Plan* plan, Py_ssize_t width) noexcept nogil:
    # Extended line plus LANES of padding, which the last network block may read.
    return width + plan.fx - 1 + LANES


cdef inline Py_ssize_t _ring_lines(const Plan* plan) noexcept nogil:
    # Lines of the ring per z offset: the window's, plus the rest of a band, or for
    # ALGORITHM_COLUMNS the line that has just left the window, to take it out of
    # the column histograms.
    if plan.band:
        return plan.fy + CRCX_BAND_LINES - 1
    return plan.fy + 1 if plan.algorithm == ALGORITHM_COLUMNS else plan.fy


cdef inline Py_ssize_t _fine_bins(Py_ssize_t key_size) noexcept nogil:
    # The sliding histogram's bins: one per key, and one coarse bin per high half.
    return (<Py_ssize_t>1) << (8 * key_size) if key_size <= 2 else 0


cdef inline Py_ssize_t _coarse_bins(Py_ssize_t key_size) noexcept nogil:
    return (<Py_ssize_t>1) << (4 * key_size) if key_size <= 2 else 0


# Poisoned gaps between the parts of a scratch block, under AddressSanitizer only
# (setup.py's CRCX_SANITIZE=1): see _part.
cdef extern from *:
    """
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
    """
    const Py_ssize_t CRCX_REDZONE
    void crcx_poison(char* start, Py_ssize_t n) noexcept nogil


cdef struct Layout:
    char* base          # NULL: the parts are only measured
    Py_ssize_t size     # bytes taken so far


cdef inline char* _part(Layout* layout, Py_ssize_t n_bytes) noexcept nogil:
    """The next `n_bytes` of `layout`, 64-byte aligned, or NULL when only measuring.

    Under AddressSanitizer a poisoned gap follows each part, so that running past
    one part into the next is reported although both are in one allocation.
    """
    cdef Py_ssize_t start = (layout.size + 63) // 64 * 64
    layout.size = start + n_bytes + CRCX_REDZONE
    if layout.base == NULL:
        return NULL
    crcx_poison(layout.base + start + n_bytes, CRCX_REDZONE)
    return layout.base + start


cdef inline Py_ssize_t _layout_bytes(const Layout* layout) noexcept nogil:
    return (layout.size + 63) // 64 * 64


# One thread's scratch for filter_lines (keys are `key_size` bytes).
cdef struct LineScratch:
    Py_ssize_t* tags        # [fz * _ring_lines] the extended line each ring slot holds
    void** rows             # [n_rows] the window's lines
    void** band_lines       # [CRCX_BAND_LINES + fy] a band's input lines (plan.band)
    void** band_direct      # [CRCX_BAND_LINES + fy] the same lines in place, or NULL
    void** band_outs        # [CRCX_BAND_LINES] a band's output lines
    uint32_t* fine          # [_fine_bins] ALGORITHM_HISTOGRAM
    uint32_t* coarse        # [_coarse_bins] ALGORITHM_HISTOGRAM
    char* ring              # [fz * _ring_lines][_row_length] extended input lines
    char* lanes             # network: [n_elements][LANES]; introselect: [n_elements]
    char* sorted_rows       # network: [n_rows][_row_length] + crcx_box_scratch
    char* result            # [width] keys before they are decoded
    crcx_columns columns    # ALGORITHM_COLUMNS


cdef Py_ssize_t _line_layout(const Plan* plan, Py_ssize_t width, Py_ssize_t key_size,
                             char* base, LineScratch* parts) noexcept nogil:
    """Place the parts of `parts` from `base` (64-byte aligned; NULL only measures).

    Returns the bytes they take, a multiple of 64: one function both sizes and
    carves the scratch, so that the two cannot disagree.
    """
    cdef Layout layout
    cdef Py_ssize_t slots = plan.fz * _ring_lines(plan)
    cdef Py_ssize_t row_length = _row_length(plan, width)
    cdef Py_ssize_t band = CRCX_BAND_LINES + plan.fy if plan.band else 0
    cdef bint histogram = plan.algorithm == ALGORITHM_HISTOGRAM
    cdef bint network = plan.algorithm == ALGORITHM_NETWORK
    cdef Py_ssize_t lanes = plan.n_elements * (LANES if network else 1)
    cdef Py_ssize_t n_columns = COLUMNS_STRIP + plan.fx - 1
    cdef char* columns
    layout.base = base
    layout.size = 0
    parts.tags = <Py_ssize_t*>_part(&layout, slots * sizeof(Py_ssize_t))
    parts.rows = <void**>_part(&layout, plan.n_rows * sizeof(void*))
    parts.band_lines = <void**>_part(&layout, band * sizeof(void*))
    parts.band_direct = <void**>_part(&layout, band * sizeof(void*))
    parts.band_outs = <void**>_part(&layout, (CRCX_BAND_LINES if plan.band else 0)
                                    * sizeof(void*))
    parts.fine = <uint32_t*>_part(&layout, histogram * _fine_bins(key_size) * sizeof(uint32_t))
    parts.coarse = <uint32_t*>_part(&layout,
                                    histogram * _coarse_bins(key_size) * sizeof(uint32_t))
    parts.ring = _part(&layout, slots * row_length * key_size)
    parts.lanes = _part(&layout, (lanes if network or plan.algorithm == ALGORITHM_SELECT
                                  else 0) * key_size)
    parts.sorted_rows = _part(&layout, (plan.n_rows * row_length + crcx_box_scratch(
        <int>plan.n_rows, <int>plan.fx)) * key_size if network else 0)
    parts.result = _part(&layout, width * key_size)
    if plan.algorithm == ALGORITHM_COLUMNS:
        columns = _part(&layout, crcx_columns_place(&parts.columns, NULL, n_columns,
                                                    plan.fy, key_size))
        crcx_columns_place(&parts.columns, columns, n_columns, plan.fy, key_size)
    return _layout_bytes(&layout)


cdef Py_ssize_t scratch_bytes(const Plan* plan, Py_ssize_t width,
                              Py_ssize_t key_size) noexcept nogil:
    """Bytes of scratch one thread needs for filter_lines (a multiple of 64)."""
    cdef LineScratch parts
    return _line_layout(plan, width, key_size, NULL, &parts)


cdef inline void _extend_span(const key_t* line, Py_ssize_t stride, const Plan* plan,
                              Py_ssize_t width, key_t* out, key_t cval, int encoding,
                              Py_ssize_t start, Py_ssize_t stop) noexcept nogil:
    """Write extended positions ``start .. stop - 1`` of one input line's copy.

    The copy holds keys of `encoding` (ENCODING_UNSIGNED: the values' own bits), and
    `cval` past the border; `line` NULL is a line of `cval`. Positions over the line
    itself are copied in one run (a memcpy where keys are the bits), the border ones
    one by one.
    """
    cdef Py_ssize_t i, j
    cdef const key_t* inner
    cdef Py_ssize_t inner_start = max(start, plan.x_before)
    cdef Py_ssize_t inner_stop = min(stop, plan.x_before + width)
    if line == NULL or inner_start >= inner_stop:
        inner_start = inner_stop = stop
    for i in range(start, inner_start):
        j = plan.xmap[i]
        out[i] = encode(line[j * stride], encoding) if j >= 0 and line != NULL else cval
    if inner_start < inner_stop:
        inner = line + (inner_start - plan.x_before) * stride
        if stride == 1 and encoding == ENCODING_UNSIGNED:
            memcpy(out + inner_start, inner, (inner_stop - inner_start) * sizeof(key_t))
        else:
            encode_run(inner, stride, inner_stop - inner_start, out + inner_start, encoding)
    for i in range(inner_stop, stop):
        j = plan.xmap[i]
        out[i] = encode(line[j * stride], encoding) if j >= 0 and line != NULL else cval


cdef inline void _extend_line(const key_t* line, Py_ssize_t stride, const Plan* plan,
                              Py_ssize_t width, key_t* out, key_t cval, int encoding,
                              bint edges_only) noexcept nogil:
    """Write the x-extended copy of one input line (NULL: a cval line), as _extend_span.

    With `edges_only`, just the positions that a banded kernel reads from the copy
    rather than from the line itself (see crcx_box_median_band).
    """
    cdef Py_ssize_t length = width + plan.fx - 1
    # A vector block reads the copy where its window leaves the line.
    cdef Py_ssize_t block = 64 // sizeof(key_t) + plan.fx
    cdef Py_ssize_t left = min(plan.x_before + block, length)
    cdef Py_ssize_t right = max(0, plan.x_before + width - block + 1)
    if edges_only and left < right:
        _extend_span(line, stride, plan, width, out, cval, encoding, 0, left)
        _extend_span(line, stride, plan, width, out, cval, encoding, right, length)
    else:
        _extend_span(line, stride, plan, width, out, cval, encoding, 0, length)


cdef inline void _run_program(key_t* lanes, Py_ssize_t lane_stride, const int32_t* program,
                              Py_ssize_t length, Py_ssize_t count) noexcept nogil:
    """Apply compare-exchange `program` to `count` pixels laid out lane by lane."""
    cdef Py_ssize_t k, b
    cdef key_t lo, hi
    cdef key_t* a
    cdef key_t* c
    for k in range(length):
        a = lanes + program[3 * k + 1] * lane_stride
        c = lanes + program[3 * k + 2] * lane_stride
        if program[3 * k] == OP_CE:
            for b in range(count):
                lo = a[b]
                hi = c[b]
                a[b] = lo if lo < hi else hi
                c[b] = hi if lo < hi else lo
        elif program[3 * k] == OP_MIN:
            for b in range(count):
                lo = a[b]
                hi = c[b]
                a[b] = lo if lo < hi else hi
        else:
            for b in range(count):
                lo = a[b]
                hi = c[b]
                c[b] = hi if lo < hi else lo


cdef inline void _run_block_program(key_t* lanes, const int32_t* program,
                                    Py_ssize_t length) noexcept nogil:
    """Apply `program` to one block of LANES pixels (wire w at lanes + w * LANES)."""
    cdef Py_ssize_t k
    for k in range(length):
        if program[3 * k] == OP_CE:
            crcx_lanes_ce(lanes + program[3 * k + 1] * LANES, lanes + program[3 * k + 2] * LANES)
        elif program[3 * k] == OP_MIN:
            crcx_lanes_min(lanes + program[3 * k + 1] * LANES, lanes + program[3 * k + 2] * LANES)
        else:
            crcx_lanes_max(lanes + program[3 * k + 1] * LANES, lanes + program[3 * k + 2] * LANES)


cdef void _network_line(key_t** rows, const Plan* plan, Py_ssize_t width,
                        Py_ssize_t row_length, key_t* lanes, key_t* sorted_rows,
                        key_t* result) noexcept nogil:
    """Selection network over LANES pixels at a time.

    With `presort`, the columns of the whole line are sorted first (long vector
    loops), and each sorted column is then read by the ``fx`` outputs it belongs to.
    """
    cdef Py_ssize_t x0, e, j, count
    cdef const key_t* source
    if plan.generated and crcx_box_median(rows, sorted_rows, row_length, width, result,
                                    <int>plan.n_rows, <int>plan.fx):
        return
    if plan.presort:
        for j in range(plan.n_rows):
            memcpy(sorted_rows + j * row_length, rows[j], row_length * sizeof(key_t))
        _run_program(sorted_rows, row_length, plan.column_program,
                     plan.column_program_length, row_length)
    for x0 in range(0, width, LANES):
        for e in range(plan.n_elements):
            if plan.presort:
                source = sorted_rows + plan.element_row[e] * row_length + x0 + plan.element_dx[e]
            else:
                source = rows[plan.element_row[e]] + x0 + plan.element_dx[e]
            memcpy(lanes + e * LANES, source, LANES * sizeof(key_t))
        _run_block_program(lanes, plan.program, plan.program_length)
        count = width - x0 if width - x0 < LANES else LANES
        memcpy(result + x0, lanes + plan.rank * LANES, count * sizeof(key_t))


ctypedef fused small_key_t:
    uint8_t
    uint16_t


cdef void _histogram_line(small_key_t** rows, const Plan* plan, Py_ssize_t width,
                          uint32_t* fine, uint32_t* coarse, small_key_t* result,
                          int shift) noexcept nogil:
    """Huang's sliding histogram with a coarse level to skip empty ranges.

    T. S. Huang, G. J. Yang, G. Y. Tang, "A fast two-dimensional median filtering
    algorithm", IEEE TASSP 27(1), 1979; the coarse/fine split follows Perreault and
    Hebert, "Median filtering in constant time", IEEE TIP 16(9), 2007. The median is
    tracked as a bin `median` and the count `below` of window values under it; a
    coarse bin holds ``2 ** shift`` fine bins.
    """
    cdef Py_ssize_t span = 1 << shift
    cdef Py_ssize_t x, r, k
    cdef Py_ssize_t rank = plan.rank
    cdef Py_ssize_t median = 0, below = 0
    cdef small_key_t v
    for r in range(plan.n_runs):
        for k in range(plan.run_start[r], plan.run_stop[r]):
            v = rows[plan.run_row[r]][k]
            fine[v] += 1
            coarse[v >> shift] += 1
    for x in range(width):
        if x > 0:
            for r in range(plan.n_runs):
                v = rows[plan.run_row[r]][x - 1 + plan.run_start[r]]
                fine[v] -= 1
                coarse[v >> shift] -= 1
                below -= v < median
                v = rows[plan.run_row[r]][x - 1 + plan.run_stop[r]]
                fine[v] += 1
                coarse[v >> shift] += 1
                below += v < median
        while below > rank:
            if median & (span - 1) == 0 and below - coarse[(median >> shift) - 1] > rank:
                below -= coarse[(median >> shift) - 1]
                median -= span
            else:
                median -= 1
                below -= fine[median]
        while below + fine[median] <= rank:
            if median & (span - 1) == 0 and below + coarse[median >> shift] <= rank:
                below += coarse[median >> shift]
                median += span
            else:
                below += fine[median]
                median += 1
        result[x] = <small_key_t>median
    # Empty the histograms by removing the last window instead of clearing them all.
    for r in range(plan.n_runs):
        for k in range(plan.run_start[r], plan.run_stop[r]):
            v = rows[plan.run_row[r]][width - 1 + k]
            fine[v] -= 1
            coarse[v >> shift] -= 1


cdef void _columns_line(small_key_t** rows, const small_key_t* leaving, const Plan* plan,
                        Py_ssize_t x0, Py_ssize_t width, Py_ssize_t ey,
                        crcx_columns* state, small_key_t* result) noexcept nogil:
    """Perreault and Hebert's constant-time median over a box, on one strip of a line.

    S. Perreault, P. Hebert, "Median filtering in constant time", IEEE TIP 16(9),
    2007. Each column of the strip (output x0 .. x0 + width - 1, plus the window's
    reach) keeps a histogram of its ``fy`` keys; going down one line takes the
    `leaving` line out of them and puts the window's last line in, and the window's
    histogram slides along x by one column histogram in and one out (see
    crcx_columns_medians). Without a `leaving` line the columns are counted anew.
    16-bit keys: the histograms are of the high byte, and each column also keeps its
    keys (line `ey` + j in slot (ey + j) % fy), to count the low bytes.
    """
    cdef Py_ssize_t n_columns = width + plan.fx - 1
    cdef Py_ssize_t i, j, slot
    cdef int shift = 8 * sizeof(small_key_t) - 8
    cdef const small_key_t* line
    if leaving == NULL:
        crcx_columns_clear(state, n_columns)
        if small_key_t is uint16_t:
            memset(state.high, 0, n_columns * plan.fy)
            memset(state.low, 0, n_columns * plan.fy)
        for j in range(plan.fy):
            line = rows[j] + x0
            slot = (ey + j) % plan.fy
            for i in range(n_columns):
                crcx_column_add(state, i, line[i] >> shift)
                if small_key_t is uint16_t:
                    state.high[i * plan.fy + slot] = line[i] >> 8
                    state.low[i * plan.fy + slot] = line[i] & 255
    else:
        line = rows[plan.fy - 1] + x0
        leaving += x0
        slot = (ey + plan.fy - 1) % plan.fy
        for i in range(n_columns):
            crcx_column_move(state, i, leaving[i] >> shift, line[i] >> shift)
            if small_key_t is uint16_t:
                state.high[i * plan.fy + slot] = line[i] >> 8
                state.low[i * plan.fy + slot] = line[i] & 255
    crcx_columns_medians(state, width, plan.fx, plan.fy, <unsigned>plan.rank, result)


cdef void _select_line(key_t** rows, const Plan* plan, Py_ssize_t width,
                       key_t* window, key_t* result) noexcept nogil:
    """Gather each window and select its rank with introselect."""
    cdef Py_ssize_t x, e
    for x in range(width):
        for e in range(plan.n_elements):
            window[e] = rows[plan.element_row[e]][x + plan.element_dx[e]]
        nth_element(window, window + plan.rank, window + plan.n_elements)
        result[x] = window[plan.rank]


cdef inline key_t* _ring_line(const key_t[:, :, :, :] src, const Plan* plan,
                              key_t cval_key, Py_ssize_t* tags, key_t* ring,
                              Py_ssize_t row_length, Py_ssize_t b, Py_ssize_t dz,
                              Py_ssize_t ez, Py_ssize_t ey, key_t** direct,
                              bint values) noexcept nogil:
    """The ring's copy of extended input line (b, ez, ey), extended if not there yet.

    Slots are per (dz, extended y modulo the ring's lines): sliding y by one keeps
    every line that the next window still needs in place. A banded kernel passes
    `direct`: where the line's keys are its values, or the kernel asks for `values`
    (float bits, not keys), and the line is contiguous, it gets the line itself there
    and the copy holds only the edges.
    """
    cdef Py_ssize_t depth = src.shape[1], height = src.shape[2], width = src.shape[3]
    cdef Py_ssize_t ring_lines = _ring_lines(plan)
    cdef Py_ssize_t slot = dz * ring_lines + ey % ring_lines
    # A copy of values is told from one of keys by bit 62 of its tag.
    cdef Py_ssize_t tag = ((b * (depth + plan.fz) + ez) * (height + plan.fy) + ey
                           + ((<Py_ssize_t>values) << 62))
    cdef Py_ssize_t stride = src.strides[3] // <Py_ssize_t>sizeof(key_t)
    cdef Py_ssize_t zz = plan.zmap[ez], yy = plan.ymap[ey]
    cdef const key_t* source = &src[b, zz, yy, 0] if zz >= 0 and yy >= 0 else NULL
    cdef key_t* line = ring + slot * row_length
    cdef bint edges_only = (direct != NULL and source != NULL and stride == 1
                            and (values or plan.encoding == ENCODING_UNSIGNED))
    if direct != NULL:
        direct[0] = <key_t*>source if edges_only else NULL
    if tags[slot] != tag:
        tags[slot] = tag
        if values:
            _extend_line(source, stride, plan, width, line, decode(cval_key, plan.encoding),
                         ENCODING_UNSIGNED, edges_only)
        else:
            _extend_line(source, stride, plan, width, line, cval_key, plan.encoding,
                         edges_only)
    return line


cdef void filter_lines(const key_t[:, :, :, :] src, key_t[:, :, :, :] dst,
                       const Plan* plan, key_t cval_key, char* scratch,
                       Py_ssize_t first_line, Py_ssize_t stop_line) noexcept nogil:
    """Filter output lines ``first_line .. stop_line - 1`` (lines ordered b, z, y).

    With `plan.band` (a 2-d box with a banded kernel), up to CRCX_BAND_LINES
    consecutive lines of one plane are computed together from their input lines.
    ALGORITHM_COLUMNS goes down the lines once per strip of COLUMNS_STRIP columns;
    the other algorithms take whole lines.
    """
    cdef Py_ssize_t depth = src.shape[1], height = src.shape[2], width = src.shape[3]
    cdef Py_ssize_t row_length = _row_length(plan, width)
    cdef Py_ssize_t period = _ring_lines(plan)
    cdef Py_ssize_t slots = plan.fz * period
    cdef Py_ssize_t out_stride = dst.strides[3] // <Py_ssize_t>sizeof(key_t)
    cdef Py_ssize_t line, b, z, y, i, j, slot, tag, n_out
    cdef LineScratch parts
    _line_layout(plan, width, sizeof(key_t), scratch, &parts)
    cdef Py_ssize_t* tags = parts.tags
    cdef key_t** rows = <key_t**>parts.rows
    cdef key_t** band_lines = <key_t**>parts.band_lines
    cdef key_t** band_direct = <key_t**>parts.band_direct
    cdef key_t** band_outs = <key_t**>parts.band_outs
    cdef key_t* ring = <key_t*>parts.ring
    cdef key_t* scratch_result = <key_t*>parts.result
    cdef key_t* result
    cdef key_t* out
    cdef key_t* leaving
    # Keys that are the values themselves, stored contiguously, go straight to dst.
    cdef bint direct = out_stride == 1 and plan.encoding == ENCODING_UNSIGNED
    # The banded kernels decode as they store, so they need only a contiguous dst.
    cdef bint banded = (plan.band and out_stride == 1 and crcx_box_band_available(
        width * sizeof(key_t), <int>plan.fy, <int>plan.fx))
    # Contiguous floats go to them as floats, band by band where no NaN is found, in
    # windows of up to 9 values: no encoding pass, where these are limited by memory.
    # Larger windows are limited by the network, whose float min/max wait longer on
    # each other (float32 2048x2048, one thread, Mpx/s as floats / as keys: 3x3 2509
    # / 2044, 5x5 720 / 819).
    cdef bint floats = (CRCX_FLOAT_BANDS and plan.encoding == ENCODING_FLOAT
                        and sizeof(key_t) >= 4 and src.strides[3] == sizeof(key_t)
                        and plan.n_elements <= 9)
    # An output too large to stay in the last-level cache beside its input is
    # stored past the caches: none of its lines is read before it is written.
    cdef bint stream = _nbytes(dst) >= STREAM_MIN_BYTES
    cdef bint nan
    # Tag of the first line whose keys the column histograms hold (-1: none).
    cdef Py_ssize_t columns_tag
    cdef Py_ssize_t strip_width = width, x0 = 0, strip_stop

    if plan.algorithm == ALGORITHM_COLUMNS:
        strip_width = COLUMNS_STRIP
    for slot in range(slots):
        tags[slot] = -1
    # The padding past each extended line is read by the last network block; zero it
    # so that no uninitialised memory is ever read. The lines themselves are written
    # before they are read (by a banded kernel only where it reads them).
    for slot in range(slots):
        memset(ring + slot * row_length + row_length - LANES, 0, LANES * sizeof(key_t))
    if plan.algorithm == ALGORITHM_HISTOGRAM:
        memset(parts.fine, 0, _fine_bins(sizeof(key_t)) * sizeof(uint32_t))
        memset(parts.coarse, 0, _coarse_bins(sizeof(key_t)) * sizeof(uint32_t))
    while x0 < width:
        strip_stop = min(x0 + strip_width, width)
        columns_tag = -1
        line = first_line
        while line < stop_line:
            y = line % height
            z = (line // height) % depth
            b = line // (height * depth)
            if banded:
                n_out = min(CRCX_BAND_LINES, stop_line - line, height - y)
                for i in range(n_out):
                    band_outs[i] = &dst[b, z, y + i, 0]
                # Floats as floats first; a band with a NaN is done again as keys.
                nan = True
                if floats:
                    for i in range(n_out + plan.fy - 1):
                        band_lines[i] = _ring_line(src, plan, cval_key, tags, ring,
                                                   row_length, b, 0, z, y + i,
                                                   band_direct + i, True)
                    if key_t is uint32_t:
                        nan = crcx_box_median_band(
                            <float**>band_lines, <float**>band_direct, plan.x_before,
                            <float**>band_outs, <int>n_out, width, <int>plan.fy,
                            <int>plan.fx, 0, stream)
                    elif key_t is uint64_t:
                        nan = crcx_box_median_band(
                            <double**>band_lines, <double**>band_direct, plan.x_before,
                            <double**>band_outs, <int>n_out, width, <int>plan.fy,
                            <int>plan.fx, 0, stream)
                if nan:
                    for i in range(n_out + plan.fy - 1):
                        band_lines[i] = _ring_line(src, plan, cval_key, tags, ring,
                                                   row_length, b, 0, z, y + i,
                                                   band_direct + i, False)
                    crcx_box_median_band(band_lines, band_direct, plan.x_before, band_outs,
                                         <int>n_out, width, <int>plan.fy, <int>plan.fx,
                                         plan.encoding, stream)
                line += n_out
                continue
            for j in range(plan.n_rows):
                rows[j] = _ring_line(src, plan, cval_key, tags, ring, row_length, b,
                                     plan.row_dz[j], z + plan.row_dz[j], y + plan.row_dy[j],
                                     NULL, False)
            out = &dst[b, z, y, x0]
            result = out if direct else scratch_result
            if plan.algorithm == ALGORITHM_NETWORK:
                _network_line(rows, plan, width, row_length, <key_t*>parts.lanes,
                              <key_t*>parts.sorted_rows, result)
            elif plan.algorithm == ALGORITHM_SELECT:
                _select_line(rows, plan, width, <key_t*>parts.lanes, result)
            elif key_t is uint8_t or key_t is uint16_t:
                if plan.algorithm == ALGORITHM_HISTOGRAM:
                    _histogram_line(rows, plan, width, parts.fine, parts.coarse, result,
                                    4 * sizeof(key_t))
                else:
                    # A box of one plane: the window's lines are tags tag .. tag + fy - 1,
                    # and the histograms can slide down from the line above when they
                    # hold it and its first line is still in the ring.
                    tag = (b * (depth + plan.fz) + z) * (height + plan.fy) + y
                    slot = (y + period - 1) % period
                    leaving = (ring + slot * row_length
                               if columns_tag >= 0 and columns_tag == tag - 1
                               and tags[slot] == tag - 1 else NULL)
                    _columns_line(rows, leaving, plan, x0, strip_stop - x0, y,
                                  &parts.columns, result)
                    columns_tag = tag
            if not direct:
                decode_run(result, strip_stop - x0, out, out_stride, plan.encoding)
            line += 1
        x0 = strip_stop


ctypedef pair[key_t, uint32_t] item_t


cdef void _rank_region(const key_t* keys, Py_ssize_t n, item_t* items, item_t* spare,
                       uint32_t* counts, uint16_t* ranks, key_t* sorted_keys) noexcept nogil:
    """Sort the `n` (<= 2 ** 16) `keys` into `sorted_keys` and give each its rank.

    LSD radix sort (Knuth, TAOCP vol. 3, 5.2.5), stable, so equal keys get distinct
    ranks in index order. Only the bits in which the keys differ are sorted on, in
    the fewest passes of at most RADIX_BITS: smooth data spares whole passes.
    """
    cdef key_t first_key = keys[0], differ = 0, key
    cdef int low, high, n_passes, digit_bits, shift, p
    cdef Py_ssize_t i, position, total, count, n_buckets, mask
    cdef uint32_t* offsets
    cdef item_t* swap
    for i in range(n):
        differ |= keys[i] ^ first_key
    if differ == 0:
        for i in range(n):
            ranks[i] = <uint16_t>i
            sorted_keys[i] = first_key
        return
    low = _lowest_bit(differ)
    high = _bit_length(differ)
    n_passes = (high - low + RADIX_BITS - 1) // RADIX_BITS
    digit_bits = (high - low + n_passes - 1) // n_passes
    n_buckets = (<Py_ssize_t>1) << digit_bits
    mask = n_buckets - 1
    memset(counts, 0, n_passes * n_buckets * sizeof(uint32_t))
    for i in range(n):
        key = keys[i]
        for p in range(n_passes):
            counts[p * n_buckets + <Py_ssize_t>((key >> (low + p * digit_bits)) & mask)] += 1
        items[i].first = key
        items[i].second = <uint32_t>i
    for p in range(n_passes):
        offsets = counts + p * n_buckets
        total = 0
        for i in range(n_buckets):
            count = offsets[i]
            offsets[i] = <uint32_t>total
            total += count
        shift = low + p * digit_bits
        if p == n_passes - 1:
            for i in range(n):
                key = items[i].first
                position = offsets[<Py_ssize_t>((key >> shift) & mask)]
                offsets[<Py_ssize_t>((key >> shift) & mask)] += 1
                sorted_keys[position] = key
                ranks[items[i].second] = <uint16_t>position
        else:
            for i in range(n):
                key = items[i].first
                position = offsets[<Py_ssize_t>((key >> shift) & mask)]
                offsets[<Py_ssize_t>((key >> shift) & mask)] += 1
                spare[position] = items[i]
            swap = items
            items = spare
            spare = swap


cdef inline Py_ssize_t _tile_region(const Plan* plan) noexcept nogil:
    return (plan.tile_z + plan.fz - 1) * (plan.tile_y + plan.fy - 1) \
        * (plan.tile_x + plan.fx - 1)


cdef inline Py_ssize_t _item_bytes(Py_ssize_t key_size) noexcept nogil:
    # sizeof(item_t) for keys of `key_size` bytes.
    if key_size == 8:
        return sizeof(pair[uint64_t, uint32_t])
    if key_size == 4:
        return sizeof(pair[uint32_t, uint32_t])
    if key_size == 2:
        return sizeof(pair[uint16_t, uint32_t])
    return sizeof(pair[uint8_t, uint32_t])


# One thread's scratch for filter_tiles and filter_box_tiles, for a tile's region of
# `region` values: _rank_region's buffers, then those of the algorithm.
cdef struct TileScratch:
    char* keys              # [region] keys as gathered
    char* items             # [region] (key, index) items of the radix sort
    char* spare             # [region] the same, for the other half of each pass
    char* sorted_keys       # [region]
    uint16_t* ranks         # [region]
    uint32_t* counts        # one histogram of 2 ** RADIX_BITS per radix pass
    uint32_t* fine          # RANKED: [2 ** (2 * rank_shift)] histogram of the ranks
    uint32_t* coarse        # RANKED: [2 ** rank_shift]
    uint16_t** rows         # RANKED: [n_rows] the window's lines of ranks
    uint16_t* rank_result   # RANKED: [tile_x]
    uint64_t* bits          # RANKED_BOX: [tile_x + fx - 1][RANK_WORDS] per column
    uint16_t* prefixes      # RANKED_BOX: [tile_x + fx - 1][RANK_WORDS] per column
    uint16_t* zeros         # RANKED_BOX: [RANK_WORDS] a column of zero counts


cdef Py_ssize_t _tile_layout(const Plan* plan, Py_ssize_t key_size, char* base,
                             TileScratch* parts) noexcept nogil:
    """Place the parts of `parts` from `base` (64-byte aligned; NULL only measures).

    Returns the bytes they take, a multiple of 64 (as _line_layout).
    """
    cdef Layout layout
    cdef Py_ssize_t region = _tile_region(plan)
    cdef Py_ssize_t passes = (8 * key_size + RADIX_BITS - 1) // RADIX_BITS
    cdef bint box = plan.algorithm == ALGORITHM_RANKED_BOX
    cdef Py_ssize_t columns = (plan.tile_x + plan.fx - 1) * RANK_WORDS if box else 0
    cdef Py_ssize_t n_coarse = 0 if box else (<Py_ssize_t>1) << plan.rank_shift
    layout.base = base
    layout.size = 0
    parts.keys = _part(&layout, region * key_size)
    parts.items = _part(&layout, region * _item_bytes(key_size))
    parts.spare = _part(&layout, region * _item_bytes(key_size))
    parts.sorted_keys = _part(&layout, region * key_size)
    parts.ranks = <uint16_t*>_part(&layout, region * sizeof(uint16_t))
    parts.counts = <uint32_t*>_part(&layout, passes * (1 << RADIX_BITS) * sizeof(uint32_t))
    parts.fine = <uint32_t*>_part(&layout, n_coarse * n_coarse * sizeof(uint32_t))
    parts.coarse = <uint32_t*>_part(&layout, n_coarse * sizeof(uint32_t))
    parts.rows = <uint16_t**>_part(&layout, (0 if box else plan.n_rows) * sizeof(void*))
    parts.rank_result = <uint16_t*>_part(&layout, (0 if box else plan.tile_x)
                                         * sizeof(uint16_t))
    parts.bits = <uint64_t*>_part(&layout, columns * sizeof(uint64_t))
    parts.prefixes = <uint16_t*>_part(&layout, columns * sizeof(uint16_t))
    parts.zeros = <uint16_t*>_part(&layout, (RANK_WORDS if box else 0) * sizeof(uint16_t))
    return _layout_bytes(&layout)


cdef void _gather_region(const key_t[:, :, :, :] src, const Plan* plan, key_t cval_key,
                         Py_ssize_t b, Py_ssize_t z0, Py_ssize_t y0, Py_ssize_t x0,
                         Py_ssize_t rz, Py_ssize_t ry, Py_ssize_t rx,
                         key_t* keys) noexcept nogil:
    """Encoded keys of the extended region at (z0, y0, x0), of shape (rz, ry, rx)."""
    cdef Py_ssize_t stride = src.strides[3] // <Py_ssize_t>sizeof(key_t)
    # Source column of the region's first column, when every column is in the image.
    cdef Py_ssize_t first = x0 - plan.x_before
    cdef bint inside = first >= 0 and first + rx <= src.shape[3]
    cdef Py_ssize_t iz, iy, ix, zz, yy, xx
    cdef const key_t* line
    for iz in range(rz):
        for iy in range(ry):
            zz = plan.zmap[z0 + iz]
            yy = plan.ymap[y0 + iy]
            line = &src[b, zz, yy, 0] if zz >= 0 and yy >= 0 else NULL
            if line != NULL and inside:
                encode_run(line + first * stride, stride, rx, keys, plan.encoding)
            else:
                for ix in range(rx):
                    xx = plan.xmap[x0 + ix]
                    keys[ix] = (encode(line[xx * stride], plan.encoding)
                                if line != NULL and xx >= 0 else cval_key)
            keys += rx


cdef inline void _tile_corner(const Plan* plan, Py_ssize_t tile, Py_ssize_t depth,
                              Py_ssize_t height, Py_ssize_t width,
                              Py_ssize_t* corner) noexcept nogil:
    """`corner` = (b, z0, y0, x0) of `tile`, tiles counted x fastest, then y, z, b."""
    cdef Py_ssize_t tiles_z = (depth + plan.tile_z - 1) // plan.tile_z
    cdef Py_ssize_t tiles_y = (height + plan.tile_y - 1) // plan.tile_y
    cdef Py_ssize_t tiles_x = (width + plan.tile_x - 1) // plan.tile_x
    corner[3] = (tile % tiles_x) * plan.tile_x
    tile = tile // tiles_x
    corner[2] = (tile % tiles_y) * plan.tile_y
    tile = tile // tiles_y
    corner[1] = (tile % tiles_z) * plan.tile_z
    corner[0] = tile // tiles_z


cdef void filter_tiles(const key_t[:, :, :, :] src, key_t[:, :, :, :] dst,
                       const Plan* plan, key_t cval_key, char* scratch,
                       Py_ssize_t first_tile, Py_ssize_t stop_tile) noexcept nogil:
    """Filter tiles ``first_tile .. stop_tile - 1`` through ranks (ALGORITHM_RANKED).

    Wide keys cannot index a histogram, but a tile's ranks can: the tile's input
    region (at most 2 ** (2 * rank_shift) values) is sorted once, each value replaced
    by its rank, and the sliding histogram runs on the ranks. The median's rank
    then names its value in the sorted region.
    """
    cdef Py_ssize_t depth = src.shape[1], height = src.shape[2], width = src.shape[3]
    cdef Py_ssize_t out_stride = dst.strides[3] // <Py_ssize_t>sizeof(key_t)
    cdef Py_ssize_t corner[4]
    cdef int shift = plan.rank_shift
    cdef Py_ssize_t n_coarse = (<Py_ssize_t>1) << shift
    cdef TileScratch parts
    _tile_layout(plan, sizeof(key_t), scratch, &parts)
    cdef uint32_t* fine = parts.fine
    cdef uint32_t* coarse = parts.coarse
    cdef uint16_t** rows = parts.rows
    cdef key_t* keys = <key_t*>parts.keys
    cdef key_t* sorted_keys = <key_t*>parts.sorted_keys
    cdef uint16_t* ranks = parts.ranks
    cdef uint16_t* rank_result = parts.rank_result
    cdef Py_ssize_t tile, b, z0, y0, x0, nz, ny, nx, rz, ry, rx, iz, iy, ix, j
    cdef key_t* out

    memset(fine, 0, n_coarse * n_coarse * sizeof(uint32_t))
    memset(coarse, 0, n_coarse * sizeof(uint32_t))
    for tile in range(first_tile, stop_tile):
        _tile_corner(plan, tile, depth, height, width, corner)
        b, z0, y0, x0 = corner[0], corner[1], corner[2], corner[3]
        nz = min(plan.tile_z, depth - z0)
        ny = min(plan.tile_y, height - y0)
        nx = min(plan.tile_x, width - x0)
        rz = nz + plan.fz - 1
        ry = ny + plan.fy - 1
        rx = nx + plan.fx - 1
        _gather_region(src, plan, cval_key, b, z0, y0, x0, rz, ry, rx, keys)
        _rank_region(keys, rz * ry * rx, <item_t*>parts.items, <item_t*>parts.spare,
                     parts.counts, ranks, sorted_keys)
        decode_run(sorted_keys, rz * ry * rx, sorted_keys, 1, plan.encoding)
        for iz in range(nz):
            for iy in range(ny):
                for j in range(plan.n_rows):
                    rows[j] = ranks + ((iz + plan.row_dz[j]) * ry + iy + plan.row_dy[j]) * rx
                _histogram_line(rows, plan, nx, fine, coarse, rank_result, shift)
                out = &dst[b, z0 + iz, y0 + iy, x0]
                for ix in range(nx):
                    out[ix * out_stride] = sorted_keys[rank_result[ix]]


cdef Py_ssize_t tile_scratch_bytes(const Plan* plan, Py_ssize_t key_size) noexcept nogil:
    """Bytes of scratch one thread needs for filter_tiles or filter_box_tiles."""
    cdef TileScratch parts
    return _tile_layout(plan, key_size, NULL, &parts)


cdef inline uint64_t _window_word(const uint64_t* column_words, Py_ssize_t n) noexcept nogil:
    """XOR of one word of `n` columns; four chains, so the loads overlap."""
    cdef uint64_t a = 0, b = 0, c = 0, d = 0
    cdef Py_ssize_t i = 0
    while i + 4 <= n:
        a ^= column_words[i * RANK_WORDS]
        b ^= column_words[(i + 1) * RANK_WORDS]
        c ^= column_words[(i + 2) * RANK_WORDS]
        d ^= column_words[(i + 3) * RANK_WORDS]
        i += 4
    while i < n:
        a ^= column_words[i * RANK_WORDS]
        i += 1
    return a ^ b ^ c ^ d


cdef void filter_box_tiles(const key_t[:, :, :, :] src, key_t[:, :, :, :] dst,
                           const Plan* plan, key_t cval_key, char* scratch,
                           Py_ssize_t first_tile, Py_ssize_t stop_tile) noexcept nogil:
    """Filter tiles of a 2-d box window through bit sets of ranks (ALGORITHM_RANKED_BOX).

    The tile's input region (at most 64 * RANK_WORDS values) is ranked as in
    filter_tiles; ranks are distinct, so a set of them is a bit set. Each region column
    keeps the bit set of its ``fy`` ranks under the current output line, with
    `prefix` counts per word (Perreault and Hebert, "Median filtering in constant
    time", IEEE TIP 16(9), 2007: column histograms updated once per line, the window
    slides along x by adding one column and removing another). The window's prefix
    counts name the word of the wanted rank, the XOR of the window's columns in that
    word (the columns hold disjoint ranks) gives its bits, and the rank is the
    selected bit: no walk, whatever the data.
    """
    cdef Py_ssize_t depth = src.shape[1], height = src.shape[2], width = src.shape[3]
    cdef Py_ssize_t out_stride = dst.strides[3] // <Py_ssize_t>sizeof(key_t)
    cdef Py_ssize_t corner[4]
    cdef Py_ssize_t fy = plan.fy, fx = plan.fx
    cdef int rank = <int>plan.rank
    cdef TileScratch parts
    _tile_layout(plan, sizeof(key_t), scratch, &parts)
    cdef uint64_t* bits = parts.bits
    cdef uint16_t* prefixes = parts.prefixes
    cdef uint16_t* zeros = parts.zeros
    cdef key_t* keys = <key_t*>parts.keys
    cdef key_t* sorted_keys = <key_t*>parts.sorted_keys
    cdef uint16_t* ranks = parts.ranks
    cdef Py_ssize_t tile, b, z, y0, x0, ny, nx, ry, rx, iy, ix, c, w
    cdef int below
    cdef crcx_prefix window
    cdef uint64_t word
    cdef key_t* out

    memset(zeros, 0, RANK_WORDS * sizeof(uint16_t))
    for tile in range(first_tile, stop_tile):
        _tile_corner(plan, tile, depth, height, width, corner)
        b, z, y0, x0 = corner[0], corner[1], corner[2], corner[3]
        ny = min(plan.tile_y, height - y0)
        nx = min(plan.tile_x, width - x0)
        ry = ny + fy - 1
        rx = nx + fx - 1
        _gather_region(src, plan, cval_key, b, z, y0, x0, 1, ry, rx, keys)
        _rank_region(keys, ry * rx, <item_t*>parts.items, <item_t*>parts.spare,
                     parts.counts, ranks, sorted_keys)
        decode_run(sorted_keys, ry * rx, sorted_keys, 1, plan.encoding)
        memset(bits, 0, rx * RANK_WORDS * sizeof(uint64_t))
        memset(prefixes, 0, rx * RANK_WORDS * sizeof(uint16_t))
        for iy in range(fy - 1):
            for c in range(rx):
                crcx_column_move(bits + c * RANK_WORDS, prefixes + c * RANK_WORDS,
                                 ranks[iy * rx + c], -1)
        for iy in range(ny):
            for c in range(rx):
                crcx_column_move(bits + c * RANK_WORDS, prefixes + c * RANK_WORDS,
                                 ranks[(iy + fy - 1) * rx + c],
                                 ranks[(iy - 1) * rx + c] if iy > 0 else -1)
            window = crcx_prefix_zero()
            for c in range(fx):
                window = crcx_prefix_slide(window, prefixes + c * RANK_WORDS, zeros)
            out = &dst[b, z, y0 + iy, x0]
            for ix in range(nx):
                if ix > 0:
                    window = crcx_prefix_slide(window, prefixes + (ix + fx - 1) * RANK_WORDS,
                                               prefixes + (ix - 1) * RANK_WORDS)
                w = crcx_prefix_word(window, rank, &below)
                word = _window_word(bits + ix * RANK_WORDS + w, fx)
                out[ix * out_stride] = sorted_keys[w * 64 + crcx_select_bit(word, rank - below)]


cdef void _map_pages(key_t[:, :, :, :] dst, int n_threads) noexcept nogil:
    """Map the pages of a large contiguous `dst`, one contiguous share per thread.

    A fresh output's pages are mapped, and zeroed by the kernel, when first written.
    _run hands its bands to the threads in turn, so that they would write into the
    same 2 MiB huge pages and wait on each other's page faults (4096x4096 float32
    3x3, two threads, fresh output: 7.0-7.7 ms without, 6.6-6.8 ms with; uint16
    alike within noise). The faults still cost about as much as the filtering
    itself, and shrink little with more threads; _output_cache spares them to an
    output made again at a size freed before.
    """
    cdef Py_ssize_t size = _nbytes(dst)
    cdef Py_ssize_t share = (size + n_threads - 1) // n_threads
    cdef Py_ssize_t t
    cdef char* start
    if (size < n_threads * TOUCH_MIN_BYTES or dst.strides[3] != sizeof(key_t)
            or dst.strides[2] != dst.shape[3] * dst.strides[3]
            or dst.strides[1] != dst.shape[2] * dst.strides[2]
            or dst.strides[0] != dst.shape[1] * dst.strides[1]):
        return
    start = <char*>&dst[0, 0, 0, 0]
    for t in prange(n_threads, schedule="static", num_threads=n_threads):
        crcx_touch_pages(start + t * share, start + min((t + 1) * share, size))


cdef int _run(const key_t[:, :, :, :] src, key_t[:, :, :, :] dst, const Plan* plan,
              key_t cval_key, int n_threads) except -1:
    cdef bint tiled = (plan.algorithm == ALGORITHM_RANKED
                       or plan.algorithm == ALGORITHM_RANKED_BOX)
    cdef Py_ssize_t n_units, per_thread, chunk, n_chunks, c
    cdef char* block
    cdef char* scratch
    if tiled:
        n_units = src.shape[0] * ((src.shape[1] + plan.tile_z - 1) // plan.tile_z) \
            * ((src.shape[2] + plan.tile_y - 1) // plan.tile_y) \
            * ((src.shape[3] + plan.tile_x - 1) // plan.tile_x)
        per_thread = tile_scratch_bytes(plan, sizeof(key_t))
        chunk = 1
    else:
        n_units = src.shape[0] * src.shape[1] * src.shape[2]
        per_thread = scratch_bytes(plan, src.shape[3], sizeof(key_t))
        # Bands of consecutive lines, so that each thread's ring of extended lines
        # (and column histograms) is reused down the band; several bands per thread,
        # handed out dynamically, so that a thread slowed down by another process
        # does not hold up the rest. Column histograms cost fy lines to set up, so
        # their bands are longer, and one thread takes all lines as one band (uint8
        # 2048x2048 25x25: 1-2 % faster).
        chunk = max(1, min(COLUMNS_BAND if plan.algorithm == ALGORITHM_COLUMNS else 64,
                           n_units // (4 * n_threads)))
        if n_threads == 1:
            chunk = n_units
    if n_threads > n_units:
        n_threads = <int>n_units
    n_chunks = (n_units + chunk - 1) // chunk
    block = <char*>malloc(per_thread * n_threads + 64)
    if block == NULL:
        raise MemoryError("not enough memory for the median filter's scratch buffers")
    # The layouts align their parts from a 64-byte aligned base.
    scratch = <char*>((<uintptr_t>block + 63) & ~(<uintptr_t>63))
    try:
        if n_threads > 1:
            with nogil:
                _map_pages(dst, n_threads)
        with nogil, parallel(num_threads=n_threads):
            for c in prange(n_chunks, schedule="dynamic"):
                if plan.algorithm == ALGORITHM_RANKED_BOX:
                    filter_box_tiles(src, dst, plan, cval_key,
                                     scratch + omp_get_thread_num() * per_thread,
                                     c, c + 1)
                elif tiled:
                    filter_tiles(src, dst, plan, cval_key,
                                 scratch + omp_get_thread_num() * per_thread,
                                 c, c + 1)
                else:
                    filter_lines(src, dst, plan, cval_key,
                                 scratch + omp_get_thread_num() * per_thread,
                                 c * chunk, min((c + 1) * chunk, n_units))
    finally:
        free(block)
    return 0


cdef inline const Py_ssize_t* _index_data(const Py_ssize_t[::1] values) noexcept nogil:
    return &values[0] if values.shape[0] else NULL


cdef inline const int32_t* _program_data(const int32_t[:, ::1] program) noexcept nogil:
    return &program[0, 0] if program.shape[0] else NULL


def rank_filter(const key_t[:, :, :, :] src, key_t[:, :, :, :] dst, plan, cval_bits,
                int n_threads):
    """Filter `src` (keys, shape (batch, z, y, x)) into `dst` as `plan` says.

    `plan` is a :class:`crcx.filters.KernelPlan`; `cval_bits` is `cval` in the
    input's dtype, as an unsigned integer of the same bits.
    """
    cdef Plan c_plan
    cdef const Py_ssize_t[::1] row_dz = plan.row_dz, row_dy = plan.row_dy
    cdef const Py_ssize_t[::1] element_row = plan.element_row, element_dx = plan.element_dx
    cdef const Py_ssize_t[::1] run_row = plan.run_row, run_start = plan.run_start
    cdef const Py_ssize_t[::1] run_stop = plan.run_stop
    cdef const Py_ssize_t[::1] zmap = plan.zmap, ymap = plan.ymap, xmap = plan.xmap
    cdef const int32_t[:, ::1] program = plan.program
    cdef const int32_t[:, ::1] column_program = plan.column_program
    c_plan.fz, c_plan.fy, c_plan.fx = plan.extent
    c_plan.n_rows = row_dz.shape[0]
    c_plan.row_dz = _index_data(row_dz)
    c_plan.row_dy = _index_data(row_dy)
    c_plan.n_elements = element_row.shape[0]
    c_plan.element_row = _index_data(element_row)
    c_plan.element_dx = _index_data(element_dx)
    c_plan.rank = plan.rank
    c_plan.n_runs = run_row.shape[0]
    c_plan.run_row = _index_data(run_row)
    c_plan.run_start = _index_data(run_start)
    c_plan.run_stop = _index_data(run_stop)
    c_plan.zmap = _index_data(zmap)
    c_plan.ymap = _index_data(ymap)
    c_plan.xmap = _index_data(xmap)
    c_plan.x_before = plan.x_before
    c_plan.encoding = plan.encoding
    c_plan.algorithm = plan.algorithm
    c_plan.program = _program_data(program)
    c_plan.program_length = program.shape[0]
    c_plan.column_program = _program_data(column_program)
    c_plan.column_program_length = column_program.shape[0]
    c_plan.presort = plan.presort
    c_plan.generated = plan.generated
    c_plan.band = plan.band
    c_plan.tile_z, c_plan.tile_y, c_plan.tile_x = plan.tile
    c_plan.rank_shift = plan.rank_shift
    _run(src, dst, &c_plan, encode(<key_t>cval_bits, c_plan.encoding), n_threads)
