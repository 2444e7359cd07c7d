"""Output arrays placed apart from their input, their memory reused between calls.

Two costs of a new output that the filter itself cannot avoid:

* Page faults. The system maps and zeroes a new array's pages on first write; for
  an output of tens of MiB that costs as much as a fast filter, and more threads
  do not make it faster (4096x4096 uint16, 3x3 median on two threads: 1.8 ms
  filtering, 1.7 ms page faults). glibc keeps freed blocks below 32 MiB for the
  next malloc but unmaps larger ones, so a frame-by-frame loop would pay them on
  every call. Freed buffers of MIN_BYTES and more are kept here (at most
  MAX_BUFFERS, MAX_BYTES in all) and handed to the next output of the same size.
  They stay mapped until `clear_output_cache` (marking them MADV_FREE instead,
  for the system to take back at will, cost 0.3 ms of the 1.5 ms of that median
  on two threads: every page's first write then goes through the page tables).
* 4K aliasing. A load whose address matches a pending store's in its low 12 bits
  waits for that store. Large arrays from the C library all start 16 bytes past a
  page boundary, so with rows of a power-of-two byte length every output line
  matches every input line, and a kernel that stores a line and then reads the
  next one at the same columns stalls (2048x2048 uint16 3x3: 0.69 ms against
  0.45-0.50 ms with the output 256 bytes or more past the input, mod 4096).
  Large outputs start half a page away from their input, mod 4096, 64-byte
  aligned.

This is a NumPy memory handler (NEP 49), set only while `empty` makes an array.
Every block carries a header with what the fallback, NumPy's default handler,
returned, so its place in the block can vary and `free` never relies on the size
NumPy passes.
"""
cimport cython
cimport numpy as cnp
from cpython.pycapsule cimport PyCapsule_GetPointer, PyCapsule_New
from cpython.ref cimport PyObject
from libc.stdint cimport uintptr_t
from libc.string cimport memcpy, memset, strcpy

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

# Below 4 MiB the C library already reuses freed memory (and NumPy does not ask for
# huge pages); 4 buffers and 256 MiB cover the output and the one before it of a
# frame-by-frame loop up to 4096x4096 float64, and bound what an idle program keeps.
cpdef enum:
    MIN_BYTES = 1 << 22
    MAX_BUFFERS = 4
    MAX_BYTES = 1 << 28

cdef enum:
    PAGE = 4096
    ALIGNMENT = 64

cdef struct Header:
    void* raw        # the fallback's block
    size_t size      # bytes asked for

cdef Header kept[MAX_BUFFERS]
cdef int n_kept = 0
cdef size_t kept_bytes = 0
cdef cython.pymutex lock
cdef PyDataMemAllocator* fallback = <PyDataMemAllocator*>&(
    <PyDataMem_Handler*>PyCapsule_GetPointer(<object>PyDataMem_DefaultHandler, "mem_handler")
).allocator
cdef PyDataMem_Handler handler
# Address of the input the output being made will be read beside, or 0. Set and
# used while `empty` holds the GIL.
cdef uintptr_t near = 0


cdef inline bint _large(size_t size) noexcept nogil:
    return size >= <size_t>MIN_BYTES


cdef inline size_t _block_bytes(size_t size) noexcept nogil:
    """Bytes to ask the fallback for: room for the header and the placement."""
    return size + sizeof(Header) + (PAGE if _large(size) else ALIGNMENT)


cdef void* _take(size_t size) noexcept nogil:
    """Remove and return the block of a kept buffer of exactly `size` bytes, or NULL."""
    global n_kept, kept_bytes
    cdef void* raw = NULL
    cdef int i
    with lock:
        for i in range(n_kept - 1, -1, -1):
            if kept[i].size == size:
                raw = kept[i].raw
                kept_bytes -= size
                n_kept -= 1
                kept[i] = kept[n_kept]
                break
    return raw


