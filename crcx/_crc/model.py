"""CRC-MF's model, shared by the compiled filter and its reference: pure Python.

The constants of every stage (docs/algorithm.md, each by its section), the lag set
and the DCT basis, the reach of the whole pipeline, what the impulse stage decides
from its counts (the gate, the kind of impulses, the passes' ranks), the fit of the
global noise model from its samples and the excess rule's thresholds. Only the
per-pixel stages differ in form between the two implementations.
"""
import itertools
import math
from dataclasses import dataclass

import numpy as np

# Residual values no larger than this fraction of the plane's largest |B| are its
# rounding and count as 0 (docs/algorithm.md, §4).
FLAT = 1e-12
# A Pearson window whose residual standard deviation is at most this fraction of the
# plane's largest |B| or |E| is flat (rho = 0): rho moves by up to 4 delta / sd when
# the values move by delta, and the two implementations' B, sums in other orders (of
# up to 49 weighted terms; the DCT estimate's, of 64 squares, differ by 5.7e-14 of 255
# at most where measured), may differ by 2 x 49 units of rounding (1.1e-14 of that
# magnitude), so beyond it rho agrees within 4.4e-10, inside the tests' 1e-9 (§4).
SPREAD = 1e-4
# A lag must beat the best correlation so far by this much to become the canonical
# direction: lags whose correlations tie up to rounding keep their order.
TIE = 1e-9

