// Order statistics of pixels' few neighbours, for the isolation test of CRC-MF
// (crcx/_crc/_stages.pyx): a sort without data-dependent branches of
// CRCX_NEIGHBOURHOODS pixels' neighbours side by side, and the k-th nearest value to
// a centre read from one pixel's sorted values.
#ifndef CRCX_CRC_ORDER_H
#define CRCX_CRC_ORDER_H

#include <algorithm>
#include <cmath>
#include <cstddef>

#include "simd.h"

// Pixels whose neighbourhoods are sorted at once: one AVX-512 register of doubles.
#define CRCX_NEIGHBOURHOODS 8

namespace crcx_order {

// The comparators of Batcher's odd-even merge sort of N values (Knuth, TAOCP vol. 3,
// 5.3.4): the network of the next power of two, less the comparators that would
// meet the padding past N (it holds +inf, and min/max would leave it in place).
template <int N>
struct Network {
    static constexpr int capacity = 512;
    int low[capacity] = {}, high[capacity] = {};
    int size = 0;

    constexpr Network()
    {
        int slots = 1;
        while (slots < N)
            slots += slots;
        for (int p = 1; p < slots; p += p)
            for (int k = p; k > 0; k /= 2)
                for (int j = k % p; j + k < N; j += 2 * k)
                    for (int i = 0; i < k && i + j + k < N; i++)
                        if ((i + j) / (2 * p) == (i + j + k) / (2 * p)) {
                            low[size] = i + j;
                            high[size] = i + j + k;
                            size++;
                        }
    }
};

// Sort CRCX_NEIGHBOURHOODS sequences of N values side by side, value i of sequence t
// at v[i * CRCX_NEIGHBOURHOODS + t]: every comparison a min and a max of two vectors
// (CRCX_SIMD: the loop to vectorise is the one over the sequences), unrolled with
// constant indices, without the branches on the data that std::sort mispredicts on
// random values (benchmarks/results/design.md).
template <int N>
static inline void sort_network_lanes(double* v)
{
    constexpr Network<N> network;
#pragma GCC unroll 512
    for (int c = 0; c < network.size; c++) {
        double* __restrict__ low = v + network.low[c] * CRCX_NEIGHBOURHOODS;
        double* __restrict__ high = v + network.high[c] * CRCX_NEIGHBOURHOODS;
        CRCX_SIMD
        for (int t = 0; t < CRCX_NEIGHBOURHOODS; t++) {
            const double a = low[t], b = high[t];
            low[t] = std::min(a, b);
            high[t] = std::max(a, b);
        }
    }
}

}  // namespace crcx_order

// Sort each of the CRCX_NEIGHBOURHOODS sequences of n values side by side in v
// (value i of sequence t at v[i * CRCX_NEIGHBOURHOODS + t]) ascending: by a network
// for the isolation test's neighbourhoods, by insertion otherwise.
static inline void crcx_sort_lanes(double* v, std::ptrdiff_t n)
{
    switch (n) {
    case 24:
        crcx_order::sort_network_lanes<24>(v);
        break;
    case 26:
        crcx_order::sort_network_lanes<26>(v);
        break;
    default:
        for (int t = 0; t < CRCX_NEIGHBOURHOODS; t++)
            for (std::ptrdiff_t i = 1; i < n; i++) {
                const double value = v[i * CRCX_NEIGHBOURHOODS + t];
                std::ptrdiff_t j = i;
                for (; j > 0 && value < v[(j - 1) * CRCX_NEIGHBOURHOODS + t]; j--)
                    v[j * CRCX_NEIGHBOURHOODS + t] = v[(j - 1) * CRCX_NEIGHBOURHOODS + t];
                v[j * CRCX_NEIGHBOURHOODS + t] = value;
            }
    }
}

// How many of the values of each of the CRCX_NEIGHBOURHOODS sequences side by side in
// v (n each) are below that sequence's centre: where a sorted sequence's values
// nearest its centre start, found without the branches of a binary search, which
// mispredict on every pixel.
static inline void crcx_count_below(const double* v, std::ptrdiff_t n, const double* centres,
                                    std::ptrdiff_t* __restrict__ below)
{
    for (int t = 0; t < CRCX_NEIGHBOURHOODS; t++) below[t] = 0;
    for (std::ptrdiff_t i = 0; i < n; i++) {
        const double* values = v + i * CRCX_NEIGHBOURHOODS;
        CRCX_SIMD
        for (int t = 0; t < CRCX_NEIGHBOURHOODS; t++) below[t] += values[t] < centres[t];
    }
}

// The k-th smallest |v[i] - centre| over sorted v[0..n), 1 <= k <= n, `below` of them
// less than the centre: the nearest values taken one by one from both sides of the
// centre, with selects rather than branches. Each distance is the one |v[i] - centre|
// gives (centre - v equals -(v - centre) exactly), so the result is that of a
// selection among the n distances.
static inline double crcx_kth_distance(const double* v, std::ptrdiff_t n, std::ptrdiff_t k,
                                       double centre, std::ptrdiff_t below)
{
    std::ptrdiff_t right = below, left = below - 1;
    double distance = 0.0;
    for (std::ptrdiff_t taken = 0; taken < k; taken++) {
        const double to_left = left >= 0 ? centre - v[left >= 0 ? left : 0] : INFINITY;
        const double to_right = right < n ? v[right < n ? right : 0] - centre : INFINITY;
        const bool leftwards = right >= n || (left >= 0 && to_left <= to_right);
        distance = leftwards ? to_left : to_right;
        left -= leftwards;
        right += !leftwards;
    }
    return distance;
}

#endif  // CRCX_CRC_ORDER_H
