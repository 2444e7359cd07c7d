"""Validation and normalisation of the filters' arguments.

Pure Python, shared by the compiled path and the reference so that both accept and
reject exactly the same calls. Where :func:`scipy.ndimage.median_filter` raises, the
same exception type is raised for the same reason; the classes below derive from both
scipy's type and the Python type a reader expects (``ValueError``/``TypeError``).
"""
import numbers
import operator
import warnings
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

__all__ = ["ArgumentError", "ComplexDtypeError", "FootprintTooLargeError", "MODES",
           "NonNumericDtypeError", "Geometry", "as_image", "as_integer", "check_dtype",
           "check_finite", "cval_in_dtype", "median_rank", "normalize_cval",
           "normalize_geometry", "normalize_mode", "normalize_modes", "normalize_n_threads",
           "percentile_rank", "prepare_output", "rank_arguments", "RankArguments",
           "rank_index", "uses_float_border", "warn_if_size_ignored"]

# scipy.ndimage names for the five border rules; the ``grid-`` spellings are scipy's
# aliases, which for filters mean the same extension.
MODES = {
    "reflect": "reflect", "grid-mirror": "reflect",
    "mirror": "mirror",
    "nearest": "nearest",
    "wrap": "wrap", "grid-wrap": "wrap",
    "constant": "constant", "grid-constant": "constant",
}

# Elements of one footprint; beyond this the per-thread scratch of the large-window
# kernels would no longer be small (scipy itself tries to allocate the footprint).
MAX_FOOTPRINT_ELEMENTS = 1 << 24

SUPPORTED_KINDS = "biuf"  # bool, signed and unsigned integers, floats
# Strings, bytes and dates: not numbers at all.
NON_NUMERIC_KINDS = "USM"
INTEGERS = "an integer or a sequence of integers"


class ArgumentError(ValueError, RuntimeError):
    """An argument is invalid (``RuntimeError`` where scipy raises that)."""


class ComplexDtypeError(TypeError, RuntimeError):
    """Complex data (``TypeError`` for an input, ``RuntimeError`` for an output, as scipy)."""


class NonNumericDtypeError(TypeError, RuntimeError):
    """Strings or dates: ``TypeError`` as for scipy's string inputs, ``RuntimeError`` as
    for its 2-d date inputs and every output."""


class FootprintTooLargeError(ValueError, MemoryError):
    """The footprint is too large to filter with (``MemoryError`` as in scipy)."""


def check_dtype(dtype, name):
    """Raise unless `dtype` is one the filters compute in (or write to)."""
    if dtype.kind == "c":
        raise ComplexDtypeError(f"{name}: complex data is not supported")
    if dtype.kind in NON_NUMERIC_KINDS:
        raise NonNumericDtypeError(
            f"{name}: dtype {dtype} is not numeric; expected bool, an integer type, "
            "float32 or float64")
    if dtype.kind not in SUPPORTED_KINDS or dtype == np.float16 or dtype.itemsize > 8:
        raise ArgumentError(
            f"{name}: dtype {dtype} is not supported; expected bool, an integer type, "
            "float32 or float64")


def as_image(image, name="image"):
    """Return `image` as an ndarray of a supported dtype in native byte order."""
    if not isinstance(image, np.ndarray) and np.iscomplexobj(image):
        raise ComplexDtypeError(f"{name}: complex data is not supported")
    image = np.asarray(image)
    check_dtype(image.dtype, name)
    if not image.dtype.isnative:
        image = image.astype(image.dtype.newbyteorder("="))
    return image


def check_finite(values, name="image"):
    """Raise unless every value is finite: NaN and infinities are refused."""
    values = np.asarray(values)
    if values.dtype.kind == "f" and not np.isfinite(values).all():
        raise ValueError(f"{name}: contains NaN or infinity; expected finite values "
                         "(numpy.nan_to_num replaces them)")


