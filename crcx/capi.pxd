# The C API of crcx for Cython code: ``from crcx.capi cimport ...``
# (crcx/include/crcx/crcx.h; docs/embedding.md has a worked example).
#
# Call crcx_import() once, with the GIL (at your module's import); then every function
# below runs without the GIL, from any thread. The memoryview functions at the end
# take 2-d or 3-d images of uint8, uint16, float32 or float64 (the output of the
# input's dtype) and return the C functions' status codes.

cimport cython
from libc.stddef cimport ptrdiff_t
from libc.string cimport memset

cdef extern from "crcx/crcx.h" nogil:
    int CRCX_API_VERSION
    int CRCX_MAX_DIMS

    ctypedef enum crcx_status:
        CRCX_OK
        CRCX_ERROR_ARGUMENT
        CRCX_ERROR_MEMORY
        CRCX_ERROR_INTERNAL

    ctypedef enum crcx_dtype:
        CRCX_BOOL
        CRCX_INT8
        CRCX_UINT8
        CRCX_INT16
        CRCX_UINT16
        CRCX_INT32
        CRCX_UINT32
        CRCX_INT64
        CRCX_UINT64
        CRCX_FLOAT32
        CRCX_FLOAT64

    ctypedef enum crcx_mode:
        CRCX_REFLECT
        CRCX_MIRROR
        CRCX_NEAREST
        CRCX_WRAP
        CRCX_CONSTANT

    ctypedef enum crcx_impulse_kind:
        CRCX_IMPULSES_NONE
        CRCX_IMPULSES_FIXED_VALUED
        CRCX_IMPULSES_RANDOM_VALUED

    ctypedef struct crcx_array:
        void* data
        crcx_dtype dtype
        int ndim
        ptrdiff_t shape[4]
        ptrdiff_t strides[4]

    ctypedef struct crcx_window:
        ptrdiff_t size[4]
        const unsigned char* footprint
        crcx_mode mode
        double cval
        ptrdiff_t origin[4]
        int n_threads

    ctypedef struct crcx_crc_options:
        size_t struct_size
        int size[3]
        int window
        const char* correlation
        int bins
        int s_max
        const char* impulses
        int sample
        int noisy_size
        double kappa
        double sparse_kappa
        double isolation
        int majority
        double majority_density
        double excess
        double line_density
        const char* noise
        double noise_sd
        int noise_bins
        const char* base
        int search
        int patch
        double h
        int passes
        double pilot_h
        int dct
        double dct_threshold
        int joint_channels
        const char* gain
        double wiener_c
        double t0
        double t1
        crcx_mode mode
        double cval
        int channel_axis
        int n_threads

    ctypedef struct crcx_noise_estimate:
        double variance
        double gain
        double impulse_density
        crcx_impulse_kind impulse_kind

    ctypedef struct crcx_plan:
        pass

    ctypedef struct crcx_api:
        unsigned int version
        int (*median)(const crcx_array*, crcx_array*, const crcx_window*, char*,
                      size_t) noexcept nogil
        int (*rank_filter)(const crcx_array*, crcx_array*, const crcx_window*, ptrdiff_t,
                           char*, size_t) noexcept nogil
        int (*percentile_filter)(const crcx_array*, crcx_array*, const crcx_window*, double,
                                 char*, size_t) noexcept nogil
        int (*crc_options_init)(crcx_crc_options*, size_t, char*, size_t) noexcept nogil
        int (*crc_median)(const crcx_array*, crcx_array*, const crcx_crc_options*, char*,
                          size_t) noexcept nogil
        int (*estimate_noise)(const crcx_array*, const crcx_crc_options*,
                              crcx_noise_estimate*, size_t, char*, size_t) noexcept nogil
        int (*plan_median)(const crcx_array*, const crcx_window*, crcx_plan**, char*,
                           size_t) noexcept nogil
        int (*plan_rank_filter)(const crcx_array*, const crcx_window*, ptrdiff_t, crcx_plan**,
                                char*, size_t) noexcept nogil
        int (*plan_percentile_filter)(const crcx_array*, const crcx_window*, double,
                                      crcx_plan**, char*, size_t) noexcept nogil
        int (*execute)(const crcx_plan*, const crcx_array*, crcx_array*, char*,
                       size_t) noexcept nogil
        void (*destroy_plan)(crcx_plan*) noexcept nogil

    int crcx_import() except -1 with gil
    int crcx_median(const crcx_array* input, crcx_array* output, const crcx_window* window,
                    char* message, size_t message_size)
    int crcx_rank_filter(const crcx_array* input, crcx_array* output,
                         const crcx_window* window, ptrdiff_t rank, char* message,
                         size_t message_size)
    int crcx_percentile_filter(const crcx_array* input, crcx_array* output,
                               const crcx_window* window, double percentile, char* message,
                               size_t message_size)
    int crcx_crc_options_init(crcx_crc_options* options, char* message, size_t message_size)
    int crcx_crc_median(const crcx_array* input, crcx_array* output,
                        const crcx_crc_options* options, char* message, size_t message_size)
    int crcx_estimate_noise(const crcx_array* input, const crcx_crc_options* options,
                            crcx_noise_estimate* estimates, size_t count, char* message,
                            size_t message_size)
    int crcx_plan_median(const crcx_array* like, const crcx_window* window, crcx_plan** plan,
                         char* message, size_t message_size)
    int crcx_plan_rank_filter(const crcx_array* like, const crcx_window* window,
                              ptrdiff_t rank, crcx_plan** plan, char* message,
                              size_t message_size)
    int crcx_plan_percentile_filter(const crcx_array* like, const crcx_window* window,
                                    double percentile, crcx_plan** plan, char* message,
                                    size_t message_size)
    int crcx_execute(const crcx_plan* plan, const crcx_array* input, crcx_array* output,
                     char* message, size_t message_size)
    void crcx_destroy_plan(crcx_plan* plan)


