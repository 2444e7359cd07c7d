"""Choose filter parameters without clean images: two unbiased estimates of the error.

``"sure"`` (the default): Stein's unbiased risk estimate (Stein, "Estimation of the mean
of a multivariate normal distribution", Ann. Statist. 9(6), 1981). For noise of
variance s(p) that is Gaussian and independent from pixel to pixel,
``(f(y) - y)^2 - s + 2 s df/dy`` has the expectation of the squared error against the
clean image. The divergence df/dy is measured by Monte Carlo: one extra run on the
image nudged by a random +/- epsilon at every pixel (Ramani, Blu & Unser, "Monte-Carlo
SURE", IEEE Trans. Image Processing 17(9), 2008). The noise variance and the impulses
are those CRC-MF estimates (:func:`crcx.crc_map`); impulses, and outliers the impulse
detector let through, carry nothing of the clean value and are left out of the score.
So the filter is scored as it is used, keeping clean pixels where it should.

``"j-invariant"``: Batson & Royer, "Noise2Self: Blind Denoising by Self-Supervision",
ICML 2019, PMLR 97:524-533 (the method of ``skimage.restoration.calibrate_denoiser``). A
grid of pixels one `stride` apart is hidden: each is replaced by the mean of its four
nearest neighbours, so the denoised value there cannot depend on the pixel's own noise.
The denoiser's error on the hidden pixels, against the noisy values, then estimates its
error against the unknown clean image up to a constant (the noise variance), for noise
that has zero mean and is independent from pixel to pixel. Every one of the
``stride ** 2`` phases of the grid is hidden in turn. It needs no noise model, but it
scores the filter predicting a hidden pixel from its neighbours; under impulse noise
that rewards smoothing which the unmasked filter should not do (benchmarks/tuning.py
shows both).
"""
import itertools
import numbers
from collections.abc import Mapping

import numpy as np

import crcx
from crcx._apps.collection import (as_list, call_options, check_flag, filter_function, load_images,
                                   plane_options, planes_to_score, progress_bar)
from crcx._common.arguments import as_image, check_finite
from crcx._crc.options import CRCOptions

__all__ = ["DEFAULT_GRIDS", "EPSILON", "LOSSES", "STRIDE", "self_supervised_loss",
           "stein_loss", "tune"]

# Candidate parameters per method: every combination is tried.
DEFAULT_GRIDS = {
    "median": {"size": (3, 5, 7)},
    # The parameters that move CRC-MF's result most (docs/algorithm.md, §3): the
    # filtering strengths of the two non-local passes. (Since the guided pass, the
    # Wiener gain's over-subtraction hardly moves it: tuned on it, the tuned result
    # gained 0.05 dB over the defaults on benchmarks/tuning.py, on these 0.17 dB.)
    "crc": {"h": (0.75, 1.0, 1.25), "pilot_h": (0.2, 0.3, 0.45)},
}
# Distance between hidden pixels (Batson & Royer use 4); must exceed one so that the
# neighbours filling a hidden pixel are never hidden themselves.
STRIDE = 4
# The Monte-Carlo divergence's step, in noise standard deviations. Ramani et al. take a
# small step for smooth filters; median-type filters switch between neighbours, and a
# step this large averages over those switches (0.05 left the choice to the random
# directions in benchmarks/tuning.py, 0.3 did not).
EPSILON = 0.3
LOSSES = ("sure", "j-invariant")
# Options through which the noise estimate sees the image as every filter does.
_SHARED_OPTIONS = ("mode", "cval", "n_threads")
# A pixel this many noise standard deviations from the 5x5 median is an outlier: the
# noise gate's default (docs/algorithm.md §9.1).
_OUTLIER_KAPPA = CRCOptions().kappa


def _neighbour_mean(planes):
    """Mean of each pixel's four nearest neighbours (mirrored at the border)."""
    padded = np.pad(planes, ((0, 0), (1, 1), (1, 1)), mode="reflect")
    return (padded[:, :-2, 1:-1] + padded[:, 2:, 1:-1]
            + padded[:, 1:-1, :-2] + padded[:, 1:-1, 2:]) / 4.0


def _planes(image):
    """(planes, colour) of one noisy image, which must be numeric, finite and not empty."""
    planes, colour = planes_to_score(as_image(image))
    check_finite(planes)
    return planes, colour