def as_integer(value, name, expected):
    """`value` as an int (a bool is refused); a TypeError naming `name` otherwise."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: expected {expected}, got bool")
    try:
        return operator.index(value)
    except TypeError as error:
        # Python's own words end the message: scipy's tests match them
        raise TypeError(f"{name}: expected {expected}, got {value!r} ({error})") from None


def normalize_mode(mode):
    """Return the canonical border mode name for `mode`, one name."""
    if not isinstance(mode, str):
        raise ArgumentError(f"mode: expected one of {sorted(MODES)}, got {mode!r}")
    try:
        return MODES[mode]
    except KeyError:
        raise ArgumentError(f"mode: expected one of {sorted(MODES)}, got {mode!r}") from None


def normalize_modes(mode, ndim, axes, geometry, rank):
    """The canonical border mode of each filtered axis of `geometry`, in its order.

    One name is every axis's mode. As in scipy.ndimage (1.17), a sequence gives one
    per entry of `axes` (``mode[i]`` goes with ``axes[i]``, whatever their order, and
    with axis i when `axes` is None), and only where scipy's rank filter hands the
    call to its separable minimum or maximum filter: for the smallest or the largest
    `rank` over a full box. Elsewhere scipy raises, and so does this, in scipy's words.
    """
    if isinstance(mode, str) or not np.iterable(mode):
        return (normalize_mode(mode),) * len(geometry.axes)
    modes, given = list(mode), _normalize_axes(axes, ndim)
    _check_length(modes, len(given), "mode")
    if rank not in (0, geometry.count - 1):
        raise ArgumentError(
            "mode: a mode per axis is taken only by the smallest and the largest rank over "
            f"a full box, got {mode!r} (A sequence of modes is not supported by "
            "non-separable rank filters)")
    if not geometry.footprint.all():
        raise ArgumentError(
            f"mode: a mode per axis is taken only over a full box, got {mode!r} (A sequence "
            "of modes is not supported for non-separable footprints)")
    along = dict(zip(given, map(normalize_mode, modes)))
    return tuple(along[axis] for axis in geometry.axes)


def _normalize_axes(axes, ndim):
    if axes is None:
        return tuple(range(ndim))
    try:
        axes = tuple(axes)
    except TypeError:  # a single axis
        axes = (axes,)
    result = []
    for axis in axes:
        # scipy takes a bool for an axis, so unlike sizes it is not refused here
        try:
            axis = operator.index(axis)
        except TypeError as error:
            raise TypeError(f"axes: expected {INTEGERS}, got {axis!r} ({error})") from None
        if not -ndim <= axis < ndim:
            # AxisError is both the ValueError a reader expects and scipy's IndexError
            raise np.exceptions.AxisError(
                f"axes: axis {axis} is out of range for {ndim}-d input")
        result.append(axis % ndim)
    if len(set(result)) != len(result):
        raise ValueError(f"axes: axes must be unique, got {tuple(axes)}")
    return tuple(result)


def _per_axis(value, count, name):
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{name}: expected {INTEGERS}, got {value!r}")
    try:
        values = tuple(value)
    except TypeError:  # one value for every axis (0-d integer arrays included, as in scipy)
        return (as_integer(value, name, INTEGERS),) * count
    _check_length(values, count, name)
    return tuple(as_integer(v, name, INTEGERS) for v in values)


def _check_length(values, count, name):
    """Raise unless the sequence `values` has one entry per filtered axis."""
    if len(values) != count:
        raise ArgumentError(
            f"{name}: sequence argument must have length equal to the number of filtered "
            f"axes ({count}), got {len(values)}")


@dataclass(frozen=True)
class Geometry:
    """Where the footprint sits, with the filtered axes moved to the end.

    ``footprint`` is boolean with one dimension per filtered axis, ordered as the
    filtered axes appear in the image; ``origin`` shifts it as in scipy.ndimage;
    ``axes`` lists the filtered axes in increasing order.

    Both follow what scipy.ndimage (1.17) does rather than what its documentation
    says (scipy issue 22576): the i-th dimension of the footprint or entry of
    ``size`` goes with the i-th filtered axis in increasing order, whatever the
    order of ``axes``; the i-th origin goes with ``axes[i]`` when only some axes
    are filtered, and with axis i when all are.
    """
    footprint: np.ndarray
    origin: tuple
    axes: tuple

    @property
    def count(self):
        """Number of elements in the footprint."""
        return int(np.count_nonzero(self.footprint))

    def extents(self):
        """Per filtered axis, how far the window reaches (before, after) the pixel."""
        return tuple((s // 2 + o, s - 1 - s // 2 - o)
                     for s, o in zip(self.footprint.shape, self.origin))


def warn_if_size_ignored(size, footprint):
    """Warn as scipy.ndimage does where both `size` and `footprint` are given.

    The footprint wins. Called first by the public filters' common body (compiled and
    reference alike), so that, as scipy's, the warning names the line that called
    the public filter: this function, the body, the filter, its caller.
    """
    if size is not None and footprint is not None:
        warnings.warn("ignoring size because footprint is set", UserWarning, stacklevel=4)


def normalize_geometry(ndim, size=None, footprint=None, origin=0, axes=None):
    """Normalise ``size``/``footprint``/``origin``/``axes`` as scipy.ndimage does.

    With neither `size` nor `footprint`, the window is 3 along every filtered axis.
    """
    axes = _normalize_axes(axes, ndim)
    if footprint is None:
        sizes = _per_axis(3 if size is None else size, len(axes), "size")
        if any(s < 1 for s in sizes):
            raise ArgumentError(f"size: every size must be at least 1, got {sizes}")
        count = int(np.prod(sizes, dtype=object))
        if count > MAX_FOOTPRINT_ELEMENTS:
            raise FootprintTooLargeError(
                f"size: a window of {count} elements is too large "
                f"(at most {MAX_FOOTPRINT_ELEMENTS})")
        footprint = np.ones(sizes, dtype=bool)
    else:
        footprint = np.asarray(footprint)
        if footprint.dtype.kind not in SUPPORTED_KINDS:
            raise TypeError("footprint: expected a boolean or numeric array, "
                            f"got {footprint.dtype}")
        footprint = footprint.astype(bool)
        if footprint.ndim != len(axes):
            raise ArgumentError(
                f"footprint: footprint.ndim ({footprint.ndim}) must match len(axes) "
                f"({len(axes)}), one dimension per filtered axis")
        if footprint.size > MAX_FOOTPRINT_ELEMENTS:
            raise FootprintTooLargeError(
                f"footprint: {footprint.size} elements is too large "
                f"(at most {MAX_FOOTPRINT_ELEMENTS})")
        if not footprint.any():
            raise ArgumentError("footprint: the footprint selects no element "
                                "(rank not within filter footprint size)")
    origins = _per_axis(origin, len(axes), "origin")
    if len(axes) < ndim:
        origins = tuple(o for _, o in sorted(zip(axes, origins)))
    for o, s in zip(origins, footprint.shape):
        if not -(s // 2) <= o <= (s - 1) // 2:
            raise ValueError(f"origin: invalid origin {o} for a footprint of length {s}")
    # asarray, not ascontiguousarray, which makes the 0-d window of no axes 1-d
    return Geometry(footprint=np.asarray(footprint, order="C"), origin=origins,
                    axes=tuple(sorted(axes)))


def normalize_n_threads(n_threads):
    """Check `n_threads` (None means every core the OpenMP runtime offers)."""
    if n_threads is None:
        return None
    if isinstance(n_threads, bool) or not isinstance(n_threads, (numbers.Integral, np.integer)):
        raise TypeError(f"n_threads: expected a positive integer or None, got {n_threads!r}")
    if n_threads < 1:
        raise ValueError(f"n_threads: expected a positive integer or None, got {n_threads}")
    return int(n_threads)


def normalize_cval(cval):
    """Return `cval` as a Python float, as scipy converts it (0-d arrays included)."""
    if isinstance(cval, np.ndarray) and cval.ndim == 0:
        cval = cval[()]
    if not (isinstance(cval, numbers.Real)
            or isinstance(cval, np.generic) and cval.dtype.kind in SUPPORTED_KINDS):
        raise TypeError(f"cval: expected a real number, got {cval!r}")
    return float(cval)


class RankArguments(NamedTuple):
    """The arguments of one rank filter's call, checked and canonical."""
    geometry: Geometry
    rank: int
    modes: tuple
    cval: float
    n_threads: int | None


