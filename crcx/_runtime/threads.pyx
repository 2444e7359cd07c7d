"""How many OpenMP threads a call uses, decided in one place."""
import concurrent.futures
import functools
import math
import os

openmp_enabled = bool(CRCX_OPENMP_ENABLED)


# Below this many values per thread, waking another thread costs more than it saves.
MIN_VALUES_PER_THREAD = 1 << 16


cpdef int effective_n_threads(n_threads=None, Py_ssize_t work=-1):
    """Return the number of threads a kernel should run on.

    Parameters
    ----------
    n_threads : int or None
        Requested threads; None means what the OpenMP runtime offers, which
        honours ``OMP_NUM_THREADS`` and ``threadpoolctl.threadpool_limits``, but no
        more than the CPUs the process may use (:func:`usable_cpus`, unless
        ``OMP_NUM_THREADS`` asks for more) nor than `work` justifies. Without OpenMP
        the answer is always 1.
    work : int, optional
        Number of values the call processes; -1 for unknown.

    Examples
    --------
    >>> from crcx._runtime.threads import effective_n_threads
    >>> effective_n_threads(1)
    1
    """
    if not CRCX_OPENMP_ENABLED:
        return 1
    if n_threads is None:
        if 0 <= work < 2 * MIN_VALUES_PER_THREAD:
            return 1
        offered = omp_get_max_threads()
        if "OMP_NUM_THREADS" not in os.environ:
            offered = min(offered, usable_cpus())
        if work >= 0:
            return max(1, min(offered, work // MIN_VALUES_PER_THREAD))
        return offered
    return n_threads


def concurrently(function, items, int n_threads):
    """``[function(item, threads) for item in items]``, the calls spread over up to
    `n_threads` Python threads, each call given `threads` OpenMP threads, so that
    together they use `n_threads`.

    For independent calls that each share threads poorly (short kernels between
    Python steps): the kernels release the GIL, so calls side by side keep the
    CPUs busy where one call's threads would wait on each other. Fewer calls than
    two rounds of `n_threads` all start at once, and the system shares the CPUs
    among them: in rounds, the last one would leave CPUs idle (the three planes of
    an RGB image on two CPUs would take two calls' time, not one and a half).

    Examples
    --------
    >>> from crcx._runtime.threads import concurrently
    >>> concurrently(lambda item, threads: (item, threads), "abc", 2)
    [('a', 1), ('b', 1), ('c', 1)]
    """
    items = list(items)
    if n_threads <= 1 or len(items) <= 1:
        return [function(item, n_threads) for item in items]
    cdef int workers = len(items) if len(items) < 2 * n_threads else n_threads
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        return list(pool.map(function, items, [max(1, n_threads // workers)] * len(items)))


def usable_cpus():
    """The CPUs this process may run on: its affinity mask, and a cgroup's CPU quota
    (a container's ``--cpus``), which the OpenMP runtime reads at start-up at best.

    As scikit-learn's ``_openmp_effective_n_threads`` (through loky's ``cpu_count``),
    so that a process pinned to fewer CPUs after it started, or limited by a quota,
    does not run more threads than it has CPUs.

    Examples
    --------
    >>> import os
    >>> from crcx._runtime.threads import usable_cpus
    >>> 1 <= usable_cpus() <= os.cpu_count()
    True
    """
    cpus = (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
            else os.cpu_count() or 1)
    return min(cpus, _quota_cpus())


@functools.cache
def _quota_cpus():
    """CPUs of the cgroup (v2) quota, read once: a container's limit does not change
    under a running process."""
    try:
        with open("/sys/fs/cgroup/cpu.max") as limits:
            quota, period = limits.read().split()
        return math.inf if quota == "max" else max(1, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):
        return math.inf
