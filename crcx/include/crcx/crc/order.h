// Order statistics of a pixel's few neighbours, for the isolation test of CRC-MF
// (crcx/_crc/_stages.pyx): a sort without data-dependent branches, and the k-th
// nearest value to a centre read from the sorted values.
#ifndef CRCX_CRC_ORDER_H
#define CRCX_CRC_ORDER_H

#include <algorithm>
#include <cstddef>

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

// Sort v[0..N): every comparison a min and a max, unrolled with constant indices,
// without the branches on the data that std::sort mispredicts on random values
// (benchmarks/results/design.md).
template <int N>
static inline void sort_network(double* v)
{
    constexpr Network<N> network;
    static_assert(network.size <= Network<N>::capacity, "network too large");
#pragma GCC unroll 512
    for (int c = 0; c < network.size; c++) {
        const double a = v[network.low[c]], b = v[network.high[c]];
        v[network.low[c]] = std::min(a, b);
        v[network.high[c]] = std::max(a, b);
    }
}

}  // namespace crcx_order

// Sort v[0..n) ascending: by a network for the neighbourhoods of the isolation test
// (24 values in 2-d, 26 in 3-d), by std::sort otherwise. The order is the same.
static inline void crcx_sort_few(double* v, std::ptrdiff_t n)
{
    switch (n) {
    case 24:
        crcx_order::sort_network<24>(v);
        break;
    case 26:
        crcx_order::sort_network<26>(v);
        break;
    default:
        std::sort(v, v + n);
    }
}

// The k-th smallest |v[i] - centre| over sorted v[0..n), 1 <= k <= n: the nearest
// values taken one by one from both sides of the centre. Each distance is the one
// |v[i] - centre| gives (centre - v equals -(v - centre) exactly), so the result is
// that of a selection among the n distances.
static inline double crcx_kth_distance(const double* v, std::ptrdiff_t n, std::ptrdiff_t k,
                                       double centre)
{
    std::ptrdiff_t right = std::lower_bound(v, v + n, centre) - v, left = right - 1;
    double distance = 0.0;
    for (std::ptrdiff_t taken = 0; taken < k; taken++) {
        if (right >= n || (left >= 0 && centre - v[left] <= v[right] - centre))
            distance = centre - v[left--];
        else
            distance = v[right++] - centre;
    }
    return distance;
}

#endif  // CRCX_CRC_ORDER_H
