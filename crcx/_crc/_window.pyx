"""Window statistics by running sums: box means over float64 planes, and the
restoration of docs/algorithm.md §5, whose Wiener gain takes the window means of
the residual and of its square.

A box mean is separable, and along one axis a running sum costs two additions per
value whatever the window, so each pass reads an extended line (border rule
applied), slides the sum, and writes the means back; along a strided axis, many
lines slide side by side. OpenMP threads take lines. The restoration uses its
window means once, where it makes them: column sums slide down bands of lines and
row sums along each line, and no plane of them is made; nor of the noise variance,
made from its model where it is read. It reads its planes in their own dtypes and
writes the result straight into the output's, a line at a time.
"""
from libc.math cimport nearbyint
from libc.stdint cimport int8_t, int16_t, int32_t, uint8_t, uint16_t, uint32_t
from libc.stdlib cimport free
from cython.parallel cimport prange, parallel
import numpy as np

from crcx._runtime.scratch cimport own_part, scratch_block


cdef void extend_line(const double* line, Py_ssize_t stride, Py_ssize_t length,
                      Py_ssize_t before, Py_ssize_t n, const Py_ssize_t* index, double cval,
                      double* extended) noexcept nogil:
    """The `length` values of `line` extended to `n` by the border rule, `before` of
    them ahead: ``index[i]`` is the source of extended value i, or -1 for `cval`
    (:func:`crcx._common.boundary.extended_indices`), which inside the line is the
    line's own value, copied in a run."""
    cdef Py_ssize_t i
    for i in range(before):
        extended[i] = line[index[i] * stride] if index[i] >= 0 else cval
    for i in range(length):
        extended[before + i] = line[i * stride]
    for i in range(before + length, n):
        extended[i] = line[index[i] * stride] if index[i] >= 0 else cval


