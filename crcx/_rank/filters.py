"""Public filters: validate and dispatch in Python, loop in the compiled kernels."""
import functools

import numpy as np

from crcx._common.arguments import (Geometry, as_image, as_integer, check_dtype, cval_in_dtype,
                                    median_rank, percentile_rank, prepare_output, rank_arguments,
                                    rank_index, uses_float_border, warn_if_size_ignored)
from crcx._common.boundary import extended_indices
from crcx._rank import _driver, prepared
from crcx._rank._planner import cached_plan
from crcx._runtime import memory
from crcx._runtime.threads import effective_n_threads

__all__ = ["median", "percentile_filter", "rank_filter"]

# Most axes one kernel call filters together: the kernels' windows are (z, y, x).
# Windows over more axes are gathered and partitioned by NumPy (_gathered_rank_filter).
MAX_FILTERED_AXES = 3
# Window values the NumPy path holds at once (a chunk of outputs times the window).
GATHERED_VALUES = 1 << 22


def _lines_view(array, axes):
    """View `array` as (batches, z, y, x) keys, the filtered `axes` last."""
    batch = [a for a in range(array.ndim) if a not in axes]
    moved = array.transpose(batch + list(axes))
    filtered = moved.shape[len(batch):]
    shape = (1,) * (MAX_FILTERED_AXES - len(filtered)) + filtered
    keys = moved.view(np.dtype(f"u{array.dtype.itemsize}"))
    return keys.reshape(moved.shape[:len(batch)] + shape)


def median(input, size=None, footprint=None, output=None, mode="reflect", cval=0.0,
           origin=0, *, axes=None, n_threads=None):
    """Median filter with the semantics of :func:`scipy.ndimage.median_filter`.

    Parameters
    ----------
    input : array_like
        The image, of any shape; bool, integer, float32 or float64. Named as
        scipy names it, so that calls passing it by keyword work unchanged.
    size : int or sequence of int, optional
        Window size per filtered axis; 3 when neither `size` nor `footprint` is given.
    footprint : array_like, optional
        Window shape (non-zero means included); overrides `size`, with
        scipy's warning where both are given.
    output : ndarray or dtype, optional
        Where to put the result, or its dtype; may be `input` itself.
    mode : {'reflect', 'mirror', 'nearest', 'wrap', 'constant'} or sequence, optional
        Border rule, as in scipy.ndimage (the ``grid-`` aliases are accepted too); a
        sequence gives one per entry of `axes`, which scipy takes only for the
        smallest and the largest rank over a full box (see
        :func:`crcx._common.arguments.normalize_modes`).
    cval : float, optional
        Value past the border with ``mode='constant'``.
    origin : int or sequence of int, optional
        Shift of the window, as in scipy.ndimage.
    axes : int or sequence of int, optional
        Axes to filter; others are filtered independently, so a colour image or a
        stack of frames is filtered channel by channel / frame by frame. `size`,
        `footprint` and `origin` go with them as scipy 1.17 pairs them (see
        :class:`crcx._common.arguments.Geometry`). Windows over more than three axes run
        on a slower NumPy path.
    n_threads : int, optional
        OpenMP threads; default all that the runtime offers.

    Returns
    -------
    ndarray
        The filtered image, in `input`'s dtype unless `output` says otherwise.

    Notes
    -----
    Values are compared in the input's own dtype, so 64-bit integers beyond 2**53 stay
    exact (scipy rounds them through float64). NaN sorts above +inf, as numpy.sort
    orders it: the result is NaN where more than ``n - n // 2 - 1`` of the ``n``
    window values are NaN. -0.0 and +0.0 are equal values, as for scipy: where the
    median is a zero, either may be returned.

    Examples
    --------
    >>> import numpy as np, crcx
    >>> crcx.median(np.array([[0, 0, 0], [0, 9, 0], [0, 0, 0]], np.uint8))
    array([[0, 0, 0],
           [0, 0, 0],
           [0, 0, 0]], dtype=uint8)
    """
    return _filter(input, median_rank, size, footprint, output, mode, cval, origin, axes,
                   n_threads)