def _check_stride(stride):
    if isinstance(stride, bool) or not isinstance(stride, numbers.Integral) or stride < 2:
        raise ValueError(f"stride: expected an integer of at least 2, got {stride!r}")
    return int(stride)


def self_supervised_loss(images, method="crc", *, stride=STRIDE, **filter_options):
    """J-invariant loss of one filter setting, summed over phases and images.

    Parameters
    ----------
    images : array or sequence of array_like
        Noisy images (grey, colour or stacks; filtered plane by plane), all finite.
    method : {'crc', 'median'}, optional
        The filter (see :func:`crcx.denoise_image`).
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
    >>> from crcx._apps.tuning import self_supervised_loss
    >>> ramp = np.add.outer(np.arange(16.0), np.arange(16.0))
    >>> self_supervised_loss([ramp], "median", size=3)
    1.0
    """
    stride = _check_stride(stride)
    filter_options = call_options(method, filter_options)
    function = filter_function(method)
    total = 0.0
    for image in as_list(images, "images"):
        planes, colour = _planes(image)
        as_planes = plane_options(method, colour)
        noisy = planes.astype(np.float64)
        fill = _neighbour_mean(noisy)
        if planes.dtype.kind in "biu":
            fill = np.rint(fill)
        fill = fill.astype(planes.dtype)
        # phases past the image's rows or columns would hide nothing
        rows, columns = (min(stride, n) for n in planes.shape[1:])
        for row, column in itertools.product(range(rows), range(columns)):
            hidden = (slice(None), slice(row, None, stride), slice(column, None, stride))
            masked = planes.copy()
            masked[hidden] = fill[hidden]
            denoised = function(masked, **as_planes, **filter_options)
            total += float(np.mean((denoised[hidden].astype(np.float64) - noisy[hidden]) ** 2))
    return total


class _SteinSample:
    """One image's planes in float64, with what the Stein estimate holds fixed."""

    def __init__(self, image, method, options, epsilon, seed):
        planes, colour = _planes(image)
        self.noisy = planes.astype(np.float64)
        self.as_planes = plane_options(method, colour)
        shared = {name: options[name] for name in _SHARED_OPTIONS if name in options}
        estimate = options if method == "crc" else shared
        _, impulses, self.variance = crcx.crc_map(
            self.noisy, **plane_options("crc", colour), return_impulses=True,
            return_variance=True, **estimate)
        # an outlier the impulse detector let through has no clean value to score against
        median = crcx.median(self.noisy, size=5, axes=(1, 2), **shared)
        outlier = np.abs(self.noisy - median) > _OUTLIER_KAPPA * np.sqrt(self.variance)
        self.scored = ~impulses & ~outlier
        signs = np.random.default_rng(seed).integers(0, 2, self.noisy.shape) * 2.0 - 1.0
        self.direction = np.where(impulses, 0.0, signs)
        spread = np.sqrt(self.variance[self.scored].mean()) if self.scored.any() else 0.0
        self.step = epsilon * spread

    def risk(self, function, options):
        """Mean over the scored pixels of Stein's estimate of the squared error."""
        if not self.scored.any():
            return 0.0
        denoised = function(self.noisy, **self.as_planes, **options)
        estimate = (denoised - self.noisy) ** 2 - self.variance
        if self.step > 0:
            nudged = function(self.noisy + self.step * self.direction, **self.as_planes,
                              **options)
            divergence = self.direction * (nudged - denoised) / self.step
            estimate += 2.0 * self.variance * divergence
        return float(estimate[self.scored].mean())


def _check_epsilon(epsilon):
    if isinstance(epsilon, bool) or not isinstance(epsilon, numbers.Real) or not epsilon > 0:
        raise ValueError(f"epsilon: expected a positive number, got {epsilon!r}")
    return float(epsilon)


def _check_seed(seed):
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed: expected a non-negative integer, got {seed!r}")
    return int(seed)


def _stein_samples(images, method, options, epsilon, seed):
    return [_SteinSample(image, method, options, epsilon, seed) for image in images]


def _stein_risk(samples, method, options):
    function = filter_function(method)
    return sum(sample.risk(function, options) for sample in samples)


