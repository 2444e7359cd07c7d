# The column-histogram line algorithm (ALGORITHM_COLUMNS) of crcx/_rank/_driver.pyx:
# Perreault and Hebert's constant-time median over 2-d boxes of 8- and 16-bit keys,
# its histograms in crcx/include/crcx/median/columns.h.

from libc.stdint cimport uint8_t, uint16_t
from libc.string cimport memset

from crcx._rank._driver cimport Plan
from crcx._rank._histogram cimport small_key_t

cdef extern from "crcx/median/columns.h" nogil:
    ctypedef struct crcx_columns:
        uint8_t* high
        uint8_t* low
        Py_ssize_t n_columns
    Py_ssize_t crcx_columns_place(crcx_columns* s, char* base, Py_ssize_t n_columns,
                                  Py_ssize_t fy, Py_ssize_t key_size) noexcept
    void crcx_columns_clear(crcx_columns* s, Py_ssize_t n_columns) noexcept
    void crcx_column_add(crcx_columns* s, Py_ssize_t i, unsigned added) noexcept
    void crcx_column_move(crcx_columns* s, Py_ssize_t i, unsigned removed,
                          unsigned added) noexcept
    void crcx_columns_medians[T](crcx_columns* s, Py_ssize_t width, Py_ssize_t fx,
                                 Py_ssize_t fy, unsigned rank, T* out) noexcept

cdef enum:
    # Output columns one pass covers: the column histograms of a strip (about 0.5 KiB
    # per column) mostly stay in the L2 cache while the window slides down, and each
    # strip costs fy lines of set-up (benchmarks/median.py: wider strips were faster
    # up to this width).
    COLUMNS_STRIP = 2048
    # Lines of one band that a thread takes: longer than other algorithms' bands,
    # since the column histograms cost fy lines to set up.
    COLUMNS_BAND = 256


cdef inline void columns_line(small_key_t** rows, const small_key_t* leaving,
                              const Plan* plan, Py_ssize_t x0, Py_ssize_t width,
                              Py_ssize_t ey, crcx_columns* state,
                              small_key_t* result) noexcept nogil:
    """Perreault and Hebert's constant-time median over a box, on one strip of a line.

    S. Perreault, P. Hebert, "Median filtering in constant time", IEEE TIP 16(9),
    2007. Each column of the strip (output x0 .. x0 + width - 1, plus the window's
    reach) keeps a histogram of its ``fy`` keys; going down one line takes the
    `leaving` line out of them and puts the window's last line in, and the window's
    histogram slides along x by one column histogram in and one out (see
    crcx_columns_medians). Without a `leaving` line the columns are counted anew.
    16-bit keys: the histograms are of the high byte, and each column also keeps its
    keys (line `ey` + j in slot (ey + j) % fy), to count the low bytes.
    """
    cdef Py_ssize_t n_columns = width + plan.fx - 1
    cdef Py_ssize_t i, j, slot
    cdef int shift = 8 * sizeof(small_key_t) - 8
    cdef const small_key_t* line
    if leaving == NULL:
        crcx_columns_clear(state, n_columns)
        if small_key_t is uint16_t:
            memset(state.high, 0, n_columns * plan.fy)
            memset(state.low, 0, n_columns * plan.fy)
        for j in range(plan.fy):
            line = rows[j] + x0
            slot = (ey + j) % plan.fy
            for i in range(n_columns):
                crcx_column_add(state, i, line[i] >> shift)
                if small_key_t is uint16_t:
                    state.high[i * plan.fy + slot] = line[i] >> 8
                    state.low[i * plan.fy + slot] = line[i] & 255
    else:
        line = rows[plan.fy - 1] + x0
        leaving += x0
        slot = (ey + plan.fy - 1) % plan.fy
        for i in range(n_columns):
            crcx_column_move(state, i, leaving[i] >> shift, line[i] >> shift)
            if small_key_t is uint16_t:
                state.high[i * plan.fy + slot] = line[i] >> 8
                state.low[i * plan.fy + slot] = line[i] & 255
    crcx_columns_medians(state, width, plan.fx, plan.fy, <unsigned>plan.rank, result)
