/* Perreault and Hebert's column histograms (ALGORITHM_COLUMNS), as cumulative counts:
   lane j of a histogram's coarse vector counts the values whose high nibble is at most
   j, and the 16 fine vectors do the same for the low nibble within each coarse bin. A
   bin of 16 uint16 counts is one 256-bit register, adding a value is one vector add,
   and finding the bin where the counts pass a rank is one compare and a popcount.
   Written in C++ for the vector type, which Cython cannot declare. */
#ifndef CRCX_MEDIAN_COLUMNS_H
#define CRCX_MEDIAN_COLUMNS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
/* Vectors pass only between static inline functions: their ABI does not matter. */
#pragma GCC diagnostic ignored "-Wpsabi"
#if defined(__AVX2__)
#include <immintrin.h>
#endif
typedef uint16_t crcx_v16 __attribute__((vector_size(32)));

struct crcx_columns {
    crcx_v16* coarse;         /* [n_columns]: each column's coarse counts */
    crcx_v16* fine;           /* [16][n_columns]: each column's fine counts */
    crcx_v16* window_fine;    /* [16]: the window's fine counts, updated lazily */
    ptrdiff_t* updated;       /* [16]: the output x each window_fine[c] is for */
    /* 16-bit keys: each column's keys split into high and low bytes ([n_columns][fy],
       so that a window's columns are consecutive), and the low bytes of the
       window's keys whose high byte is the median's (room for all, plus 64). */
    uint8_t* high;
    uint8_t* low;
    uint8_t* found;
    ptrdiff_t n_columns;
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
#elif defined(__AVX2__)
    /* AVX2 has no unsigned compare: a count is at most `limit` where the minimum of
       the two is the count; the byte mask has two bits per lane. */
    const __m256i at_most = _mm256_cmpeq_epi16(
        _mm256_min_epu16((__m256i)counts, _mm256_set1_epi16((short)limit)), (__m256i)counts);
    return (unsigned)__builtin_popcount((unsigned)_mm256_movemask_epi8(at_most)) / 2;
#else
    unsigned n = 0;
    for (int j = 0; j < 16; ++j) n += counts[j] <= limit;
    return n;
#endif
}

/* Bytes of `values` under `limit`. */
static inline ptrdiff_t crcx_count_below(const uint8_t* values, ptrdiff_t n,
                                          unsigned limit) {
    ptrdiff_t count = 0;
    for (ptrdiff_t i = 0; i < n; ++i) count += values[i] < limit;
    return count;
}

/* The byte of rank `rank` among `n` bytes: the largest byte with at most `rank`
   values under it, found bit by bit. */
static inline unsigned crcx_select_byte(const uint8_t* values, ptrdiff_t n,
                                        unsigned rank) {
    unsigned result = 0;
    for (unsigned bit = 128; bit; bit >>= 1)
        result |= crcx_count_below(values, n, result | bit) <= (ptrdiff_t)rank ? bit : 0;
    return result;
}

#if defined(__AVX512BW__)
/* crcx_select_byte for the `n` <= 64 first bytes of a vector, two bits at a time:
   three independent counts per step keep the chain of dependent steps short. */