# Fewest Laplacian samples from which a noise variance (or one bin of it) is estimated.
MIN_SAMPLES = 64
# Flagged fractions over which the final noise gate moves from `sparse_kappa` (an
# image without impulse noise to speak of) to `kappa` (§1.2).
SPARSE_DENSITIES = (0.02, 0.05)
# The weak-texture selection of the noise fit (§2): the gradient energy is the mean,
# over the ENERGY_WINDOW cube, of the squared forward differences along each axis
# (2 d sigma^2 on average under white noise of variance sigma^2). A sample is weak
# texture where it is at most WEAK_TEXTURE times that mean: under white noise 99.6 %
# of the samples are in 2-d (the 99th percentile is 1.84 times the mean). The passes
# of the selection go on while one moves the fitted variance by more than
# WEAK_TEXTURE_SETTLED of itself, at most WEAK_TEXTURE_PASSES times: on white noise
# (a flat picture under Gaussian noise of sigma 1 to 25) the second pass moves it by
# under 2 %; where a pass lowers it more, it has taken texture out of the samples,
# and on fine texture (grass) each pass takes out more than half of what is left.
ENERGY_WINDOW = 5
WEAK_TEXTURE = 2.0
WEAK_TEXTURE_SETTLED = 0.1
WEAK_TEXTURE_PASSES = 10
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
# With random-valued impulses, a flag of the adaptive median stays only where the
# pixel departs from A_amf by more than RANDOM_DEVIATION isolation floors: the
# noise fits leave the isolated pixels out, so on a smooth picture (moon) sigma is
# near 0 and the gate of §1.2 flagged a third of its clean pixels at 5 %, each then
# taking a median (docs/algorithm.md §1.5 has the measurements).
RANDOM_DEVIATION = 0.4
# In the random-valued passes, where the neighbours less a plane's slopes spread
# under RANDOM_TREND times as much as the neighbours themselves (the plane explains
# most of their spread), the test reads them so: on a steep ramp (a micrograph's
# cell walls, 15-20 levels per pixel) the middle half of the 5x5 cube spans the
# slope, and impulses inside its range stayed. Over textures the plane explains
# little and the plain test stays (docs/algorithm.md §1.5).
RANDOM_TREND = 0.2
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
# Hot or dead pixels among many real isolated points (a star field, fluorescent
# spots) are a small share of the isolated pixels, but most pixels at their value
# are isolated: a value that MOSTLY_ISOLATED_COUNT isolated pixels or more hold, and
# whose pixels are isolated at a rate of MOSTLY_ISOLATED or more, is an impulse value.
# Without impulses no such rate passed 0.32 (the 8-bit pictures of the noise space,
# every condition); hot pixels reached 0.42-1, dead pixels 0.49-0.79 where black is
# rare in the picture (docs/algorithm.md §1.5).
MOSTLY_ISOLATED = 0.6
MOSTLY_ISOLATED_COUNT = 32
# Hot and dead pixels share one value, and a few side by side (a run of three, a 2x2
# block) vouch for each other at ISOLATION_RANK. Where the impulses are sparse and
# fixed-valued, a pixel at their value is tested at FIXED_RANK: in 2-d a one-pixel
# line of that value has four neighbours along it in the 5x5 cube, a cluster of up to
# four impulses three at most (docs/algorithm.md §1.5).
FIXED_RANK = ISOLATION_RANK + 1
# A pixel at an impulse value is tested against the floor alone, not against the
# spread of its neighbours: on a steep ramp (cell, a gradient of 15 grey levels per
# pixel) the middle half of a 5x5 cube spans 30 levels, and dead pixels 70 levels
# under their ramp stayed. Clean pixels at that value pass the test at FIXED_RANK
# (docs/algorithm.md §1.5 has the measurements).
FIXED_SPREAD = 0.0
# Fixed-valued impulses this dense (of isolated pixels) are salt and pepper, which
# the adaptive median's rules were built for; sparser ones (1 % of salt and pepper,
# hot and dead pixels) keep only the isolated flags, since the adaptive median also
# flags the picture's own extremes (camera, 1 % salt and pepper: 37.5 dB against
# 33.8 with every flag).
DENSE_IMPULSES = 0.02
# The far flags' two most frequent values are the picture's own levels (a binary
# image, a thresholded scan, a code), not impulse values, where they hold at least
# this share of the unflagged pixels (the flags of a mostly white picture need not
# show black as often as FIXED_COUNT): under salt and pepper the tuning and held-out
# pictures reach 0.31 (hubble at 50 %, whose dark sky hides pepper), binary pictures
# 0.5 or more clean, 0.4 or more under a Gaussian noise of sigma 2. There the edges'
# own pixels are extremes far from their window's median; unless the impulses are
# dense (DENSE_LEVELS), they are the far flags with fewer than LEVELS_RANK close
# neighbours in the isolation test's cube (a pair of impulses side by side too),
# peeled as the candidates are, once they are LEVELS_DENSITY or more of the picture:
# a clean binarised scan has 0.1 % of such dots, 1 % of salt and pepper 0.45 %
# (docs/algorithm.md §1.5).
LEVELS_SHARE = 0.4
LEVELS_RANK = 2
LEVELS_DENSITY = 0.0025
# Salt and pepper this dense meets others of its value in the cube; its impulses are
# then the flags that differ from their majority window's median (not a straight
# edge, which a clean code of 6x6 modules flags at 37 %, 3 % once the edges are left
# out): under 30 % of salt and pepper such flags are 12-19 % of a binary picture,
# under 5 % 2.5-7 %, at most 4.7 % on a clean one (docs/algorithm.md §1.5).
DENSE_LEVELS = 0.1
# Where the flags off their majority window's median are at most this many times the
# lone ones, they are the impulses, with those that a line of their value vouches
# for in the cube: on the Shepp-Logan phantom (a black background, a white ring
# two pixels wide) under 1 % salt and pepper, 1.07 times, and the lone ones missed
# 47 of 1116 impulses (36.5 dB, 41.6 with those flags, the median 39.4); with the 43
# pixels of a silhouette's outline, 1.16 times under 1 % (33.8 -> 33.2 dB); on a
# code of 6x6 modules, whose corners differ from their window's median, 6 to 36
# times under 1-5 % (docs/algorithm.md §1.5).
LEVELS_OFF_MAJORITY = 1.5
# From this share of flags (before the rules of §1.3) on, the majority window's
# median is often an impulse's value, and the flags of §1.3 and its excess rule stay
# the impulses on a picture of few levels too: on a camera picture framed in black
# and on the Shepp-Logan phantom, 70 % of salt and pepper flags 0.53-0.55 (24.4 and
# 17.8 dB with those flags, 14.9 and 13.5 without); the edges and impulses of a code
# of 6x6 modules under 30-90 % 0.42-0.47 (docs/algorithm.md §1.5).
LEVELS_MAJORITY = 0.5
# Flags of this share of the picture or more leave the isolation test too few clean
# neighbours to find the impulses among them: under salt and pepper at 70 and 90 %
# the isolated pixels' fixed share falls to 0-0.33 (0.87 and up at 5-65 %, on the
# pictures of the noise space). Under it, flags whose two most frequent values hold
# FIXED_SHARE of them are salt and pepper only where the isolated pixels' values
# are fixed too: otherwise they are the picture's own (the black strokes of text and
# a code under Poisson noise, which leaves black at exactly 0, docs/algorithm.md §1.5).
CROWDED_FLAGS = 0.5