cdef void* _place(void* raw, size_t size) noexcept nogil:
    """The start of `size` bytes within block `raw`, its header written before it."""
    cdef uintptr_t first = <uintptr_t>raw + sizeof(Header)
    cdef uintptr_t target = (first + ALIGNMENT - 1) & ~(<uintptr_t>ALIGNMENT - 1)
    cdef uintptr_t start
    if _large(size):
        if near != 0:
            target = (near + PAGE // 2) & ~(<uintptr_t>ALIGNMENT - 1)
        start = first + ((target - first) & (PAGE - 1))
    else:
        start = target
    (<Header*>start)[-1].raw = raw
    (<Header*>start)[-1].size = size
    return <void*>start


cdef void* _malloc(void* ctx, size_t size) noexcept nogil:
    cdef void* raw = _take(size) if _large(size) else NULL
    if raw == NULL:
        raw = fallback.malloc(fallback.ctx, _block_bytes(size))
        if raw == NULL:
            return NULL
    return _place(raw, size)


cdef void* _calloc(void* ctx, size_t nelem, size_t elsize) noexcept nogil:
    if elsize != 0 and nelem > (<size_t>-1) // elsize:
        return NULL
    cdef void* ptr = _malloc(ctx, nelem * elsize)
    if ptr != NULL:
        memset(ptr, 0, nelem * elsize)
    return ptr


cdef void* _realloc(void* ctx, void* ptr, size_t new_size) noexcept nogil:
    if ptr == NULL:
        return _malloc(ctx, new_size)
    cdef size_t old_size = (<Header*>ptr)[-1].size
    cdef void* moved = _malloc(ctx, new_size)
    if moved != NULL:
        memcpy(moved, ptr, min(old_size, new_size))
        _free(ctx, ptr, old_size)
    return moved


cdef void _free(void* ctx, void* ptr, size_t ignored) noexcept nogil:
    """Keep a large buffer for reuse, dropping the oldest kept ones to make room."""
    global n_kept, kept_bytes
    cdef Header block, oldest
    cdef int i
    if ptr == NULL:
        return
    block = (<Header*>ptr)[-1]
    if not _large(block.size) or block.size > <size_t>MAX_BYTES:
        fallback.free(fallback.ctx, block.raw, _block_bytes(block.size))
        return
    while True:
        with lock:
            if n_kept < MAX_BUFFERS and kept_bytes + block.size <= <size_t>MAX_BYTES:
                kept[n_kept] = block
                n_kept += 1
                kept_bytes += block.size
                return
            oldest = kept[0]
            n_kept -= 1
            kept_bytes -= oldest.size
            for i in range(n_kept):
                kept[i] = kept[i + 1]
        fallback.free(fallback.ctx, oldest.raw, _block_bytes(oldest.size))


strcpy(handler.name, b"crcx_output_cache")
handler.version = 1
handler.allocator.ctx = NULL
handler.allocator.malloc = _malloc
handler.allocator.calloc = _calloc
handler.allocator.realloc = _realloc
handler.allocator.free = _free
# Arrays hold a reference to the capsule, so it outlives every array it allocated.
_capsule = PyCapsule_New(&handler, "mem_handler", NULL)


def empty(shape, dtype, beside=None):
    """Return ``np.empty(shape, dtype)``, reusing kept memory, placed apart from `beside`.

    Parameters
    ----------
    shape, dtype
        As for ``np.empty``.
    beside : ndarray, optional
        The array the new one will be computed from: a large new array starts half
        a page away from it, modulo the page size.

    A program that has installed its own NumPy memory handler keeps it: the array
    is then made by that handler, as ``np.empty`` would make it.

    Examples
    --------
    >>> from crcx._output_cache import empty
    >>> empty((2, 3), "uint8").shape
    (2, 3)
    """
    global near
    if PyDataMem_GetHandler() is not <object>PyDataMem_DefaultHandler:
        return np.empty(shape, dtype)
    near = 0 if beside is None else <uintptr_t>beside.__array_interface__["data"][0]
    previous = PyDataMem_SetHandler(_capsule)
    try:
        return np.empty(shape, dtype)
    finally:
        PyDataMem_SetHandler(previous)
        near = 0


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
    cdef Header block
    while True:
        with lock:
            if n_kept == 0:
                return released
            n_kept -= 1
            block = kept[n_kept]
            kept_bytes -= block.size
        released += block.size
        fallback.free(fallback.ctx, block.raw, _block_bytes(block.size))


def kept_sizes():
    """Sizes in bytes of the buffers kept for reuse, oldest first."""
    with lock:
        return [kept[i].size for i in range(n_kept)]
