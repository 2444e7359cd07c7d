"""What the compiled CRC-MF and its reference share: pure Python, no compiled code.

The parameters and their validation, the lag set, the split into planes, the fit of
the global noise model from its samples, and the final conversion to the output
dtype are the same computation in both; only the per-pixel stages differ in form.
"""
import itertools
import math
import numbers
from dataclasses import dataclass

import numpy as np

from crcx._arguments import (ArgumentError, as_image, as_integer, check_finite, cval_in_dtype,
                             normalize_cval, normalize_geometry, normalize_mode,
                             normalize_n_threads, prepare_output)

__all__ = ["NoiseEstimate", "IMPULSE_KINDS", "noise_estimate", "DEFAULTS", "FLAT", "TIE",
           "MIN_SAMPLES", "SPARSE_DENSITIES", "lags", "parameters", "reach", "gate_kappa",
           "prepare", "finish", "robust_variance", "samples_by_bin", "fit_noise",
           "excess_thresholds", "ISOLATION_RANK", "ISOLATION_SPREAD", "ISOLATION_PASSES",
           "ISOLATED_DENSITY", "FIXED_SHARE", "DENSE_IMPULSES", "isolation_radius",
           "fixed_share", "ENERGY_WINDOW", "WEAK_TEXTURE_DENSITY", "random_valued_flags"]

IMPULSES = ("adaptive", "hwang-haddad", "none")
BASES = ("nonlocal", "median")
GAINS = ("wiener", "crc", "wiener+crc", "none")
# Relative threshold below which a window's residual variance counts as flat.
FLAT = 1e-12
# A lag must beat the best correlation so far by this much to become the canonical
# direction: lags whose correlations tie up to rounding keep their order.
TIE = 1e-9
# Widest side of any window of CRC-MF (window, s_max, patch, majority; search reaches
# half of it).
MAX_SIDE = 255
# Fewest Laplacian samples from which a noise variance (or one bin of it) is estimated.
MIN_SAMPLES = 64
# Flagged fractions over which the final noise gate moves from `sparse_kappa` (an
# image without impulse noise to speak of) to `kappa` (§1.2).
SPARSE_DENSITIES = (0.02, 0.05)
# The weak-texture selection of the noise fit (§2): the gradient energy is the mean,
# over the ENERGY_WINDOW cube, of the squared forward differences along each axis
# (2 d sigma^2 on average under white noise of variance sigma^2). A sample is weak
# texture where it is at most WEAK_TEXTURE times that mean: under white noise 99.6 %
# of the samples are in 2-d (the 99th percentile is 1.84 times the mean).
ENERGY_WINDOW = 5
WEAK_TEXTURE = 2.0
WEAK_TEXTURE_PASSES = 3
# The final noise fit selects weak texture where fewer pixels than this are flagged:
# with more, the texture-inclusive level also smooths the repaired pixels (s&p 10 %:
# 0.1 to 0.4 dB more than with weak texture).
WEAK_TEXTURE_DENSITY = 0.02
# The isolation test (§1.5). A pixel is isolated where the ISOLATION_RANK-th nearest
# of its unflagged neighbours (24 in 2-d, 26 in 3-d) is farther from it than
# ISOLATION_SPREAD times the spread of their middle half and than a floor; the test
# runs ISOLATION_PASSES times, each time against the neighbours the previous pass
# left unflagged, so that clusters of impulses are found from outside in. The rank
# keeps one-pixel lines (which have two neighbours along them in every direction
# they run) and random-valued impulses that happen to meet one similar neighbour.
ISOLATION_RANK = 3
ISOLATION_SPREAD = 2.0
ISOLATION_PASSES = 3
# Once the image has random-valued impulses, each final pass repairs the previous
# pass's flags and takes the pixels that stand out of the repaired neighbours by
# RANDOM_SPREAD spreads, less RANDOM_SPREAD_SLOPE per unit of flagged density, and
# at least RANDOM_SPREAD_MIN: the denser the impulses, the likelier an outlier is
# one and the cheaper a false flag, which takes the median of clean neighbours.
RANDOM_SPREAD = 1.5
RANDOM_SPREAD_SLOPE = 5.0
RANDOM_SPREAD_MIN = 0.2
# The final passes run until one changes fewer than RANDOM_SETTLED of the pixels
# (after ISOLATION_PASSES at least, RANDOM_PASSES at most): dense impulses need
# more passes, which at 5-10 % change nothing worth their cost. Each pass compares a
# pixel with its ceil(RANDOM_RANK_SHARE * density * neighbours)-th nearest repaired
# neighbour (ISOLATION_RANK at least): at 40 % a 5x5 cube holds about ten impulses,
# of which the missed ones would otherwise vouch for each other (docs §1.5).
RANDOM_PASSES = 10
RANDOM_SETTLED = 0.003
RANDOM_RANK_SHARE = 0.5
# Fraction of the pixels, isolated and far even from their nearest unflagged
# neighbour, from which an image has impulse noise: clean and Gaussian- or
# Poisson-noisy photographs, scans and micrographs have at most 0.23 %, one-pixel
# lines under noise 0.37 %, 5 % of random-valued impulses 0.9 % or more
# (docs/algorithm.md §1.5).
ISOLATED_DENSITY = 0.005
# Impulses are fixed-valued where the two most frequent values of the flagged or of
# the isolated pixels make up this share of them (salt and pepper, hot and dead
# pixels: 0.47 to 1 at 0.3 %), and random-valued otherwise (0.01 to 0.02 at 5 %);
# the isolated pixels of clean, Gaussian- and Poisson-noisy pictures reach 0.33.
FIXED_SHARE = 0.4
FIXED_COUNT = 8
# Fixed-valued impulses this dense (of isolated pixels) are salt and pepper, which
# the adaptive median's rules were built for; sparser ones (1 % of salt and pepper,
# hot and dead pixels) keep only the isolated flags, since the adaptive median also
# flags the picture's own extremes (camera, 1 % salt and pepper: 37.5 dB against
# 33.8 with every flag).
DENSE_IMPULSES = 0.02

