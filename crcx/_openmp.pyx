"""How many OpenMP threads a call uses, decided in one place."""

openmp_enabled = bool(CRCX_OPENMP_ENABLED)


cpdef int effective_n_threads(n_threads=None):
    """Return the number of threads a kernel should run on.

    Parameters
    ----------
    n_threads : int or None
        Requested threads; None means what the OpenMP runtime offers, which
        honours ``OMP_NUM_THREADS`` and ``threadpoolctl.threadpool_limits``.
        Without OpenMP the answer is always 1.

    Examples
    --------
    >>> from crcx._openmp import effective_n_threads
    >>> effective_n_threads(1)
    1
    """
    if not CRCX_OPENMP_ENABLED:
        return 1
    if n_threads is None:
        return omp_get_max_threads()
    return n_threads
