"""The median, rank and percentile filters written as their definition: gather, sort, pick."""
import functools

import numpy as np

from crcx._common.arguments import (as_image, cval_in_dtype, median_rank, percentile_rank,
                                    prepare_output, rank_arguments, rank_index, uses_float_border,
                                    warn_if_size_ignored)

__all__ = ["extend_index", "median", "percentile_filter", "rank_filter"]


def extend_index(i, n, mode):
    """Return the index that position `i` of an axis of length `n` reads, or None.

    Positions ``0 <= i < n`` read themselves. Outside, the axis is extended by the
    border rule `mode` (a canonical name from :func:`crcx._common.arguments.normalize_mode`);
    every rule but ``nearest`` is periodic, so `i` may lie any distance away::

        reflect   j = i mod 2n,       then j if j < n else 2n - 1 - j   d c b a | a b c d | d c b a
        mirror    j = i mod (2n - 2), then j if j < n else 2n - 2 - j   d c b | a b c d | c b a
        nearest   min(max(i, 0), n - 1)                                 a a a | a b c d | d d d
        wrap      i mod n                                               b c d | a b c d | a b c
        constant  None: the value is cval                               k k k | a b c d | k k k

    ``mirror`` reads index 0 everywhere when ``n == 1``. These are the ``numpy.pad``
    modes ``symmetric``, ``reflect``, ``edge``, ``wrap`` and ``constant``.

    Parameters
    ----------
    i : int
        Position along the axis, possibly outside ``[0, n)``.
    n : int
        Length of the axis, at least 1.
    mode : {"reflect", "mirror", "nearest", "wrap", "constant"}
        Border rule.

    Returns
    -------
    int or None
        Index in ``[0, n)``, or None where ``constant`` supplies `cval`.

    Examples
    --------
    >>> from crcx.reference import extend_index
    >>> [extend_index(i, 3, "reflect") for i in range(-4, 7)]
    [2, 2, 1, 0, 0, 1, 2, 2, 1, 0, 0]
    >>> [extend_index(i, 3, "mirror") for i in range(-4, 7)]
    [0, 1, 2, 1, 0, 1, 2, 1, 0, 1, 2]
    """
    if 0 <= i < n:
        return i
    if mode == "constant":
        return None
    if mode == "nearest":
        return min(max(i, 0), n - 1)
    if mode == "wrap":
        return i % n
    if mode == "reflect":
        j = i % (2 * n)
        return j if j < n else 2 * n - 1 - j
    if mode == "mirror":
        if n == 1:
            return 0
        j = i % (2 * n - 2)
        return j if j < n else 2 * n - 2 - j
    raise ValueError(f"mode: unknown border rule {mode!r}")


def median(input, size=None, footprint=None, output=None, mode="reflect", cval=0.0,
           origin=0, *, axes=None, n_threads=None):
    """Median filter: the reference definition of :func:`crcx.median`.

    Returns what :func:`scipy.ndimage.median_filter` returns, wherever scipy's result
    is defined, and accepts and rejects the same arguments as :func:`crcx.median`.
    Each output pixel is computed literally: gather the values under the footprint
    (shifted by `origin`; positions outside the image read by the border rule of
    `mode`, see :func:`extend_index`), sort them, take the element of rank
    ``count // 2`` where ``count`` is the number of footprint elements. Any
    number of axes may be filtered.

    Parameters
    ----------
    input : array_like
        The image: bool, integer, float32 or float64 data of any dimension, including
        0-d and empty. It is never modified. Named as scipy names it.
    size : int or sequence of int, optional
        Window shape along the filtered axes; 3 when neither `size` nor `footprint`
        is given. Ignored when `footprint` is given, with scipy's UserWarning.
    footprint : array_like, optional
        Window elements (nonzero means included), one dimension per filtered axis.
    output : ndarray or dtype, optional
        Array to fill (it may be `input` itself) or dtype of the result. The medians
        are converted as by ``ndarray.astype`` (unsafe casting, no warning).
    mode : {"reflect", "mirror", "nearest", "wrap", "constant"} or sequence, optional
        Border rule, with scipy's ``grid-`` aliases; see :func:`extend_index`. A
        sequence gives one per entry of `axes`, taken only for the smallest and the
        largest rank over a full box (see :func:`crcx._common.arguments.normalize_modes`).
    cval : float, optional
        Value outside the image for ``mode="constant"``.
    origin : int or sequence of int, optional
        Shift of the window as in scipy.ndimage: the window reaches
        ``k // 2 + origin`` elements before the pixel along an axis of length ``k``.
    axes : int or sequence of int, optional
        Filtered axes (default all); other axes are not part of the window. The i-th
        entry of `size` and the i-th footprint dimension go with the i-th filtered
        axis in increasing order, whatever the order of `axes`; the i-th entry of
        `origin` goes with ``axes[i]`` when some axes are not filtered, else with axis
        i. That is what scipy 1.17 does (its documentation pairs all with ``axes[i]``).
    n_threads : int, optional
        Validated as by :func:`crcx.median`, otherwise ignored.

    Returns
    -------
    ndarray
        The filtered image, of `output`'s dtype (default `input`'s).

    Notes
    -----
    Values are compared and returned in the image's dtype, so 64-bit integers beyond
    2**53 stay exact (scipy rounds them through float64). `cval` is first converted
    to the image's dtype, as scipy does (0.5 becomes 0 and 300 becomes 44 for uint8).

    NaN sorts above +inf, as :func:`numpy.sort` orders it: a median is NaN exactly
    when the element of rank ``count // 2`` of the sorted window is. -0.0 and +0.0
    are equal, so either may be returned for a zero median.

    Examples
    --------
    >>> import numpy as np
    >>> from crcx.reference import median
    >>> median(np.array([5, 1, 9, 2, 8]), size=3)
    array([5, 5, 2, 8, 8])
    >>> median(np.array([5, 1, 9, 2, 8]), size=3, mode="constant", cval=0.5, output=float)
    array([1., 5., 2., 8., 2.])
    """
    return _rank_filter(input, median_rank, size, footprint, output, mode, cval, origin,
                        axes, n_threads)


