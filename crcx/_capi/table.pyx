"""The table of the C API (crcx/include/crcx/crcx.h), in the capsule ``_C_API``.

Each filter entry takes the GIL (from any thread, the caller's own too), wraps the
caller's strided buffers as NumPy arrays without copying, and calls the Python
function of the same name with the output given: its result is that function's, bit
for bit, and its checks are that function's. The compiled kernels release the GIL
while they run, so calls from several threads overlap there. An exception becomes a
status code and a message in the caller's buffer; none is left set.

A plan (crcx_plan_median and its kin) is made with the GIL, through the same Python
checks; it holds the rank filter made ready for one dtype and shape
(crcx._rank.prepared), which `crcx_execute` runs without Python, or else the Python
call to make.
"""
cimport numpy as cnp
from cpython.pycapsule cimport PyCapsule_New
from cpython.ref cimport PyObject, Py_INCREF, Py_XDECREF
from libc.stddef cimport ptrdiff_t
from libc.stdint cimport uintptr_t
from libc.stdio cimport snprintf
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy

from crcx.capi cimport (CRCX_API_VERSION, CRCX_ERROR_ARGUMENT, CRCX_ERROR_INTERNAL,
                        CRCX_ERROR_MEMORY, CRCX_MAX_DIMS, CRCX_OK, crcx_api, crcx_array,
                        crcx_crc_options, crcx_dtype, crcx_mode, crcx_noise_estimate,
                        crcx_plan, crcx_window)
from crcx._rank.prepared cimport FilterCall, PreparedFilter, run_prepared

import functools

import numpy as np

import crcx
from crcx._common.arguments import median_rank, percentile_rank, rank_index
from crcx._crc.model import IMPULSE_KINDS
from crcx._crc.options import OPTION_NAMES, CRCOptions
from crcx._rank.filters import prepare

cnp.import_array()

# The codes of crcx.h, in their order there.
DTYPES = tuple(np.dtype(name) for name in ("bool", "int8", "uint8", "int16", "uint16", "int32",
                                           "uint32", "int64", "uint64", "float32", "float64"))
MODES = ("reflect", "mirror", "nearest", "wrap", "constant")

# The text of the default options, kept alive here for the pointers the
# initialiser hands out.
_DEFAULT_TEXT = {name: value.encode() for name, value in vars(CRCOptions()).items()
                 if isinstance(value, str)}


cdef int _report(BaseException error, char* message, size_t message_size) noexcept:
    """The status code of `error`; its message, NUL-terminated, into `message`."""
    cdef bytes text
    cdef size_t length
    if message != NULL and message_size > 0:
        text = str(error).encode("utf-8", "replace")
        length = min(<size_t>len(text), message_size - 1)
        memcpy(message, <const char*>text, length)
        message[length] = 0
    if isinstance(error, MemoryError):
        return CRCX_ERROR_MEMORY
    if isinstance(error, (ValueError, TypeError)):
        return CRCX_ERROR_ARGUMENT
    return CRCX_ERROR_INTERNAL


cdef tuple _describe(const crcx_array* array, str name):
    """The dtype and shape of `array`, checked."""
    if array == NULL:
        raise ValueError(f"{name}: expected a crcx_array, got NULL")
    if not 1 <= array.ndim <= CRCX_MAX_DIMS:
        raise ValueError(f"{name}: expected 1 to {CRCX_MAX_DIMS} dimensions, got {array.ndim}")
    if not 0 <= array.dtype < len(DTYPES):
        raise ValueError(f"{name}: unknown dtype code {array.dtype}")
    shape = tuple(array.shape[axis] for axis in range(array.ndim))
    for axis, length in enumerate(shape):
        if length < 0:
            raise ValueError(f"{name}: negative length {length} on axis {axis}")
    return DTYPES[array.dtype], shape


cdef object _array(const crcx_array* array, bint writable, str name):
    """`array` as a NumPy array over the same memory (the input read-only)."""
    cdef cnp.npy_intp shape[4]
    cdef cnp.npy_intp strides[4]
    cdef int axis
    dtype, _ = _describe(array, name)
    for axis in range(array.ndim):
        shape[axis] = array.shape[axis]
        strides[axis] = array.strides[axis]
    if array.data == NULL:
        raise ValueError(f"{name}: expected data, got NULL")
    return cnp.PyArray_New(np.ndarray, array.ndim, shape, dtype.num, strides, array.data,
                           dtype.itemsize, cnp.NPY_ARRAY_WRITEABLE if writable else 0, None)


cdef object _output(crcx_array* output, object image):
    result = _array(output, True, "output")
    if result.shape != image.shape:
        raise ValueError(f"output: expected the input's shape {image.shape}, got "
                         f"{result.shape}")
    return result