# The algorithm's keyword parameters and their defaults (docs/algorithm.md).
DEFAULTS = dict(s_max=19, impulses="adaptive", kappa=4.0, sparse_kappa=6.0, majority=5,
                majority_density=0.35, excess=4.0, isolation=0.04, line_density=0.2, noise="affine",
                noise_bins=8, base="nonlocal", search=3, patch=3, h=1.0, passes=2, pilot_h=0.3,
                joint_channels=True, gain="wiener", wiener_c=2.0, t0=0.1, t1=0.5)


def lags(ndim):
    """The lag set Δ: half of the unit neighbourhood, in the order CRC maps use.

    A lag is kept when its first nonzero component is positive; the order is that of
    :func:`itertools.product` over ``(-1, 0, 1)``. ``crc_map(..., return_direction=True)``
    returns indices into this list.

    Examples
    --------
    >>> from crcx.reference.crc import lags
    >>> lags(2)
    [(0, 1), (1, -1), (1, 0), (1, 1)]
    >>> len(lags(3))
    13
    """
    return [off for off in itertools.product((-1, 0, 1), repeat=ndim)
            if any(off) and next(o for o in off if o) > 0]


def _check(name, ok, message):
    if not ok:
        raise ArgumentError(f"{name}: {message}")


def _odd(value):
    """An odd integer from 1 to MAX_SIDE (windows wider than that cost more than any
    image could repay: a 10**4-wide s_max lists 10**8 offsets)."""
    return (isinstance(value, numbers.Integral) and not isinstance(value, bool)
            and 1 <= value <= MAX_SIDE and value % 2 == 1)


def _number(value):
    """A finite real number that is not a bool."""
    return (isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
            and math.isfinite(value))


def parameters(size=5, window=7, correlation="pearson", bins=2, **algorithm):
    """Validate the filter's parameters (defaults: DEFAULTS); return them as a dict."""
    unknown = set(algorithm) - set(DEFAULTS)
    if unknown:
        raise TypeError(f"unexpected keyword argument {sorted(unknown)[0]!r}; the algorithm's "
                        f"parameters are {sorted(DEFAULTS)}")
    values = {**DEFAULTS, **algorithm}
    return _checked(size, window, correlation, bins, **values)