def stein_loss(images, method="crc", *, epsilon=EPSILON, seed=0, **filter_options):
    """Monte-Carlo SURE of one filter setting, summed over images.

    Parameters
    ----------
    images, method
        As in :func:`self_supervised_loss`.
    epsilon : float, optional
        Step of the divergence estimate, in noise standard deviations.
    seed : int, optional
        Seed of the random step directions.
    **filter_options
        The setting to score, passed to the filter (and, for 'crc', to the noise
        estimate).

    Returns
    -------
    float
        Sum over images of the estimated mean squared error against the clean image,
        over the pixels that are neither impulses nor outliers.

    Examples
    --------
    >>> import numpy as np
    >>> from crcx._apps.tuning import stein_loss
    >>> rng = np.random.default_rng(0)
    >>> noisy = 100 + rng.normal(0, 10, (64, 64))
    >>> stein_loss([noisy], "median", size=5) < stein_loss([noisy], "median", size=1)
    True
    """
    filter_options = call_options(method, filter_options)
    filter_function(method)
    samples = _stein_samples(as_list(images, "images"), method, filter_options,
                             _check_epsilon(epsilon), _check_seed(seed))
    return _stein_risk(samples, method, filter_options)


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


def tune(images, grid=None, method="crc", *, loss="sure", stride=STRIDE, progress=False,
         **filter_options):
    """Choose the filter parameters that minimise an estimate of the error.

    Every combination of `grid` is scored over the whole collection by `loss`; no clean
    image is needed.

    Parameters
    ----------
    images : array, path or sequence of arrays or of paths
        The noisy collection (files, directories and globs are read).
    grid : mapping of str to sequence, optional
        Candidate values per parameter; default :data:`DEFAULT_GRIDS` ``[method]``.
    method : {'crc', 'median'}, optional
        The filter to tune.
    loss : {'sure', 'j-invariant'}, optional
        :func:`stein_loss` (the noise variance and impulses estimated once, with the
        fixed options) or :func:`self_supervised_loss`.
    stride : int, optional
        Distance between hidden pixels of the J-invariant loss.
    progress : bool, optional
        Show a tqdm progress bar on stderr.
    **filter_options
        Fixed options passed to every call (``mode``, ``n_threads``, ...; for 'crc'
        also ``options``, a :class:`crcx.CRCOptions`, which the grid's values
        override).

    Returns
    -------
    best_parameters : dict
        The winning combination (the first in grid order on a tie). For 'crc' over a
        grid of its options, ``options.replace(**best_parameters)`` is the tuned
        :class:`crcx.CRCOptions`.
    loss_table : list of dict
        One row per combination, in grid order: its parameters and its ``"loss"``.

    Notes
    -----
    Both losses are squared errors. Stein's estimate trusts the noise variance that
    CRC-MF fits; on an image whose texture that fit mistakes for noise it favours
    smoothing. The J-invariant loss needs no model but assumes noise of zero mean,
    which impulses break.

    Examples
    --------
    >>> import numpy as np
    >>> from crcx import tune
    >>> rng = np.random.default_rng(0)
    >>> image = np.clip(100 + rng.normal(0, 20, (64, 64)), 0, 255).astype(np.uint8)
    >>> best, table = tune([image], {"size": (1, 5)}, "median")
    >>> best
    {'size': 5}
    """
    filter_function(method)
    if loss not in LOSSES:
        raise ValueError(f"loss: expected one of {list(LOSSES)}, got {loss!r}")
    grid = _check_grid(DEFAULT_GRIDS[method] if grid is None else grid, filter_options)
    stride = _check_stride(stride)
    progress = check_flag(progress, "progress")
    filter_options = call_options(method, filter_options)
    images = load_images(images)
    if not images:
        raise ValueError("images: no image to score the parameters on")
    if loss == "sure":
        samples = _stein_samples(images, method, filter_options, EPSILON, 0)

        def score(parameters):
            return _stein_risk(samples, method, {**parameters, **filter_options})
    else:
        def score(parameters):
            return self_supervised_loss(images, method, stride=stride, **parameters,
                                        **filter_options)
    combinations = [dict(zip(grid, values)) for values in itertools.product(*grid.values())]
    table = []
    with progress_bar(len(combinations), progress, "setting") as bar:
        for parameters in combinations:
            table.append({**parameters, "loss": score(parameters)})
            bar.update()
    best = min(range(len(table)), key=lambda index: table[index]["loss"])
    return combinations[best], table
