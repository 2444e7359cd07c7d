"""Window statistics: box means over float64 planes by running sums, and the Wiener
gain that the restoration (docs/algorithm.md §5) makes of two of them.

The CRC-MF stages need local means of a few planes (the residual, its square, the
products of lagged pairs) over a w x w (x w) window. A box mean is separable, and
along one axis a running sum costs two additions per value whatever the window,
so each pass reads an extended line (border rule applied), slides the sum, and
writes the means back; along a strided axis, many lines slide side by side. OpenMP
threads take lines.
"""
from libc.stdlib cimport free
from cython.parallel cimport prange, parallel

from crcx._runtime.scratch cimport own_part, scratch_block


cdef void box_mean_line(const double* line, Py_ssize_t stride, Py_ssize_t length,
                        const Py_ssize_t* index, Py_ssize_t size, double cval,
                        double* extended, double* out, Py_ssize_t out_stride) noexcept nogil:
    """Mean of every `size` consecutive values of the extended line, written to out.

    ``index[i]`` (``i < length + size - 1``) is the source of extended value i, or -1
    for `cval`.
    """
    cdef Py_ssize_t i, n = length + size - 1
    cdef double total = 0.0
    cdef double scale = 1.0 / size
    for i in range(n):
        extended[i] = line[index[i] * stride] if index[i] >= 0 else cval
    for i in range(size - 1):
        total += extended[i]
    for i in range(length):
        total += extended[i + size - 1]
        out[i * out_stride] = total * scale
        total -= extended[i]


cdef inline Py_ssize_t _coordinate(int k, int axis, Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    """Coordinate k of the start of the line (a, b) that runs along `axis`."""
    if k == axis:
        return 0
    return a if k == (axis + 1) % 3 else b


cdef inline const double* _row(const double[:, :, :] src, int axis, Py_ssize_t c,
                               Py_ssize_t i, Py_ssize_t x0, const double* border) noexcept nogil:
    """Values at x0.. of position `i` (-1: the border row) of the lines at `c`."""
    if i < 0:
        return border
    return &src[i, c, x0] if axis == 0 else &src[c, i, x0]


cdef void box_mean_columns(const double[:, :, :] src, double[:, :, :] dst, int axis,
                           Py_ssize_t c, Py_ssize_t x0, Py_ssize_t width,
                           const Py_ssize_t* index, Py_ssize_t size, double cval,
                           double* totals, double* border) noexcept nogil:
    """:c:func:`box_mean_line` on the lines along `axis` (0 or 1) at x0 .. x0 + width - 1.

    The lines start at index `c` of the other of axes 0 and 1. Each running sum takes
    the same steps as in box_mean_line, side by side across contiguous x.
    """
    cdef Py_ssize_t i, x, length = src.shape[axis]
    cdef double scale = 1.0 / size
    cdef const double* add
    cdef const double* sub
    cdef double* out
    for x in range(width):
        totals[x] = 0.0
        border[x] = cval
    for i in range(size - 1):
        add = _row(src, axis, c, index[i], x0, border)
        for x in range(width):
            totals[x] += add[x]
    for i in range(length):
        add = _row(src, axis, c, index[i + size - 1], x0, border)
        sub = _row(src, axis, c, index[i], x0, border)
        out = &dst[i, c, x0] if axis == 0 else &dst[c, i, x0]
        for x in range(width):
            totals[x] += add[x]
            out[x] = totals[x] * scale
            totals[x] -= sub[x]


cdef enum:
    # Columns one thread sums side by side: a few KiB of running sums, many vectors wide.
    COLUMNS = 512


cdef int box_mean_axis(const double[:, :, :] src, double[:, :, :] dst, int axis,
                       const Py_ssize_t[::1] index, Py_ssize_t size, double cval,
                       int n_threads) except -1:
    """One separable pass: the mean over `size` values along `axis` (0, 1 or 2).

    Along a strided axis of planes contiguous in x, the lines go side by side
    (box_mean_columns) instead of one by one, which would read one value per
    cache line.
    """
    cdef Py_ssize_t length = src.shape[axis]
    cdef Py_ssize_t n_lines = src.shape[0] * src.shape[1] * src.shape[2] // length
    cdef Py_ssize_t b_len = src.shape[(axis + 2) % 3]
    cdef Py_ssize_t stride = src.strides[axis] // sizeof(double)
    cdef Py_ssize_t out_stride = dst.strides[axis] // sizeof(double)
    cdef Py_ssize_t per_thread = length + size - 1
    cdef Py_ssize_t line, a, b, i0, i1, i2, unit, n_chunks, x0
    cdef char* scratch
    cdef double* own
    cdef bint side_by_side = (axis != 2 and src.strides[2] == sizeof(double)
                              and dst.strides[2] == sizeof(double))
    if side_by_side:
        per_thread = 2 * COLUMNS
    scratch = scratch_block(per_thread * sizeof(double), n_threads,
                            "the box mean's line buffers")
    try:
        if side_by_side:
            n_chunks = (src.shape[2] + COLUMNS - 1) // COLUMNS
            with nogil, parallel(num_threads=n_threads):
                own = <double*>own_part(scratch, per_thread * sizeof(double))
                for unit in prange(src.shape[1 - axis] * n_chunks, schedule="static"):
                    x0 = (unit % n_chunks) * COLUMNS
                    box_mean_columns(src, dst, axis, unit // n_chunks, x0,
                                     min(COLUMNS, src.shape[2] - x0), &index[0], size,
                                     cval, own, own + COLUMNS)
            return 0
        with nogil, parallel(num_threads=n_threads):
            for line in prange(n_lines, schedule="static"):
                a = line // b_len
                b = line % b_len
                i0 = _coordinate(0, axis, a, b)
                i1 = _coordinate(1, axis, a, b)
                i2 = _coordinate(2, axis, a, b)
                box_mean_line(&src[i0, i1, i2], stride, length, &index[0], size, cval,
                              <double*>own_part(scratch, per_thread * sizeof(double)),
                              &dst[i0, i1, i2], out_stride)
    finally:
        free(scratch)
    return 0


def box_mean_pass(const double[:, :, :] src, double[:, :, :] dst, int axis,
                  const Py_ssize_t[::1] index, Py_ssize_t size, double cval, int n_threads):
    """Python entry to :c:func:`box_mean_axis` (see crcx/window.py)."""
    box_mean_axis(src, dst, axis, index, size, cval, n_threads)


def wiener_gain(const double[::1] mean, const double[::1] mean_square,
                const double[::1] sig2, double c, double[::1] gain, int n_threads):
    """The Wiener gain of §5 at each pixel, into `gain`: 1 where the noise variance
    `sig2` is 0, else clip(1 - c sig2 / v, 0, 1) of the window's variance
    v = mean_square - mean^2 where v > 0, and 0 where not. In one pass, with the
    operations of the reference in its order."""
    cdef Py_ssize_t i
    cdef double v, g
    with nogil:
        for i in prange(gain.shape[0], schedule="static", num_threads=n_threads):
            v = mean_square[i] - mean[i] * mean[i]
            if sig2[i] <= 0:
                g = 1.0
            elif v > 0:
                g = 1.0 - c * sig2[i] / v
                g = min(max(g, 0.0), 1.0)
            else:
                g = 0.0
            gain[i] = g