# Images the memoryview functions take: 2-d or 3-d, of the dtypes of CRC-MF.
ctypedef const unsigned char[:, :] uint8_2d
ctypedef const unsigned char[:, :, :] uint8_3d
ctypedef const unsigned short[:, :] uint16_2d
ctypedef const unsigned short[:, :, :] uint16_3d
ctypedef const float[:, :] float32_2d
ctypedef const float[:, :, :] float32_3d
ctypedef const double[:, :] float64_2d
ctypedef const double[:, :, :] float64_3d

ctypedef fused image:
    uint8_2d
    uint8_3d
    uint16_2d
    uint16_3d
    float32_2d
    float32_3d
    float64_2d
    float64_3d


@cython.boundscheck(False)
cdef inline crcx_array as_array(image view) noexcept nogil:
    """`view` (its memory, shape and strides) as a crcx_array."""
    cdef crcx_array array
    cdef int axis
    memset(&array, 0, sizeof(array))
    if image is uint8_2d or image is uint16_2d or image is float32_2d or image is float64_2d:
        array.data = <void*>&view[0, 0]
        array.ndim = 2
    else:
        array.data = <void*>&view[0, 0, 0]
        array.ndim = 3
    if image is uint8_2d or image is uint8_3d:
        array.dtype = CRCX_UINT8
    elif image is uint16_2d or image is uint16_3d:
        array.dtype = CRCX_UINT16
    elif image is float32_2d or image is float32_3d:
        array.dtype = CRCX_FLOAT32
    else:
        array.dtype = CRCX_FLOAT64
    for axis in range(array.ndim):
        array.shape[axis] = view.shape[axis]
        array.strides[axis] = view.strides[axis]
    return array


cdef inline int median(image input, image output, const crcx_window* window,
                       char* message, size_t message_size) noexcept nogil:
    """crcx_median on memoryviews (`output` of the input's dtype and shape)."""
    cdef crcx_array source = as_array(input), target = as_array(output)
    return crcx_median(&source, &target, window, message, message_size)


cdef inline int rank_filter(image input, image output, const crcx_window* window,
                            ptrdiff_t rank, char* message, size_t message_size) noexcept nogil:
    """crcx_rank_filter on memoryviews."""
    cdef crcx_array source = as_array(input), target = as_array(output)
    return crcx_rank_filter(&source, &target, window, rank, message, message_size)


cdef inline int percentile_filter(image input, image output, const crcx_window* window,
                                  double percentile, char* message,
                                  size_t message_size) noexcept nogil:
    """crcx_percentile_filter on memoryviews."""
    cdef crcx_array source = as_array(input), target = as_array(output)
    return crcx_percentile_filter(&source, &target, window, percentile, message,
                                  message_size)


cdef inline int crc_median(image input, image output, const crcx_crc_options* options,
                           char* message, size_t message_size) noexcept nogil:
    """crcx_crc_median on memoryviews (`options` NULL: the defaults)."""
    cdef crcx_array source = as_array(input), target = as_array(output)
    return crcx_crc_median(&source, &target, options, message, message_size)


cdef inline int estimate_noise(image input, const crcx_crc_options* options,
                               crcx_noise_estimate* estimates, size_t count, char* message,
                               size_t message_size) noexcept nogil:
    """crcx_estimate_noise on a memoryview."""
    cdef crcx_array source = as_array(input)
    return crcx_estimate_noise(&source, options, estimates, count, message, message_size)


cdef inline int plan_median(image like, const crcx_window* window, crcx_plan** plan,
                            char* message, size_t message_size) noexcept nogil:
    """crcx_plan_median for arrays of the dtype and shape of `like`."""
    cdef crcx_array array = as_array(like)
    return crcx_plan_median(&array, window, plan, message, message_size)


cdef inline int execute(const crcx_plan* plan, image input, image output, char* message,
                        size_t message_size) noexcept nogil:
    """crcx_execute on memoryviews (`output` of the input's dtype and shape)."""
    cdef crcx_array source = as_array(input), target = as_array(output)
    return crcx_execute(plan, &source, &target, message, message_size)
