"""The memory of large outputs and of scratch planes is reused, within bounds, and never
shows through."""
import ctypes
import os
import threading

import numpy as np
import pytest
import scipy.ndimage as ndi
from numpy._core.multiarray import get_handler_name

import crcx
from crcx._runtime import memory as output_cache

LARGE = output_cache.MIN_BYTES  # the smallest size kept
LIMIT = output_cache.DEFAULT_CACHE_LIMIT


def address(array):
    return array.__array_interface__["data"][0]


@pytest.fixture(autouse=True)
def empty_cache():
    output_cache.clear_output_cache()
    yield
    output_cache.set_cache_limit(LIMIT)
    output_cache.clear_output_cache()


def test_a_freed_output_is_reused_for_the_next_of_its_size():
    first = output_cache.empty((LARGE,), np.uint8)
    where = address(first)
    del first
    assert output_cache.kept_sizes() == [LARGE]
    assert address(output_cache.empty((LARGE // 2,), np.uint16)) == where
    assert output_cache.kept_sizes() == [LARGE]  # given back when the temporary died


def test_other_sizes_get_new_memory():
    first = output_cache.empty((LARGE,), np.uint8)
    where = address(first)
    del first
    other = output_cache.empty((LARGE + 1,), np.uint8)
    assert address(other) != where
    assert output_cache.kept_sizes() == [LARGE]


def test_a_buffer_serves_sizes_up_to_an_eighth_smaller():
    first = output_cache.empty((LARGE + LARGE // 8,), np.uint8)
    where = address(first)
    del first
    assert address(output_cache.empty((LARGE - 1,), np.uint8)) != where
    assert address(output_cache.empty((LARGE,), np.uint8)) == where
    # the buffer keeps its capacity, not the size it last served
    assert output_cache.kept_sizes() == [LARGE + LARGE // 8]


def test_small_and_huge_buffers_are_not_kept():
    output_cache.empty((LARGE - 1,), np.uint8)
    output_cache.empty((LIMIT + 1,), np.uint8)
    assert output_cache.kept_sizes() == []


def test_the_oldest_buffers_make_room_and_clearing_releases_all():
    arrays = [output_cache.empty((LARGE + i,), np.uint8) for i in range(6)]
    while arrays:
        del arrays[0]
    assert output_cache.kept_sizes() == [LARGE + i for i in range(2, 6)]
    assert output_cache.clear_output_cache() == sum(LARGE + i for i in range(2, 6))
    assert output_cache.kept_sizes() == []


def test_the_byte_limit_holds():
    quarter = LIMIT // 4
    arrays = [output_cache.empty((quarter + 1,), np.uint8) for i in range(3)]
    arrays.clear()
    assert output_cache.kept_sizes() == [quarter + 1] * 3
    output_cache.empty((quarter + quarter // 4,), np.uint8)
    assert output_cache.kept_sizes() == [quarter + 1] * 2 + [quarter + quarter // 4]


def test_large_outputs_start_half_a_page_from_their_input():
    for offset in (0, 16, 2048, 4000):
        buffer = np.empty(LARGE + 4096, np.uint8)
        start = -address(buffer) % 4096 + offset
        image = buffer[start:start + LARGE]
        out = output_cache.empty((LARGE,), np.uint8, beside=image)
        assert address(out) % 64 == 0
        assert 2048 - 64 < (address(out) - address(image)) % 4096 <= 2048


def test_small_arrays_are_aligned():
    assert all(address(output_cache.empty((n,), np.uint8)) % 64 == 0 for n in (0, 1, 1000))


def test_resizing_keeps_the_contents():
    array = output_cache.empty((LARGE,), np.uint8)
    array[:] = np.arange(LARGE) % 251
    array.resize(2 * LARGE, refcheck=False)
    np.testing.assert_array_equal(array[:LARGE], np.arange(LARGE) % 251)
    array.resize(10, refcheck=False)
    np.testing.assert_array_equal(array, np.arange(10))
    assert output_cache.kept_sizes() == [LARGE, 2 * LARGE]


def test_median_outputs_use_it_and_stay_exact():
    rng = np.random.default_rng(5)
    images = [rng.integers(0, 256, (2048, 2048), dtype=np.uint8) for _ in range(2)]
    first = crcx.median(images[0])
    assert get_handler_name(first) == "crcx_output_cache"
    expected = [ndi.median_filter(image, 3) for image in images]
    np.testing.assert_array_equal(first, expected[0])
    del first
    # the second output is written into the first one's memory
    np.testing.assert_array_equal(crcx.median(images[1], n_threads=2), expected[1])
    np.testing.assert_array_equal(crcx.median(images[1], output=np.float32),
                                  expected[1].astype(np.float32))


def test_arrays_freed_on_other_threads():
    def churn():
        for i in range(50):
            output_cache.empty((LARGE + i % 3,), np.uint8)

    threads = [threading.Thread(target=churn) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sizes = output_cache.kept_sizes()
    assert len(sizes) <= 4 and sum(sizes) <= LIMIT
    assert set(sizes) <= {LARGE, LARGE + 1, LARGE + 2}


# --- the scratch pool ---------------------------------------------------------------

SCRATCH = output_cache.SCRATCH_MIN_BYTES  # the smallest size the scratch pool keeps


def test_inside_a_section_arrays_come_from_the_scratch_pool():
    with output_cache.reusing_memory():
        inside = np.ones(SCRATCH)
        assert get_handler_name(inside) == "crcx_scratch"
        assert get_handler_name(output_cache.empty((LARGE,), np.uint8)) == "crcx_scratch"
    assert get_handler_name() == "default_allocator"
    assert get_handler_name(np.ones(SCRATCH)) == "default_allocator"
    np.testing.assert_array_equal(inside, 1.0)


def test_scratch_planes_are_reused_within_and_across_sections():
    with output_cache.reusing_memory():
        plane = np.empty(SCRATCH, np.uint8)
        where = address(plane)
        del plane
        assert output_cache.kept_sizes(scratch_pool=True) == [SCRATCH]
        assert address(np.zeros(SCRATCH, np.uint8)) == where
        small = np.empty(SCRATCH - 1, np.uint8)
    del small
    assert output_cache.kept_sizes(scratch_pool=True) == [SCRATCH]
    assert output_cache.kept_sizes() == []
    with output_cache.reusing_memory():
        assert address(np.empty(SCRATCH, np.uint8)) == where


def test_a_section_gives_back_the_buffers_it_did_not_use():
    with output_cache.reusing_memory():
        np.empty(SCRATCH, np.uint8)
        np.empty(2 * SCRATCH, np.uint8)
    assert sorted(output_cache.kept_sizes(scratch_pool=True)) == [SCRATCH, 2 * SCRATCH]
    with output_cache.reusing_memory():
        np.empty(2 * SCRATCH, np.uint8)
    assert output_cache.kept_sizes(scratch_pool=True) == [2 * SCRATCH]
    assert output_cache.clear_output_cache() == 2 * SCRATCH
    assert output_cache.kept_sizes(scratch_pool=True) == []


def test_the_scratch_pool_is_bounded():
    with output_cache.reusing_memory():
        arrays = [np.empty(SCRATCH + i, np.uint8)
                  for i in range(output_cache.SCRATCH_MAX_BUFFERS + 3)]
        while arrays:
            del arrays[0]
        sizes = output_cache.kept_sizes(scratch_pool=True)
        assert len(sizes) == output_cache.SCRATCH_MAX_BUFFERS
        assert min(sizes) == SCRATCH + 3          # the oldest made room
        np.empty(output_cache.SCRATCH_MAX_BYTES + 1, np.uint8)
    assert sorted(output_cache.kept_sizes(scratch_pool=True)) == sizes


def test_past_its_spare_bytes_a_size_it_cannot_reuse_replaces_the_oldest_buffers():
    # sizes more than an eighth apart, so that none serves another; together they
    # pass the spare bytes, and giving back the two oldest brings the pool to them
    spare = output_cache.SCRATCH_SPARE_BYTES
    sizes = [spare * n // 64 for n in (20, 24, 29, 35)]
    with output_cache.reusing_memory():
        arrays = [np.empty(size, np.uint8) for size in sizes]
        while arrays:
            del arrays[0]
        assert output_cache.kept_sizes(scratch_pool=True) == sizes
        new = np.empty(spare * 31 // 64, np.uint8)
        assert output_cache.kept_sizes(scratch_pool=True) == sizes[2:]
        del new


def test_within_its_spare_bytes_the_pool_keeps_every_size():
    spare = output_cache.SCRATCH_SPARE_BYTES
    sizes = [spare * n // 64 for n in (8, 10)]
    with output_cache.reusing_memory():
        arrays = [np.empty(size, np.uint8) for size in sizes]
        while arrays:
            del arrays[0]
        new = np.empty(spare * 12 // 64, np.uint8)
        assert output_cache.kept_sizes(scratch_pool=True) == sizes
        del new


def test_crc_median_runs_in_a_section_and_leaves_none_open():
    rng = np.random.default_rng(7)
    image = rng.integers(0, 256, (300, 300), dtype=np.uint8)
    first = crcx.crc_median(image)
    assert get_handler_name() == "default_allocator"
    assert len(output_cache.kept_sizes(scratch_pool=True)) > 0
    again = crcx.crc_median(image, n_threads=2)   # in memory the first call freed
    np.testing.assert_array_equal(first, again)


# --- what the pools keep once calls have returned -----------------------------------

def kept_bytes():
    return sum(output_cache.kept_sizes()) + sum(output_cache.kept_sizes(scratch_pool=True))


def resident_bytes():
    """The process's resident memory, as the system counts it."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def settled_resident_bytes():
    """Resident memory once the C library has given back the free memory it holds
    (glibc's heap, or the quarantine of tools/sanitize.sh's AddressSanitizer)."""
    libc = ctypes.CDLL(None)
    purge = getattr(libc, "__sanitizer_purge_allocator", None)
    if purge is not None:
        purge()
    else:
        libc.malloc_trim(0)
    return resident_bytes()


def test_the_limit_is_checked_and_the_previous_one_returned():
    assert output_cache.set_cache_limit(3 * LARGE) == LIMIT
    assert output_cache.set_cache_limit(0) == 3 * LARGE
    for wrong, error in (("64", TypeError), (1.5, TypeError), (True, TypeError),
                         (None, TypeError), (-1, ValueError)):
        with pytest.raises(error, match="limit"):
            output_cache.set_cache_limit(wrong)
    assert output_cache.set_cache_limit(LIMIT) == 0


def test_a_zero_limit_keeps_nothing_between_calls():
    output_cache.set_cache_limit(0)
    output_cache.empty((LARGE,), np.uint8)
    assert output_cache.kept_sizes() == []
    image = np.random.default_rng(3).integers(0, 256, (300, 300), dtype=np.uint8)
    first = crcx.crc_median(image)
    assert kept_bytes() == 0
    np.testing.assert_array_equal(crcx.crc_median(image), first)


def test_a_section_may_keep_more_than_the_limit_until_it_ends():
    output_cache.set_cache_limit(4 * SCRATCH)
    output_cache.empty((LARGE,), np.uint8)       # an output larger than the limit
    assert output_cache.kept_sizes() == []
    with output_cache.reusing_memory():
        planes = [np.empty(SCRATCH + i, np.uint8) for i in range(10)]
        while planes:
            del planes[0]
        assert kept_bytes() == sum(SCRATCH + i for i in range(10))
    # the most recent planes are kept, within the limit
    assert output_cache.kept_sizes(scratch_pool=True) == [SCRATCH + i for i in range(7, 10)]


def test_lowering_the_limit_gives_back_at_once():
    arrays = [output_cache.empty((LARGE + i,), np.uint8) for i in range(3)]
    while arrays:
        del arrays[0]
    assert kept_bytes() == 3 * LARGE + 3
    output_cache.set_cache_limit(2 * LARGE + 1)
    assert output_cache.kept_sizes() == [LARGE + 2]


def test_crc_median_keeps_at_most_the_limit_after_it_returns():
    image = np.random.default_rng(4).integers(0, 256, (768, 768), dtype=np.uint8)
    first = crcx.crc_median(image)
    assert 0 < kept_bytes() <= LIMIT
    # two of the call's float64 planes: room for its newest buffer, whichever it is,
    # and a small part of what it keeps otherwise
    limit = 2 * image.size * 8
    assert kept_bytes() > 4 * limit
    output_cache.set_cache_limit(limit)
    np.testing.assert_array_equal(crcx.crc_median(image), first)
    assert 0 < kept_bytes() <= limit


def test_clearing_returns_the_memory_to_the_system():
    # the pools start empty: blocks kept by earlier tests in this process (another
    # set of them under pytest-xdist) may be resident only in part
    output_cache.clear_output_cache()
    rng = np.random.default_rng(8)
    images = [rng.integers(0, 256, shape, dtype=np.uint8) for shape in
              ((4096, 4096), (3000, 3000), (2500, 2500))]
    for image in images:        # outputs made, written and freed: kept
        crcx.median(image, size=3)
    crcx.crc_median(images[2][:700, :700])        # and CRC-MF's planes
    assert output_cache.kept_sizes() and output_cache.kept_sizes(scratch_pool=True)
    held = resident_bytes()
    released = output_cache.clear_output_cache()
    assert released > LIMIT // 2
    assert held - resident_bytes() >= 0.9 * released


def test_a_long_loop_of_varying_sizes_does_not_grow_the_process():
    rng = np.random.default_rng(6)
    sizes = rng.integers(1024, 3072, 80)
    image = rng.integers(0, 1 << 16, (3072, 3072), dtype=np.uint16)
    small = rng.integers(0, 256, (384, 384), dtype=np.uint8)
    # what the first calls make once (the threads and their stacks, the C library's
    # per-thread heaps) is no growth, and an earlier test in this process may have made it
    crcx.median(image[:1024, :1024], size=3)
    crcx.crc_median(small[:300, :300])
    output_cache.clear_output_cache()
    start = settled_resident_bytes()
    for i, n in enumerate(sizes):
        out = crcx.median(image[:n, :n], size=3)
        if i % 10 == 0:
            out = crcx.crc_median(small[:300 + i, :300 + i])
        del out
        assert kept_bytes() <= LIMIT
        # besides the pools, the C library and Python hold a few tens of MiB at times
        if i % 10 == 9:
            assert settled_resident_bytes() - start - kept_bytes() < 48 << 20
    # what the loop made and freed, many times the limit, left nothing behind
    assert sum(2 * int(n) ** 2 for n in sizes) > 8 * LIMIT
    output_cache.clear_output_cache()
    # settled, as `start` is: glibc's dynamic mmap threshold puts blocks of up to 32 MiB
    # on its heap once large ones were freed, and keeps them there until trimmed
    assert settled_resident_bytes() - start < 32 << 20
