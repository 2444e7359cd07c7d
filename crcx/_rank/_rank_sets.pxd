# The bit-set tile algorithm (ALGORITHM_RANKED_BOX) of crcx/_rank/_driver.pyx: 2-d boxes of
# wide keys, through bit sets of the ranks of a tile's input region, their prefix
# counts in crcx/include/crcx/median/rank_sets.h.

from libc.stdint cimport uint16_t, uint64_t
from libc.string cimport memset

from crcx._rank._keys cimport key_t
from crcx._rank._driver cimport Plan

cdef extern from "crcx/median/bits.h" nogil:
    int crcx_select_bit(uint64_t word, int n) noexcept

cdef extern from "crcx/median/rank_sets.h" nogil:
    enum: RANK_WORDS "CRCX_RANK_WORDS"
    ctypedef struct crcx_prefix:
        pass
    void crcx_column_move(uint64_t* bits, uint16_t* prefix, int entering,
                          int leaving) noexcept
    crcx_prefix crcx_prefix_zero() noexcept
    crcx_prefix crcx_prefix_slide(crcx_prefix window, const uint16_t* entering,
                                  const uint16_t* leaving) noexcept
    int crcx_prefix_word(crcx_prefix window, int rank, int* below) noexcept


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


cdef inline void rank_set_tile(const uint16_t* ranks, const key_t* sorted_keys,
                               const Plan* plan, Py_ssize_t ny, Py_ssize_t nx,
                               uint64_t* bits, uint16_t* prefixes, const uint16_t* zeros,
                               key_t* first, Py_ssize_t out_stride,
                               Py_ssize_t line_bytes) noexcept nogil:
    """Outputs of one (1, ny, nx) tile from its region's ranks: its first output at
    `first`, the next along x `out_stride` keys on, along y `line_bytes` bytes on.

    Ranks are distinct, so a set of them is a bit set. Each region column keeps the
    bit set of its ``fy`` ranks under the current output line, with `prefix` counts
    per word (Perreault and Hebert, "Median filtering in constant time", IEEE TIP
    16(9), 2007: column histograms updated once per line, the window slides along x
    by adding one column and removing another). The window's prefix counts name the
    word of the wanted rank, the XOR of the window's columns in that word (the
    columns hold disjoint ranks) gives its bits, and the rank is the selected bit: no
    walk, whatever the data. `zeros` is a column of RANK_WORDS zero counts.
    """
    cdef Py_ssize_t fy = plan.fy, fx = plan.fx
    cdef Py_ssize_t rx = nx + fx - 1
    cdef int rank = <int>plan.rank
    cdef Py_ssize_t iy, ix, c, w
    cdef int below
    cdef crcx_prefix window
    cdef uint64_t word
    cdef key_t* out
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
        out = <key_t*>(<char*>first + iy * line_bytes)
        for ix in range(nx):
            if ix > 0:
                window = crcx_prefix_slide(window, prefixes + (ix + fx - 1) * RANK_WORDS,
                                           prefixes + (ix - 1) * RANK_WORDS)
            w = crcx_prefix_word(window, rank, &below)
            word = _window_word(bits + ix * RANK_WORDS + w, fx)
            out[ix * out_stride] = sorted_keys[w * 64 + crcx_select_bit(word, rank - below)]
