"""Border rules: which input index an index outside the image reads.

The rules are scipy.ndimage's, extended periodically so that a window many times
larger than the image is well defined (the same as numpy.pad's modes ``symmetric``,
``reflect``, ``edge``, ``wrap`` and ``constant``).
"""
import numpy as np

__all__ = ["extended_indices"]


def extended_indices(length, before, after, mode):
    """Source index of each of the coordinates ``-before .. length + after - 1``.

    Parameters
    ----------
    length : int
        Length of the image along the axis (at least 1).
    before, after : int
        How far windows reach past the first and the last element.
    mode : str
        A canonical mode name (see ``crcx._common.arguments.MODES``).

    Returns
    -------
    ndarray of intp
        Indices into the axis; -1 where ``mode == "constant"`` reads `cval`.

    Examples
    --------
    >>> extended_indices(3, 2, 2, "reflect").tolist()
    [1, 0, 0, 1, 2, 2, 1]
    >>> extended_indices(3, 2, 2, "mirror").tolist()
    [2, 1, 0, 1, 2, 1, 0]
    """
    index = np.arange(-before, length + after, dtype=np.intp)
    if mode == "reflect":        # d c b a | a b c d | d c b a
        period = np.mod(index, 2 * length)
        return np.where(period < length, period, 2 * length - 1 - period)
    if mode == "mirror":         # d c b | a b c d | c b a
        if length == 1:
            return np.zeros_like(index)
        period = np.mod(index, 2 * length - 2)
        return np.where(period < length, period, 2 * length - 2 - period)
    if mode == "nearest":        # a a a | a b c d | d d d
        return np.clip(index, 0, length - 1)
    if mode == "wrap":           # b c d | a b c d | a b c
        return np.mod(index, length)
    return np.where((index >= 0) & (index < length), index, -1)
