// The neighbourhoods of the isolation test of CRC-MF (crcx/_crc/_stages.pyx,
// isolation) for CRCX_NEIGHBOURHOODS pixels of a line side by side: neighbour e of
// pixel t at values[e * CRCX_NEIGHBOURHOODS + t], the layout crcx_sort_lanes sorts.
// Neighbour e of consecutive pixels lies at consecutive addresses, so gathering
// them and fitting their slopes are vector loads and arithmetic (CRCX_SIMD: the loop
// to vectorise is the one over the pixels). Pixel t of a tile of `lanes` < the full
// count reads as pixel lanes - 1, so that no load passes the line's last pixel.
#ifndef CRCX_CRC_NEIGHBOURS_H
#define CRCX_CRC_NEIGHBOURS_H

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "order.h"
#include "simd.h"

namespace crcx_neighbours {

constexpr int L = CRCX_NEIGHBOURHOODS;

template <bool Full>
static inline int pixel(int t, int lanes)
{
    return Full || t < lanes ? t : lanes - 1;
}

// The marks of the pixels' neighbour at `skip`, byte t for pixel t: one word, so that
// the loop over the pixels works on 64-bit lanes alone (with a byte per lane GCC
// vectorises nothing).
static_assert(L == 8, "one byte of a 64-bit word per pixel");

template <bool Full>
static inline std::uint64_t marks(const unsigned char* skip, int lanes)
{
    std::uint64_t word = 0;
    if (Full) {
        std::memcpy(&word, skip, sizeof word);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        word = __builtin_bswap64(word);
#endif
        return word;
    }
    for (int t = 0; t < L; t++) word |= std::uint64_t(skip[pixel<Full>(t, lanes)]) << (8 * t);
    return word;
}

// How far pixel t's slopes move a value over a neighbour's (z, y, x) offset.
template <bool Levelled>
static inline double shift(const double* slopes, int t, const double* offset)
{
    return Levelled ? (slopes[t] * offset[0] + slopes[L + t] * offset[1])
                          + slopes[2 * L + t] * offset[2]
                    : 0.0;
}

template <bool Full>
static inline void slopes(const double* at, int lanes, const std::ptrdiff_t* deltas,
                          const double* offsets, std::ptrdiff_t count, const double* norms,
                          double* __restrict__ out)
{
    for (int a = 0; a < 3; a++) {
        double* s = out + a * L;
        for (int t = 0; t < L; t++) s[t] = 0.0;
        if (norms[a] == 0) continue;
        for (std::ptrdiff_t e = 0; e < count; e++) {
            const double offset = offsets[3 * e + a];
            const double* v = at + deltas[e];
            CRCX_SIMD
            for (int t = 0; t < L; t++) s[t] = s[t] + offset * v[pixel<Full>(t, lanes)];
        }
        for (int t = 0; t < L; t++) s[t] = s[t] / norms[a];
    }
}

template <bool Full, bool Levelled>
static inline void gather(const double* at, const unsigned char* skip, int lanes,
                          const std::ptrdiff_t* deltas, const double* offsets,
                          std::ptrdiff_t count, const double* slopes, std::ptrdiff_t k,
                          double* __restrict__ values, std::ptrdiff_t* __restrict__ counts)
{
    for (int t = 0; t < L; t++) counts[t] = 0;
    for (std::ptrdiff_t e = 0; e < count; e++) {
        const double* v = at + deltas[e];
        const std::uint64_t marked = marks<Full>(skip + deltas[e], lanes);
        double* out = values + e * L;
        CRCX_SIMD
        for (int t = 0; t < L; t++) {
            const bool unmarked = ((marked >> (8 * t)) & 0xff) == 0;
            const double value = v[pixel<Full>(t, lanes)] - shift<Levelled>(slopes, t, offsets + 3 * e);
            out[t] = unmarked ? value : INFINITY;
            counts[t] += unmarked;
        }
    }
    for (int t = 0; t < L; t++) {
        if (counts[t] >= k) continue;
        for (std::ptrdiff_t e = 0; e < count; e++)
            values[e * L + t] = at[deltas[e] + pixel<Full>(t, lanes)]
                                - shift<Levelled>(slopes, t, offsets + 3 * e);
        counts[t] = count;
    }
}

}  // namespace crcx_neighbours

// Least-squares slopes, per axis, of each pixel's `count` neighbours, deltas away
// from at + t, at (z, y, x) `offsets` (a centred cube: the axes are orthogonal),
// summed in the neighbours' order: out[a * CRCX_NEIGHBOURHOODS + t]; 0 along an
// axis whose norm is 0.
static inline void crcx_neighbour_slopes(const double* at, int lanes,
                                         const std::ptrdiff_t* deltas, const double* offsets,
                                         std::ptrdiff_t count, const double* norms,
                                         double* out)
{
    using crcx_neighbours::slopes;
    (lanes == CRCX_NEIGHBOURHOODS ? slopes<true> : slopes<false>)(at, lanes, deltas, offsets,
                                                                   count, norms, out);
}

// Each pixel's `count` neighbours, less its `slopes` times their (z, y, x) `offsets`
// unless `slopes` is NULL, +inf where `skip` marks them, unless fewer than k are
// unmarked; counts[t], the number of pixel t's values that are not +inf.
static inline void crcx_neighbour_values(const double* at, const unsigned char* skip,
                                         int lanes, const std::ptrdiff_t* deltas,
                                         const double* offsets, std::ptrdiff_t count,
                                         const double* slopes, std::ptrdiff_t k,
                                         double* values, std::ptrdiff_t* counts)
{
    using crcx_neighbours::gather;
    const auto chosen = lanes == CRCX_NEIGHBOURHOODS
                            ? (slopes ? gather<true, true> : gather<true, false>)
                            : (slopes ? gather<false, true> : gather<false, false>);
    chosen(at, skip, lanes, deltas, offsets, count, slopes, k, values, counts);
}

// crcx_neighbour_values, each pixel's values sorted (crcx_sort_lanes), and below[t],
// how many of pixel t's lie below centres[t].
static inline void crcx_sorted_neighbours(const double* at, const unsigned char* skip,
                                          int lanes, const std::ptrdiff_t* deltas,
                                          const double* offsets, std::ptrdiff_t count,
                                          const double* slopes, std::ptrdiff_t k,
                                          const double* centres, double* values,
                                          std::ptrdiff_t* counts, std::ptrdiff_t* below)
{
    crcx_neighbour_values(at, skip, lanes, deltas, offsets, count, slopes, k, values, counts);
    crcx_sort_lanes(values, count);
    crcx_count_below(values, count, centres, below);
}

#endif  // CRCX_CRC_NEIGHBOURS_H