def rank_arguments(ndim, rank_of, size, footprint, mode, cval, origin, axes, n_threads):
    """Check and normalise a rank filter's arguments for `ndim`-d input, in the one
    order that the compiled filter, its reference and the dask wrapper share (so
    that a call with several bad arguments names the same one in each); the rank is
    ``rank_of(count)`` of the footprint's element count."""
    cval = normalize_cval(cval)
    n_threads = normalize_n_threads(n_threads)
    geometry = normalize_geometry(ndim, size, footprint, origin, axes)
    rank = rank_of(geometry.count)
    modes = normalize_modes(mode, ndim, axes, geometry, rank)
    return RankArguments(geometry, rank, modes, cval, n_threads)


def cval_in_dtype(cval, dtype):
    """`cval` converted to the image's `dtype`, as scipy.ndimage converts it.

    scipy casts the border value to the input's type before filtering (0.5 becomes
    0 and 300 becomes 44 for uint8), so the window never holds a value the image
    could not; NaN and out-of-range values convert as C casts do, without a warning.
    For bool that C cast truncates first: 0.5 is False, 2.0 is True.
    """
    if dtype.kind == "b":
        return np.bool_(np.trunc(cval) != 0)
    with np.errstate(invalid="ignore", over="ignore"):
        return np.array(cval).astype(dtype)[()]


