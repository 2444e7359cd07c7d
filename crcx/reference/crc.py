"""CRC-MF written as its definition: the reference of :func:`crcx.crc_median`.

Every stage of ``docs/algorithm.md`` is transcribed pixel by pixel: windows are
gathered explicitly through the border rule (:func:`crcx.reference.median.extend_index`)
and reduced with NumPy. It is slow (about ten seconds for a 64x64 image) and meant as the test
oracle of the compiled filter. Section numbers in the comments refer to
``docs/algorithm.md``.
"""
import itertools

import numpy as np

from crcx._crc.model import (CROWDED_FLAGS, DENSE_IMPULSES, DENSE_LEVELS, ENERGY_WINDOW,
                             FIXED_RANK, FIXED_SHARE, FIXED_SPREAD, FLAT, ISOLATED_DENSITY,
                             ISOLATION_PASSES, ISOLATION_RANK, ISOLATION_SPREAD, LEVELS_DENSITY,
                             LEVELS_MAJORITY, LEVELS_OFF_MAJORITY, LEVELS_RANK, MIN_SAMPLES,
                             RANDOM_DEVIATION, RANDOM_TREND, SPREAD, SWITCHING_EXCESS, TIE,
                             WEAK_TEXTURE_DENSITY, channel_groups, clipped, dct_basis,
                             excess_thresholds, fit_noise, fixed_share, fixed_values, flag_levels,
                             gate_kappa, held_by_levels, isolation_radius, lags, mosaic,
                             mostly_isolated_values, noise_estimate, random_valued_flags,
                             region_limit, switching_scales, values_the_flags_miss)
from crcx._crc.options import FROM_OPTIONS, CRCOptions, given_options, takes_options
from crcx._crc.planes import finish, prepare
from crcx.reference.median import extend_index, median

__all__ = ["CRCOptions", "crc_median", "crc_map", "estimate_noise", "lags"]


class _Extended:
    """One plane readable at any integer position through the border rule.

    Image-valued planes extend with `fill` = cval under ``mode="constant"``; derived
    planes (residuals, flags) extend with 0 / False.
    """

    def __init__(self, plane, mode, fill):
        self.plane = plane
        self.mode = mode
        self.fill = fill

    def at(self, position):
        source = []
        for i, n in zip(position, self.plane.shape):
            j = extend_index(int(i), n, self.mode)
            if j is None:
                return self.fill
            source.append(j)
        return self.plane[tuple(source)]

    def cube(self, centre, radius):
        """Values of the cube of side ``2 radius + 1`` around `centre`, flattened."""
        offsets = itertools.product(range(-radius, radius + 1), repeat=len(centre))
        return np.array([self.at([c + o for c, o in zip(centre, off)]) for off in offsets])


