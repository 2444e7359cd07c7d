"""Choose filter parameters without clean images: the J-invariant self-supervised loss.

Batson & Royer, "Noise2Self: Blind Denoising by Self-Supervision", ICML 2019,
PMLR 97:524-533 (the method of ``skimage.restoration.calibrate_denoiser``). A grid of
pixels one `stride` apart is hidden: each is replaced by the mean of its four nearest
neighbours, so the denoised value there cannot depend on the pixel's own noise. The
denoiser's error on the hidden pixels, against the noisy values, then estimates its
error against the unknown clean image up to a constant (the noise variance), for
noise that is independent from pixel to pixel. Every one of the ``stride ** 2``
phases of the grid is hidden in turn.
"""
import itertools
import numbers
from collections.abc import Mapping

import numpy as np

from crcx.collection import (METHODS, _as_planes, _check_options, filter_function, load_images,
                             progress_bar)

__all__ = ["DEFAULT_GRIDS", "STRIDE", "self_supervised_loss", "tune"]

# Candidate parameters per method: every combination is tried.
DEFAULT_GRIDS = {
    "median": {"size": (3, 5, 7)},
    # The parameters that move CRC-MF's result most (docs/algorithm.md, §3 and §5): the
    # non-local filtering strength and the Wiener gain's over-subtraction.
    "crc": {"h": (0.75, 1.0, 1.25), "wiener_c": (1.0, 2.0, 3.0)},
}
# Distance between hidden pixels (Batson & Royer use 4); must exceed one so that the
# neighbours filling a hidden pixel are never hidden themselves.
STRIDE = 4


def _neighbour_mean(planes):
    """Mean of each pixel's four nearest neighbours (mirrored at the border)."""
    padded = np.pad(planes, ((0, 0), (1, 1), (1, 1)), mode="reflect")
    return (padded[:, :-2, 1:-1] + padded[:, 2:, 1:-1]
            + padded[:, 1:-1, :-2] + padded[:, 1:-1, 2:]) / 4.0


def _check_stride(stride):
    if isinstance(stride, bool) or not isinstance(stride, numbers.Integral) or stride < 2:
        raise ValueError(f"stride: expected an integer of at least 2, got {stride!r}")
    return int(stride)


def self_supervised_loss(images, method="crc", *, stride=STRIDE, **filter_options):
    """J-invariant loss of one filter setting, summed over phases and images.

    Parameters
    ----------
    images : sequence of array_like
        Noisy images (grey, colour or stacks; filtered plane by plane).
    method : {'crc', 'median'}, optional
        The filter (see :func:`crcx.collection.denoise_image`).
    stride : int, optional
        Distance between hidden pixels.
    **filter_options
        The setting to score, passed to the filter.

    Returns
    -------
    float
        Sum over images and over the ``stride ** 2`` phases of the mean squared error
        on the hidden pixels.

    Examples
    --------
    >>> import numpy as np
    >>> from crcx.tune import self_supervised_loss
    >>> ramp = np.add.outer(np.arange(16.0), np.arange(16.0))
    >>> self_supervised_loss([ramp], "median", size=3)
    1.0
    """
    stride = _check_stride(stride)
    _check_options(filter_options)
    function = filter_function(method)
    plane_options = METHODS[method][1]
    total = 0.0
    for image in images:
        planes, _ = _as_planes(np.asarray(image))
        noisy = planes.astype(np.float64)
        fill = _neighbour_mean(noisy)
        if planes.dtype.kind in "biu":
            fill = np.rint(fill)
        fill = fill.astype(planes.dtype)
        for row, column in itertools.product(range(stride), repeat=2):
            hidden = (slice(None), slice(row, None, stride), slice(column, None, stride))
            if noisy[hidden].size == 0:
                continue
            masked = planes.copy()
            masked[hidden] = fill[hidden]
            denoised = function(masked, **plane_options, **filter_options)
            total += float(np.mean((denoised[hidden].astype(np.float64) - noisy[hidden]) ** 2))
    return total


def _check_grid(grid, filter_options):
    if not isinstance(grid, Mapping):
        raise TypeError(f"grid: expected a mapping of parameter name to candidate values, "
                        f"got {type(grid).__name__}")
    checked = {}
    for name, values in grid.items():
        if name in filter_options:
            raise TypeError(f"grid: {name!r} is also passed as a fixed option")
        if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
            raise TypeError(f"grid: the candidates for {name!r} must be a sequence, "
                            f"got {values!r}")
        checked[name] = tuple(values)
        if not checked[name]:
            raise ValueError(f"grid: no candidate value for {name!r}")
    return checked


def tune(images, grid=None, method="crc", *, stride=STRIDE, progress=False, **filter_options):
    """Choose the filter parameters that minimise the self-supervised loss.

    Every combination of `grid` is scored with :func:`self_supervised_loss` over the
    whole collection; no clean image is needed.

    Parameters
    ----------
    images : array, path or sequence of arrays or of paths
        The noisy collection (files, directories and globs are read).
    grid : mapping of str to sequence, optional
        Candidate values per parameter; default :data:`DEFAULT_GRIDS` ``[method]``.
    method : {'crc', 'median'}, optional
        The filter to tune.
    stride : int, optional
        Distance between hidden pixels.
    progress : bool, optional
        Show a tqdm progress bar on stderr.
    **filter_options
        Fixed options passed to every call (``mode``, ``n_threads``, ...).

    Returns
    -------
    best_parameters : dict
        The winning combination (the first in grid order on a tie).
    loss_table : list of dict
        One row per combination, in grid order: its parameters and its ``"loss"``.

    Notes
    -----
    The loss is a squared error, which the conditional mean minimises: it assumes noise
    of zero mean. Salt-and-pepper noise with equal salt and pepper fractions satisfies
    that; salt alone (or pepper alone) biases the choice towards averaging filters.

    Examples
    --------
    >>> import numpy as np
    >>> from crcx.tune import tune
    >>> rng = np.random.default_rng(0)
    >>> image = np.clip(100 + rng.normal(0, 20, (32, 32)), 0, 255).astype(np.uint8)
    >>> best, table = tune([image], {"size": (1, 5)}, "median")
    >>> best
    {'size': 5}
    """
    filter_function(method)
    grid = _check_grid(DEFAULT_GRIDS[method] if grid is None else grid, filter_options)
    stride = _check_stride(stride)
    images = load_images(images)
    combinations = [dict(zip(grid, values)) for values in itertools.product(*grid.values())]
    table = []
    with progress_bar(len(combinations), progress, "setting") as bar:
        for parameters in combinations:
            loss = self_supervised_loss(images, method, stride=stride,
                                        **parameters, **filter_options)
            table.append({**parameters, "loss": loss})
            bar.update()
    best = min(range(len(table)), key=lambda index: table[index]["loss"])
    return combinations[best], table