def prepare_output(output, image, empty=np.empty):
    """Return the array to write the result of filtering `image` into.

    `output` may be None (a new array of the image's dtype), a dtype, or a writeable
    array of the image's shape (the image itself included). New arrays come from
    ``empty(shape, dtype)``.
    """
    if output is None:
        return empty(image.shape, image.dtype)
    if isinstance(output, np.ndarray):
        if output.shape != image.shape:
            raise ArgumentError(
                f"output: shape {output.shape} does not match the input's {image.shape}")
        check_dtype(output.dtype, "output")
        if not output.flags.writeable:
            raise ValueError("output: the array is read-only")
        return output
    try:
        dtype = np.dtype(output)
    except TypeError:
        raise TypeError(f"output: expected None, a dtype or an array, got {output!r}") from None
    check_dtype(dtype, "output")
    return empty(image.shape, dtype)


def median_rank(count):
    """The median's rank among `count` sorted values: scipy's ``count // 2``."""
    return count // 2


def rank_index(rank, count):
    """`rank` (negative counts from the largest) as an index into `count` sorted values."""
    try:
        rank = operator.index(rank)
    except TypeError:
        raise TypeError(f"rank: expected an integer, got {rank!r}") from None
    if not -count <= rank < count:
        raise ArgumentError(f"rank: {rank} is not within the footprint's {count} elements "
                            "(rank not within filter footprint size)")
    return rank % count


def percentile_rank(percentile, count):
    """The rank scipy.ndimage.percentile_filter takes for `percentile` of `count` values.

    Negative percentiles count from 100; the rank is computed in the percentile's own
    type exactly as scipy computes it, so that both pick the same element.

    Examples
    --------
    >>> percentile_rank(50, 9), percentile_rank(-25.0, 9), percentile_rank(100, 9)
    (4, 6, 8)
    """
    if isinstance(percentile, np.ndarray) and percentile.ndim == 0:
        percentile = percentile[()]   # scipy takes a 0-d array as its number
    if (isinstance(percentile, (bool, np.bool_))
            or not isinstance(percentile, (numbers.Real, np.integer, np.floating))):
        raise TypeError(f"percentile: expected a real number, got {percentile!r}")
    given = percentile
    if percentile < 0.0:
        percentile += 100.0
    if not 0 <= percentile <= 100:   # False for NaN too
        raise ArgumentError(f"percentile: expected a value from -100 to 100, got {given!r} "
                            "(invalid percentile)")
    if percentile == 100.0:
        return count - 1
    return rank_index(int(float(count) * percentile / 100.0), count)


def uses_float_border(geometry, modes, cval, dtype, rank):
    """Whether a constant border takes part as the float64 `cval`, not in `dtype`.

    `modes` are the filtered axes' border modes, `rank` the rank filtered.

    scipy.ndimage hands the smallest and the largest rank to its minimum and maximum
    filters. Where the footprint is a full box, they filter one axis after another,
    in float64, comparing `cval` as it is; its rank filter (and its minimum filter
    for other footprints) converts `cval` to the input's dtype first. The two differ
    only for a `cval` within the dtype's range that the dtype does not hold (0.5
    for integers, 0.1 for float32), and then the border is the float64 `cval`: where
    a window reaches it and `cval` is smaller (larger) than its other values, the
    result is `cval`, converted to the output's dtype. Beyond the range, or NaN,
    scipy's conversion is undefined, and `cval` is converted first.
    """
    if ("constant" not in modes or rank not in (0, geometry.count - 1)
            or not geometry.footprint.all()):
        return False
    if dtype.kind == "f":
        low, high = -float(np.finfo(dtype).max), float(np.finfo(dtype).max)
    else:
        low, high = (0, 1) if dtype.kind == "b" else (np.iinfo(dtype).min, np.iinfo(dtype).max)
    return low <= cval <= high and float(cval_in_dtype(cval, dtype)) != cval