def _checked(size, window, correlation, bins, s_max, impulses, kappa, sparse_kappa, majority,
             majority_density, excess, isolation, line_density, noise, noise_bins, base, search,
             patch, h, passes, pilot_h, joint_channels, gain, wiener_c, t0, t1):
    _check("window", _odd(window) and window >= 3,
           f"expected an odd integer from 3 to {MAX_SIDE}, got {window!r}")
    _check("correlation", correlation in ("pearson", "renyi"),
           f"expected 'pearson' or 'renyi', got {correlation!r}")
    _check("bins", isinstance(bins, numbers.Integral) and 2 <= bins <= 4,
           f"expected 2, 3 or 4, got {bins!r}")
    _check("s_max", _odd(s_max) and s_max >= 3,
           f"expected an odd integer from 3 to {MAX_SIDE}, got {s_max!r}")
    _check("impulses", impulses in IMPULSES, f"expected one of {IMPULSES}, got {impulses!r}")
    _check("kappa", _number(kappa) and kappa >= 0, f"expected >= 0, got {kappa!r}")
    _check("sparse_kappa", _number(sparse_kappa) and sparse_kappa >= 0,
           f"expected >= 0, got {sparse_kappa!r}")
    _check("majority", majority == 0 or _odd(majority),
           f"expected 0 or an odd integer, got {majority!r}")
    _check("majority_density", _number(majority_density),
           f"expected a number, got {majority_density!r}")
    _check("excess", _number(excess) and excess >= 0,
           f"expected >= 0, got {excess!r}")
    _check("isolation", _number(isolation) and 0 <= isolation <= 1,
           f"expected a fraction of the range in [0, 1], got {isolation!r}")
    _check("line_density", _number(line_density),
           f"expected a number, got {line_density!r}")
    _check("noise", noise in ("affine", "constant") or (
        _number(noise) and noise >= 0),
        f"expected 'affine', 'constant' or a standard deviation >= 0, got {noise!r}")
    _check("noise_bins", isinstance(noise_bins, numbers.Integral)
           and not isinstance(noise_bins, bool) and noise_bins >= 2,
           f"expected an integer >= 2, got {noise_bins!r}")
    _check("base", base in BASES, f"expected one of {BASES}, got {base!r}")
    _check("search", isinstance(search, numbers.Integral) and not isinstance(search, bool)
           and 0 <= search <= MAX_SIDE // 2,
           f"expected an integer from 0 to {MAX_SIDE // 2}, got {search!r}")
    _check("patch", _odd(patch), f"expected an odd integer from 1 to {MAX_SIDE}, got {patch!r}")
    _check("h", _number(h) and h > 0, f"expected > 0, got {h!r}")
    _check("passes", passes in (1, 2) and not isinstance(passes, bool),
           f"expected 1 or 2, got {passes!r}")
    _check("pilot_h", _number(pilot_h) and pilot_h > 0,
           f"expected > 0, got {pilot_h!r}")
    _check("joint_channels", isinstance(joint_channels, (bool, np.bool_)),
           f"expected True or False, got {joint_channels!r}")
    _check("gain", gain in GAINS, f"expected one of {GAINS}, got {gain!r}")
    _check("wiener_c", _number(wiener_c) and wiener_c >= 0,
           f"expected >= 0, got {wiener_c!r}")
    _check("t1", _number(t0) and _number(t1) and t1 > t0,
           f"expected t1 > t0, got t0={t0!r}, t1={t1!r}")
    return dict(size=size, window=int(window), correlation=correlation, bins=int(bins),
                s_max=int(s_max), impulses=impulses, kappa=float(kappa),
                sparse_kappa=float(sparse_kappa), majority=int(majority),
                majority_density=float(majority_density), excess=float(excess),
                isolation=float(isolation),
                line_density=float(line_density), noise=noise, noise_bins=int(noise_bins),
                base=base, search=int(search), patch=int(patch), h=float(h),
                passes=int(passes), pilot_h=float(pilot_h),
                joint_channels=bool(joint_channels), gain=gain,
                wiener_c=float(wiener_c), t0=float(t0), t1=float(t1))


