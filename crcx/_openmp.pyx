"""How many OpenMP threads a call uses, decided in one place."""

openmp_enabled = bool(CRCX_OPENMP_ENABLED)


# Below this many values per thread, waking another thread costs more than it saves.
MIN_VALUES_PER_THREAD = 1 << 16


cpdef int effective_n_threads(n_threads=None, Py_ssize_t work=-1):
    """Return the number of threads a kernel should run on.

    Parameters
    ----------
    n_threads : int or None
        Requested threads; None means what the OpenMP runtime offers, which
        honours ``OMP_NUM_THREADS`` and ``threadpoolctl.threadpool_limits``,
        but no more than `work` justifies. Without OpenMP the answer is always 1.
    work : int, optional
        Number of values the call processes; -1 for unknown.

    Examples
    --------
    >>> from crcx._openmp import effective_n_threads
    >>> effective_n_threads(1)
    1
    """
    if not CRCX_OPENMP_ENABLED:
        return 1
    if n_threads is None:
        if work >= 0:
            return max(1, min(omp_get_max_threads(), work // MIN_VALUES_PER_THREAD))
        return omp_get_max_threads()
    return n_threads