cdef object _mode(crcx_mode mode, str name):
    if not 0 <= mode < len(MODES):
        raise ValueError(f"{name}: unknown mode code {mode}")
    return MODES[mode]


cdef object _threads(int n_threads):
    return None if n_threads == 0 else n_threads


cdef dict _window_keywords(const crcx_window* window, int ndim):
    """The keywords of the rank filters for `window` on `ndim`-d input."""
    if window == NULL:
        raise ValueError("window: expected a crcx_window, got NULL")
    size = tuple(window.size[axis] for axis in range(ndim))
    keywords = dict(mode=_mode(window.mode, "window.mode"), cval=window.cval,
                    origin=tuple(window.origin[axis] for axis in range(ndim)),
                    n_threads=_threads(window.n_threads))
    if window.footprint == NULL:
        keywords["size"] = size
    else:
        if any(side < 1 for side in size):
            raise ValueError(f"window.size: expected sides >= 1 with a footprint, got {size}")
        count = int(np.prod(size))
        keywords["footprint"] = np.frombuffer(
            (<const char*>window.footprint)[:count], np.uint8).reshape(size) != 0
    return keywords


cdef object _rank_call(const crcx_array* input, crcx_array* output,
                       const crcx_window* window, object function, tuple leading):
    image = _array(input, False, "input")
    result = _output(output, image)
    function(image, *leading, output=result, **_window_keywords(window, image.ndim))


cdef int _median(const crcx_array* input, crcx_array* output, const crcx_window* window,
                 char* message, size_t message_size) noexcept nogil:
    with gil:
        try:
            _rank_call(input, output, window, crcx.median, ())
        except BaseException as error:
            return _report(error, message, message_size)
        return CRCX_OK


cdef int _rank_filter(const crcx_array* input, crcx_array* output, const crcx_window* window,
                      ptrdiff_t rank, char* message, size_t message_size) noexcept nogil:
    with gil:
        try:
            _rank_call(input, output, window, crcx.rank_filter, (rank,))
        except BaseException as error:
            return _report(error, message, message_size)
        return CRCX_OK


cdef int _percentile_filter(const crcx_array* input, crcx_array* output,
                            const crcx_window* window, double percentile,
                            char* message, size_t message_size) noexcept nogil:
    with gil:
        try:
            _rank_call(input, output, window, crcx.percentile_filter, (percentile,))
        except BaseException as error:
            return _report(error, message, message_size)
        return CRCX_OK


cdef int _crc_options_init(crcx_crc_options* options, size_t struct_size, char* message,
                           size_t message_size) noexcept nogil:
    with gil:
        try:
            if options == NULL:
                raise ValueError("options: expected a crcx_crc_options, got NULL")
            if struct_size != sizeof(crcx_crc_options):
                raise ValueError(f"options: a crcx_crc_options of {struct_size} bytes, from "
                                 f"another version of crcx.h (this crcx's has "
                                 f"{sizeof(crcx_crc_options)})")
            _fill_defaults(options)
        except BaseException as error:
            return _report(error, message, message_size)
        return CRCX_OK


cdef void _fill_defaults(crcx_crc_options* options):
    # The fields of CRCOptions, their defaults read from it, and the call's.
    values = {name: _DEFAULT_TEXT.get(name, value) for name, value in vars(CRCOptions()).items()}
    values.update(struct_size=sizeof(crcx_crc_options), size=[values["size"]] * 3,
                  noise_sd=0.0, mode=MODES.index("reflect"), cval=0.0, channel_axis=-1,
                  n_threads=0)
    options[0] = values


cdef void _check_text(const char* text, str name) except *:
    if text == NULL:
        raise ValueError(f"{name}: expected text, got NULL")


cdef dict _crc_call(const crcx_crc_options* options, int ndim):
    """The keywords of crcx.crc_median for `options` (NULL: the defaults) on `ndim`-d
    input."""
    cdef crcx_crc_options copy
    cdef dict fields
    if options == NULL:
        return {}
    if options.struct_size != sizeof(crcx_crc_options):
        raise ValueError("options: not initialised by crcx_crc_options_init (struct_size "
                         f"{options.struct_size}, expected {sizeof(crcx_crc_options)})")
    copy = options[0]
    _check_text(copy.correlation, "correlation")
    _check_text(copy.impulses, "impulses")
    _check_text(copy.base, "base")
    _check_text(copy.gain, "gain")
    noise = copy.noise_sd if copy.noise == NULL else copy.noise.decode()
    copy.noise = b""
    fields = copy
    channel_axis = None if copy.channel_axis == -1 else copy.channel_axis
    values = {name: fields[name].decode() if isinstance(fields[name], bytes) else fields[name]
              for name in OPTION_NAMES}
    spatial = min(max(ndim - (channel_axis is not None), 1), 3)
    values.update(size=tuple(values["size"][:spatial]), noise=noise,
                  joint_channels=bool(values["joint_channels"]))
    return dict(options=CRCOptions(**values), mode=_mode(copy.mode, "options.mode"),
                cval=copy.cval, channel_axis=channel_axis, n_threads=_threads(copy.n_threads))


