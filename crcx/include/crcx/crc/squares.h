// The squares of the DCT estimate of CRC-MF (crcx/_crc/_stages.pyx, dct_shrink),
// CRCX_SQUARES side by side: value v of square t at squares[v * CRCX_SQUARES + t].
// Written in C++ for what Cython cannot say: source and target never alias
// (__restrict__) and the loop over the lanes is the one to vectorise (CRCX_SIMD: left
// to itself, GCC vectorises along the squares' short lines and spends its time
// shuffling).
#ifndef CRCX_CRC_SQUARES_H
#define CRCX_CRC_SQUARES_H

#include <cstddef>

#include "simd.h"

// Squares transformed at once: two AVX-512 registers of doubles a value.
#define CRCX_SQUARES 16

// sum = a + b and difference = a - b, lane by lane; where a is the `middle` value of
// an odd side, paired with itself, sum = a alone (b and difference are not used).
static inline void crcx_squares_butterfly(const double* __restrict__ a,
                                          const double* __restrict__ b,
                                          double* __restrict__ sum,
                                          double* __restrict__ difference, bool middle) {
    if (middle) {
        for (int t = 0; t < CRCX_SQUARES; ++t) sum[t] = a[t];
        return;
    }
    CRCX_SIMD
    for (int t = 0; t < CRCX_SQUARES; ++t) {
        sum[t] = a[t] + b[t];
        difference[t] = a[t] - b[t];
    }
}

// The DCT-II basis m of `side` along each of the side lines of every square, a line's
// values step apart and the lines across apart: target[u] = sum over c of m[u, c]
// source[c], or with `inverse` target[c] = sum over u of m[u, c] source[u]. Row u of
// m is even about the line's middle for even u and odd for odd u (m[u, side - 1 - c]
// = (-1)^u m[u, c]), so each product takes the first half of a row against the sums
// (even u) or the differences (odd u) of the values paired about the middle, half
// the multiplications of the whole rows; the middle value of an odd side counts in
// the even rows alone (the odd rows are 0 there). `folded` holds a line's side values
// of each square.
static inline void crcx_squares_dct(const double* m, const double* __restrict__ source,
                                    double* __restrict__ target,
                                    double* __restrict__ folded, std::ptrdiff_t side,
                                    std::ptrdiff_t step, std::ptrdiff_t across,
                                    bool inverse) {
    const std::ptrdiff_t half = side / 2, even = side - half;
    for (std::ptrdiff_t line = 0; line < side; ++line) {
        const double* in = source + line * across * CRCX_SQUARES;
        double* out = target + line * across * CRCX_SQUARES;
        if (!inverse) {
            // folded[0 .. even): the sums (and the middle), folded[even ..): the differences
            for (std::ptrdiff_t c = 0; c < even; ++c)
                crcx_squares_butterfly(in + c * step * CRCX_SQUARES,
                                       in + (side - 1 - c) * step * CRCX_SQUARES,
                                       folded + c * CRCX_SQUARES,
                                       folded + (even + c) * CRCX_SQUARES, c == side - 1 - c);
            for (std::ptrdiff_t u = 0; u < side; ++u) {
                double* into = out + u * step * CRCX_SQUARES;
                const bool odd = u % 2;
                const double* values = folded + (odd ? even : 0) * CRCX_SQUARES;
                for (int t = 0; t < CRCX_SQUARES; ++t) into[t] = 0.0;
                for (std::ptrdiff_t c = 0; c < (odd ? half : even); ++c) {
                    const double weight = m[u * side + c];
                    const double* v = values + c * CRCX_SQUARES;
                    CRCX_SIMD
                    for (int t = 0; t < CRCX_SQUARES; ++t) into[t] = into[t] + weight * v[t];
                }
            }
            continue;
        }
        // folded[c]: the even rows' part of value c, folded[even + c]: the odd rows'
        for (std::ptrdiff_t c = 0; c < even; ++c) {
            for (int odd = 0; odd < (c < half ? 2 : 1); ++odd) {
                double* into = folded + (odd * even + c) * CRCX_SQUARES;
                for (int t = 0; t < CRCX_SQUARES; ++t) into[t] = 0.0;
                for (std::ptrdiff_t u = odd; u < side; u += 2) {
                    const double weight = m[u * side + c];
                    const double* v = in + u * step * CRCX_SQUARES;
                    CRCX_SIMD
                    for (int t = 0; t < CRCX_SQUARES; ++t) into[t] = into[t] + weight * v[t];
                }
            }
        }
        for (std::ptrdiff_t c = 0; c < even; ++c)
            crcx_squares_butterfly(folded + c * CRCX_SQUARES,
                                   folded + (even + c) * CRCX_SQUARES,
                                   out + c * step * CRCX_SQUARES,
                                   out + (side - 1 - c) * step * CRCX_SQUARES, c == side - 1 - c);
    }
}

// Every coefficient but the first (the mean) of each square set to 0 where its square
// is at most the square's threshold, and counted off the square's kept.
static inline void crcx_squares_shrink(double* __restrict__ squares,
                                       const double* __restrict__ threshold,
                                       double* __restrict__ kept, std::ptrdiff_t size) {
    for (std::ptrdiff_t e = 1; e < size; ++e) {
        double* values = squares + e * CRCX_SQUARES;
        CRCX_SIMD
        for (int t = 0; t < CRCX_SQUARES; ++t) {
            // a product, not a choice: GCC makes the choice a masked store, which
            // AMD's cores run slowly (benchmarks/results/design.md)
            const double keep = values[t] * values[t] > threshold[t] ? 1.0 : 0.0;
            values[t] = values[t] * keep;
            kept[t] = kept[t] - (1.0 - keep);
        }
    }
}

#endif
