# The introselect line algorithm (ALGORITHM_SELECT) of crcx/_rank/_driver.pyx: any window
# of any keys, where no other algorithm fits.

from crcx._rank._keys cimport key_t
from crcx._rank._driver cimport Plan

cdef extern from "<algorithm>" namespace "std" nogil:
    void nth_element[T](T first, T nth, T last)


cdef inline void select_line(key_t** rows, const Plan* plan, Py_ssize_t width,
                             key_t* window, key_t* result) noexcept nogil:
    """Gather each window and select its rank with introselect."""
    cdef Py_ssize_t x, e
    for x in range(width):
        for e in range(plan.n_elements):
            window[e] = rows[plan.element_row[e]][x + plan.element_dx[e]]
        nth_element(window, window + plan.rank, window + plan.n_elements)
        result[x] = window[plan.rank]
