"""Arrays placed apart from their input, their memory reused between calls.

Two costs of a new array that a filter itself cannot avoid:

* Page faults. The system maps and zeroes a new array's pages on first write; for
  an output of tens of MiB that costs as much as a fast filter, and more threads
  do not make it faster. glibc keeps freed blocks below 32 MiB for the
  next malloc but unmaps larger ones, so a frame-by-frame loop would pay them on
  every call. Freed outputs of MIN_BYTES and more are kept here (at most
  MAX_BUFFERS, within the cache limit) and handed to the next output they fit (the
  same size, or up to an eighth smaller).
  They stay mapped until `clear_output_cache` (marking them MADV_FREE instead,
  for the system to take back at will, cost a fifth of a fast median's time:
  every page's first write then goes through the page tables).
* 4K aliasing. A load whose address matches a pending store's in its low 12 bits
  waits for that store. Large arrays from the C library all start 16 bytes past a
  page boundary, so with rows of a power-of-two byte length every output line
  matches every input line, and a kernel that stores a line and then reads the
  next one at the same columns stalls (a 3x3 median a third slower).
  Large outputs start half a page away from their input, mod 4096, 64-byte
  aligned.

A filter that makes and frees many planes, as CRC-MF does, pays the page faults
on smaller arrays too: glibc gives the top of its heap back to the system when
more than twice its mmap threshold is free there, so the planes of every call are
faulted in anew (a quarter of CRC-MF's time on one thread). Arrays made inside
`reusing_memory` come from a second pool, the scratch pool, which keeps freed
blocks of SCRATCH_MIN_BYTES and more (at most SCRATCH_MAX_BUFFERS,
SCRATCH_MAX_BYTES in all) for the next array they fit, in that call and the next
ones; a section gives back, as it ends, the blocks kept before it
began that it did not use. An array that no kept block fits replaces the oldest
ones, as many bytes as it takes, while the pool keeps more than SCRATCH_SPARE_BYTES:
otherwise a call on a large image, whose planes come in many sizes, would hold every
size it freed besides those in use (a 1920x1080 RGB CRC-MF call: 995 MB at its peak
above its input, 726 MB with the rule, at the same speed).

The cache limit (`set_cache_limit`, DEFAULT_CACHE_LIMIT unless set) bounds what
both pools keep together while no section is open, that is what the program holds
after crcx's calls have returned; inside a call the scratch pool may keep more, up
to its own bounds, since that memory is the call's working set.

This is a NumPy memory handler (NEP 49) in two instances, one a pool: the output
handler, set only while `empty` makes an array, and the scratch handler, set
while `reusing_memory` is open. A block returns to the pool of the handler that
made it. Every block carries a header with what the fallback, NumPy's default
handler, returned, so its place in the block can vary and `free` never relies on
the size NumPy passes. benchmarks/results/design.md has the measurements behind
these choices.
"""
cimport cython
cimport numpy as cnp
from cpython.pycapsule cimport PyCapsule_GetPointer, PyCapsule_New
from cpython.ref cimport PyObject
from libc.stdint cimport uintptr_t
from libc.string cimport memcpy, memset, strcpy

import contextlib

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
# huge pages); 4 buffers cover the output and the one before it of a frame-by-frame
# loop, and of a loop over two sizes. DEFAULT_CACHE_LIMIT bounds what both pools
# keep while no call runs (unless set_cache_limit says otherwise): a frame loop's
# freed output up to 4096x4096 float32, and the planes of a 1024x1024 CRC-MF call
# (benchmarks/results/memory_pools.md measures what they earn).
cpdef enum:
    MIN_BYTES = 1 << 22
    MAX_BUFFERS = 4
    DEFAULT_CACHE_LIMIT = 1 << 26
# The scratch pool keeps from glibc's default mmap threshold up; a CRC-MF call on a
# plane frees and makes again about 20 arrays of a few sizes (and about 100 in all,
# counting masks and samples), and 1 GiB holds twenty float64 planes of 2500x2500.
# 64 MiB spare keep a 512x512 call at the speed of a pool without the rule; without
# the pool that call is 19 % slower on one thread, with the pool capped at 64 MiB in
# all 4 % (its pages faulted in anew).
cpdef enum:
    SCRATCH_MIN_BYTES = 1 << 17
    SCRATCH_MAX_BUFFERS = 128
    SCRATCH_MAX_BYTES = 1 << 30
    SCRATCH_SPARE_BYTES = 1 << 26

