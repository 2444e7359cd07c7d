/*
 * crcx.h: the C API of crcx (docs/embedding.md has a worked example).
 *
 * Include it after Python.h is available (the include folder is crcx.get_include()),
 * call crcx_import() once with the GIL held (it imports crcx and reads the table of
 * functions from a capsule, checking its version), then call the functions below from
 * any thread: the caller need not hold the GIL, and several threads may call at once.
 * Arrays are the caller's strided buffers; nothing is copied to or from them beyond
 * what the filter reads and writes, and the input is never modified.
 *
 * Every function returns CRCX_OK (0) or an error code, and on error writes a
 * NUL-terminated message of at most `message_size` bytes into `message` (which may
 * be NULL). No Python exception is left set.
 *
 * A caller that filters many arrays of one dtype and shape (the frames of a video,
 * the slices of a volume) makes a plan once with crcx_plan_median() (or the rank and
 * percentile kin) and runs it with crcx_execute(): a plan's call runs no Python at
 * all, where the functions above go through the Python function of their name (see
 * crcx_execute for the few calls that still do).
 *
 * Versioning: CRCX_API_VERSION counts the additions to the table; the table only
 * ever grows at its end, so a caller built against an older header keeps working
 * with a newer crcx, and crcx_import() refuses a crcx older than the header.
 * Version 2 added the plans.
 */
#ifndef CRCX_H
#define CRCX_H

#include <Python.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CRCX_API_VERSION 2
#define CRCX_MAX_DIMS 4

typedef enum {
    CRCX_OK = 0,
    CRCX_ERROR_ARGUMENT = 1,   /* a bad argument; the message names it */
    CRCX_ERROR_MEMORY = 2,     /* out of memory */
    CRCX_ERROR_INTERNAL = 3    /* anything else (a bug: please report it) */
} crcx_status;

typedef enum {
    CRCX_BOOL, CRCX_INT8, CRCX_UINT8, CRCX_INT16, CRCX_UINT16, CRCX_INT32, CRCX_UINT32,
    CRCX_INT64, CRCX_UINT64, CRCX_FLOAT32, CRCX_FLOAT64
} crcx_dtype;

/* scipy.ndimage's border rules. */
typedef enum {
    CRCX_REFLECT, CRCX_MIRROR, CRCX_NEAREST, CRCX_WRAP, CRCX_CONSTANT
} crcx_mode;

/* A strided array in the caller's memory: `ndim` axes of `shape` elements, `strides`
   in bytes (any sign). The output has the input's shape; its dtype may differ (the
   result is converted as numpy's unsafe cast does, rounded and clipped for CRC-MF). */
typedef struct {
    void *data;
    crcx_dtype dtype;
    int ndim;
    ptrdiff_t shape[CRCX_MAX_DIMS];
    ptrdiff_t strides[CRCX_MAX_DIMS];
} crcx_array;

/* The window of a rank filter over every axis of the input, as scipy.ndimage's
   `size`, `footprint`, `mode`, `cval` and `origin`. */
typedef struct {
    ptrdiff_t size[CRCX_MAX_DIMS];       /* the window's side along each axis */
    const unsigned char *footprint;     /* NULL: the whole box; else C-ordered, of
                                           shape `size`, nonzero where in the window */
    crcx_mode mode;
    double cval;
    ptrdiff_t origin[CRCX_MAX_DIMS];
    int n_threads;                      /* 0: the library's default */
} crcx_window;

/* The options of CRC-MF (crcx.CRCOptions, whose documentation says what each does)
   and of the call. Fill it with crcx_crc_options_init(), which sets crcx's defaults,
   then change what you need. Text options take the Python names ("pearson"...). */
typedef struct {
    size_t struct_size;                 /* sizeof(crcx_crc_options) where the caller was
                                           built: set by crcx_crc_options_init() */
    int size[3];                        /* side of the median's window per spatial axis */
    int window;
    const char *correlation;
    int bins;
    int s_max;
    const char *impulses;
    int sample;                         /* pixels of the switching stage's sample */
    int noisy_size;                     /* its median base on noisy planes, 0: size */
    double kappa;
    double sparse_kappa;
    double isolation;
    int majority;
    double majority_density;
    double excess;
    double line_density;
    const char *noise;                  /* "affine", "constant", or NULL: noise_sd */
    double noise_sd;                    /* the noise's standard deviation when noise is NULL */
    int noise_bins;
    const char *base;
    int search;
    int patch;
    double h;
    int passes;
    double pilot_h;
    int dct;
    double dct_threshold;
    int joint_channels;
    const char *gain;
    double wiener_c;
    double t0;
    double t1;
    /* the call */
    crcx_mode mode;
    double cval;
    int channel_axis;                   /* the axis of the channels, or -1: none */
    int n_threads;                      /* 0: the library's default */
} crcx_crc_options;

typedef enum {
    CRCX_IMPULSES_NONE, CRCX_IMPULSES_FIXED_VALUED, CRCX_IMPULSES_RANDOM_VALUED
} crcx_impulse_kind;

/* The noise CRC-MF finds in one plane (crcx.NoiseEstimate): the noise variance is
   variance + gain * intensity. */
