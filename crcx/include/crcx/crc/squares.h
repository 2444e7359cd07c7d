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

// m times each of the side lines of every square, a line's values step apart and the
// lines across apart: target[u] = sum over c of m[u, c] source[c], summed in c's order.
static inline void crcx_squares_along(const double* m, const double* __restrict__ source,
                                      double* __restrict__ target, std::ptrdiff_t side,
                                      std::ptrdiff_t step, std::ptrdiff_t across) {
    for (std::ptrdiff_t line = 0; line < side; ++line) {
        for (std::ptrdiff_t u = 0; u < side; ++u) {
            double* into = target + (line * across + u * step) * CRCX_SQUARES;
            for (int t = 0; t < CRCX_SQUARES; ++t) into[t] = 0.0;
            for (std::ptrdiff_t c = 0; c < side; ++c) {
                const double weight = m[u * side + c];
                const double* values = source + (line * across + c * step) * CRCX_SQUARES;
                CRCX_SIMD
                for (int t = 0; t < CRCX_SQUARES; ++t) into[t] = into[t] + weight * values[t];
            }
        }
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
            const bool drop = values[t] * values[t] <= threshold[t];
            values[t] = drop ? 0.0 : values[t];
            kept[t] = kept[t] - (drop ? 1.0 : 0.0);
        }
    }
}

#endif
