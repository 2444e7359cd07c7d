"""Window statistics: box means over float64 planes by running sums.

The CRC-MF stages need local means of a few planes (the residual, its square, the
products of lagged pairs) over a w x w (x w) window. A box mean is separable, and
along one axis a running sum costs two additions per value whatever the window,
so each pass reads an extended line (border rule applied), slides the sum, and
writes the means back; OpenMP threads take lines.
"""
from libc.stdlib cimport malloc, free
from cython.parallel cimport prange, parallel

import numpy as np

from crcx._openmp cimport omp_get_thread_num


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


cdef int box_mean_axis(const double[:, :, :] src, double[:, :, :] dst, int axis,
                       const Py_ssize_t[::1] index, Py_ssize_t size, double cval,
                       int n_threads) except -1:
    """One separable pass: the mean over `size` values along `axis` (0, 1 or 2)."""
    cdef Py_ssize_t length = src.shape[axis]
    cdef Py_ssize_t n_lines = src.shape[0] * src.shape[1] * src.shape[2] // length
    cdef Py_ssize_t b_len = src.shape[(axis + 2) % 3]
    cdef Py_ssize_t stride = src.strides[axis] // sizeof(double)
    cdef Py_ssize_t out_stride = dst.strides[axis] // sizeof(double)
    cdef Py_ssize_t per_thread = length + size - 1
    cdef Py_ssize_t line, a, b, i0, i1, i2
    cdef double* scratch = <double*>malloc(per_thread * n_threads * sizeof(double))
    if scratch == NULL:
        raise MemoryError("not enough memory for the box mean's line buffers")
    try:
        with nogil, parallel(num_threads=n_threads):
            for line in prange(n_lines, schedule="static"):
                a = line // b_len
                b = line % b_len
                i0 = _coordinate(0, axis, a, b)
                i1 = _coordinate(1, axis, a, b)
                i2 = _coordinate(2, axis, a, b)
                box_mean_line(&src[i0, i1, i2], stride, length, &index[0], size, cval,
                              scratch + omp_get_thread_num() * per_thread,
                              &dst[i0, i1, i2], out_stride)
    finally:
        free(scratch)
    return 0


def box_mean_pass(const double[:, :, :] src, double[:, :, :] dst, int axis,
                  const Py_ssize_t[::1] index, Py_ssize_t size, double cval, int n_threads):
    """Python entry to :c:func:`box_mean_axis` (see crcx/window.py)."""
    box_mean_axis(src, dst, axis, index, size, cval, n_threads)