def rank_filter(input, rank, size=None, footprint=None, output=None, mode="reflect",
                cval=0.0, origin=0, *, axes=None, n_threads=None):
    """Rank filter with the semantics of :func:`scipy.ndimage.rank_filter`.

    Parameters are those of :func:`median`, plus `rank`: which element of the
    sorted window to take (negative counts from the largest, as in scipy).

    Examples
    --------
    >>> import numpy as np, crcx
    >>> crcx.rank_filter(np.arange(5), -1, size=3)
    array([1, 2, 3, 4, 4])
    """
    return _filter(input, functools.partial(rank_index, rank), size, footprint, output,
                   mode, cval, origin, axes, n_threads)


def percentile_filter(input, percentile, size=None, footprint=None, output=None,
                      mode="reflect", cval=0.0, origin=0, *, axes=None, n_threads=None):
    """Percentile filter with the semantics of :func:`scipy.ndimage.percentile_filter`.

    Parameters are those of :func:`median`, plus `percentile`, from -100 to 100
    (negative counts from 100, as in scipy): of a window of ``n`` values it takes
    the element of rank ``int(n * percentile / 100)``, the largest for 100.

    Examples
    --------
    >>> import numpy as np, crcx
    >>> crcx.percentile_filter(np.array([5, 1, 9, 2, 8]), 100, size=3)
    array([5, 9, 9, 9, 8])
    """
    return _filter(input, functools.partial(percentile_rank, percentile), size, footprint,
                   output, mode, cval, origin, axes, n_threads)


def _filter(input, rank_of, size, footprint, output, mode, cval, origin, axes, n_threads):
    """Validate, plan and run one rank filter; ``rank_of(count)`` picks the rank."""
    warn_if_size_ignored(size, footprint)
    image = as_image(input, "input")
    geometry, rank, modes, cval, n_threads = rank_arguments(
        image.ndim, rank_of, size, footprint, mode, cval, origin, axes, n_threads)
    result = prepare_output(output, image,
                            functools.partial(memory.empty, beside=image))
    if image.size == 0:
        return result
    shares = np.may_share_memory(result, image)
    # A separate result array takes `result`'s layout, so that the final cast runs
    # element for element the same way whatever the input's layout.
    target = (result if result.dtype == image.dtype and not shares
              else np.empty_like(result, dtype=image.dtype))
    # A window one element wide along the contiguous axis (an RGB image's channels
    # with size=(5, 5, 1), as scipy users write it) would leave the kernels lines of
    # a few values; without such axes, its planes are filtered apart.
    geometry, modes = _without_unit_axes(geometry, modes, 1)
    float_border = uses_float_border(geometry, modes, cval, image.dtype, rank)
    # With a float border, the border first takes the value that never wins.
    fill = (_never_wins(image.dtype, rank == 0) if float_border
            else cval_in_dtype(cval, image.dtype))
    _rank_filter_into(image, target, geometry, modes, fill, rank, n_threads)
    if float_border:
        wins = _float_border_wins(target, geometry, modes, cval, rank, n_threads)
    if target is not result:
        # As scipy's C conversion: NaN or out-of-range values cast without a warning.
        with np.errstate(invalid="ignore", over="ignore"):
            np.copyto(result, target, casting="unsafe")
    if float_border:
        np.copyto(result, cval_in_dtype(cval, result.dtype), where=wins)
    return result


def _float_border_wins(target, geometry, modes, cval, rank, n_threads):
    """Where the float64 `cval` of a border the windows reach beats `target`, their
    smallest (rank 0, NaN above all) or largest value inside the image."""
    reached = np.empty(target.shape, np.uint8)
    _rank_filter_into(np.zeros(target.shape, np.uint8), reached, geometry, modes, np.uint8(1),
                      geometry.count - 1, n_threads)
    border = np.float64(cval)   # a float64 scalar, so that float32 compares as float64
    return reached.view(bool) & (~(target <= border) if rank == 0 else target < border)


