# The selection-network line algorithm (ALGORITHM_NETWORK) of crcx/_rank/_driver.pyx:
# compare-exchange programs from crcx/_rank/_selection_network.py, run on LANES pixels at
# once, or the straight-line code it generates for the common boxes, which for 2-d
# boxes also computes a band of lines at once.

from libc.stdint cimport int32_t, uint32_t, uint64_t
from libc.string cimport memcpy

from crcx._rank._keys cimport key_t
from crcx._rank._driver cimport Plan

cdef extern from "crcx/median/lanes.h" nogil:
    enum: LANES "CRCX_LANES"
    void crcx_lanes_ce[T](T* lo, T* hi) noexcept
    void crcx_lanes_min[T](T* lo, const T* hi) noexcept
    void crcx_lanes_max[T](const T* lo, T* hi) noexcept

# Straight-line medians of the common box windows, generated at build time from
# crcx/_rank/_selection_network.py (returns 0 for a shape it does not have); a box may need
# crcx_box_scratch values of scratch after the sorted rows.
cdef extern from "crcx/median/box_networks.h" nogil:
    enum:
        OP_CE "CRCX_OP_CE"
        OP_MIN "CRCX_OP_MIN"
        OP_MAX "CRCX_OP_MAX"
        # Output lines per banded call.
        BAND_LINES "CRCX_BAND_LINES"
    const bint CRCX_FLOAT_BANDS
    int crcx_box_median[T](T** rows, T* sorted_rows, Py_ssize_t length, Py_ssize_t width,
                           T* out, int n_rows, int n_columns) noexcept
    Py_ssize_t crcx_box_scratch(int n_rows, int n_columns) noexcept
    int crcx_box_band_available(Py_ssize_t width_bytes, int n_rows, int n_columns) noexcept
    bint crcx_box_median_band[T](T** lines, T** direct, Py_ssize_t x_before, T** outs,
                                 int n_out, Py_ssize_t width, int n_rows, int n_columns,
                                 int encoding, bint stream) noexcept


cdef inline void _run_program(key_t* lanes, Py_ssize_t lane_stride, const int32_t* program,
                              Py_ssize_t length, Py_ssize_t count) noexcept nogil:
    """Apply compare-exchange `program` to `count` pixels laid out lane by lane."""
    cdef Py_ssize_t k, b
    cdef key_t lo, hi
    cdef key_t* a
    cdef key_t* c
    for k in range(length):
        a = lanes + program[3 * k + 1] * lane_stride
        c = lanes + program[3 * k + 2] * lane_stride
        if program[3 * k] == OP_CE:
            for b in range(count):
                lo = a[b]
                hi = c[b]
                a[b] = lo if lo < hi else hi
                c[b] = hi if lo < hi else lo
        elif program[3 * k] == OP_MIN:
            for b in range(count):
                lo = a[b]
                hi = c[b]
                a[b] = lo if lo < hi else hi
        else:
            for b in range(count):
                lo = a[b]
                hi = c[b]
                c[b] = hi if lo < hi else lo


cdef inline void _run_block_program(key_t* lanes, const int32_t* program,
                                    Py_ssize_t length) noexcept nogil:
    """Apply `program` to one block of LANES pixels (wire w at lanes + w * LANES)."""
    cdef Py_ssize_t k
    for k in range(length):
        if program[3 * k] == OP_CE:
            crcx_lanes_ce(lanes + program[3 * k + 1] * LANES, lanes + program[3 * k + 2] * LANES)
        elif program[3 * k] == OP_MIN:
            crcx_lanes_min(lanes + program[3 * k + 1] * LANES, lanes + program[3 * k + 2] * LANES)
        else:
            crcx_lanes_max(lanes + program[3 * k + 1] * LANES, lanes + program[3 * k + 2] * LANES)


cdef inline void network_line(key_t** rows, const Plan* plan, Py_ssize_t width,
                              Py_ssize_t row_length, key_t* lanes, key_t* sorted_rows,
                              key_t* result) noexcept nogil:
    """Selection network over LANES pixels at a time.

    With `presort`, the columns of the whole line are sorted first (long vector
    loops), and each sorted column is then read by the ``fx`` outputs it belongs to.
    """
    cdef Py_ssize_t x0, e, j, count
    cdef const key_t* source
    if plan.generated and crcx_box_median(rows, sorted_rows, row_length, width, result,
                                          <int>plan.n_rows, <int>plan.fx):
        return
    if plan.presort:
        for j in range(plan.n_rows):
            memcpy(sorted_rows + j * row_length, rows[j], row_length * sizeof(key_t))
        _run_program(sorted_rows, row_length, plan.column_program,
                     plan.column_program_length, row_length)
    x0 = 0
    while x0 < width:
        for e in range(plan.n_elements):
            if plan.presort:
                source = sorted_rows + plan.element_row[e] * row_length + x0 + plan.element_dx[e]
            else:
                source = rows[plan.element_row[e]] + x0 + plan.element_dx[e]
            memcpy(lanes + e * LANES, source, LANES * sizeof(key_t))
        _run_block_program(lanes, plan.program, plan.program_length)
        count = width - x0 if width - x0 < LANES else LANES
        memcpy(result + x0, lanes + plan.rank * LANES, count * sizeof(key_t))
        x0 += LANES


cdef inline bint network_band(key_t** lines, key_t** direct, const Plan* plan, key_t** outs,
                              Py_ssize_t n_out, Py_ssize_t width, bint values,
                              bint stream) noexcept nogil:
    """`n_out` output lines of a generated 2-d box at once (crcx_box_median_band).

    With `values`, the lines hold the float values of 32/64-bit keys rather than the
    keys; returns whether one of them was NaN, in which case the outputs are not the
    medians and the band is to be computed again from keys.
    """
    cdef bint nan = False
    if not values:
        crcx_box_median_band(lines, direct, plan.x_before, outs, <int>n_out, width,
                             <int>plan.fy, <int>plan.fx, plan.encoding, stream)
    elif key_t is uint32_t:
        nan = crcx_box_median_band(<float**>lines, <float**>direct, plan.x_before,
                                   <float**>outs, <int>n_out, width, <int>plan.fy,
                                   <int>plan.fx, 0, stream)
    elif key_t is uint64_t:
        nan = crcx_box_median_band(<double**>lines, <double**>direct, plan.x_before,
                                   <double**>outs, <int>n_out, width, <int>plan.fy,
                                   <int>plan.fx, 0, stream)
    else:
        nan = True
    return nan