# glibc keeps freed blocks below its mmap threshold (which rises up to 32 MiB as
# large blocks are freed) in its heap, resident, for its next mallocs; under
# AddressSanitizer (tools/sanitize.sh) its own allocator holds freed blocks back.
cdef extern from *:
    """
    #if defined(__SANITIZE_ADDRESS__)
    extern "C" void __sanitizer_purge_allocator(void);
    static void crcx_trim_heap(void) { __sanitizer_purge_allocator(); }
    #elif defined(__GLIBC__)
    #include <malloc.h>
    static void crcx_trim_heap(void) { malloc_trim(0); }
    #else
    static void crcx_trim_heap(void) {}
    #endif
    """
    void crcx_trim_heap() noexcept nogil

cdef enum:
    PAGE = 4096
    ALIGNMENT = 64

cdef struct Header:
    void* raw        # the fallback's block
    size_t size      # bytes asked for
    size_t capacity  # bytes the block can hold: `size` or more, when reused
    long kept_in     # the `reusing_memory` section in which it was last freed

cdef struct Pool:
    Header kept[SCRATCH_MAX_BUFFERS]     # oldest first
    int n_kept
    size_t kept_bytes
    size_t min_bytes
    int max_buffers
    size_t max_bytes
    size_t spare_bytes   # kept bytes that a new buffer never makes the pool give back

cdef Pool outputs
cdef Pool scratch
cdef size_t cache_limit = DEFAULT_CACHE_LIMIT
outputs.n_kept = scratch.n_kept = 0
outputs.kept_bytes = scratch.kept_bytes = 0
outputs.min_bytes, outputs.max_buffers, outputs.max_bytes = MIN_BYTES, MAX_BUFFERS, cache_limit
scratch.min_bytes, scratch.max_buffers, scratch.max_bytes = (
    SCRATCH_MIN_BYTES, SCRATCH_MAX_BUFFERS, SCRATCH_MAX_BYTES)
outputs.spare_bytes, scratch.spare_bytes = <size_t>-1, SCRATCH_SPARE_BYTES
cdef long sections = 0          # `reusing_memory` sections begun so far
cdef long open_sections = 0     # and not yet ended
cdef cython.pymutex lock         # guards both pools, the section counts and the limit
cdef PyDataMemAllocator* fallback = <PyDataMemAllocator*>&(
    <PyDataMem_Handler*>PyCapsule_GetPointer(<object>PyDataMem_DefaultHandler, "mem_handler")
).allocator
# Address of the input the output being made will be read beside, or 0. Set and
# used while `empty` holds the GIL.
cdef uintptr_t near = 0


cdef inline bint _large(size_t size) noexcept nogil:
    return size >= <size_t>MIN_BYTES


cdef inline size_t _block_bytes(size_t capacity) noexcept nogil:
    """Bytes to ask the fallback for: room for the header and the placement."""
    return capacity + sizeof(Header) + (PAGE if _large(capacity) else ALIGNMENT)


cdef inline bint _keepable(Pool* pool, size_t size) noexcept nogil:
    return pool.min_bytes <= size <= pool.max_bytes


cdef Header _remove(Pool* pool, int i) noexcept nogil:
    """Take kept buffer `i` out of `pool`, keeping the others in order; hold `lock`."""
    cdef Header block = pool.kept[i]
    pool.n_kept -= 1
    pool.kept_bytes -= block.capacity
    for i in range(i, pool.n_kept):
        pool.kept[i] = pool.kept[i + 1]
    return block


cdef Header _take(Pool* pool, size_t size) noexcept nogil:
    """Remove and return the kept buffer that fits `size` bytes best, or one with no block.

    A buffer fits if it holds `size` bytes and at most an eighth more: the planes of
    one image differ by their padding, and a looser fit would hold memory idle.
    """
    cdef Header found
    cdef int i, best = -1
    found.raw = NULL
    with lock:
        for i in range(pool.n_kept - 1, -1, -1):
            if (size <= pool.kept[i].capacity <= size + size // 8
                    and (best < 0 or pool.kept[i].capacity < pool.kept[best].capacity)):
                best = i
        if best >= 0:
            found = _remove(pool, best)
    return found


cdef void* _place(void* raw, size_t size, size_t capacity) noexcept nogil:
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
    (<Header*>start)[-1].capacity = capacity
    return <void*>start


