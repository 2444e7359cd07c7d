# A rank filter made ready for arrays of one dtype and shape, to run again and again
# without Python: the C API's plans (crcx/_capi/table.pyx) hold one.

from libc.stdint cimport uint64_t

from crcx._rank._driver cimport KernelPlan, Plan

# `plan` points into the arrays of the PreparedFilter's KernelPlan; `axes` holds the
# arrays' axis behind each of the kernels' (batch, z, y, x), -1 for an axis of length 1.
cdef struct FilterCall:
    Plan plan
    Py_ssize_t key_size
    Py_ssize_t shape[4]         # the arrays' shape
    int axes[4]
    uint64_t cval_bits
    int n_threads

cdef class PreparedFilter:
    cdef FilterCall call
    cdef KernelPlan kernel_plan

cdef int run_prepared(const FilterCall* call, const char* input,
                      const Py_ssize_t* input_strides, char* output,
                      const Py_ssize_t* output_strides) noexcept nogil
