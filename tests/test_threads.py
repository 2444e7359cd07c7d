"""Threads: concurrent calls are correct, the GIL is released, OpenMP threads are capped."""
import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

import crcx
from crcx._apps.collection import denoise_collection
from crcx._runtime import threads

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


@pytest.mark.parametrize("filter_call, shape", [
    (lambda image: crcx.median(image, 25, n_threads=1), (2048, 1024)),
    (lambda image: crcx.crc_median(image, n_threads=1), (256, 256))])
def test_filters_release_the_gil(filter_call, shape):
    # With a switch interval far longer than the call, a thread that holds the GIL
    # keeps it until it blocks or releases it: this thread, waiting for the GIL,
    # runs again while the filter is still going only if the kernel released it.
    # Each call takes 0.1 s or more, time enough for this thread to be scheduled
    # on a busy machine.
    image = RNG.normal(size=shape)
    expected = filter_call(image)
    started, done, result = threading.Event(), threading.Event(), []

    def work():
        started.set()
        result.append(filter_call(image))
        done.set()

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1000.0)
    try:
        worker = threading.Thread(target=work)
        worker.start()
        started.wait()
        running_meanwhile = not done.is_set()
    finally:
        sys.setswitchinterval(interval)
    worker.join()
    assert running_meanwhile
    np.testing.assert_array_equal(result[0], expected)


def test_threadpool_limits_caps_the_openmp_threads():
    default = threads.effective_n_threads()
    if threads.openmp_enabled:
        assert any(info["internal_api"] == "openmp" for info in threadpool_info())
    with threadpool_limits(1):
        assert threads.effective_n_threads() == 1
        # an explicit request wins; a build without OpenMP has one thread
        assert threads.effective_n_threads(3) == (3 if threads.openmp_enabled else 1)
        image, options = CASES[0]
        np.testing.assert_array_equal(crcx.median(image, **options),
                                      crcx.median(image, n_threads=1, **options))
    assert threads.effective_n_threads() == default


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


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs CPU affinity")
def test_a_process_pinned_to_one_cpu_runs_one_thread(tmp_path):
    # The OpenMP runtime counts the CPUs when it starts; pinned later (as a job
    # scheduler or taskset on a running process does), the calls follow the pin.
    script = ("import os; from crcx._runtime import threads; "
              "before = threads.effective_n_threads(); "
              "os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); "
              "print(before, threads.effective_n_threads(), threads.usable_cpus())")
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    # run from elsewhere than the source tree, so that the installed package is imported
    result = subprocess.run([sys.executable, "-c", script], env=env, cwd=tmp_path,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    output = result.stdout.split()
    before, after, cpus = map(int, output)
    assert before == min(threads.usable_cpus(), before) and after == 1 and cpus == 1


@pytest.mark.parametrize("n_items, n_threads, at_once, each", [
    (3, 2, 3, 1),     # fewer than two rounds: all at once, the system shares the CPUs
    (4, 2, 2, 1),     # two rounds or more: one call per CPU
    (2, 4, 2, 2),     # fewer calls than CPUs: the CPUs split between them
    (3, 1, 1, 1),     # one CPU: one call after the other
])
def test_concurrently_spreads_the_calls_over_the_threads(n_items, n_threads, at_once, each):
    running, most, lock = [0], [0], threading.Lock()
    arrived = threading.Barrier(at_once)

    def call(item, given):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        arrived.wait(timeout=10)    # a call at once with fewer would time out
        with lock:
            running[0] -= 1
        return item, given

    items = list(range(n_items))
    assert threads.concurrently(call, items, n_threads) == [(i, each) for i in items]
    assert most[0] == at_once