cdef int _crc_median(const crcx_array* input, crcx_array* output,
                     const crcx_crc_options* options, char* message,
                     size_t message_size) noexcept nogil:
    with gil:
        try:
            image = _array(input, False, "input")
            result = _output(output, image)
            crcx.crc_median(image, output=result, **_crc_call(options, image.ndim))
        except BaseException as error:
            return _report(error, message, message_size)
        return CRCX_OK


cdef int _estimate_noise(const crcx_array* input, const crcx_crc_options* options,
                         crcx_noise_estimate* estimates, size_t count, char* message,
                         size_t message_size) noexcept nogil:
    cdef Py_ssize_t index
    with gil:
        try:
            image = _array(input, False, "input")
            if estimates == NULL:
                raise ValueError("estimates: expected an array of crcx_noise_estimate, "
                                 "got NULL")
            found = crcx.estimate_noise(image, **_crc_call(options, image.ndim))
            found = found if isinstance(found, tuple) else (found,)
            if <size_t>len(found) > count:
                raise ValueError(f"count: the image has {len(found)} planes, got room for "
                                 f"{count}")
            for index in range(len(found)):
                estimates[index].variance = found[index].variance
                estimates[index].gain = found[index].gain
                estimates[index].impulse_density = found[index].impulse_density
                estimates[index].impulse_kind = IMPULSE_KINDS.index(found[index].impulse_kind)
        except BaseException as error:
            return _report(error, message, message_size)
        return CRCX_OK


# What a crcx_plan points to. `owner` is (PreparedFilter or None, the Python function,
# its leading arguments, the window's keywords), kept alive by the plan; `call` points
# into its PreparedFilter, or is NULL: then each call goes through Python.
cdef struct PlanState:
    const FilterCall* call
    PyObject* owner
    crcx_dtype dtype            # of the arrays the plan is for
    int ndim
    ptrdiff_t shape[4]          # CRCX_MAX_DIMS
    char like[160]              # "uint8 of shape (64, 64)", for the messages
    char shape_text[160]        # "shape (64, 64)"


cdef void _set_text(char* buffer, size_t size, str text):
    cdef bytes data = text.encode()[:size - 1]
    memcpy(buffer, <const char*>data, len(data))
    buffer[len(data)] = 0


cdef int _plan(const crcx_array* like, const crcx_window* window, object function,
               tuple leading, object rank_of, crcx_plan** plan, char* message,
               size_t message_size) noexcept with gil:
    cdef PlanState* state
    cdef int axis
    try:
        if plan == NULL:
            raise ValueError("plan: expected where to put the plan, got NULL")
        plan[0] = NULL
        dtype, shape = _describe(like, "like")
        keywords = _window_keywords(window, len(shape))
        prepared = prepare(shape, dtype, rank_of, **keywords)
        owner = (prepared, function, leading, keywords)
        state = <PlanState*>malloc(sizeof(PlanState))
        if state == NULL:
            raise MemoryError("not enough memory for a crcx_plan")
        state.call = NULL
        if prepared is not None:
            state.call = &(<PreparedFilter>prepared).call
        state.dtype = like.dtype
        state.ndim = like.ndim
        for axis in range(like.ndim):
            state.shape[axis] = like.shape[axis]
        _set_text(state.like, sizeof(state.like), f"{dtype} of shape {shape}")
        _set_text(state.shape_text, sizeof(state.shape_text), f"shape {shape}")
        Py_INCREF(owner)
        state.owner = <PyObject*>owner
        plan[0] = <crcx_plan*>state
    except BaseException as error:
        return _report(error, message, message_size)
    return CRCX_OK


cdef int _plan_median(const crcx_array* like, const crcx_window* window, crcx_plan** plan,
                      char* message, size_t message_size) noexcept nogil:
    with gil:
        return _plan(like, window, crcx.median, (), median_rank, plan, message,
                     message_size)


cdef int _plan_rank_filter(const crcx_array* like, const crcx_window* window, ptrdiff_t rank,
                           crcx_plan** plan, char* message, size_t message_size) noexcept nogil:
    with gil:
        rank_of = functools.partial(rank_index, rank)
        return _plan(like, window, crcx.rank_filter, (rank,), rank_of, plan, message,
                     message_size)


cdef int _plan_percentile_filter(const crcx_array* like, const crcx_window* window,
                                 double percentile, crcx_plan** plan, char* message,
                                 size_t message_size) noexcept nogil:
    with gil:
        rank_of = functools.partial(percentile_rank, percentile)
        return _plan(like, window, crcx.percentile_filter, (percentile,), rank_of, plan,
                     message, message_size)


