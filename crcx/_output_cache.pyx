"""Large output arrays, with their memory reused from one call to the next.

The kernel maps and zeroes the pages of a new array on first write, and for an
output of tens of MiB that costs as much as a fast filter itself; more threads do
not make it faster (4096x4096 uint16, 3x3 median on two threads: 1.8 ms filtering,
1.7 ms page faults). glibc keeps freed blocks below 32 MiB for the next malloc but
unmaps larger ones, so a program that filters frame after frame pays the faults on
every frame. Outputs made here carry a NumPy memory handler (NEP 49) that keeps the
last few large buffers when their arrays are freed and hands them to the next
output of the same size. The pages of a kept buffer are marked MADV_FREE: the
system takes them back when it runs short of memory (they are then zero-filled on
reuse, as a new buffer would be), and otherwise the next output writes into them
without a fault. Everything else goes to NumPy's default handler.
"""
cimport cython
cimport numpy as cnp
from cpython.pycapsule cimport PyCapsule_GetPointer, PyCapsule_New
from cpython.ref cimport PyObject
from libc.string cimport strcpy

import numpy as np

cnp.import_array()

cdef extern from "numpy/arrayobject.h":
    ctypedef struct PyDataMemAllocator:
        void* ctx
        void* (*malloc)(void* ctx, size_t size) noexcept nogil
        void* (*calloc)(void* ctx, size_t nelem, size_t elsize) noexcept nogil
        void* (*realloc)(void* ctx, void* ptr, size_t new_size) noexcept nogil
        void (*free)(void* ctx, void* ptr, size_t size) noexcept nogil

    ctypedef struct PyDataMem_Handler:
        char name[127]
        unsigned char version
        PyDataMemAllocator allocator

    object PyDataMem_SetHandler(object handler)
    object PyDataMem_GetHandler()
    PyObject* PyDataMem_DefaultHandler

cdef extern from *:
    """
    #if defined(__linux__)
    #include <sys/mman.h>
    #endif
    /* Let the system reclaim the whole pages of [start, start + size) at will. */
    static void crcx_release_lazily(void* start, size_t size) {
    #if defined(__linux__) && defined(MADV_FREE)
        const size_t page = 4096;
        size_t first = ((size_t)start + page - 1) & ~(page - 1);
        size_t last = ((size_t)start + size) & ~(page - 1);
        if (last > first)
            madvise((void*)first, last - first, MADV_FREE);
    #else
        (void)start; (void)size;
    #endif
    }
    """
    void crcx_release_lazily(void* start, size_t size) noexcept nogil

# Below 4 MiB the C library already reuses freed memory (and NumPy does not ask for
# huge pages); 4 buffers and 256 MiB cover the output and the one before it of a
# frame-by-frame loop up to 4096x4096 float64, and bound what an idle program keeps.
cpdef enum:
    MIN_BYTES = 1 << 22
    MAX_BUFFERS = 4
    MAX_BYTES = 1 << 28

cdef struct Kept:
    void* ptr
    size_t size

cdef Kept kept[MAX_BUFFERS]
cdef int n_kept = 0
cdef size_t kept_bytes = 0
cdef cython.pymutex lock
cdef PyDataMemAllocator* fallback = <PyDataMemAllocator*>&(
    <PyDataMem_Handler*>PyCapsule_GetPointer(<object>PyDataMem_DefaultHandler, "mem_handler")
).allocator
cdef PyDataMem_Handler handler


cdef void* _take(size_t size) noexcept nogil:
    """Remove and return a kept buffer of exactly `size` bytes, or NULL."""
    global n_kept, kept_bytes
    cdef void* ptr = NULL
    cdef int i
    with lock:
        for i in range(n_kept - 1, -1, -1):
            if kept[i].size == size:
                ptr = kept[i].ptr
                kept_bytes -= size
                n_kept -= 1
                kept[i] = kept[n_kept]
                break
    return ptr


cdef void* _malloc(void* ctx, size_t size) noexcept nogil:
    cdef void* ptr = _take(size) if size >= <size_t>MIN_BYTES else NULL
    return ptr if ptr != NULL else fallback.malloc(fallback.ctx, size)


cdef void* _calloc(void* ctx, size_t nelem, size_t elsize) noexcept nogil:
    return fallback.calloc(fallback.ctx, nelem, elsize)


cdef void* _realloc(void* ctx, void* ptr, size_t new_size) noexcept nogil:
    return fallback.realloc(fallback.ctx, ptr, new_size)


cdef void _free(void* ctx, void* ptr, size_t size) noexcept nogil:
    """Keep `ptr` for reuse, dropping the oldest kept buffers to make room."""
    global n_kept, kept_bytes
    cdef Kept oldest
    cdef int i
    if ptr == NULL or size < <size_t>MIN_BYTES or size > <size_t>MAX_BYTES:
        fallback.free(fallback.ctx, ptr, size)
        return
    crcx_release_lazily(ptr, size)
    while True:
        with lock:
            if n_kept < MAX_BUFFERS and kept_bytes + size <= <size_t>MAX_BYTES:
                kept[n_kept].ptr = ptr
                kept[n_kept].size = size
                n_kept += 1
                kept_bytes += size
                return
            oldest = kept[0]
            n_kept -= 1
            kept_bytes -= oldest.size
            for i in range(n_kept):
                kept[i] = kept[i + 1]
        fallback.free(fallback.ctx, oldest.ptr, oldest.size)


strcpy(handler.name, b"crcx_output_cache")
handler.version = 1
handler.allocator.ctx = NULL
handler.allocator.malloc = _malloc
handler.allocator.calloc = _calloc
handler.allocator.realloc = _realloc
handler.allocator.free = _free
# Arrays hold a reference to the capsule, so it outlives every array it allocated.
_capsule = PyCapsule_New(&handler, "mem_handler", NULL)


def empty(shape, dtype):
    """Return ``np.empty(shape, dtype)``, its memory taken from the kept buffers.

    A program that has installed its own NumPy memory handler keeps it: the
    array is then made by that handler, as ``np.empty`` would make it.

    Examples
    --------
    >>> from crcx._output_cache import empty
    >>> empty((2, 3), "uint8").shape
    (2, 3)
    """
    if PyDataMem_GetHandler() is not <object>PyDataMem_DefaultHandler:
        return np.empty(shape, dtype)
    previous = PyDataMem_SetHandler(_capsule)
    try:
        return np.empty(shape, dtype)
    finally:
        PyDataMem_SetHandler(previous)


def clear_output_cache():
    """Give every kept buffer back to the system; return how many bytes they held.

    Examples
    --------
    >>> from crcx._output_cache import clear_output_cache
    >>> clear_output_cache() >= 0
    True
    """
    global n_kept, kept_bytes
    cdef Py_ssize_t released = 0
    cdef Kept buffer
    while True:
        with lock:
            if n_kept == 0:
                return released
            n_kept -= 1
            buffer = kept[n_kept]
            kept_bytes -= buffer.size
        released += buffer.size
        fallback.free(fallback.ctx, buffer.ptr, buffer.size)


def kept_sizes():
    """Sizes in bytes of the buffers kept for reuse, oldest first."""
    with lock:
        return [kept[i].size for i in range(n_kept)]
