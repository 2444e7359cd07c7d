# Rank (median) filter kernels, for other Cython code to cimport.
#
# Arrays are (batch, z, y, x) views of order-preserving keys (_keys.pxd). A Plan says
# which window to use and which algorithm computes each output line; Python builds
# it (crcx/_rank/_planner.py), and `filter_keys` runs it without Python on OpenMP
# threads over lines.

from libc.stdint cimport int32_t, uint64_t

cpdef enum Algorithm:
    ALGORITHM_NETWORK = 0     # selection network on SIMD lanes: small windows
    ALGORITHM_HISTOGRAM = 1   # sliding two-level histogram: 8- and 16-bit keys
    ALGORITHM_SELECT = 2      # introselect per pixel: any window
    ALGORITHM_RANKED = 3      # sliding histogram on the ranks of a tile: wide keys
    ALGORITHM_RANKED_BOX = 4  # bit sets of the ranks of a tile: wide keys, 2-d boxes
    ALGORITHM_COLUMNS = 5     # column histograms (Perreault-Hebert): 8/16-bit 2-d boxes

cdef struct Plan:
    # The window: `n_rows` distinct footprint lines at (row_dz, row_dy) and
    # `n_elements` elements at (element_row, element_dx), all in extended coordinates
    # (0 .. fz-1, 0 .. fy-1, 0 .. fx-1); the result is the element of rank `rank`.
    Py_ssize_t fz, fy, fx
    Py_ssize_t n_rows
    const Py_ssize_t* row_dz
    const Py_ssize_t* row_dy
    Py_ssize_t n_elements
    const Py_ssize_t* element_row
    const Py_ssize_t* element_dx
    Py_ssize_t rank
    # Runs of consecutive elements on a line, for the sliding histogram.
    Py_ssize_t n_runs
    const Py_ssize_t* run_row
    const Py_ssize_t* run_start
    const Py_ssize_t* run_stop
    # Source index of every extended coordinate along z, y, x; -1 reads `cval`.
    const Py_ssize_t* zmap
    const Py_ssize_t* ymap
    const Py_ssize_t* xmap
    Py_ssize_t x_before         # extended x of the image's first column
    int encoding
    int algorithm
    # Selection network: per-pixel program and, when `presort`, the column program.
    const int32_t* program
    Py_ssize_t program_length
    const int32_t* column_program
    Py_ssize_t column_program_length
    bint presort
    bint generated              # a box whose median has compiled straight-line code
    bint band                   # a generated 2-d box: lines computed in bands
    # ALGORITHM_RANKED and ALGORITHM_RANKED_BOX: output tile shape; for RANKED the
    # coarse histogram bin's log2 size (a tile's input region holds at most
    # 2 ** (2 * rank_shift) values). RANKED_BOX tiles are (1, y, x) with at most
    # 64 * RANK_WORDS (4096) values in their region.
    Py_ssize_t tile_z, tile_y, tile_x
    int rank_shift

cdef class KernelPlan:
    # The plan, built once (crcx/_rank/_planner.py) and passed to the kernels as it is;
    # `plan` points into the arrays `owned` keeps alive.
    cdef Plan plan
    cdef tuple owned

cdef struct Keys:
    # A (batch, z, y, x) array of keys in strided memory: `strides` in bytes, of any sign,
    # multiples of the key's size along x.
    char* data
    Py_ssize_t shape[4]
    Py_ssize_t strides[4]

cdef int filter_keys(const Keys* src, const Keys* dst, const Plan* plan, Py_ssize_t key_size,
                     uint64_t cval_bits, int n_threads) noexcept nogil