def reach(P):
    """How far, along a filtered axis, the output at a pixel reads the input.

    Beyond this the output depends on the rest of the plane only through its
    statistics (``crcx.crc._Statistics``).

    The stages run one after another, so their reaches add up: the adaptive median
    (and the excess rule, as far) and then the replacement of impulses (s_max // 2
    each), the Laplacian (1), the majority rule, the structure rule (2), the passes
    of the isolation test (the 2-d radius, the larger) and its final passes (that
    radius and a replacement each), the median
    proxy, the non-local search and patch of each pass, and the window of the gain
    with its lag.
    """
    passes = P["passes"] if P["base"] == "nonlocal" else 1
    isolation = (ISOLATION_PASSES * isolation_radius(2)
                 + RANDOM_PASSES * (isolation_radius(2) + P["s_max"] // 2)
                 if P["isolation"] > 0 else 0)
    return (2 * (P["s_max"] // 2) + 1 + P["majority"] // 2 + 2 + isolation
            + int(np.max(P["size"])) // 2 + passes * (P["search"] + P["patch"] // 2)
            + P["window"] // 2 + 1)


# What :func:`crcx.estimate_noise` calls the impulses of an image (§1.5).
IMPULSE_KINDS = ("none", "fixed-valued", "random-valued")


@dataclass(frozen=True)
class NoiseEstimate:
    """The noise CRC-MF finds in one plane (docs/algorithm.md §1.5, §2).

    Attributes
    ----------
    variance, gain : float
        The noise variance is ``variance + gain * intensity``: a Gaussian variance and
        a Poisson gain, in the image's units.
    impulse_density : float
        Fraction of the pixels flagged as impulses.
    impulse_kind : str
        One of IMPULSE_KINDS: ``"none"``, ``"fixed-valued"`` (salt and pepper, hot and
        dead pixels) or ``"random-valued"``.
    """
    variance: float
    gain: float
    impulse_density: float
    impulse_kind: str


def noise_estimate(O, model, kind):
    """The :class:`NoiseEstimate` of a plane's flags `O`, fitted noise model (a, b) and
    impulse kind; without the isolation test (`kind` None) flags are the adaptive
    median's window extremes, the model of fixed-valued impulses."""
    density = float(O.mean()) if O.size else 0.0
    if kind is None:
        kind = IMPULSE_KINDS[1] if density > 0 else IMPULSE_KINDS[0]
    return NoiseEstimate(float(model[0]), float(model[1]), density, kind)


def gate_kappa(P, density):
    """The noise gate's kappa for an image whose gate at `kappa` flags `density` (§1.2).

    Where impulses are rare, most flags are not impulses but the extremes of edges,
    lines and texture that stand out of the noise, and the gate is wider.
    """
    low, high = SPARSE_DENSITIES
    sparse = min(max((high - density) / (high - low), 0.0), 1.0)
    return P["kappa"] + sparse * (P["sparse_kappa"] - P["kappa"])


def random_spread(density):
    """The spread factor of a random-valued pass after one that flagged `density`."""
    return min(max(RANDOM_SPREAD - RANDOM_SPREAD_SLOPE * density, RANDOM_SPREAD_MIN),
               RANDOM_SPREAD)


def random_rank(density, ndim):
    """The neighbour rank of a random-valued pass after one that flagged `density`."""
    neighbours = (2 * isolation_radius(ndim) + 1) ** ndim - 1
    return max(ISOLATION_RANK, math.ceil(RANDOM_RANK_SHARE * density * neighbours))


def random_valued_flags(candidates, ndim, next_pass, take=lambda name, compute: compute()):
    """The final passes of §1.5 from the `candidates` of an `ndim`-d plane, until they
    settle.

    ``next_pass(flags, spread, rank)`` is the pixels isolated given no flags, among
    neighbours with `flags` repaired; `take` reads the whole plane's statistics (the
    densities and the changes decide the passes, the same in every block of a plane).
    """
    flags = candidates
    for step in range(RANDOM_PASSES):
        density = take(f"random-valued pass {step} density", lambda: float(flags.mean()))
        passed = next_pass(flags, random_spread(density), random_rank(density, ndim))
        changed = take(f"random-valued pass {step} change",
                       lambda: float(np.mean(passed != flags)))
        flags = passed
        if step + 1 >= ISOLATION_PASSES and changed < RANDOM_SETTLED:
            break
    return flags


def isolation_radius(ndim):
    """Radius of the isolation test's cube: the smallest with at least 24 neighbours."""
    return 2 if ndim == 2 else 1


def fixed_share(values):
    """Share of `values` taken by its two most frequent values, §1.5; 0 where those
    are fewer than FIXED_COUNT pixels, too few to tell a fixed value from chance."""
    if values.size == 0:
        return 0.0
    _, counts = np.unique(values, return_counts=True)
    top = int(np.sort(counts)[-2:].sum())
    return top / values.size if top >= FIXED_COUNT else 0.0


def channel_groups(n_planes, P):
    """Index groups of the planes whose non-local weights are shared (§3, §7): all the
    channels of an image at once, or each on its own."""
    if P["joint_channels"]:
        return [list(range(n_planes))]
    return [[i] for i in range(n_planes)]


def _planes(image, channel_axis):
    """Spatial planes of `image` and the function that stacks results back."""
    if channel_axis is None:
        spatial = image.ndim
    else:
        _check("channel_axis", -image.ndim <= channel_axis < image.ndim,
               f"out of range for {image.ndim}-d input: {channel_axis!r}")
        spatial = image.ndim - 1
    _check("image", spatial in (2, 3),
           f"expected 2 or 3 spatial dimensions, got {spatial} (shape {image.shape})")
    if channel_axis is None:
        return [image], lambda planes: planes[0]
    axis = channel_axis % image.ndim
    return ([np.take(image, c, axis=axis) for c in range(image.shape[axis])],
            lambda planes: np.stack(planes, axis=axis) if planes else
            np.empty(image.shape, np.float64))


def prepare(image, size, mode, cval, n_threads, channel_axis):
    """Validate the common arguments; return image, mode, cval, n_threads, planes, join.

    Every value the filter reads must be finite (docs/algorithm.md §0).
    """
    image = as_image(image)
    check_finite(image)
    mode = normalize_mode(mode)
    cval = normalize_cval(cval)
    n_threads = normalize_n_threads(n_threads)
    if channel_axis is not None:
        channel_axis = as_integer(channel_axis, "channel_axis", "an integer or None")
    planes, join = _planes(image, channel_axis)
    normalize_geometry(image.ndim - (channel_axis is not None), size=size)
    # windows of the image read cval as scipy does: first converted to the dtype
    cval = float(cval_in_dtype(cval, image.dtype))
    if mode == "constant":
        check_finite(cval, "cval")
    return image, mode, cval, n_threads, planes, join


def finish(out, output, image):
    """Write the float64 result `out` to `output` (rounded and clipped for integers)."""
    result = prepare_output(output, image)
    if out is None:
        return result
    kind = result.dtype.kind
    if kind in "biu":
        lo, hi = (0, 1) if kind == "b" else (np.iinfo(result.dtype).min,
                                             np.iinfo(result.dtype).max)
        out = np.clip(np.rint(out), lo, hi)
    np.copyto(result, out, casting="unsafe")
    return result


def robust_variance(values):
    """Squared scaled MAD of |Laplacian| samples: (1.4826 median)^2 (§2)."""
    return (1.4826 * float(np.median(values))) ** 2


def _affine_fit(x, y, n):
    """Count-weighted least squares y = a + b x with a, b >= 0 (§2)."""
    W = n.sum()
    xm, ym = (n * x).sum() / W, (n * y).sum() / W
    sxx = (n * (x - xm) ** 2).sum()
    b = (n * (x - xm) * (y - ym)).sum() / sxx if sxx > 0 else 0.0
    a = ym - b * xm
    if b < 0:
        return float(ym), 0.0
    if a < 0:
        return 0.0, float((n * x * y).sum() / (n * x * x).sum())
    return float(a), float(b)


def samples_by_bin(bins, n_bins, level, laplacian):
    """[(level, laplacian) of the samples in bin j, in their order] for j < n_bins."""
    return [(level[bins == j], laplacian[bins == j]) for j in range(n_bins)]


def fit_noise(laplacian, level, noise, noise_bins, by_bin=samples_by_bin, weak_texture=None):
    """(a, b) of the noise variance a + b * intensity from the valid samples (§2).

    `laplacian` and `level` are the |Laplacian| and the intensity proxy at the pixels
    away from impulses; `by_bin` groups them as :func:`samples_by_bin` does. With
    `weak_texture`, the gradient energy of those samples and the number of axes,
    each pass after a fit on all of them fits again on the weak-texture samples:
    those whose gradient energy is at most WEAK_TEXTURE times its mean under white
    noise of the fitted variance. Texture then no longer reads as noise (after Liu,
    Tanaka and Okutomi, "Single-image noise level estimation for blind denoising",
    IEEE Trans. Image Processing 22(12), 2013).
    """
    a, b = _fit_samples(laplacian, level, noise, noise_bins, by_bin)
    if weak_texture is None:
        return a, b
    energy, ndim = weak_texture
    for _ in range(WEAK_TEXTURE_PASSES):
        weak = energy <= WEAK_TEXTURE * 2 * ndim * (a + b * np.maximum(level, 0.0))
        if np.count_nonzero(weak) < MIN_SAMPLES:
            break
        a, b = _fit_samples(laplacian[weak], level[weak], noise, noise_bins, by_bin)
    return a, b


def _fit_samples(laplacian, level, noise, noise_bins, by_bin):
    """(a, b) fitted to all the given samples, by intensity bin."""
    if laplacian.size < MIN_SAMPLES:
        return 0.0, 0.0
    if noise == "constant" or level.max() <= level.min():
        return robust_variance(laplacian), 0.0
    # equal-width intensity bins, so that a large constant region fills only one
    lo, hi = level.min(), level.max()
    k = np.minimum(((level - lo) / (hi - lo) * noise_bins).astype(np.intp), noise_bins - 1)
    xs, ys, ns = [], [], []
    for x, y in by_bin(k, noise_bins, level, laplacian):
        if x.size >= MIN_SAMPLES:
            xs.append(x.mean())
            ys.append(robust_variance(y))
            ns.append(float(x.size))
    if len(xs) < 2:
        return robust_variance(laplacian), 0.0
    return _affine_fit(np.array(xs), np.array(ys), np.array(ns))


def excess_thresholds(hits, pairs, counts, pixels, window, region, excess):
    """Counts from which the excess rule (§1.3) keeps each extreme value, or None.

    For the image's minimum and maximum e: ``hits[i]`` of the `pairs` (q, q + δ) of an
    intermediate pixel q and a unit neighbour have the value e there, ``counts[i]`` of
    the `pixels` equal e. The impulse rate of e is its frequency next to intermediate
    pixels (whose neighbours are impulses, not regions, of e); the rest of its
    frequency is the prior share of real e. A flagged pixel equal to e is kept where its
    `region` cube (s_max) holds at least ``region_min`` values e (`excess` binomial
    standard deviations more than impulses give) and its `window` cube at least
    ``window_min`` (the Bayes decision between "only impulses are e" and "the clean
    window is e", with that prior). Returns ``[(region_min, window_min) or None] * 2``.
    Salt and pepper take the extremes of the range as in Chan, Ho and Nikolova,
    "Salt-and-pepper noise removal by median-type noise detectors and detail-preserving
    regularization", IEEE Trans. Image Processing 14(10), 2005.
    """
    rates = [h / pairs for h in hits]
    density = sum(rates)
    out = []
    for rate, count in zip(rates, counts):
        share = (count / pixels - rate) / (1.0 - density) if density < 1 else 0.0
        if rate <= 0 or share <= 0:
            out.append(None)
            continue
        region_min = math.floor(region * rate
                                + excess * math.sqrt(region * rate * (1.0 - rate))) + 1
        inside = 1.0 - (density - rate)      # P(e) at a pixel of a region of e
        prior = math.log((1.0 - share) / share) if share < 1 else -math.inf
        window_min = window + 1
        for m in range(window + 1):
            ratio = m * math.log(inside / rate)
            if m < window:
                ratio += (window - m) * (math.log((1.0 - inside) / (1.0 - rate))
                                         if inside < 1 else -math.inf)
            if ratio > prior:
                window_min = m
                break
        out.append((region_min, window_min))
    return out
