# The sliding-histogram line algorithm (ALGORITHM_HISTOGRAM) of crcx/_rank/_driver.pyx, for
# 8- and 16-bit keys, and for the 16-bit ranks of a tile's region (ALGORITHM_RANKED).

from libc.stdint cimport uint8_t, uint16_t, uint32_t

from crcx._rank._driver cimport Plan

ctypedef fused small_key_t:
    uint8_t
    uint16_t


cdef inline Py_ssize_t fine_bins(Py_ssize_t key_size) noexcept nogil:
    # The histogram's bins: one per key, and one coarse bin per high half.
    return (<Py_ssize_t>1) << (8 * key_size) if key_size <= 2 else 0


cdef inline Py_ssize_t coarse_bins(Py_ssize_t key_size) noexcept nogil:
    return (<Py_ssize_t>1) << (4 * key_size) if key_size <= 2 else 0


cdef inline void histogram_line(small_key_t** rows, const Plan* plan, Py_ssize_t width,
                                uint32_t* fine, uint32_t* coarse, small_key_t* result,
                                int shift) noexcept nogil:
    """Huang's sliding histogram with a coarse level to skip empty ranges.

    T. S. Huang, G. J. Yang, G. Y. Tang, "A fast two-dimensional median filtering
    algorithm", IEEE TASSP 27(1), 1979; the coarse/fine split follows Perreault and
    Hebert, "Median filtering in constant time", IEEE TIP 16(9), 2007. The median is
    tracked as a bin `median` and the count `below` of window values under it; a
    coarse bin holds ``2 ** shift`` fine bins. The histograms are empty before and
    after.
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