def _never_wins(dtype, smallest):
    """The value of `dtype` that the smallest (else the largest) of a window never is
    unless every value is it: the largest (smallest) in crcx's order, NaN above +inf."""
    if dtype.kind == "b":
        return np.bool_(smallest)
    if dtype.kind == "f":
        return dtype.type(np.nan if smallest else -np.inf)
    return dtype.type(np.iinfo(dtype).max if smallest else np.iinfo(dtype).min)


def _rank_filter_into(image, target, geometry, modes, fill, rank, n_threads):
    """Filter `image` into `target` (same dtype); `fill` (of that dtype) is the border
    of the axes whose mode in `modes` is constant."""
    if len(geometry.axes) > MAX_FILTERED_AXES:
        _gathered_rank_filter(image, target, geometry, modes, fill, rank)
    else:
        _kernel_rank_filter(image, target, geometry, modes, fill, rank, n_threads)


def _kernel_plan(shape, dtype, geometry, modes, rank):
    """The kernels' plan of the window of `geometry` over arrays of `shape` and `dtype`."""
    missing = MAX_FILTERED_AXES - len(geometry.axes)
    footprint3 = geometry.footprint.reshape((1,) * missing + geometry.footprint.shape)
    extents = ((0, 0),) * missing + geometry.extents()
    # The axes added in front have length 1 and no reach: any rule reads index 0.
    modes3 = ("nearest",) * missing + modes
    filtered = (1,) * missing + tuple(shape[axis] for axis in geometry.axes)
    return cached_plan(footprint3.shape, footprint3.tobytes(), extents, filtered, modes3,
                       rank, dtype)


def _cval_bits(fill, dtype):
    """`fill`, of `dtype`, as the unsigned integer of the same bits."""
    return np.array(fill, dtype=dtype).view(f"u{dtype.itemsize}").item()


def _kernel_rank_filter(image, target, geometry, modes, fill, rank, n_threads):
    """Filter `image` into `target` (same dtype) with the compiled kernels."""
    src = _lines_view(image, geometry.axes)
    dst = _lines_view(target, geometry.axes)
    plan = _kernel_plan(image.shape, image.dtype, geometry, modes, rank)
    cval_bits = _cval_bits(fill, image.dtype)
    threads = effective_n_threads(n_threads, image.size)
    if src.ndim == 3:
        _driver.rank_filter(src[None], dst[None], plan, cval_bits, threads)
    elif src.ndim == 4:
        _driver.rank_filter(src, dst, plan, cval_bits, threads)
    else:
        for index in np.ndindex(src.shape[:-4]):
            _driver.rank_filter(src[index], dst[index], plan, cval_bits, threads)


