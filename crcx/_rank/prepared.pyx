"""A rank filter made ready for arrays of one dtype and shape (:func:`crcx._rank.filters.prepare`
builds it): its plan, where each of the arrays' axes goes, the border's value and the
threads, in one C struct that `run_prepared` filters with, without Python.
"""
from crcx._rank._driver cimport Keys, filter_keys


cdef class PreparedFilter:
    """The C struct `FilterCall` of a rank filter over arrays of `shape`, whose axes
    `axes` feed the kernels' (batch, z, y, x) (-1: an axis of length 1), with keys of
    `key_size` bytes, the border value's bits `cval_bits` and `n_threads` threads.
    """

    def __init__(self, KernelPlan kernel_plan not None, tuple shape, tuple axes,
                 Py_ssize_t key_size, cval_bits, int n_threads):
        cdef int axis
        if not 1 <= len(shape) <= 4 or len(axes) != 4:
            raise ValueError(f"shape and axes: expected 1 to 4 axes and 4 kernel axes, got "
                             f"{shape} and {axes}")
        self.kernel_plan = kernel_plan
        self.call.plan = kernel_plan.plan
        self.call.key_size = key_size
        for axis in range(len(shape)):
            self.call.shape[axis] = shape[axis]
        for axis in range(4):
            self.call.axes[axis] = axes[axis]
        self.call.cval_bits = cval_bits
        self.call.n_threads = n_threads


cdef inline Keys _keys(const FilterCall* call, const char* data,
                       const Py_ssize_t* strides) noexcept nogil:
    cdef Keys keys
    cdef int k, axis
    keys.data = <char*>data
    for k in range(4):
        axis = call.axes[k]
        keys.shape[k] = call.shape[axis] if axis >= 0 else 1
        keys.strides[k] = strides[axis] if axis >= 0 else 0
    return keys


cdef int run_prepared(const FilterCall* call, const char* input,
                      const Py_ssize_t* input_strides, char* output,
                      const Py_ssize_t* output_strides) noexcept nogil:
    """Filter `input` into `output`, both of the call's dtype and shape (strides in
    bytes, along each axis a multiple of the key's size), not overlapping.

    Returns 0, or -1 where the scratch memory could not be had.
    """
    cdef Keys source = _keys(call, input, input_strides)
    cdef Keys target = _keys(call, output, output_strides)
    return filter_keys(&source, &target, &call.plan, call.key_size, call.cval_bits,
                       call.n_threads)
