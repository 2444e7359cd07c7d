// The compare-exchange steps of an interpreted selection network, over one block of
// CRCX_LANES pixels laid out wire by wire (wire w of pixel b at lanes[w * CRCX_LANES + b]).
// Written in C++ for what Cython cannot say: the two wires never alias (__restrict__)
// and the block has a fixed length, so the compiler emits straight-line SIMD min/max
// with no runtime checks.
#ifndef CRCX_MEDIAN_LANES_H
#define CRCX_MEDIAN_LANES_H

// Pixels one network pass computes: 64 lanes fill an AVX-512 register of bytes, and
// 64 * 49 eight-byte lanes (7x7 window) still fit in a 32 KiB L1 cache.
#define CRCX_LANES 64

template <typename T>
static inline void crcx_lanes_ce(T* __restrict__ lo, T* __restrict__ hi) {
    for (int b = 0; b < CRCX_LANES; ++b) {
        T a = lo[b], c = hi[b];
        lo[b] = a < c ? a : c;
        hi[b] = a < c ? c : a;
    }
}

template <typename T>
static inline void crcx_lanes_min(T* __restrict__ lo, const T* __restrict__ hi) {
    for (int b = 0; b < CRCX_LANES; ++b) lo[b] = lo[b] < hi[b] ? lo[b] : hi[b];
}

template <typename T>
static inline void crcx_lanes_max(const T* __restrict__ lo, T* __restrict__ hi) {
    for (int b = 0; b < CRCX_LANES; ++b) hi[b] = lo[b] < hi[b] ? hi[b] : lo[b];
}

#endif