def rank_filter(input, rank, size=None, footprint=None, output=None, mode="reflect",
                cval=0.0, origin=0, *, axes=None, n_threads=None):
    """Rank filter: the reference definition of :func:`crcx.rank_filter`.

    As :func:`median`, but takes the element of rank `rank` of the sorted window
    (negative counts from the largest).

    Examples
    --------
    >>> import numpy as np
    >>> from crcx.reference import rank_filter
    >>> rank_filter(np.array([5, 1, 9, 2, 8]), 0, size=3)
    array([1, 1, 1, 2, 2])
    """
    return _rank_filter(input, functools.partial(rank_index, rank), size, footprint,
                        output, mode, cval, origin, axes, n_threads)


def percentile_filter(input, percentile, size=None, footprint=None, output=None,
                      mode="reflect", cval=0.0, origin=0, *, axes=None, n_threads=None):
    """Percentile filter: the reference definition of :func:`crcx.percentile_filter`.

    As :func:`median`, but takes the element of rank ``int(count * percentile /
    100)`` of the sorted window (the largest for 100; a negative `percentile`
    counts from 100).

    Examples
    --------
    >>> import numpy as np
    >>> from crcx.reference import percentile_filter
    >>> percentile_filter(np.array([5, 1, 9, 2, 8]), 50, size=3)
    array([5, 5, 2, 8, 8])
    """
    return _rank_filter(input, functools.partial(percentile_rank, percentile), size,
                        footprint, output, mode, cval, origin, axes, n_threads)


def _rank_filter(input, rank_of, size, footprint, output, mode, cval, origin, axes,
                 n_threads):
    """Gather, sort and pick the element of rank ``rank_of(count)`` at every pixel."""
    warn_if_size_ignored(size, footprint)
    image = as_image(input, "input")
    geometry, rank, modes, cval, _ = rank_arguments(
        image.ndim, rank_of, size, footprint, mode, cval, origin, axes, n_threads)
    result = prepare_output(output, image)

    float_border = uses_float_border(geometry, modes, cval, image.dtype, rank)
    border = None if float_border else cval_in_dtype(cval, image.dtype)
    before = [reach for reach, _ in geometry.extents()]
    offsets = np.argwhere(geometry.footprint) - np.array(before, dtype=np.intp)

    def read(pixel, offset):
        source = list(pixel)
        for axis, step, mode in zip(geometry.axes, offset, modes):
            index = extend_index(pixel[axis] + int(step), image.shape[axis], mode)
            if index is None:
                return border
            source[axis] = index
        return image[tuple(source)]

    # Laid out as the result, so that the final cast runs the same way as the compiled one
    medians = np.empty_like(result, dtype=image.dtype)
    border_wins = np.zeros(image.shape, bool)
    for pixel in np.ndindex(image.shape):
        values = [read(pixel, offset) for offset in offsets]
        window = np.sort(np.array([v for v in values if v is not None], dtype=image.dtype))
        if not float_border:
            medians[pixel] = window[rank]
            continue
        # The smallest (rank 0) or largest value, the float64 cval among the others.
        if len(window):
            medians[pixel] = window[0] if rank == 0 else window[-1]
        border_wins[pixel] = len(window) < len(values) and (
            not len(window) or (not window[0] <= np.float64(cval) if rank == 0
                                else window[-1] < np.float64(cval)))
    # scipy converts in C without warnings; NaN or out-of-range values may be cast.
    with np.errstate(invalid="ignore", over="ignore"):
        np.copyto(result, medians, casting="unsafe")
        np.copyto(result, cval_in_dtype(cval, result.dtype), where=border_wins)
    return result
