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


cdef inline double _read(double value, bint square) noexcept nogil:
    return value * value if square else value


cdef void extend_line(const double* line, Py_ssize_t stride, Py_ssize_t n,
                      const Py_ssize_t* index, double cval, bint square,
                      double* extended) noexcept nogil:
    """The line extended by the border rule: ``index[i]`` (``i < n``) is the source of
    extended value i, or -1 for `cval`; with `square`, the squares of those values."""
    cdef Py_ssize_t i
    for i in range(n):
        extended[i] = _read(line[index[i] * stride] if index[i] >= 0 else cval, square)


cdef void box_mean_line(const double* line, Py_ssize_t stride, Py_ssize_t length,
                        const Py_ssize_t* index, Py_ssize_t size, double cval, bint square,
                        double* extended, double* out, Py_ssize_t out_stride) noexcept nogil:
    """Mean of every `size` consecutive values of the extended line (:c:func:`extend_line`),
    written to out."""
    cdef Py_ssize_t i
    cdef double total = 0.0
    cdef double scale = 1.0 / size
    extend_line(line, stride, length + size - 1, index, cval, square, extended)
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
                           bint square, double* totals, double* border) noexcept nogil:
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
            totals[x] += _read(add[x], square)
    for i in range(length):
        add = _row(src, axis, c, index[i + size - 1], x0, border)
        sub = _row(src, axis, c, index[i], x0, border)
        out = &dst[i, c, x0] if axis == 0 else &dst[c, i, x0]
        for x in range(width):
            totals[x] += _read(add[x], square)
            out[x] = totals[x] * scale
            totals[x] -= _read(sub[x], square)


cdef enum:
    # Columns one thread sums side by side: a few KiB of running sums, many vectors wide.
    COLUMNS = 512


cdef int box_mean_axis(const double[:, :, :] src, double[:, :, :] dst, int axis,
                       const Py_ssize_t[::1] index, Py_ssize_t size, double cval,
                       bint square, int n_threads) except -1:
    """One separable pass: the mean over `size` values along `axis` (0, 1 or 2), of
    their squares with `square` (`cval` squared too).

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
                                     cval, square, own, own + COLUMNS)
            return 0
        with nogil, parallel(num_threads=n_threads):
            for line in prange(n_lines, schedule="static"):
                a = line // b_len
                b = line % b_len
                i0 = _coordinate(0, axis, a, b)
                i1 = _coordinate(1, axis, a, b)
                i2 = _coordinate(2, axis, a, b)
                box_mean_line(&src[i0, i1, i2], stride, length, &index[0], size, cval,
                              square, <double*>own_part(scratch, per_thread * sizeof(double)),
                              &dst[i0, i1, i2], out_stride)
    finally:
        free(scratch)
    return 0


def box_mean_pass(const double[:, :, :] src, double[:, :, :] dst, int axis,
                  const Py_ssize_t[::1] index, Py_ssize_t size, double cval, bint square,
                  int n_threads):
    """Python entry to :c:func:`box_mean_axis`."""
    box_mean_axis(src, dst, axis, index, size, cval, square, n_threads)


cdef inline double _wiener(double mean, double mean_square, double sig2,
                           double c) noexcept nogil:
    """The Wiener gain of §5: 1 where the noise variance `sig2` is 0, else
    clip(1 - c sig2 / v, 0, 1) of the window's variance v = mean_square - mean^2
    where v > 0, and 0 where not (the reference's operations, in its order)."""
    cdef double v = mean_square - mean * mean
    if sig2 <= 0:
        return 1.0
    if v > 0:
        return min(max(1.0 - c * sig2 / v, 0.0), 1.0)
    return 0.0


cdef void wiener_line(const double* mean, const double* mean_square,
                      const double* residual, const double* base, const double* sig2,
                      const double* floor, Py_ssize_t width, const Py_ssize_t* index,
                      Py_ssize_t size, double c, double* extended,
                      double* out) noexcept nogil:
    """:c:func:`wiener_restore` on one line along x (`floor` NULL where not given)."""
    cdef Py_ssize_t i, n = width + size - 1
    cdef double total = 0.0, total_square = 0.0, g
    cdef double scale = 1.0 / size
    cdef double* extended_square = extended + n
    extend_line(mean, 1, n, index, 0.0, False, extended)
    extend_line(mean_square, 1, n, index, 0.0, False, extended_square)
    for i in range(size - 1):
        total += extended[i]
        total_square += extended_square[i]
    for i in range(width):
        total += extended[i + size - 1]
        total_square += extended_square[i + size - 1]
        g = _wiener(total * scale, total_square * scale, sig2[i], c)
        total -= extended[i]
        total_square -= extended_square[i]
        if floor != NULL:
            g = max(g, floor[i])
        out[i] = base[i] + g * residual[i]


def wiener_restore(const double[:, :, ::1] mean, const double[:, :, ::1] mean_square,
                   const double[:, :, ::1] residual, const double[:, :, ::1] base,
                   const double[:, :, ::1] sig2, floor, const Py_ssize_t[::1] index,
                   Py_ssize_t size, double c, double[:, :, ::1] out, int n_threads):
    """§5's ``out = B + g E`` with the Wiener gain g, fused with the last pass of its
    box means.

    `mean` and `mean_square` hold the box means of the `residual` E and of its
    square along every filtered axis but x; this takes their means over `size`
    values along x (`index` the border rule's map, -1 for 0), as
    :c:func:`box_mean_line` does, and at each pixel the gain of the window's variance
    and the noise variance `sig2`, raised to `floor` where given (a plane of gains,
    or None), and writes ``base + g * residual``.
    """
    cdef Py_ssize_t height = out.shape[1], width = out.shape[2]
    cdef Py_ssize_t per_thread = 2 * (width + size - 1) * sizeof(double)
    cdef Py_ssize_t line, z, y
    cdef const double[:, :, ::1] raised = floor if floor is not None else out
    cdef bint has_floor = floor is not None
    cdef char* scratch = scratch_block(per_thread, n_threads, "the Wiener gain's line buffers")
    try:
        with nogil, parallel(num_threads=n_threads):
            for line in prange(out.shape[0] * height, schedule="static"):
                z = line // height
                y = line % height
                wiener_line(&mean[z, y, 0], &mean_square[z, y, 0], &residual[z, y, 0],
                            &base[z, y, 0], &sig2[z, y, 0],
                            &raised[z, y, 0] if has_floor else NULL, width, &index[0], size,
                            c, <double*>own_part(scratch, per_thread), &out[z, y, 0])
    finally:
        free(scratch)
