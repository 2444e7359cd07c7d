# Ranks of a tile's input region, for the tile algorithms of crcx/_rank/_driver.pyx
# (ALGORITHM_RANKED, ALGORITHM_RANKED_BOX): wide keys cannot index a histogram, but
# the ranks of a region of at most 2 ** 16 values can.

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memset
from libcpp.utility cimport pair

from crcx._rank._keys cimport key_t

cdef extern from "crcx/median/bits.h" nogil:
    int crcx_lowest_bit(uint64_t x) noexcept
    int crcx_bit_length(uint64_t x) noexcept

cdef enum:
    # Bits per radix sort pass: 2048 buckets, whose counts stay in L1 beside a tile.
    RADIX_BITS = 11

ctypedef pair[key_t, uint32_t] item_t


cdef inline Py_ssize_t item_bytes(Py_ssize_t key_size) noexcept nogil:
    # sizeof(item_t) for keys of `key_size` bytes.
    if key_size == 8:
        return sizeof(pair[uint64_t, uint32_t])
    if key_size == 4:
        return sizeof(pair[uint32_t, uint32_t])
    if key_size == 2:
        return sizeof(pair[uint16_t, uint32_t])
    return sizeof(pair[uint8_t, uint32_t])


cdef inline void rank_region(const key_t* keys, Py_ssize_t n, item_t* items, item_t* spare,
                             uint32_t* counts, uint16_t* ranks,
                             key_t* sorted_keys) noexcept nogil:
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
    low = crcx_lowest_bit(differ)
    high = crcx_bit_length(differ)
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