static inline unsigned crcx_select_byte_vector(__m512i values, ptrdiff_t n,
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
static inline void crcx_count(crcx_v16* coarse, crcx_v16* fine, ptrdiff_t fine_stride,
                              unsigned value, int sign) {
    *coarse += (uint16_t)sign * crcx_step(value >> 4);
    fine[(value >> 4) * fine_stride] += (uint16_t)sign * crcx_step(value & 15);
}

/* Place the arrays for `n_columns` columns of `fy` keys of `key_size` bytes from
   `base` (64-byte aligned; NULL just measures); return the bytes they take. */
static inline ptrdiff_t crcx_columns_place(crcx_columns* s, char* base,
                                           ptrdiff_t n_columns, ptrdiff_t fy,
                                           ptrdiff_t key_size) {
    const ptrdiff_t keys = key_size == 2 ? (n_columns * fy + 63) / 64 * 64 : 0;
    const ptrdiff_t fine = n_columns * sizeof(crcx_v16);
    const ptrdiff_t window_fine = fine + 16 * n_columns * sizeof(crcx_v16);
    const ptrdiff_t updated = window_fine + 16 * sizeof(crcx_v16);
    const ptrdiff_t high = updated + 16 * sizeof(ptrdiff_t);
    const ptrdiff_t low = high + keys;
    const ptrdiff_t found = low + keys;
    s->n_columns = n_columns;
    if (base != NULL) {
        s->coarse = (crcx_v16*)base;
        s->fine = (crcx_v16*)(base + fine);
        s->window_fine = (crcx_v16*)(base + window_fine);
        s->updated = (ptrdiff_t*)(base + updated);
        s->high = (uint8_t*)(base + high);
        s->low = (uint8_t*)(base + low);
        s->found = (uint8_t*)(base + found);
    }
    return key_size == 2 ? found + (n_columns * fy + 64 + 63) / 64 * 64 : high;
}

/* Empty the histograms of the first `n_columns` columns. */
static inline void crcx_columns_clear(crcx_columns* s, ptrdiff_t n_columns) {
    s->n_columns = n_columns;
    memset((void*)s->coarse, 0, n_columns * sizeof(crcx_v16));
    memset((void*)s->fine, 0, 16 * n_columns * sizeof(crcx_v16));
    memset((void*)s->window_fine, 0, 16 * sizeof(crcx_v16));
}

static inline void crcx_column_add(crcx_columns* s, ptrdiff_t i, unsigned added) {
    crcx_count(s->coarse + i, s->fine + i, s->n_columns, added, 1);
}

static inline void crcx_column_move(crcx_columns* s, ptrdiff_t i, unsigned removed,
                                    unsigned added) {
    crcx_count(s->coarse + i, s->fine + i, s->n_columns, removed, -1);
    crcx_count(s->coarse + i, s->fine + i, s->n_columns, added, 1);
}

/* The window's fine vector of coarse bin `bin` at output x, brought up to date from
   `held` (the one at output `last`) by sliding, or summed anew when that is less
   work. */
static inline crcx_v16 crcx_window_fine(const crcx_columns* s, unsigned bin,
                                        crcx_v16 held, ptrdiff_t last, ptrdiff_t x,
                                        ptrdiff_t fx) {
    const crcx_v16* fine = s->fine + bin * s->n_columns;
    if (2 * (x - last) > fx) {
        held = crcx_v16{};
        for (ptrdiff_t i = x; i < x + fx; ++i) held += fine[i];
        return held;
    }
    for (ptrdiff_t j = last + 1; j <= x; ++j) held += fine[j + fx - 1] - fine[j - 1];
    return held;
}

/* The low bytes of the window's keys with one high byte, from one output to the
   next: `n` of them, in column order, the first 64 also in `bytes`. */
struct crcx_found {
#if defined(__AVX512BW__) && defined(__AVX512VBMI2__) && defined(__AVX512VBMI__)
    __m512i bytes;
#endif
    ptrdiff_t n;
    unsigned high;  /* 256: none yet */
};

/* The low byte of the key of rank `rank` among the window at x's keys with high
   byte `high`. The window's columns are consecutive in s->high and s->low, so
   their keys are gathered 64 bytes at a time; when the high byte is the previous
   output's and its keys fit in a register, they slide along by one column. */
static inline unsigned crcx_low_byte(crcx_columns* s, crcx_found* f, unsigned high,
                                     unsigned rank, ptrdiff_t x, ptrdiff_t fx,
                                     ptrdiff_t fy) {
    const ptrdiff_t total = fx * fy;
    const uint8_t* highs = s->high + x * fy;
    const uint8_t* lows = s->low + x * fy;
    ptrdiff_t n = 0;
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
        ptrdiff_t kept = f->n - __builtin_popcountll(gone);
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
    for (ptrdiff_t o = 0; o < total; o += 64) {
        __mmask64 valid = _bzhi_u64(~0ull, (unsigned)(total - o < 64 ? total - o : 64));
        __mmask64 match = _mm512_mask_cmpeq_epi8_mask(
            valid, _mm512_maskz_loadu_epi8(valid, highs + o), wanted);
        __m512i packed = _mm512_maskz_compress_epi8(match,
                                                    _mm512_maskz_loadu_epi8(match, lows + o));
        ptrdiff_t count = __builtin_popcountll(match);
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
    (void)f;  /* what it keeps is only reused by the vector path */
    for (ptrdiff_t o = 0; o < total; ++o) {
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
   the window's keys with that high byte (crcx_low_byte). Kept out of line: inlined
   into the line driver, its loop's registers would depend on all that the driver
   holds around it. */
template <typename T>
__attribute__((noinline)) static void crcx_columns_medians(
        crcx_columns* s, ptrdiff_t width, ptrdiff_t fx, ptrdiff_t fy, unsigned rank,
        T* __restrict__ out) {
    const crcx_v16* coarse = s->coarse;
    crcx_v16 window = {}, held = {};
    unsigned current = 16;
    crcx_found found = {};
    found.high = 256;
    for (int c = 0; c < 16; ++c) s->updated[c] = -fx - 1;
    for (ptrdiff_t i = 0; i < fx; ++i) window += coarse[i];
    for (ptrdiff_t x = 0; x < width; ++x) {
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

#endif