cdef void box_mean_line(const double* line, Py_ssize_t stride, Py_ssize_t length,
                        const Py_ssize_t* index, Py_ssize_t size, double cval,
                        double* extended, double* out, Py_ssize_t out_stride) noexcept nogil:
    """Mean of every `size` consecutive values of the extended line (:c:func:`extend_line`),
    written to out."""
    cdef Py_ssize_t i
    cdef double total = 0.0
    cdef double scale = 1.0 / size
    extend_line(line, stride, length, size // 2, length + size - 1, index, cval, extended)
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
    """Python entry to :c:func:`box_mean_axis`."""
    box_mean_axis(src, dst, axis, index, size, cval, n_threads)


# The dtypes the restoration reads and writes itself: those whose every value a
# double holds. DTYPES lists them in the order of their codes.
ctypedef fused value_t:
    double
    float
    uint8_t
    int8_t
    uint16_t
    int16_t
    uint32_t
    int32_t

cdef enum Code:
    DOUBLE, FLOAT, UINT8, INT8, UINT16, INT16, UINT32, INT32

DTYPES = tuple(map(np.dtype, (np.float64, np.float32, np.uint8, np.int8, np.uint16, np.int16,
                              np.uint32, np.int32)))


cdef struct Source:
    # A C-contiguous plane of one of DTYPES, by its code.
    const char* data
    Code code


cdef Source _source(array) except *:
    """The Source of `array`, C-contiguous, of one of DTYPES and not empty."""
    cdef const unsigned char[::1] raw = array.reshape(-1).view(np.uint8)
    cdef Source source
    cdef int code = DTYPES.index(array.dtype)
    source.data = <const char*>&raw[0]
    source.code = <Code>code
    return source


cdef void _widen(const value_t* values, Py_ssize_t n, double* out) noexcept nogil:
    cdef Py_ssize_t x
    for x in range(n):
        out[x] = values[x]


cdef void _load(Source source, Py_ssize_t at, Py_ssize_t n, double* out) noexcept nogil:
    """Values at .. at + n - 1 (flat) of `source`, as doubles, into `out`."""
    if source.code == DOUBLE:
        _widen((<const double*>source.data) + at, n, out)
    elif source.code == FLOAT:
        _widen((<const float*>source.data) + at, n, out)
    elif source.code == UINT8:
        _widen((<const uint8_t*>source.data) + at, n, out)
    elif source.code == INT8:
        _widen((<const int8_t*>source.data) + at, n, out)
    elif source.code == UINT16:
        _widen((<const uint16_t*>source.data) + at, n, out)
    elif source.code == INT16:
        _widen((<const int16_t*>source.data) + at, n, out)
    elif source.code == UINT32:
        _widen((<const uint32_t*>source.data) + at, n, out)
    else:
        _widen((<const int32_t*>source.data) + at, n, out)


cdef inline double _wiener(double mean, double mean_square, double sig2,
                           double c) noexcept nogil:
    """The Wiener gain of §5: 1 where the noise variance `sig2` is 0, else
    clip(1 - c sig2 / v, 0, 1) of the window's variance v = mean_square - mean^2
    where v > 0, and 0 where not (the reference's operations, in its order). Selects,
    not branches, so that a loop over it vectorises."""
    cdef double v = mean_square - mean * mean
    cdef double g = min(max(1.0 - c * sig2 / v, 0.0), 1.0)
    g = g if v > 0 else 0.0
    return 1.0 if sig2 <= 0 else g


cdef enum:
    # Lines of one band of the restoration. Each band starts its column sums afresh,
    # so its height, not the number of threads, fixes the order of the sums: results
    # do not depend on the threads. Starting costs size - 1 lines, a tenth of a band
    # for the default window.
    BAND = 64


cdef struct Planes:
    # The restoration's inputs, one (z, y, x) plane each, C-contiguous; `flags` and
    # `floor` NULL where not given. The noise variance is a + b max(proxy, 0).
    Source image, base, proxy
    const unsigned char* flags
    double a, b
    const double* floor
    Py_ssize_t height, width


cdef struct Target:
    # Where the restoration writes: a (z, y, x) plane of any strides (bytes), and the
    # bounds its values are clipped to after rounding, for an integer dtype.
    char* data
    Py_ssize_t strides[3]
    double low, high


cdef inline Py_ssize_t _at(const Planes* p, Py_ssize_t z, Py_ssize_t y) noexcept nogil:
    return (z * p.height + y) * p.width


cdef enum:
    # Columns the restoration takes at a time along a line: its few line buffers of
    # that many doubles stay in the L1 cache between the passes over them.
    RUN = 256


cdef void _residual_run(const Planes* p, Py_ssize_t at, Py_ssize_t m, double* e,
                        double* base) noexcept nogil:
    """E of §4 on the m values from flat index `at`: J - B, 0 at a flagged impulse;
    those of B are left in `base`."""
    cdef Py_ssize_t x
    cdef const unsigned char* flags = p.flags + at if p.flags != NULL else NULL
    _load(p.image, at, m, e)
    _load(p.base, at, m, base)
    for x in range(m):
        e[x] = e[x] - base[x]
    if flags != NULL:
        for x in range(m):
            e[x] = 0.0 if flags[x] else e[x]


cdef void _add_line(const Planes* p, Py_ssize_t z, Py_ssize_t y, const Py_ssize_t* z_index,
                    Py_ssize_t depth, double sign, double* sums, double* sums_square,
                    double* e, double* base) noexcept nogil:
    """Add `sign` times E and its square on line `y` (-1: the border's line of zeros)
    of the `depth` slices from extended position `z` to the column sums (`e` and
    `base` hold a run each)."""
    cdef Py_ssize_t k, x, r, x0, m, at
    if y < 0:
        return
    for k in range(depth):
        if z_index[z + k] < 0:
            continue
        at = _at(p, z_index[z + k], y)
        for r in range((p.width + RUN - 1) // RUN):
            x0 = r * RUN
            m = min(<Py_ssize_t>RUN, p.width - x0)
            _residual_run(p, at + x0, m, e, base)
            for x in range(m):
                sums[x0 + x] = sums[x0 + x] + sign * e[x]
                sums_square[x0 + x] = sums_square[x0 + x] + sign * e[x] * e[x]


cdef void _store_run(const double* values, const Target* target, Py_ssize_t z,
                     Py_ssize_t y, Py_ssize_t x0, Py_ssize_t m, value_t* kind) noexcept nogil:
    """Values x0 .. x0 + m - 1 of line y of slice z of the target, from `values`:
    rounded half to even and clipped for an integer dtype, as
    :func:`crcx._crc.planes.store` writes them (`kind` only names the dtype)."""
    cdef Py_ssize_t x
    cdef char* line = (target.data + z * target.strides[0] + y * target.strides[1]
                       + x0 * target.strides[2])
    for x in range(m):
        if value_t is double or value_t is float:
            (<value_t*>(line + x * target.strides[2]))[0] = <value_t>values[x]
        else:
            (<value_t*>(line + x * target.strides[2]))[0] = <value_t>min(
                max(nearbyint(values[x]), target.low), target.high)


cdef void _window_sums(const double* values, Py_ssize_t m, Py_ssize_t size,
                       double* out) noexcept nogil:
    """out[x] = values[x] + ... + values[x + size - 1], summed in that order, for x < m."""
    cdef Py_ssize_t x, u
    for x in range(m):
        out[x] = values[x]
    for u in range(1, size):
        for x in range(m):
            out[x] = out[x] + values[x + u]


cdef void _restore_band(const Planes* p, const Target* target, Py_ssize_t z, Py_ssize_t y0,
                        Py_ssize_t y1, const Py_ssize_t* z_index, const Py_ssize_t* y_index,
                        const Py_ssize_t* x_index, Py_ssize_t depth, Py_ssize_t size,
                        double c, double* scratch, value_t* kind) noexcept nogil:
    """:func:`wiener_restore` on lines y0 .. y1 - 1 of slice z.

    Column sums of E and E^2 over the window's slices and lines slide down the band;
    along each line, each window sums its `size` column sums afresh, a run of
    columns at a time. Every loop over x is one the compiler vectorises: no running
    total, selects for branches.
    """
    cdef Py_ssize_t i, x, r, x0, m, at, width = p.width, n = p.width + size - 1
    cdef double scale = 1.0 / (depth * size * size)
    cdef double* sums = scratch
    cdef double* sums_square = sums + width
    cdef double* extended = sums_square + width
    cdef double* extended_square = extended + n
    cdef double* gain = extended_square + n
    cdef double* total_square = gain + RUN
    cdef double* e = total_square + RUN
    cdef double* base = e + RUN
    cdef double* variance = base + RUN
    for x in range(2 * width):
        sums[x] = 0.0
    for i in range(size - 1):
        _add_line(p, z, y_index[y0 + i], z_index, depth, 1.0, sums, sums_square, e, base)
    for i in range(y0, y1):
        _add_line(p, z, y_index[i + size - 1], z_index, depth, 1.0, sums, sums_square, e,
                  base)
        extend_line(sums, 1, width, size // 2, n, x_index, 0.0, extended)
        extend_line(sums_square, 1, width, size // 2, n, x_index, 0.0, extended_square)
        at = _at(p, z, i)
        for r in range((width + RUN - 1) // RUN):
            x0 = r * RUN
            m = min(<Py_ssize_t>RUN, width - x0)
            _window_sums(extended + x0, m, size, gain)
            _window_sums(extended_square + x0, m, size, total_square)
            _load(p.proxy, at + x0, m, variance)
            for x in range(m):
                gain[x] = _wiener(gain[x] * scale, total_square[x] * scale,
                                  p.a + p.b * max(variance[x], 0.0), c)
            if p.floor != NULL:
                for x in range(m):
                    gain[x] = max(gain[x], p.floor[at + x0 + x])
            _residual_run(p, at + x0, m, e, base)
            for x in range(m):
                base[x] = base[x] + gain[x] * e[x]
            _store_run(base, target, z, i, x0, m, kind)
        _add_line(p, z, y_index[i], z_index, depth, -1.0, sums, sums_square, e, base)


def wiener_restore(image, base, const unsigned char[:, :, ::1] flags, double a, double b,
                   proxy, const double[:, :, ::1] floor,
                   const Py_ssize_t[::1] z_index, const Py_ssize_t[::1] y_index,
                   const Py_ssize_t[::1] x_index, Py_ssize_t depth, Py_ssize_t size, double c,
                   value_t[:, :, :] out, double low, double high, int n_threads):
    """§5's ``out = B + g E`` with the Wiener gain g, in bands of lines.

    `image`, `base` and `proxy` are C-contiguous planes of the shape of `out` and of
    any of DTYPES, `out` one of them of any strides.
    E is the residual ``image - base``, 0 where `flags` (or None) is set; g, at each
    pixel, the gain of the variance of E over its window (`depth` slices by `size`
    lines by `size` columns) and the noise variance ``a + b max(proxy, 0)``, raised
    to `floor` where given (a plane of gains, or None). The indexes map each axis's
    extended positions to their sources by the border rule, -1 where E reads 0.
    `out` may have any strides; for an integer dtype its values are rounded half to
    even and clipped to [`low`, `high`]. Neither E, its window means nor the
    variance are made as planes: each thread holds four lines and five runs.
    """
    cdef Planes p
    cdef Target target
    cdef Py_ssize_t height = out.shape[1], width = out.shape[2]
    cdef Py_ssize_t n_bands = (height + BAND - 1) // BAND
    cdef Py_ssize_t per_thread = (4 * width + 2 * (size - 1) + 5 * RUN) * sizeof(double)
    cdef Py_ssize_t unit, z, y0
    cdef char* scratch
    cdef value_t* kind = NULL
    for plane in (image, base, proxy):
        if (plane.shape != (out.shape[0], out.shape[1], out.shape[2])
                or not plane.flags.c_contiguous):
            raise ValueError("image, base, proxy: expected C-contiguous planes of the "
                             "output's shape")
    p.image, p.base, p.proxy = _source(image), _source(base), _source(proxy)
    p.a, p.b = a, b
    p.flags = <const unsigned char*>NULL
    p.floor = <const double*>NULL
    if flags is not None:
        p.flags = &flags[0, 0, 0]
    if floor is not None:
        p.floor = &floor[0, 0, 0]
    p.height, p.width = height, width
    target.data = <char*>&out[0, 0, 0]
    target.strides[0], target.strides[1], target.strides[2] = (out.strides[0], out.strides[1],
                                                               out.strides[2])
    target.low, target.high = low, high
    scratch = scratch_block(per_thread, n_threads, "the restoration's line buffers")
    try:
        with nogil, parallel(num_threads=n_threads):
            for unit in prange(out.shape[0] * n_bands, schedule="static"):
                z = unit // n_bands
                y0 = (unit % n_bands) * BAND
                _restore_band(&p, &target, z, y0, min(y0 + BAND, height), &z_index[0],
                              &y_index[0], &x_index[0], depth, size, c,
                              <double*>own_part(scratch, per_thread), kind)
    finally:
        free(scratch)