# Under this share of the isolated pixels at their impulse values among the flags,
# dense fixed-valued impulses lie at values that are no extreme of their windows
# (20 and 235 on a picture of 0 and 255), and the flags, the picture's own pixels,
# miss them: under 10 % at 20/235 the pictures of benchmarks/levels.py 0.002-0.64 (a
# code, the Shepp-Logan phantom); the 16 pictures of the noise space under salt and
# pepper (0/255 and 20/235, with Gaussian noise too) 0.91 (astronaut, 20/235) and
# up (docs/algorithm.md §1.5).
FLAGS_MISS = 0.75

# Noise clipped at an extreme of the range (a white page, a code, a silhouette under
# a camera's noise) puts half of a level's pixels at that value, each beside values
# of the noise a few levels off; salt and pepper falls anywhere, beside whatever the
# picture holds. The plane is clipped at an extreme where the share of its pixels
# that have no intermediate unit neighbour within the isolation floor is at most
# this many times that share over all pixels (where impulses would fall): Gaussian
# noise of sigma 1-5 and Poisson noise of peak 1000 on the seven pictures of few
# levels of benchmarks/levels.py 0.02-0.62 (the white of a page or of text 0.18-0.62);
# salt and pepper and dead pixels on the 14 pictures of the noise space 0.95-1.01;
# Gaussian noise of sigma 10 with 20 % of salt and pepper, which is both, 0.43-1.0
# (at 0.5 the binary pictures under it lost up to 1.4 dB). docs/algorithm.md §1.5.
CLIPPED = 0.25

# The switching stage (docs/algorithm.md §13) makes its estimate (the noise fit and the
# kind of impulses of §1-§2) on a mosaic of MOSAIC_TILES tiles per axis, spread evenly
# over the plane.
MOSAIC_TILES = 4
# Its median base and intensity proxy take `noisy_size` instead of `size` on a 2-d
# plane whose noise standard deviation, at the sample's mean level, is at least
# NOISY_BASE of the sample's range, unless its impulses are random-valued: a larger
# base leaves less noise where the Wiener gain keeps little of the residual. Below
# that level (Gaussian sigma 2 of 255 gives 0.007-0.014, sigma 5 0.017-0.026) the
# 7x7 base took detail that the gain did not give back (cell, sigma 2: -1.1 dB), as
# it did on random-valued impulses (text, 5 %: -2.3 dB); a 3-d 5-cube holds 125
# values already (the phantom volumes lost 0.5 dB with the 7-cube). docs §13.
NOISY_BASE = 0.015
# Where the switching stage's flags of sparse fixed-valued impulses are more than
# this many times the density its estimate found, they hold structure too (the
# strokes of a binarised page are 3x3 extremes at a level, as dead pixels are): the
# full impulse stage of §1 tells them apart. On the noise space's pictures under
# hot and dead pixels the flags are 0.5-2.0 times the density (docs/algorithm.md §13).
SWITCHING_EXCESS = 3.0
# On a 2-d plane with random-valued impulses and a noise standard deviation under
# NOISY_BASE, the full impulse stage leaves little else to remove: the base is the
# REPAIRED_BASE median, which keeps strokes and fine detail that the 5x5 one takes
# (text, 5 %: +2.3 dB; with Gaussian noise sigma 8 besides, the 3x3 base lost up to
# 3.3 dB, and the rule keeps `size` there). docs §13.
REPAIRED_BASE = 3


def dct_basis(side):
    """The orthonormal DCT-II matrix T of `side`: T[u, c] = a_u cos(pi (2c + 1) u / 2 side),
    a_0 = sqrt(1 / side), a_u = sqrt(2 / side); coefficients X = T x, x = T^T X."""
    u, c = np.mgrid[:side, :side]
    scale = np.where(u == 0, math.sqrt(1.0 / side), math.sqrt(2.0 / side))
    return np.ascontiguousarray(scale * np.cos(np.pi * (2 * c + 1) * u / (2 * side)))


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


