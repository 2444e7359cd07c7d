"""Planes extended past their borders, for the CRC-MF stages' padded copies.

Each value of the extended plane is read from the source index the border rule
gives along each axis (:func:`crcx._common.boundary.extended_indices`), or is the
fill value where a rule gives -1 (``mode="constant"``): one pass over the output,
OpenMP threads over its lines, where NumPy's take along each axis in turn made a
copy per axis, on one thread.
"""
from libc.stdint cimport uint8_t
from cython.parallel cimport prange

ctypedef fused value_t:
    double
    uint8_t


def extend(const value_t[:, :, :] source, const Py_ssize_t[::1] z_index,
           const Py_ssize_t[::1] y_index, const Py_ssize_t[::1] x_index, value_t fill,
           Py_ssize_t before, value_t[:, :, ::1] out, int n_threads):
    """out[z, y, x] = source[z_index[z], y_index[y], x_index[x]], or `fill` where an
    index is -1. `before` is the first x of the source's own columns: x_index there
    reads 0, 1, ... to the source's width, which is copied in a run."""
    cdef Py_ssize_t depth = out.shape[0], height = out.shape[1], width = out.shape[2]
    cdef Py_ssize_t inner = source.shape[2], line, z, y, x, sz, sy
    if (z_index.shape[0] != depth or y_index.shape[0] != height
            or x_index.shape[0] != width or not 0 <= before <= width - inner):
        raise ValueError("z_index, y_index, x_index: expected one index per value of "
                         "out along each axis")
    with nogil:
        for line in prange(depth * height, num_threads=n_threads, schedule="static"):
            z = line // height
            y = line % height
            sz = z_index[z]
            sy = y_index[y]
            if sz < 0 or sy < 0:
                for x in range(width):
                    out[z, y, x] = fill
                continue
            for x in range(before):
                out[z, y, x] = source[sz, sy, x_index[x]] if x_index[x] >= 0 else fill
            for x in range(inner):
                out[z, y, before + x] = source[sz, sy, x]
            for x in range(before + inner, width):
                out[z, y, x] = source[sz, sy, x_index[x]] if x_index[x] >= 0 else fill