typedef struct {
    double variance;
    double gain;
    double impulse_density;
    crcx_impulse_kind impulse_kind;
} crcx_noise_estimate;

/* A rank filter made ready for arrays of one dtype and shape (opaque). */
typedef struct crcx_plan crcx_plan;

typedef struct {
    unsigned int version;               /* CRCX_API_VERSION of the installed crcx */
    int (*median)(const crcx_array *input, crcx_array *output, const crcx_window *window,
                  char *message, size_t message_size);
    int (*rank_filter)(const crcx_array *input, crcx_array *output,
                       const crcx_window *window, ptrdiff_t rank,
                       char *message, size_t message_size);
    int (*percentile_filter)(const crcx_array *input, crcx_array *output,
                             const crcx_window *window, double percentile,
                             char *message, size_t message_size);
    int (*crc_options_init)(crcx_crc_options *options, size_t struct_size,
                            char *message, size_t message_size);
    int (*crc_median)(const crcx_array *input, crcx_array *output,
                      const crcx_crc_options *options, char *message, size_t message_size);
    /* one estimate per plane: 1, or the length of the channel axis; at most `count` */
    int (*estimate_noise)(const crcx_array *input, const crcx_crc_options *options,
                          crcx_noise_estimate *estimates, size_t count,
                          char *message, size_t message_size);
    /* Version 2. The median (rank, percentile) filter with `window` over arrays of
       the dtype and shape of `like` (whose data and strides are not read): on success
       *plan is the plan, to release with crcx_destroy_plan(). */
    int (*plan_median)(const crcx_array *like, const crcx_window *window, crcx_plan **plan,
                       char *message, size_t message_size);
    int (*plan_rank_filter)(const crcx_array *like, const crcx_window *window,
                            ptrdiff_t rank, crcx_plan **plan,
                            char *message, size_t message_size);
    int (*plan_percentile_filter)(const crcx_array *like, const crcx_window *window,
                                  double percentile, crcx_plan **plan,
                                  char *message, size_t message_size);
    /* Filter `input` (of the plan's dtype and shape, any strides) into `output` (of
       its shape). Runs no Python where the output has the input's dtype and shares no
       memory with it, both are aligned to their item size, and the kernels take the
       plan's window alone: it is longer than 1 along at most three axes and, for the
       smallest or largest rank of a whole box with CRCX_CONSTANT, its cval is a
       value of the dtype (0.5 is not one for integers). Other calls take the GIL
       and run as crcx_median does. Several threads may run one plan at once. */
    int (*execute)(const crcx_plan *plan, const crcx_array *input, crcx_array *output,
                   char *message, size_t message_size);
    void (*destroy_plan)(crcx_plan *plan);      /* NULL is ignored */
} crcx_api;

#if defined(__GNUC__)
#define CRCX_UNUSED __attribute__((unused))
#else
#define CRCX_UNUSED
#endif

/* The table, per translation unit that includes this header (as numpy's is). */
static CRCX_UNUSED const crcx_api *crcx_api_table = NULL;

/* Import crcx and read its table; 0 on success, -1 with a Python exception set.
   Call it once with the GIL held (in a module's init function, for example). */
static inline int crcx_import(void)
{
    PyObject *module = PyImport_ImportModule("crcx._capi.table");
    PyObject *capsule;
    const crcx_api *table;
    if (module == NULL)
        return -1;
    capsule = PyObject_GetAttrString(module, "_C_API");
    Py_DECREF(module);
    if (capsule == NULL)
        return -1;
    table = (const crcx_api *)PyCapsule_GetPointer(capsule, "crcx._C_API");
    Py_DECREF(capsule);
    if (table == NULL)
        return -1;
    if (table->version < CRCX_API_VERSION) {
        PyErr_Format(PyExc_ImportError,
                     "crcx: the installed crcx has C API version %u, this code was "
                     "built for version %d or later: upgrade crcx", table->version,
                     CRCX_API_VERSION);
        return -1;
    }
    crcx_api_table = table;
    return 0;
}

#define crcx_median (crcx_api_table->median)
#define crcx_rank_filter (crcx_api_table->rank_filter)
#define crcx_percentile_filter (crcx_api_table->percentile_filter)
/* Sets the caller's own struct_size, so that a newer crcx writes no field the
   caller's struct does not have. */
#define crcx_crc_options_init(options, message, message_size) \
    (crcx_api_table->crc_options_init((options), sizeof(crcx_crc_options), (message), \
                                      (message_size)))
#define crcx_crc_median (crcx_api_table->crc_median)
#define crcx_estimate_noise (crcx_api_table->estimate_noise)
#define crcx_plan_median (crcx_api_table->plan_median)
#define crcx_plan_rank_filter (crcx_api_table->plan_rank_filter)
#define crcx_plan_percentile_filter (crcx_api_table->plan_percentile_filter)
#define crcx_execute (crcx_api_table->execute)
#define crcx_destroy_plan (crcx_api_table->destroy_plan)

#ifdef __cplusplus
}
#endif

#endif /* CRCX_H */
