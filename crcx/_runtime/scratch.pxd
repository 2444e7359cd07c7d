# Per-thread scratch memory of the kernels' parallel regions, allocated in one place:
# one block holds every thread's part, each part starting on its own cache line when
# its size is a multiple of 64 bytes, so that threads writing their parts share none.
from libc.stdint cimport uintptr_t
from libc.stdlib cimport malloc

from crcx._runtime.threads cimport omp_get_thread_num


cdef enum:
    CACHE_LINE = 64


cdef inline char* scratch_memory(Py_ssize_t per_thread, int n_threads) noexcept nogil:
    """Room for `n_threads` parts of `per_thread` bytes, or NULL; release it with libc's
    free."""
    return <char*>malloc(per_thread * n_threads + CACHE_LINE)


cdef inline char* scratch_block(Py_ssize_t per_thread, int n_threads, str purpose) except NULL:
    """`scratch_memory`, or MemoryError naming its `purpose`."""
    cdef char* memory = scratch_memory(per_thread, n_threads)
    if memory == NULL:
        raise MemoryError(f"not enough memory for {purpose}")
    return memory


cdef inline char* own_part(char* memory, Py_ssize_t per_thread) noexcept nogil:
    """The calling thread's part of a `scratch_block` of `per_thread` bytes a part."""
    cdef uintptr_t aligned = (<uintptr_t>memory + CACHE_LINE - 1) & ~(<uintptr_t>(CACHE_LINE - 1))
    return <char*>aligned + omp_get_thread_num() * per_thread
