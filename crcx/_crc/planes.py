"""An image as CRC-MF's planes and back: the checks of a call, the split into planes
and the conversion of the result to the output's dtype. Pure Python, shared with
the reference.
"""
import numpy as np

from crcx._common.arguments import (ArgumentError, as_image, as_integer, check_finite,
                                    cval_in_dtype, normalize_cval, normalize_geometry,
                                    normalize_mode, normalize_n_threads, prepare_output)


def crc_arguments(shape, size, mode, cval, n_threads, channel_axis):
    """Check the arguments of a call to CRC-MF on an image of `shape` that are not its
    options; return mode, cval, n_threads and channel_axis, canonical. The in-memory
    filters, their reference and the dask wrapper all check them here."""
    mode = normalize_mode(mode)
    cval = normalize_cval(cval)
    n_threads = normalize_n_threads(n_threads)
    ndim = len(shape)
    if channel_axis is not None:
        channel_axis = as_integer(channel_axis, "channel_axis", "an integer or None")
        if not -ndim <= channel_axis < ndim:
            raise ArgumentError(
                f"channel_axis: out of range for {ndim}-d input: {channel_axis!r}")
    spatial = ndim - (channel_axis is not None)
    if spatial not in (2, 3):
        raise ArgumentError(
            f"image: expected 2 or 3 spatial dimensions, got {spatial} (shape {shape})")
    normalize_geometry(spatial, size=size)
    return mode, cval, n_threads, channel_axis


def _split(image, channel_axis):
    """Spatial planes of `image` and the function that stacks results back."""
    if channel_axis is None:
        return [image], lambda planes: planes[0]
    axis = channel_axis % image.ndim
    return ([plane.copy() for plane in np.moveaxis(image, axis, 0)],
            lambda planes: np.stack(planes, axis=axis) if planes else
            np.empty(image.shape, np.float64))


def prepare(image, size, mode, cval, n_threads, channel_axis):
    """Validate the common arguments; return image, mode, cval, n_threads, planes, join.

    Every value the filter reads must be finite (docs/algorithm.md §0).
    """
    image = as_image(image)
    check_finite(image)
    mode, cval, n_threads, channel_axis = crc_arguments(image.shape, size, mode, cval,
                                                        n_threads, channel_axis)
    planes, join = _split(image, channel_axis)
    # windows of the image read cval as scipy does: first converted to the dtype
    cval = float(cval_in_dtype(cval, image.dtype))
    if mode == "constant":
        check_finite(cval, "cval")
    return image, mode, cval, n_threads, planes, join


def bounds(dtype):
    """The range an integer `dtype`'s float64 results are clipped to once rounded, or
    None for a float dtype: its range, within the doubles that convert to it (the
    largest 64-bit integers do not: they round up to a power of two)."""
    if dtype.kind == "b":
        return 0.0, 1.0
    if dtype.kind not in "iu":
        return None
    info = np.iinfo(dtype)
    high = float(info.max)
    return float(info.min), high if high <= info.max else float(np.nextafter(high, 0.0))


def output_planes(result, image, channel_axis):
    """The planes of `result` (the output of a call on `image`), in the order of
    :func:`prepare`'s planes: views, which the filters write into."""
    if not image.size:
        return []
    if channel_axis is None:
        return [result]
    return list(np.moveaxis(result, channel_axis % image.ndim, 0))


def store(values, target):
    """Write the float64 result of a plane into its `target`: rounded half to even and
    clipped for integers, in place in `values`."""
    limits = bounds(target.dtype)
    if limits is not None:
        values = np.clip(np.rint(values, out=values), *limits, out=values)
    np.copyto(target, values.reshape(target.shape), casting="unsafe")


def finish(results, output, image, channel_axis):
    """Write the float64 result of each plane (`results`, in the order of :func:`prepare`'s
    planes) into its plane of `output` (:func:`store`).

    The results are rounded in place, and written one plane at a time: no array of
    the whole image is made besides the output.
    """
    result = prepare_output(output, image)
    for values, target in zip(results, output_planes(result, image, channel_axis)):
        store(values, target)
    return result