def prepare(shape, dtype, rank_of, size=None, footprint=None, mode="reflect", cval=0.0,
            origin=0, n_threads=None):
    """The rank filter of ``rank_of(count)`` over every axis of arrays of `shape` and
    `dtype`, made ready to run without Python, or None where it needs Python.

    The other arguments are :func:`median`'s. The result is a
    :class:`crcx._rank.prepared.PreparedFilter` for the filters that the kernels
    compute alone (as :func:`median` would, its input and output apart and of
    `dtype`); None for windows over more axes than the kernels take, more than one
    axis of length-1 windows beside them, or a border value of ``mode='constant'``
    that `dtype` cannot hold.

    Examples
    --------
    >>> import numpy as np
    >>> from crcx._common.arguments import median_rank
    >>> prepare((64, 64), np.dtype(np.uint8), median_rank, size=3) is not None
    True
    >>> smallest = lambda count: 0   # scipy compares this one's border as a float
    >>> prepare((64, 64), np.dtype(np.uint8), smallest, size=3, mode="constant",
    ...         cval=0.5) is None
    True
    """
    check_dtype(dtype, "dtype")
    shape = tuple(as_integer(n, "shape", "non-negative integers") for n in shape)
    if any(n < 0 for n in shape):
        raise ValueError(f"shape: expected non-negative lengths, got {shape}")
    geometry, rank, modes, cval, n_threads = rank_arguments(
        len(shape), rank_of, size, footprint, mode, cval, origin, None, n_threads)
    if len(geometry.axes) > MAX_FILTERED_AXES:
        geometry, modes = _without_unit_axes(geometry, modes, MAX_FILTERED_AXES)
    batch = [axis for axis in range(len(shape)) if axis not in geometry.axes]
    if (len(geometry.axes) > MAX_FILTERED_AXES or len(batch) > 1
            or uses_float_border(geometry, modes, cval, dtype, rank)):
        return None
    missing = MAX_FILTERED_AXES - len(geometry.axes)
    return prepared.PreparedFilter(
        _kernel_plan(shape, dtype, geometry, modes, rank), shape,
        tuple(batch or [-1]) + (-1,) * missing + tuple(geometry.axes), dtype.itemsize,
        _cval_bits(cval_in_dtype(cval, dtype), dtype),
        effective_n_threads(n_threads, int(np.prod(shape))))


def _without_unit_axes(geometry, modes, most):
    """`geometry` and the axes' `modes` without the first filtered axes along which the
    window has one element, as many as leave `most` axes (or all of them).

    Filtering along those is the identity, so a window that spans more axes than
    the kernels take may still fit them.
    """
    shape = geometry.footprint.shape
    units = [i for i, n in enumerate(shape) if n == 1][:len(shape) - most]
    keep = [i for i in range(len(shape)) if i not in units]
    return (Geometry(footprint=geometry.footprint.reshape(
                         [geometry.footprint.shape[i] for i in keep]),
                     origin=tuple(geometry.origin[i] for i in keep),
                     axes=tuple(geometry.axes[i] for i in keep)),
            tuple(modes[i] for i in keep))


def _gathered_rank_filter(image, target, geometry, modes, fill, rank):
    """Rank filter over any number of axes: gather each window, partition with NumPy.

    NumPy orders values as the kernels do (in their own dtype, NaN above +inf), so
    the result is the same; chunks of outputs bound the gathered values to
    GATHERED_VALUES (or one window).
    """
    batch = [axis for axis in range(image.ndim) if axis not in geometry.axes]
    src = image.transpose(batch + list(geometry.axes))
    dst = target.transpose(batch + list(geometry.axes))
    maps = [extended_indices(n, before, after, mode) for n, (before, after), mode
            in zip(src.shape[len(batch):], geometry.extents(), modes)]
    offsets = np.argwhere(geometry.footprint)
    chunk = max(1, GATHERED_VALUES // len(offsets))
    for start in range(0, dst.size, chunk):
        outputs = np.unravel_index(np.arange(start, min(start + chunk, dst.size)), dst.shape)
        lead, positions = outputs[:len(batch)], outputs[len(batch):]
        # Per filtered axis and step into the window, the index each output reads
        # (the maps start at the first position a window reaches).
        reads = [[m[p + step] for step in range(n)]
                 for m, p, n in zip(maps, positions, geometry.footprint.shape)]
        outside = [[r < 0 for r in axis] for axis in reads] if "constant" in modes else None
        windows = np.empty((len(positions[0]), len(offsets)), image.dtype)
        for j, offset in enumerate(offsets):
            values = src[lead + tuple(r[step] for r, step in zip(reads, offset))]
            if outside is not None:
                np.copyto(values, fill, where=functools.reduce(
                    np.logical_or, [o[step] for o, step in zip(outside, offset)]))
            windows[:, j] = values
        dst[outputs] = np.partition(windows, rank, axis=1)[:, rank]
