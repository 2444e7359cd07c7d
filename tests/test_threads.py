"""Threads: concurrent calls are correct, the GIL is released, OpenMP threads are capped."""
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

import crcx
from crcx import _openmp
from crcx.collection import denoise_collection

RNG = np.random.default_rng(9)
# Inputs that exercise each kernel: selection network, histogram, introselect.
CASES = [
    (RNG.integers(0, 256, (60, 70), dtype=np.uint8), {"size": 3, "mode": "reflect"}),
    (RNG.integers(0, 65536, (50, 40), dtype=np.uint16), {"size": 9, "mode": "wrap"}),
    (RNG.normal(size=(45, 55)).astype(np.float32), {"size": 5, "mode": "mirror"}),
    (RNG.normal(size=(30, 33)), {"size": (11, 7), "mode": "constant", "cval": 0.25}),
    (RNG.integers(-9, 9, (4, 20, 20), dtype=np.int64), {"size": 3, "mode": "nearest"}),
]


def test_many_threads_calling_median_at_once_get_the_serial_results():
    expected = [crcx.median(image, n_threads=1, **options) for image, options in CASES]
    workers = 8
    calls = [(case, n_threads) for case in range(len(CASES)) for n_threads in (1, 2)] * 4
    assert len(calls) % workers == 0
    collide = threading.Barrier(workers)

    def call(task):
        case, n_threads = task
        collide.wait(timeout=30)  # start each batch of eight calls together
        image, options = CASES[case]
        return case, crcx.median(image, n_threads=n_threads, **options)

    with ThreadPoolExecutor(max_workers=workers) as executor:
        results = list(executor.map(call, calls))
    for case, result in results:
        np.testing.assert_array_equal(result, expected[case])


def _loop_rate(seconds=0.1):
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        count += 1
    return count / seconds


def test_median_releases_the_gil():
    image = RNG.normal(size=(256, 256))
    start = time.perf_counter()
    crcx.median(image, 15, n_threads=1)
    alone = time.perf_counter() - start
    rate = _loop_rate()
    finished = threading.Event()

    def work():
        crcx.median(image, 15, n_threads=1)
        finished.set()

    worker = threading.Thread(target=work)
    count, start = 0, time.perf_counter()
    worker.start()
    while not finished.is_set():
        count += 1
    elapsed = time.perf_counter() - start
    worker.join()
    # A kernel holding the GIL would stall this loop for the whole call (a fraction
    # near 0); released, the loop keeps going at a good part of its own speed even when
    # both threads share one core (about 0.5).
    assert elapsed >= 0.5 * alone
    assert count / (rate * elapsed) > 0.2


def test_threadpool_limits_caps_the_openmp_threads():
    default = _openmp.effective_n_threads()
    if _openmp.openmp_enabled:
        assert any(info["internal_api"] == "openmp" for info in threadpool_info())
    with threadpool_limits(1):
        assert _openmp.effective_n_threads() == 1
        assert _openmp.effective_n_threads(3) == 3  # an explicit request wins
        image, options = CASES[0]
        np.testing.assert_array_equal(crcx.median(image, **options),
                                      crcx.median(image, n_threads=1, **options))
    assert _openmp.effective_n_threads() == default


def test_collection_jobs_run_each_filter_on_one_openmp_thread(monkeypatch):
    seen = []
    median = crcx.median

    def recording_median(image, **options):
        seen.append((threading.get_ident(), options.get("n_threads")))
        return median(image, **options)

    monkeypatch.setattr(crcx, "median", recording_median)
    images = [RNG.integers(0, 256, (40, 40), dtype=np.uint8) for _ in range(8)]
    result = denoise_collection(images, "median", jobs=2, size=3)
    assert {n_threads for _, n_threads in seen} == {1}
    assert len(seen) == 8 and threading.get_ident() not in {ident for ident, _ in seen}
    for image, output in zip(images, result.outputs):
        np.testing.assert_array_equal(output, median(image, 3))
    seen.clear()
    denoise_collection(images[:2], "median", jobs=2, size=3, n_threads=2)
    assert {n_threads for _, n_threads in seen} == {2}


@pytest.mark.parametrize("jobs", [0, -1, True])
def test_collection_rejects_bad_jobs(jobs):
    with pytest.raises(ValueError, match="jobs"):
        denoise_collection([np.zeros((4, 4))], "median", jobs=jobs)
