# cython: language_level=3, boundscheck=False, wraparound=False
"""A Cython extension that filters the frames of a stack with crcx's Cython API, the
frames on several OpenMP threads at once, without the GIL (docs/embedding.md): the
median through one plan made for the frames' shape, CRC-MF call by call."""
from cython.parallel cimport prange
from libc.string cimport memset

from crcx.capi cimport (CRCX_REFLECT, crc_median, crcx_destroy_plan, crcx_import, crcx_plan,
                        crcx_window, execute, median, plan_median)

crcx_import()


def denoise_frames(const unsigned char[:, :, :] frames, unsigned char[:, :, :] medians,
                   unsigned char[:, :, :] denoised, int size, int n_threads=4):
    """Write the size x size median and CRC-MF (its defaults) of every frame; return the
    two status codes of each frame (0: done)."""
    cdef crcx_window window
    cdef crcx_plan* plan
    cdef char[256] message
    cdef Py_ssize_t i, n = frames.shape[0]
    cdef int[64] median_status
    cdef int[64] crc_status
    if n > 64 or medians.shape[0] != n or denoised.shape[0] != n:
        raise ValueError("expected at most 64 frames, and as many outputs")
    memset(&window, 0, sizeof(window))
    window.size[0] = window.size[1] = size
    window.mode = CRCX_REFLECT
    if n == 0:
        return []
    if plan_median(frames[0], &window, &plan, message, 256) != 0:
        raise ValueError(message.decode())
    for i in prange(n, nogil=True, num_threads=n_threads, schedule="static", chunksize=1):
        median_status[i] = execute(plan, frames[i], medians[i], NULL, 0)
        crc_status[i] = crc_median(frames[i], denoised[i], NULL, NULL, 0)
    crcx_destroy_plan(plan)
    return [(median_status[i], crc_status[i]) for i in range(n)]


def bad_window():
    """The median's status and message for a window of side 0."""
    cdef unsigned char[4][4] pixels
    cdef unsigned char[:, :] image = <unsigned char[:4, :4]> &pixels[0][0]
    cdef crcx_window window
    cdef char[256] message
    cdef int status
    memset(&window, 0, sizeof(window))
    with nogil:
        status = median(image, image, &window, message, 256)
    return status, message.decode()
