# The one place that talks to OpenMP (after scikit-learn's _openmp_helpers): every
# kernel cimports from here, so a compiler without OpenMP needs no change elsewhere.
# Without OpenMP, the stubs below make every parallel region run on one thread.

cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    #define CRCX_OPENMP_ENABLED 1
    #else
    #define CRCX_OPENMP_ENABLED 0
    static int omp_get_max_threads(void) { return 1; }
    static int omp_get_thread_num(void) { return 0; }
    #endif
    """
    bint CRCX_OPENMP_ENABLED
    int omp_get_max_threads() noexcept nogil
    int omp_get_thread_num() noexcept nogil


cpdef int effective_n_threads(n_threads=*, Py_ssize_t work=*)