cdef int _refuse(const char* name, const char* expected, char* message,
                 size_t message_size) noexcept nogil:
    """CRCX_ERROR_ARGUMENT, with "name: expected ..." in `message`."""
    if message != NULL and message_size > 0:
        snprintf(message, message_size, "%s: expected %s", name, expected)
    return CRCX_ERROR_ARGUMENT


cdef bint _fits(const PlanState* state, const crcx_array* array) noexcept nogil:
    """Whether `array` has data and the plan's shape."""
    cdef int axis
    if array.data == NULL or array.ndim != state.ndim:
        return False
    for axis in range(state.ndim):
        if array.shape[axis] != state.shape[axis]:
            return False
    return True


cdef void _extent(const crcx_array* array, size_t itemsize, uintptr_t* low,
                  uintptr_t* high) noexcept nogil:
    """The bytes `array` covers: from `low` up to, not including, `high`."""
    cdef int axis
    low[0] = high[0] = <uintptr_t>array.data
    for axis in range(array.ndim):
        if array.strides[axis] < 0:
            low[0] += (array.shape[axis] - 1) * array.strides[axis]
        else:
            high[0] += (array.shape[axis] - 1) * array.strides[axis]
    high[0] += itemsize


cdef bint _aligned(const crcx_array* array, size_t itemsize) noexcept nogil:
    cdef int axis
    if <uintptr_t>array.data % itemsize:
        return False
    for axis in range(array.ndim):
        if array.strides[axis] % <ptrdiff_t>itemsize:
            return False
    return True


cdef bint _runs_alone(const PlanState* state, const crcx_array* input,
                      const crcx_array* output) noexcept nogil:
    """Whether the prepared filter computes this call without Python (crcx.h)."""
    cdef uintptr_t input_low, input_high, output_low, output_high
    cdef size_t itemsize
    if state.call == NULL or output.dtype != input.dtype:
        return False
    itemsize = state.call.key_size
    _extent(input, itemsize, &input_low, &input_high)
    _extent(output, itemsize, &output_low, &output_high)
    return (_aligned(input, itemsize) and _aligned(output, itemsize)
            and (input_high <= output_low or output_high <= input_low))


cdef int _execute(const crcx_plan* plan, const crcx_array* input, crcx_array* output,
                  char* message, size_t message_size) noexcept nogil:
    cdef const PlanState* state = <const PlanState*>plan
    cdef int axis
    if state == NULL:
        return _refuse("plan", "a crcx_plan, got NULL", message, message_size)
    if input == NULL or input.dtype != state.dtype or not _fits(state, input):
        return _refuse("input", state.like, message, message_size)
    if output == NULL or not _fits(state, output):
        return _refuse("output", state.shape_text, message, message_size)
    for axis in range(state.ndim):
        if state.shape[axis] == 0:
            return CRCX_OK
    if _runs_alone(state, input, output):
        if run_prepared(state.call, <const char*>input.data, <const Py_ssize_t*>input.strides,
                        <char*>output.data, <const Py_ssize_t*>output.strides) < 0:
            if message != NULL and message_size > 0:
                snprintf(message, message_size,
                         "not enough memory for the median filter's scratch buffers")
            return CRCX_ERROR_MEMORY
        return CRCX_OK
    return _execute_in_python(state, input, output, message, message_size)


cdef int _execute_in_python(const PlanState* state, const crcx_array* input,
                            crcx_array* output, char* message,
                            size_t message_size) noexcept with gil:
    # Apart from _execute, whose exit would otherwise take the GIL to release these
    # Python locals on every call.
    try:
        _, function, leading, keywords = <object>state.owner
        image = _array(input, False, "input")
        function(image, *leading, output=_output(output, image), **keywords)
    except BaseException as error:
        return _report(error, message, message_size)
    return CRCX_OK


cdef void _destroy_plan(crcx_plan* plan) noexcept nogil:
    cdef PlanState* state = <PlanState*>plan
    if state == NULL:
        return
    with gil:
        Py_XDECREF(state.owner)
    free(state)


cdef crcx_api _table
_table.version = CRCX_API_VERSION
_table.median = _median
_table.rank_filter = _rank_filter
_table.percentile_filter = _percentile_filter
_table.crc_options_init = _crc_options_init
_table.crc_median = _crc_median
_table.estimate_noise = _estimate_noise
_table.plan_median = _plan_median
_table.plan_rank_filter = _plan_rank_filter
_table.plan_percentile_filter = _plan_percentile_filter
_table.execute = _execute
_table.destroy_plan = _destroy_plan

_C_API = PyCapsule_New(&_table, b"crcx._C_API", NULL)