def _distance_and_spread(values, centre, rank):
    """The `rank`-th smallest |values - centre| and the spread of the middle half of
    the `values` (§1.5)."""
    v = np.sort(values)
    n = v.size
    return np.sort(np.abs(values - centre))[rank - 1], v[n - 1 - n // 4] - v[n // 4]


def _plane_shift(offsets, values):
    """Least-squares slopes of `values` at the centred cube's `offsets` (orthogonal
    axes, so each slope is sum(offset * value) / sum(offset**2)), times each offset;
    summed one value after another, in the cube's order, as the compiled path does."""
    shift = np.zeros(len(values))
    for axis in range(offsets.shape[1]):
        total = 0.0
        for o, v in zip(offsets[:, axis], values):
            total += o * v
        shift = shift + total / float(np.sum(offsets[:, axis] ** 2)) * offsets[:, axis]
    return shift


def _true_median(values):
    """Median of a non-empty 1-D array; the mean of the middle pair for an even count."""
    v = np.sort(values)
    n = v.size
    return 0.5 * (v[(n - 1) // 2] + v[n // 2])


# --- §1 impulse stage ----------------------------------------------------------------

def _adaptive_median(I_ext, shape, s_max):
    """Hwang & Haddad (1995) levels A and B per pixel, with the §1.1 fallback classes.

    Returns the plain flag, the modified flag, the AMF median A_amf and the class
    (0 qualified, 1 impulse-dominated, 2 two-valued) of every pixel.
    """
    plain = np.zeros(shape, bool)
    modified = np.zeros(shape, bool)
    A = np.zeros(shape)
    kind = np.zeros(shape, np.int8)
    for p in np.ndindex(shape):
        v = I_ext.at(p)
        for s in range(3, s_max + 1, 2):
            w = I_ext.cube(p, s // 2)
            lo, hi = w.min(), w.max()
            med = np.sort(w)[w.size // 2]  # odd count: the exact median
            if lo < med < hi:
                break
        A[p] = med
        plain[p] = not lo < v < hi
        if lo < med < hi:
            modified[p] = plain[p]
        elif np.any((w > lo) & (w < hi)):
            # impulse-dominated: the largest window's median is an extreme value; a
            # pixel equal to it is still an impulse when both extremes are frequent
            kind[p] = 1
            both = 8 * min(np.count_nonzero(w == lo), np.count_nonzero(w == hi)) >= w.size
            modified[p] = plain[p] and (v != med or both)
        else:
            # two-valued window (a flat region, possibly with impulses): only a pixel
            # that differs from the window's majority value is an impulse
            kind[p] = 2
            modified[p] = v != med
    return plain, modified, A, kind


def _immerkaer(I_ext, shape):
    """|N * I| / 6^(d/2) with N the d-fold product of [1, -2, 1] (Immerkaer 1996)."""
    d = len(shape)
    weights = {off: float(np.prod([-2.0 if o == 0 else 1.0 for o in off]))
               for off in itertools.product((-1, 0, 1), repeat=d)}
    L = np.zeros(shape)
    for p in np.ndindex(shape):
        L[p] = abs(sum(wgt * I_ext.at([c + o for c, o in zip(p, off)])
                       for off, wgt in weights.items())) / 6.0 ** (d / 2)
    return L


def _gradient_energy(I_ext, shape, mode):
    """Mean over the ENERGY_WINDOW cube of the squared forward differences (§2)."""
    d = len(shape)
    squares = np.zeros(shape)
    for p in np.ndindex(shape):
        squares[p] = sum((I_ext.at([c + (i == axis) for i, c in enumerate(p)]) - I_ext.at(p)) ** 2
                         for axis in range(d))
    squares_ext = _Extended(squares, mode, 0.0)
    return np.array([squares_ext.cube(p, ENERGY_WINDOW // 2).mean()
                     for p in np.ndindex(shape)]).reshape(shape)


def _noise_model(L, O, proxy, noise, noise_bins, mode, energy=None):
    """(a, b) of the noise variance a + b * intensity, fitted away from impulses (§2),
    on the weak-texture samples where the gradient `energy` is given."""
    if not isinstance(noise, str):
        return float(noise) ** 2, 0.0
    O_ext = _Extended(O, mode, False)
    valid = np.array([not O_ext.cube(p, 1).any() for p in np.ndindex(O.shape)]).reshape(O.shape)
    return fit_noise(L[valid], proxy[valid], noise, noise_bins,
                     weak_texture=None if energy is None else (energy[valid], O.ndim))


def _on_structure(I_ext, p, tau):
    """Whether p lies on a run of 5 similar values or at the corner of a block (§1.3).

    Detail is coherent along a direction, impulses are not: a straight run
    p - 2e … p + 2e (e any unit-neighbourhood direction), or an axis-aligned corner
    (two half-lines of length 2 along orthogonal axes and the pixel between them),
    whose values are all within `tau` of I(p), marks p as structure.
    """
    d = len(p)
    v = I_ext.at(p)

    def similar(offsets):
        return all(abs(I_ext.at([c + o for c, o in zip(p, off)]) - v) <= tau for off in offsets)

    for e in itertools.product((-1, 0, 1), repeat=d):
        if any(e) and similar([[k * c for c in e] for k in (-2, -1, 1, 2)]):
            return True
    for i, j in itertools.combinations(range(d), 2):
        for si, sj in itertools.product((-1, 1), repeat=2):
            offsets = []
            for ki, kj in ((1, 0), (2, 0), (0, 1), (0, 2), (1, 1)):
                off = [0] * d
                off[i], off[j] = ki * si, kj * sj
                offsets.append(off)
            if similar(offsets):
                return True
    return False


def _excess(I_ext, I, O, P):
    """Unflag extreme values that are more frequent than impulses explain (§1.3)."""
    d = I.ndim
    extremes = (I.min(), I.max())
    middle = [p for p in np.ndindex(I.shape) if extremes[0] < I[p] < extremes[1]]
    pairs = len(middle) * (3 ** d - 1)
    if pairs < MIN_SAMPLES:
        return
    # impulse rate of e: how often the neighbours of intermediate pixels equal e
    hits = [sum(int(np.count_nonzero(I_ext.cube(p, 1) == e)) for p in middle)
            for e in extremes]
    counts = [int(np.count_nonzero(I == e)) for e in extremes]
    thresholds = excess_thresholds(hits, pairs, counts, I.size, P.majority ** d,
                                   P.s_max ** d, P.excess)
    for e, threshold in zip(extremes, thresholds):
        if threshold is None:
            continue
        region_min, window_min = threshold
        for p in zip(*np.nonzero(O & (I == e))):
            region = np.count_nonzero(I_ext.cube(p, P.s_max // 2) == e)
            window = np.count_nonzero(I_ext.cube(p, P.majority // 2) == e)
            if region >= region_min and window >= window_min:
                O[p] = False


class _Isolation:
    """§1.5: pixels far from their unflagged neighbours, and what they say of the
    image's impulses."""

    def __init__(self, I, mode, cval, P):
        self.I_ext = _Extended(I, mode, cval)
        self.mode = mode
        self.cval = cval
        self.s_max = P.s_max
        self.radius = isolation_radius(I.ndim)
        self.majority = P.majority
        self.extremes = (I.min(), I.max())
        self.floor = P.isolation * float(self.extremes[1] - self.extremes[0])
        self.candidates = np.zeros(I.shape, bool)
        for _ in range(ISOLATION_PASSES):
            self.candidates = self.isolated()
        self.density = float((self.candidates & self.isolated(rank=1)).mean())
        self.share = fixed_share(I[self.candidates])
        self.random_valued = self.density >= ISOLATED_DENSITY and self.share < FIXED_SHARE

    def isolated(self, flags=None, factor=ISOLATION_SPREAD, rank=ISOLATION_RANK):
        """Whether the `rank`-th nearest of the neighbours not in `flags` (the
        candidates; all neighbours where fewer are unflagged) is farther from I(p)
        than the floor and than `factor` times the spread of the middle half of
        their values."""
        F_ext = _Extended(self.candidates if flags is None else flags, self.mode, False)
        return self._far(F_ext, self.I_ext, factor, rank, 0.0)

    def stands_out(self, J_ext, factor, rank):
        """A random-valued pass: :meth:`isolated` given no flags, among the
        neighbours read from the repaired `J_ext`, those past the border left out
        (a pixel's mirror image would vouch for it), and read less a plane's slopes
        where that leaves under RANDOM_TREND of their spread."""
        outside = _Extended(np.zeros(self.candidates.shape, bool), "constant", True)
        return self._far(outside, J_ext, factor, rank, RANDOM_TREND)

    def _far(self, F_ext, J_ext, factor, rank, trend):
        """The test of :meth:`isolated` with the flags `F_ext` and neighbour values
        `J_ext`; with `trend` > 0, where the values less the least-squares slopes of
        all the neighbours spread under `trend` times as much, the test reads those
        values instead: on a ramp, the slope is structure, not spread."""
        out = np.zeros(self.candidates.shape, bool)
        ndim = len(out.shape)
        centre = (2 * self.radius + 1) ** ndim // 2
        offsets = np.delete(np.array(list(itertools.product(
            range(-self.radius, self.radius + 1), repeat=ndim))), centre, axis=0)
        for p in np.ndindex(out.shape):
            neighbours = np.delete(J_ext.cube(p, self.radius), centre)
            keep = ~np.delete(F_ext.cube(p, self.radius), centre)
            if np.count_nonzero(keep) < rank:
                keep[:] = True
            distance, spread = _distance_and_spread(neighbours[keep], self.I_ext.at(p), rank)
            if trend > 0:
                level = neighbours - _plane_shift(offsets, neighbours)
                level_distance, level_spread = _distance_and_spread(level[keep],
                                                                    self.I_ext.at(p), rank)
                if level_spread < trend * spread:
                    distance, spread = level_distance, level_spread
            out[p] = distance > max(factor * spread, self.floor)
        return out

    def clipped_noise(self, I, O):
        """The flags of `O` at an extreme value at which the noise is clipped: where
        the pixels of that value lack an intermediate unit neighbour within the floor
        of it at most CLIPPED times as often as all pixels do, those that have one."""
        extremes = self.extremes
        near = np.zeros((2,) + I.shape, bool)
        for p in np.ndindex(I.shape):
            around = np.delete(self.I_ext.cube(p, 1), 3 ** I.ndim // 2)
            between = around[(extremes[0] < around) & (around < extremes[1])]
            for k, e in enumerate(extremes):
                near[k][p] = bool(np.any(np.abs(between - e) <= self.floor))
        out = np.zeros(I.shape, bool)
        for e, near_e in zip(extremes, near):
            at_e = I == e
            if clipped(np.count_nonzero(at_e), np.count_nonzero(at_e & near_e),
                       np.count_nonzero(near_e), I.size):
                out |= O & at_e & near_e
        return out

    def noise_flags(self):
        """Left out of the impulse stage's noise fits: the candidates, where impulses
        are random-valued."""
        return self.candidates if self.random_valued else np.zeros_like(self.candidates)

    def repaired(self, I, flags):
        """I with the `flags` replaced as §1.4 replaces impulses, readable anywhere."""
        F_ext = _Extended(flags, self.mode, False)
        J = I.copy()
        for p in zip(*np.nonzero(flags)):
            J[p] = _valid_median(self.I_ext, F_ext, p, self.s_max, I[p])
        return _Extended(J, self.mode, self.cval)

    def apply(self, I, O, deviation, flagged):
        """The final flags and the name of the kind of impulses (§1.5); `deviation`
        is |I - A_amf|, `flagged` the share of flags before the rules of §1.3; the
        flags of :meth:`clipped_noise` are noise, not impulses."""
        far = O & (deviation > self.floor)
        levels = flag_levels(I[far])
        at_levels = held_by_levels(I, O, levels)
        # random-valued impulses cannot make two values frequent, but may hide the
        # picture's levels under the flags: their test reads every pixel
        levels_of_all = held_by_levels(I, None, levels)
        noise = self.clipped_noise(I, O)
        O, far = O & ~noise, far & ~noise
        if self.random_valued:
            kept = O & (deviation > RANDOM_DEVIATION * self.floor) & (not levels_of_all)
            return kept | random_valued_flags(
                self.candidates, I.ndim,
                lambda flags, spread, rank: self.stands_out(self.repaired(I, flags), spread,
                                                            rank),
            ), "random-valued"
        # many isolated pixels at fixed values: salt and pepper, whatever the flags hold
        dense_fixed = self.share >= FIXED_SHARE and self.density >= DENSE_IMPULSES
        if dense_fixed:
            values = values_the_flags_miss(I[self.candidates], I[self.candidates & O])
            if values.size:
                return (np.isin(I, values)
                        & self.isolated(factor=FIXED_SPREAD, rank=FIXED_RANK), "fixed-valued")
        confirmed = self.share >= FIXED_SHARE or O.mean() >= CROWDED_FLAGS
        if (fixed_share(I[O]) >= FIXED_SHARE and confirmed) or dense_fixed:
            if flagged >= LEVELS_MAJORITY or not at_levels:
                return O, "fixed-valued"
            found = np.zeros(I.shape, bool)
            for _ in range(ISOLATION_PASSES):
                found = far & self.isolated(found, factor=FIXED_SPREAD, rank=LEVELS_RANK)
            off_majority = O.copy()
            if self.majority:
                off_majority &= I != median(I, size=self.majority, mode=self.mode,
                                            cval=self.cval)
            density, dense = found.mean(), off_majority.mean()
            if dense < DENSE_LEVELS and density < LEVELS_DENSITY:
                return np.zeros_like(found), "none"
            if (dense >= DENSE_LEVELS or density >= DENSE_IMPULSES
                    or dense <= LEVELS_OFF_MAJORITY * density):
                return off_majority, "fixed-valued"
            return found, "fixed-valued"
        if self.share >= FIXED_SHARE:
            at_value = np.isin(I, fixed_values(I[self.candidates]))
            at_value_isolated = self.isolated(factor=FIXED_SPREAD, rank=FIXED_RANK)
            return O & np.where(at_value, at_value_isolated, self.isolated()), "fixed-valued"
        at_value = np.isin(I, mostly_isolated_values(I, self.candidates))
        if at_value.any():
            return (O & at_value & self.isolated(factor=FIXED_SPREAD, rank=FIXED_RANK),
                    "fixed-valued")
        return np.zeros_like(O), "none"


def _impulses(I, mode, cval, P):
    """O (impulse flags), J (the image with impulses replaced), the Laplacian and the
    impulses' kind, §1."""
    shape = I.shape
    if P.impulses == "none":
        return np.zeros(shape, bool), I.copy(), None, None
    I_ext = _Extended(I, mode, cval)
    plain, modified, A_amf, kind = _adaptive_median(I_ext, shape, P.s_max)
    if P.impulses == "hwang-haddad":
        return plain, np.where(plain, A_amf, I), None, None
    # §1.2 noise gate: a flag survives if the pixel is farther than kappa noise
    # standard deviations from A_amf (impulse-dominated pixels always survive)
    L = _immerkaer(I_ext, shape)
    isolation = _Isolation(I, mode, cval, P) if P.isolation > 0 else None
    unfit = np.zeros(shape, bool) if isolation is None else isolation.noise_flags()
    O = modified.copy()
    sigma = np.zeros(shape)
    for _ in range(2):
        a, b = _noise_model(L, O | unfit, A_amf, P.noise, P.noise_bins, mode)
        O = np.zeros(shape, bool)
        for p in np.ndindex(shape):
            sigma[p] = np.sqrt(a + b * max(A_amf[p], 0.0))
            O[p] = modified[p] and (kind[p] == 1 or abs(I[p] - A_amf[p]) > P.kappa * sigma[p])
    # the final gate, wider where the flags are too few to be impulse noise
    flagged = O.mean()
    kappa = gate_kappa(P, flagged)
    for p in np.ndindex(shape):
        O[p] = modified[p] and (kind[p] == 1 or abs(I[p] - A_amf[p]) > kappa * sigma[p])
    # §1.3 majority and structure rules, only while impulses are sparse, and the
    # majority rule's excess rule for extreme values at any density
    if P.majority and flagged < P.majority_density:
        M_major = median(I, size=P.majority, mode=mode, cval=cval)
        O &= I != M_major
    if flagged < P.line_density:
        for p in zip(*np.nonzero(O)):
            if _on_structure(I_ext, p, P.kappa * sigma[p]):
                O[p] = False
    if P.majority and P.excess > 0:
        _excess(I_ext, I, O, P)
    # §1.5 the kind of impulses decides which flags stay
    found = None
    if isolation is not None:
        O, found = isolation.apply(I, O, np.abs(I - A_amf), flagged)
    # §1.4 replacement: median of the unflagged pixels of the smallest window
    O_ext = _Extended(O, mode, False)
    J = I.copy()
    for p in zip(*np.nonzero(O)):
        J[p] = A_amf[p] if kind[p] == 2 else _valid_median(I_ext, O_ext, p, P.s_max,
                                                            A_amf[p])
    return O, J, L, found


# --- §13 switching stage ---------------------------------------------------------------

def _switching_estimate(I, mode, cval, P):
    """The NoiseEstimate of §1-§2 on the mosaic of `sample` pixels of I, the impulse
    values of its flags beyond the isolation floor, the range of the mosaic's values
    and the footprint of the median base (switching_scales)."""
    sample = mosaic(I, P.sample)
    O, _, _, model, kind = _fitted(sample, mode, cval, P.replace(impulses="adaptive"))
    estimate = noise_estimate(O, model, kind)
    spread, size = switching_scales(P, estimate, sample)
    # not the flags within the isolation floor of their 3x3 median: the steps of a
    # flat region, which a near-zero sigma lets the gate flag
    far = O & (np.abs(sample - median(sample, size=3, mode=mode, cval=cval))
               > P.isolation * spread)
    return estimate, fixed_values(sample[far]), spread, size


def _full_impulse_stage(I, mode, cval, P):
    """O and J of the full impulse stage of §1, where the 3x3 test of §13 cannot tell
    the impulses from the picture."""
    O, J, _, _ = _impulses(I, mode, cval, P.replace(impulses="adaptive"))
    return O, J


def _switching(I, mode, cval, P):
    """§13: O, J, the estimate and the footprint of the median base: flags from the
    3x3 window, once the estimate on a sample says there are fixed-valued impulses,
    each taking the median of its unflagged neighbours; the full stage of §1 for
    random-valued ones."""
    shape = I.shape
    estimate, sample_values, spread, size = _switching_estimate(I, mode, cval, P)
    kind = estimate.impulse_kind
    if kind == "none":
        return np.zeros(shape, bool), I.copy(), estimate, size
    if kind == "random-valued":
        return (*_full_impulse_stage(I, mode, cval, P), estimate, size)
    I_ext = _Extended(I, mode, cval)
    M3 = median(I, size=3, mode=mode, cval=cval)
    gated = np.zeros(shape, bool)
    for p in np.ndindex(shape):
        cube = I_ext.cube(p, 1)
        sigma = np.sqrt(estimate.variance + estimate.gain * max(M3[p], 0.0))
        gated[p] = ((I[p] <= cube.min() or I[p] >= cube.max())
                    and abs(I[p] - M3[p]) > max(P.kappa * sigma, P.isolation * spread))
    # the sample's flags tell the impulses from the picture's own extremes
    values = sample_values if sample_values.size else fixed_values(I[gated])
    sparse = estimate.impulse_density < DENSE_IMPULSES
    dense = np.full(shape, not sparse)
    if dense.any() and P.majority and P.excess > 0:
        # not the pixels of a region of an impulse value (a black background)
        limit = region_limit(P.majority ** I.ndim, estimate.impulse_density, P.excess)
        for p in zip(*np.nonzero(np.isin(I, values))):
            dense[p] = np.count_nonzero(I_ext.cube(p, P.majority // 2) == I[p]) <= limit
    O = np.isin(I, values) & (gated | dense)
    if sparse and O.mean() > SWITCHING_EXCESS * estimate.impulse_density:
        # more flags than impulses: structure among them, which §1 tells apart
        return (*_full_impulse_stage(I, mode, cval, P), estimate, size)
    O_ext = _Extended(O, mode, False)
    J = I.copy()
    for p in zip(*np.nonzero(O)):
        J[p] = _valid_median(I_ext, O_ext, p, P.s_max, M3[p])
    return O, J, estimate, size


def _valid_median(I_ext, O_ext, p, s_max, otherwise):
    """§1.4: the true median of the unflagged values of the smallest cube 3 … s_max
    around p that has any; `otherwise` where none has."""
    for s in range(3, s_max + 1, 2):
        values, flags = I_ext.cube(p, s // 2), O_ext.cube(p, s // 2)
        if not flags.all():
            return _true_median(values[~flags])
    return otherwise


# --- §3 non-local stage --------------------------------------------------------------

def _dct_estimate(J, sig2, mode, cval, P):
    """D of §3: the mean, over the `dct` x `dct` squares (of the last two axes) that
    cover each pixel, of the square with its small DCT coefficients set to 0, each
    square weighted by 1 / the number of coefficients it keeps."""
    n, T = P.dct, dct_basis(P.dct)
    J_ext, S_ext = _Extended(J, mode, cval), _Extended(sig2, mode, 0.0)
    total, weights = np.zeros(J.shape), np.zeros(J.shape)
    *slices, height, width = J.shape
    for z in np.ndindex(*slices):
        for top in range(1 - n, height):
            for left in range(1 - n, width):
                rows, columns = range(top, top + n), range(left, left + n)
                square = np.array([[J_ext.at(z + (y, x)) for x in columns] for y in rows])
                threshold = P.dct_threshold ** 2 * np.mean(
                    [[S_ext.at(z + (y, x)) for x in columns] for y in rows])
                X = T @ square @ T.T
                small = X * X <= threshold
                small[0, 0] = False
                X[small] = 0.0
                inverse = T.T @ X @ T
                weight = 1.0 / np.count_nonzero(~small)
                for b, y in enumerate(rows):
                    for c, x in enumerate(columns):
                        if 0 <= y < height and 0 <= x < width:
                            total[z + (y, x)] += weight * inverse[b, c]
                            weights[z + (y, x)] += weight
    return np.where(sig2 > 0, total / np.where(sig2 > 0, weights, 1.0), J)


def _nonlocal_mean(Js, sig2s, Os, mode, cval, P):
    """B of §3 for planes that share their weights (the channels of a colour image)."""
    Bs = _weighted_mean(Js, Js, sig2s, mode, cval, P, P.h, allowance=1.0, centre="largest")
    if P.passes == 1:
        return Bs
    guided = _weighted_mean(Js, Bs, sig2s, mode, cval, P, P.pilot_h, allowance=0.0,
                            centre="one")
    return [np.where(O, B, G) for O, B, G in zip(Os, Bs, guided)]


def _weighted_mean(Js, Gs, sig2s, mode, cval, P, h, allowance, centre):
    """Means of the planes Js over the search window, weights from the patches of Gs (§3).

    A plane whose sigma^2 is 0 at p keeps its value there and does not count in the
    distance of the others.
    """
    shape, d = Js[0].shape, Js[0].ndim
    J_ext = [_Extended(J, mode, cval) for J in Js]
    G_ext = [_Extended(G, mode, cval) for G in Gs]
    r, hp = P.search, P.patch // 2
    offsets = [off for off in itertools.product(range(-r, r + 1), repeat=d) if any(off)]
    patch = list(itertools.product(range(-hp, hp + 1), repeat=d))
    Bs = [np.array(J, dtype=np.float64) for J in Js]
    for p in np.ndindex(shape):
        active = [c for c, sig2 in enumerate(sig2s) if sig2[p] > 0]
        if not active:
            continue
        num = [0.0] * len(Js)
        den = wmax = 0.0
        for off in offsets:
            dist = np.mean([np.mean([(G_ext[c].at([i + u for i, u in zip(p, pu)])
                                      - G_ext[c].at([i + u + o
                                                     for i, u, o in zip(p, pu, off)])) ** 2
                                     for pu in patch]) / (2.0 * h * h * sig2s[c][p])
                            for c in active])
            w = np.exp(-max(dist - allowance, 0.0))
            for c in active:
                num[c] += w * J_ext[c].at([i + o for i, o in zip(p, off)])
            den += w
            wmax = max(wmax, w)
        w0 = wmax if centre == "largest" and wmax > 0 else 1.0
        for c in active:
            Bs[c][p] = (w0 * Js[c][p] + num[c]) / (w0 + den)
    return Bs


# --- §4 correlation map --------------------------------------------------------------

def _quantise(x, bins, tau):
    if bins == 2:
        return int(x > 0)
    if bins == 3:
        return int(x >= -tau) + int(x > tau)
    return int(x > -tau) + int(x > 0) + int(x > tau)


def _renyi(x, y, bins, tau):
    """Second singular value of diag(P_X)^-1/2 P diag(P_Y)^-1/2 (Rényi 1959)."""
    P = np.zeros((bins, bins))
    for a, b in zip(x, y):
        P[_quantise(a, bins, tau), _quantise(b, bins, tau)] += 1.0
    P /= len(x)
    px, py = P.sum(1), P.sum(0)
    if np.count_nonzero(px) < 2 or np.count_nonzero(py) < 2:
        return 0.0
    ix = np.where(px > 0, 1.0 / np.sqrt(np.where(px > 0, px, 1.0)), 0.0)
    iy = np.where(py > 0, 1.0 / np.sqrt(np.where(py > 0, py, 1.0)), 0.0)
    return float(np.linalg.svd(ix[:, None] * P * iy[None, :], compute_uv=False)[1])


def _correlation_map(E, B, mode, cval, P):
    """CRC(p) = max(0, max over Δ of ρ(p, δ)) of the residual E of B, and the first lag
    within TIE of it."""
    shape, d = E.shape, E.ndim
    hw = P.window // 2
    # rho is scale-free; on E over its largest magnitude tiny residuals' variances
    # do not underflow (§4); residual values no larger than the rounding of B are 0,
    # as the quantisation would read the sign that the order of summation gave them;
    # B rounds relative to what it averaged, cval too past a constant border
    base = max(float(np.max(np.abs(B), initial=0.0)), abs(cval) if mode == "constant" else 0.0)
    E = np.where(np.abs(E) <= FLAT * base, 0.0, E)
    largest = float(np.max(np.abs(E), initial=0.0))
    E = E / largest if largest > 0 else np.zeros(shape)
    E_ext = _Extended(E, mode, 0.0)
    # a Pearson window whose standard deviation is at most SPREAD of the larger of
    # max |B| and max |E| is flat: rho divides by it, magnifying the rounding of B (§4)
    flat = (SPREAD * max(base, largest) / largest) ** 2 if largest > 0 else 0.0
    tau = 1.4826 * _true_median(np.abs(E).ravel()) if largest > 0 else 0.0
    window = list(itertools.product(range(-hw, hw + 1), repeat=d))
    crc = np.zeros(shape)
    direction = np.zeros(shape, np.int8)
    for p in np.ndindex(shape):
        for i, lag in enumerate(lags(d)):
            x = np.array([E_ext.at([c + u for c, u in zip(p, q)]) for q in window])
            y = np.array([E_ext.at([c + u + g for c, u, g in zip(p, q, lag)]) for q in window])
            if P.correlation == "pearson":
                mx, my = x.mean(), y.mean()
                vx, vy = (x * x).mean() - mx * mx, (y * y).mean() - my * my
                if vx <= flat or vy <= flat:
                    rho = 0.0
                else:
                    rho = ((x * y).mean() - mx * my) / np.sqrt(vx * vy)
            else:
                rho = _renyi(x, y, P.bins, tau)
            if rho > crc[p] + TIE:
                crc[p], direction[p] = rho, i
    return crc, direction


# --- driver ---------------------------------------------------------------------------

def _noise(I, mode, cval, P):
    """§1-§2 for one plane: O, J, the median proxy M and sigma^2(p)."""
    O, J, M, (a, b), _ = _fitted(I, mode, cval, P)
    return O, J, M, a + b * np.maximum(M, 0.0)


def _fitted(I, mode, cval, P):
    """§1-§2 for one plane: O, J, M, the noise model (a, b) and the impulses' kind."""
    if P.impulses == "switching":       # §13 its noise model is its estimate's
        O, J, estimate, size = _switching(I, mode, cval, P)
        return (O, J, median(J, size=size, mode=mode, cval=cval),
                (estimate.variance, estimate.gain), estimate.impulse_kind)
    O, J, L, kind = _impulses(I, mode, cval, P)
    M = median(J, size=P.size, mode=mode, cval=cval)
    if L is None and isinstance(P.noise, str):
        L = _immerkaer(_Extended(I, mode, cval), I.shape)
    # §2 the weak-texture noise level, unless many impulses were repaired
    energy = (_gradient_energy(_Extended(I, mode, cval), I.shape, mode)
              if O.mean() < WEAK_TEXTURE_DENSITY else None)
    a, b = _noise_model(L, O, M, P.noise, P.noise_bins, mode, energy)
    return O, J, M, (a, b), kind


def _estimates(planes, mode, cval, P):
    """§1-§3 for the planes of an image: (O, B, E, sigma^2(p)) of each."""
    noise = [_noise(I, mode, cval, P) for I in planes]
    B = [M for _, _, M, _ in noise]
    if P.base == "nonlocal":
        for group in channel_groups(len(planes), P):
            parts = [noise[i] for i in group]
            for i, b in zip(group, _nonlocal_mean([J for _, J, _, _ in parts],
                                                  [s for _, _, _, s in parts],
                                                  [O for O, _, _, _ in parts], mode, cval, P)):
                B[i] = b
        if P.dct:
            B = [np.where(O, b, 0.5 * (b + _dct_estimate(J, sig2, mode, cval, P)))
                 for (O, J, _, sig2), b in zip(noise, B)]
    return [(O, b, np.where(O, 0.0, J - b), sig2) for (O, J, _, sig2), b in zip(noise, B)]


def _restore(planes, mode, cval, P):
    """§5: out = B + g E, for each plane."""
    return [_gain(B, E, sig2, mode, cval, P)
            for _, B, E, sig2 in _estimates(planes, mode, cval, P)]


def _gain(B, E, sig2, mode, cval, P):
    g = np.zeros(E.shape)
    if P.gain in ("wiener", "wiener+crc"):
        E_ext = _Extended(E, mode, 0.0)
        for p in np.ndindex(E.shape):
            w = E_ext.cube(p, P.window // 2)
            v = (w * w).mean() - w.mean() ** 2
            if sig2[p] <= 0:
                g[p] = 1.0
            elif v > 0:
                g[p] = min(max(1.0 - P.wiener_c * sig2[p] / v, 0.0), 1.0)
    if P.gain in ("crc", "wiener+crc"):
        crc, _ = _correlation_map(E, B, mode, cval, P)
        g = np.maximum(g, np.clip((crc - P.t0) / (P.t1 - P.t0), 0.0, 1.0))
    return B + g * E


@takes_options
def crc_median(image, size=FROM_OPTIONS, *, options=None, mode="reflect", cval=0.0,
               channel_axis=None, output=None, n_threads=None, **algorithm):
    """CRC-MF denoising: the reference definition of :func:`crcx.crc_median`.

    Impulses are found by an adaptive median and replaced by the median of their
    clean neighbours; the remaining noise is averaged out over a small search window
    with patch-similarity weights scaled by a noise level estimated from the image;
    detail that this removed is given back by a noise-aware gain. Each stage is
    specified in ``docs/algorithm.md`` (§1 to §5) and computed here pixel by pixel.

    Parameters
    ----------
    image : array_like
        2-D image, 3-D volume, or either with a channel axis (`channel_axis`).
        Bool, integer, float32 or float64; processed in float64; must be finite
        (NaN or infinity raises ValueError).
    options : CRCOptions, optional
        The options of the algorithm (default ``CRCOptions()``); `size` and the
        keywords below override its fields.
    %(options)s
    mode : {"reflect", "mirror", "nearest", "wrap", "constant"}, optional
        Border rule of every window, with scipy.ndimage semantics.
    cval : float, optional
        Value past the border for ``mode="constant"`` (converted to the image dtype
        first, as scipy does); derived planes (residuals, flags) read 0 there.
    channel_axis : int, optional
        Axis of colour channels, filtered one by one but for the non-local weights,
        which they share (with ``joint_channels=False``: independent planes).
    output : ndarray or dtype, optional
        Array to fill or dtype of the result (default: the image's dtype).
    n_threads : int, optional
        Validated, otherwise ignored by the reference.

    Returns
    -------
    ndarray
        The denoised image, of `output`'s dtype (default the image's). Integer and
        bool results are rounded half to even and clipped to the dtype's range.

    Examples
    --------
    >>> import numpy as np
    >>> from crcx.reference.crc import crc_median
    >>> image = np.full((16, 16), 100, np.uint8)
    >>> image[1::4, 2::4] = 255            # hot pixels on a flat patch
    >>> int(crc_median(image, search=1).max())
    100
    """
    P = given_options(options, algorithm, size)
    image, mode, cval, _, planes, _ = prepare(image, P.size, mode, cval, n_threads,
                                              channel_axis)
    # computed before writing: `output` may be the image itself
    out = _restore([plane.astype(np.float64) for plane in planes], mode, cval, P
                   ) if image.size else []
    return finish(out, output, image, channel_axis)


@takes_options
def crc_map(image, size=FROM_OPTIONS, *, options=None, mode="reflect", cval=0.0,
            channel_axis=None, return_direction=False, return_impulses=False,
            return_variance=False, n_threads=None, **algorithm):
    """Canonical Rényi correlation map of the residual that CRC-MF restores.

    Runs §1 to §3 of ``docs/algorithm.md`` with the same parameters as
    :func:`crc_median` and returns ``CRC(p) = max(0, max_δ ρ(p, δ))`` of the residual
    E = (1 - O)(J - B) (§4): near 0 where E is white noise, towards 1 where it holds
    coherent detail. Its image mean is the collection diagnostic of the source article.

    Parameters
    ----------
    image, options, mode, cval, channel_axis, n_threads
        As for :func:`crc_median`.
    %(options)s
    return_direction : bool, optional
        Also return the canonical direction: the index into :func:`lags` of the
        first lag attaining the maximum (0 where no correlation is positive).
    return_impulses : bool, optional
        Also return the impulse flags O of §1.
    return_variance : bool, optional
        Also return the noise variance sigma^2(p) of §2 at each pixel.

    Returns
    -------
    crc : ndarray of float64
        The map, in [0, 1], of the image's shape.
    direction : ndarray of int8, optional
        Canonical direction indices (with `return_direction`).
    impulses : ndarray of bool, optional
        Impulse flags (with `return_impulses`).
    variance : ndarray of float64, optional
        Noise variance sigma^2(p) (with `return_variance`).

    Notes
    -----
    The options of the gain (`gain`, `wiener_c`, `t0`, `t1`) do not change the map;
    they are accepted so that one set of options serves both functions.

    Examples
    --------
    >>> import numpy as np
    >>> from crcx.reference.crc import crc_map
    >>> image = np.zeros((12, 12))
    >>> image[:, 6] = 50.0                 # a thin vertical line, no noise
    >>> crc, direction = crc_map(image, size=3, window=3, base="median",
    ...                          impulses="none", return_direction=True)
    >>> round(float(crc[6, 6]), 3), int(direction[6, 6])   # lag (1, 0): along the line
    (1.0, 2)
    """
    P = given_options(options, algorithm, size)
    image, mode, cval, _, planes, join = prepare(image, P.size, mode, cval, n_threads,
                                                 channel_axis)
    maps, directions, flags, variances = [], [], [], []
    if not image.size:
        for plane in planes:
            maps.append(np.zeros(plane.shape))
            directions.append(np.zeros(plane.shape, np.int8))
            flags.append(np.zeros(plane.shape, bool))
            variances.append(np.zeros(plane.shape))
    else:
        for O, B, E, sig2 in _estimates([plane.astype(np.float64) for plane in planes], mode,
                                     cval, P):
            crc, direction = _correlation_map(E, B, mode, cval, P)
            maps.append(crc)
            directions.append(direction)
            flags.append(O)
            variances.append(sig2)
    out = [join(maps)]
    if return_direction:
        out.append(join(directions).astype(np.int8))
    if return_impulses:
        out.append(join(flags).astype(bool))
    if return_variance:
        out.append(join(variances).astype(np.float64))
    return out[0] if len(out) == 1 else tuple(out)


@takes_options
def estimate_noise(image, *, options=None, channel_axis=None, mode="reflect", cval=0.0,
                   n_threads=None, **algorithm):
    """The noise CRC-MF finds in each plane: noise model and impulses (§1.5, §2).

    Parameters
    ----------
    image : array_like
        2-D image, 3-D volume, or either with a channel axis (`channel_axis`).
    options : CRCOptions, optional
        The options of the algorithm (default ``CRCOptions()``); the keywords below
        override its fields. Only those of §1 and §2 change the estimate.
    %(options)s
    channel_axis, mode, cval, n_threads
        As for :func:`crc_median`.

    Returns
    -------
    NoiseEstimate or tuple of NoiseEstimate
        One estimate (:class:`crcx.NoiseEstimate`), or one per plane along
        `channel_axis`.

    Examples
    --------
    >>> import numpy as np
    >>> from crcx.reference.crc import estimate_noise
    >>> estimate_noise(np.full((8, 8), 7.0)).impulse_kind
    'none'
    """
    P = given_options(options, algorithm)
    image, mode, cval, _, planes, _ = prepare(image, P.size, mode, cval, n_threads,
                                              channel_axis)
    found = []
    for I in planes:
        I = np.asarray(I, dtype=np.float64)
        if I.size:
            O, _, _, model, kind = _fitted(I, mode, cval, P)
        else:
            O, model, kind = I.astype(bool), (0.0, 0.0), None
        found.append(noise_estimate(O, model, kind))
    return found[0] if channel_axis is None else tuple(found)