cdef void* _malloc(void* ctx, size_t size) noexcept nogil:
    cdef Pool* pool = <Pool*>ctx
    cdef Header block
    block.raw = NULL
    if _keepable(pool, size):
        block = _take(pool, size)
        if block.raw == NULL:
            _make_room(pool, size)
    if block.raw == NULL:
        block.capacity = size
        block.raw = fallback.malloc(fallback.ctx, _block_bytes(size))
        if block.raw == NULL:
            return NULL
    return _place(block.raw, size, block.capacity)


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


cdef size_t _release_oldest(Pool* pool) noexcept nogil:
    """Give the oldest buffer `pool` keeps back to the system; its bytes, 0 if it keeps
    none."""
    cdef Header oldest
    with lock:
        if pool.n_kept == 0:
            return 0
        oldest = _remove(pool, 0)
    fallback.free(fallback.ctx, oldest.raw, _block_bytes(oldest.capacity))
    return oldest.capacity


cdef void _make_room(Pool* pool, size_t size) noexcept nogil:
    """Give back the oldest kept buffers, `size` bytes of them or as many as the pool
    keeps past its spare bytes: a new buffer of `size` bytes, which none of them fits,
    takes their place. What the process holds in use and kept then grows past the
    arrays in use at once by the spare bytes at most, not by every size a call has
    freed."""
    cdef size_t released = 0, freed = 1
    while released < size and freed > 0 and pool.kept_bytes > pool.spare_bytes:
        freed = _release_oldest(pool)
        released += freed


cdef void _release_stale(Pool* pool, long section) noexcept nogil:
    """Give back the buffers `pool` kept before `section` began and has not used since."""
    cdef Header block
    cdef int i
    while True:
        block.raw = NULL
        with lock:
            for i in range(pool.n_kept):
                if pool.kept[i].kept_in < section:
                    block = _remove(pool, i)
                    break
        if block.raw == NULL:
            return
        fallback.free(fallback.ctx, block.raw, _block_bytes(block.capacity))


cdef void _trim_idle() noexcept nogil:
    """While no section is open, give back the oldest kept buffers, scratch ones first,
    until the pools keep at most `cache_limit` bytes together."""
    cdef Pool* pool
    while True:
        with lock:
            if (open_sections > 0
                    or outputs.kept_bytes + scratch.kept_bytes <= cache_limit):
                return
            pool = &scratch if scratch.n_kept > 0 else &outputs
        _release_oldest(pool)


cdef void _free(void* ctx, void* ptr, size_t ignored) noexcept nogil:
    """Keep a buffer for reuse, dropping the oldest kept ones to make room."""
    cdef Pool* pool = <Pool*>ctx
    cdef Header block
    cdef bint kept = False
    if ptr == NULL:
        return
    block = (<Header*>ptr)[-1]
    if not _keepable(pool, block.capacity):
        fallback.free(fallback.ctx, block.raw, _block_bytes(block.capacity))
        return
    while not kept:
        with lock:
            if (pool.n_kept < pool.max_buffers
                    and pool.kept_bytes + block.capacity <= pool.max_bytes):
                block.kept_in = sections
                pool.kept[pool.n_kept] = block
                pool.n_kept += 1
                pool.kept_bytes += block.capacity
                kept = True
        if not kept and _release_oldest(pool) == 0:
            # the limit was lowered meanwhile below this buffer's size
            fallback.free(fallback.ctx, block.raw, _block_bytes(block.capacity))
            return
    _trim_idle()


cdef PyDataMem_Handler output_handler
cdef PyDataMem_Handler scratch_handler


cdef object _capsule(PyDataMem_Handler* handler, const char* name, Pool* pool):
    strcpy(handler.name, name)
    handler.version = 1
    handler.allocator.ctx = pool
    handler.allocator.malloc = _malloc
    handler.allocator.calloc = _calloc
    handler.allocator.realloc = _realloc
    handler.allocator.free = _free
    # Arrays hold a reference to the capsule, so it outlives every array it allocated.
    return PyCapsule_New(handler, "mem_handler", NULL)


_outputs = _capsule(&output_handler, b"crcx_output_cache", &outputs)
_scratch = _capsule(&scratch_handler, b"crcx_scratch", &scratch)