def reach(P):
    """How far, along a filtered axis, the output at a pixel reads the input.

    Beyond this the output depends on the rest of the plane only through its
    statistics (``crcx.crc._Statistics``).

    The stages run one after another, so their reaches add up: the adaptive median
    (and the excess rule, as far) and then the replacement of impulses (s_max // 2
    each), the Laplacian (1), the majority rule, the structure rule (2), the passes
    of the isolation test (the 2-d radius, the larger) and its final passes (that
    radius and a replacement each), the median
    proxy, the non-local search and patch of each pass or the DCT squares (the two
    estimates of §3 read J side by side), and the window of the gain with its lag.
    """
    passes = P.passes if P.base == "nonlocal" else 1
    isolation = (ISOLATION_PASSES * isolation_radius(2)
                 + RANDOM_PASSES * (isolation_radius(2) + P.s_max // 2)
                 if P.isolation > 0 else 0)
    base = max(passes * (P.search + P.patch // 2),
               P.dct - 1 if P.base == "nonlocal" else 0)
    return (2 * (P.s_max // 2) + 1 + P.majority // 2 + 2 + isolation
            + int(np.max(P.size)) // 2 + base + P.window // 2 + 1)


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

    Examples
    --------
    >>> import numpy as np, crcx
    >>> rng = np.random.default_rng(0)
    >>> noisy = 100 + rng.normal(0.0, 5.0, (96, 96))
    >>> estimate = crcx.estimate_noise(noisy)
    >>> estimate.impulse_kind, round(float(np.sqrt(estimate.variance)))
    ('none', 5)
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
    return P.kappa + sparse * (P.sparse_kappa - P.kappa)


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


def _most_frequent(values):
    """The two most frequent of `values` (fewer if it has fewer distinct values),
    ties going to the larger value, and their counts."""
    unique, counts = np.unique(values, return_counts=True)
    top = np.argsort(counts, kind="stable")[-2:]
    return unique[top], counts[top]


def fixed_share(values):
    """Share of `values` taken by its two most frequent values, §1.5; 0 where those
    are fewer than FIXED_COUNT pixels, too few to tell a fixed value from chance."""
    if values.size == 0:
        return 0.0
    top = int(_most_frequent(values)[1].sum())
    return top / values.size if top >= FIXED_COUNT else 0.0


def mostly_isolated_values(values, isolated):
    """The values of the plane `values` that MOSTLY_ISOLATED_COUNT or more of its
    `isolated` pixels hold, and at least MOSTLY_ISOLATED of all the pixels of that
    value, §1.5."""
    unique, counts = np.unique(values[isolated], return_counts=True)
    frequent = counts >= MOSTLY_ISOLATED_COUNT
    unique, counts = unique[frequent], counts[frequent]
    totals = np.array([np.count_nonzero(values == value) for value in unique], np.intp)
    return unique[counts >= MOSTLY_ISOLATED * totals]


def flag_levels(values):
    """The values, of the flags far from their window (`values`), that may be the
    picture's own levels: the two most frequent, §1.5."""
    return _most_frequent(values)[0]


def held_by_levels(values, flags, levels):
    """Whether `levels` (:func:`flag_levels`) are the picture's own: they hold
    LEVELS_SHARE or more of the unflagged pixels of the plane `values`, those not in
    `flags` (all of them where `flags` is None), §1.5."""
    unflagged = values if flags is None else values[~flags]
    return (unflagged.size > 0 and levels.size > 0
            and np.count_nonzero(np.isin(unflagged, levels)) >= LEVELS_SHARE * unflagged.size)


def clipped(at, at_near, near, pixels):
    """Whether the noise is clipped at an extreme value of a plane of `pixels`
    pixels, `at` of them at that value and `near` (`at_near` of those) with an
    intermediate unit neighbour within the isolation floor of it: the value's pixels
    lack such a neighbour at most CLIPPED times as often as all pixels do, §1.5."""
    return at_near > 0 and at - at_near <= CLIPPED * at * (1.0 - near / pixels)


def region_limit(window, density, excess):
    """The most pixels of one impulse value that impulses of `density` put in a
    `window` of pixels, by `excess` binomial standard deviations: more, and the
    pixel lies in a region of that value (a black background), §13."""
    return window * density + excess * np.sqrt(window * density * (1.0 - density))


def fixed_values(values):
    """The impulse values of fixed-valued impulses, §1.5: of the two most frequent of
    `values` (the isolated pixels' values), those FIXED_COUNT pixels or more hold."""
    unique, counts = _most_frequent(values)
    return unique[counts >= FIXED_COUNT]


def values_the_flags_miss(candidates, flagged):
    """The impulse values of the isolated pixels (`candidates`, their values:
    :func:`fixed_values`) where under FLAGS_MISS of the isolated pixels at those
    values are among the flags (`flagged`, the values of the candidates flagged):
    impulses at values that are no extreme of their windows (20 and 235 on a
    picture of 0 and 255), which the flags miss, §1.5; empty otherwise."""
    values = fixed_values(candidates)
    found = np.count_nonzero(np.isin(candidates, values))
    return values if np.count_nonzero(np.isin(flagged, values)) < FLAGS_MISS * found else values[:0]


def mosaic(values, sample):
    """`values` (a plane) or, where it has more than `sample` pixels, a mosaic of
    MOSAIC_TILES tiles per axis spread evenly over it: cubes of about `sample`
    pixels in all, side by side in their order (§13)."""
    if sample == 0 or values.size <= sample:
        return values
    side = max(int((sample / MOSAIC_TILES ** values.ndim) ** (1.0 / values.ndim)), 1)
    for axis, n in enumerate(values.shape):
        if n > MOSAIC_TILES * side:
            starts = np.linspace(0, n - side, MOSAIC_TILES).round().astype(np.intp)
            index = (starts[:, None] + np.arange(side)).ravel()
            values = np.take(values, index, axis=axis)
    return values


def switching_scales(P, estimate, sample):
    """The range of the mosaic `sample` of a plane and the median footprint of the
    switching stage's base and proxy, from its `estimate` on that sample (§13)."""
    spread = float(sample.max()) - float(sample.min())
    if not P.noisy_size or sample.ndim != 2:
        return spread, P.size
    sigma = math.sqrt(max(estimate.variance + estimate.gain * float(sample.mean()), 0.0))
    noisy = 0 < sigma and NOISY_BASE * spread <= sigma
    if estimate.impulse_kind == "random-valued":
        return spread, P.size if noisy else REPAIRED_BASE
    return spread, P.noisy_size if noisy else P.size


def channel_groups(n_planes, P):
    """Index groups of the planes whose non-local weights are shared (§3, §7): all the
    channels of an image at once, or each on its own (as with the median base, which
    has no weights)."""
    if P.joint_channels and P.base == "nonlocal":
        return [list(range(n_planes))]
    return [[i] for i in range(n_planes)]


def robust_variance(values):
    """Squared scaled MAD of |Laplacian| samples: (1.4826 median)^2 (§2)."""
    return _median_variance(float(np.median(values)))


def _median_variance(median):
    """(1.4826 median)^2, the variance of §2 from the median of |Laplacian| samples."""
    return (1.4826 * median) ** 2


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
    """[(level of the samples in bin j, in their order; the median of their laplacian,
    NaN without samples)] for j < n_bins."""
    masks = (bins == j for j in range(n_bins))
    return [(level[mask], float(np.median(laplacian[mask])) if mask.any() else math.nan)
            for mask in masks]


def fit_noise(laplacian, level, noise, noise_bins, by_bin=samples_by_bin, weak_texture=None):
    """(a, b) of the noise variance a + b * intensity from the valid samples (§2).

    `laplacian` and `level` are the |Laplacian| and the intensity proxy at the pixels
    away from impulses; `by_bin` groups them as :func:`samples_by_bin` does. With
    `weak_texture`, the gradient energy of those samples and the number of axes,
    each pass after a fit on all of them fits again on the weak-texture samples:
    those whose gradient energy is at most WEAK_TEXTURE times its mean under white
    noise of the fitted variance. The passes stop once the variance at the samples'
    mean level has settled (WEAK_TEXTURE_SETTLED). Texture then no longer reads as
    noise (after Liu, Tanaka and Okutomi, "Single-image noise level estimation for
    blind denoising", IEEE Trans. Image Processing 22(12), 2013, whose selection
    also iterates until the level converges).
    """
    a, b = _fit_samples(laplacian, level, noise, noise_bins, by_bin)
    if weak_texture is None:
        return a, b
    energy, ndim = weak_texture
    positive = np.maximum(level, 0.0)
    mean_level = float(positive.mean()) if positive.size else 0.0
    for _ in range(WEAK_TEXTURE_PASSES):
        weak = energy <= WEAK_TEXTURE * 2 * ndim * (a + b * positive)
        if np.count_nonzero(weak) < MIN_SAMPLES:
            break
        before = a + b * mean_level
        a, b = _fit_samples(laplacian[weak], level[weak], noise, noise_bins, by_bin)
        if abs(a + b * mean_level - before) <= WEAK_TEXTURE_SETTLED * before:
            break
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
    for x, median in by_bin(k, noise_bins, level, laplacian):
        if x.size >= MIN_SAMPLES:
            xs.append(x.mean())
            ys.append(_median_variance(median))
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