def empty(shape, dtype, beside=None):
    """Return ``np.empty(shape, dtype)``, reusing kept memory, placed apart from `beside`.

    Parameters
    ----------
    shape, dtype
        As for ``np.empty``.
    beside : ndarray, optional
        The array the new one will be computed from: a large new array starts half
        a page away from it, modulo the page size.

    Inside `reusing_memory` the array comes from the scratch pool. A program that
    has installed its own NumPy memory handler keeps it: the array is then made by
    that handler, as ``np.empty`` would make it.

    Examples
    --------
    >>> from crcx._runtime.memory import empty
    >>> empty((2, 3), "uint8").shape
    (2, 3)
    """
    global near
    current = PyDataMem_GetHandler()
    if current is not <object>PyDataMem_DefaultHandler and current is not _scratch:
        return np.empty(shape, dtype)
    near = 0 if beside is None else <uintptr_t>beside.__array_interface__["data"][0]
    previous = PyDataMem_SetHandler(_scratch if current is _scratch else _outputs)
    try:
        return np.empty(shape, dtype)
    finally:
        PyDataMem_SetHandler(previous)
        near = 0


@contextlib.contextmanager
def reusing_memory():
    """While open, make this thread's NumPy arrays from the scratch pool.

    For a filter that makes and frees many planes: their freed blocks are kept for
    the next arrays of their sizes, in this call and later ones, instead of going
    back to the system and being faulted in again. A program's own memory handler
    is left in place (the section then changes nothing).

    Examples
    --------
    >>> import numpy as np
    >>> from crcx._runtime.memory import reusing_memory
    >>> with reusing_memory():
    ...     total = sum(float(np.ones(1 << 16).sum()) for _ in range(3))
    >>> total
    196608.0
    """
    global sections, open_sections
    cdef long section
    if PyDataMem_GetHandler() is not <object>PyDataMem_DefaultHandler:
        yield
        return
    with lock:
        sections += 1
        open_sections += 1
        section = sections
    previous = PyDataMem_SetHandler(_scratch)
    try:
        yield
    finally:
        PyDataMem_SetHandler(previous)
        _release_stale(&scratch, section)
        with lock:
            open_sections -= 1
        _trim_idle()


def set_cache_limit(limit):
    """Set how many bytes of freed memory crcx may keep once its calls have returned.

    crcx keeps the memory of large freed outputs, and of the arrays CRC-MF makes
    and frees, for the next arrays of their sizes: a new array's pages would
    otherwise be mapped and zeroed again by the system on first write. Once no call
    is running, both pools together keep at most `limit` bytes (DEFAULT_CACHE_LIMIT
    unless set), giving back the oldest buffers first; during a CRC-MF call
    its scratch pool may keep more. What is kept beyond the new limit is given back
    as soon as no call is running.

    Parameters
    ----------
    limit : int
        Bytes, 0 or more. 0 keeps nothing between calls.

    Returns
    -------
    int
        The previous limit.

    Examples
    --------
    >>> from crcx import set_cache_limit
    >>> previous = set_cache_limit(0)       # keep nothing between calls
    >>> set_cache_limit(previous)
    0
    """
    global cache_limit
    cdef size_t previous
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise TypeError(f"limit must be an int (bytes), got {type(limit).__name__}")
    if limit < 0:
        raise ValueError(f"limit must be 0 or more bytes, got {limit}")
    with lock:
        previous = cache_limit
        cache_limit = outputs.max_bytes = min(limit, <size_t>-1)
    _trim_idle()
    return previous


def clear_output_cache():
    """Give every kept buffer back to the system; return how many bytes they held.

    Memory freed from then on is kept again, within `set_cache_limit`. With glibc, the
    C library is also asked to return the free memory of its heap (``malloc_trim``),
    where the smaller buffers would otherwise stay resident.

    Examples
    --------
    >>> from crcx import clear_output_cache
    >>> clear_output_cache() >= 0
    True
    """
    released = _clear(&outputs) + _clear(&scratch)
    with nogil:
        crcx_trim_heap()
    return released


cdef Py_ssize_t _clear(Pool* pool):
    cdef Py_ssize_t released = 0
    with lock:
        released = pool.kept_bytes
    while _release_oldest(pool):
        pass
    return released


def kept_sizes(bint scratch_pool=False):
    """Sizes in bytes of the buffers kept for reuse, oldest first.

    Those of the scratch pool (arrays made inside `reusing_memory`) if `scratch_pool`.
    """
    cdef Pool* pool = &scratch if scratch_pool else &outputs
    with lock:
        return [pool.kept[i].capacity for i in range(pool.n_kept)]
