"""CRC-MF: the median filter enhanced by Canonical Rényi Correlation (compiled path).

The stages are those of docs/algorithm.md; :mod:`crcx.reference.crc` transcribes the
same document pixel by pixel. Here the per-pixel work runs in compiled kernels:
:mod:`crcx._crc._stages` (adaptive median, impulse replacement, non-local mean, correlation
map), :mod:`crcx._rank._driver` (medians, the 3x3 dilation of the impulse mask) and
:mod:`crcx._crc._window` (box means). Python pads planes, fits the global noise model and
combines whole planes.

The statistics of the whole plane (noise fits, impulse density, the excess rule's
thresholds, the residual's scale) go through one :class:`_Statistics` per plane, so
that :mod:`crcx.dask` can compute them once on the plane and filter its blocks with
them, exactly as the whole plane is filtered.
"""
import functools
import itertools
import typing

import numpy as np

from crcx._common.arguments import prepare_output
from crcx._common.boundary import extended_indices
from crcx._crc import _extend, _stages, _window
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
from crcx._crc.options import FROM_OPTIONS, given_options, takes_options
from crcx._crc.planes import bounds, output_planes, prepare, store
from crcx._rank.filters import median, rank_filter
from crcx._runtime.memory import reusing_memory
from crcx._runtime.threads import concurrently, effective_n_threads

__all__ = ["crc_median", "crc_map", "estimate_noise"]


class _Statistics:
    """A plane's whole-plane statistics by name: computed and kept, or given.

    Given ones (from :func:`plane_statistics`) are used as they are: a block of the
    plane then takes every decision the whole plane takes.
    """

    def __init__(self, given=None):
        self.values = {} if given is None else dict(given)
        self.given = given is not None

    def take(self, name, compute):
        if name not in self.values:
            if self.given:
                raise ValueError(f"statistics: no {name!r} for these options")
            self.values[name] = compute()
        return self.values[name]


class _Plane:
    """One plane as (z, y, x), as given and in float64, and how its windows read past
    the borders."""

    def __init__(self, values, mode, cval, n_threads, statistics=None):
        self.statistics = _Statistics(statistics)
        self.ndim = values.ndim                       # 2 or 3 spatial axes
        shape = (1,) * (3 - values.ndim) + values.shape
        self.source = values.reshape(shape)           # as given, in its dtype
        self._values = None
        self.mode = mode
        self.cval = cval
        self.n_threads = n_threads
        self.axes = tuple(range(3 - self.ndim, 3))

    @property
    def shape(self):
        return self.source.shape

    @property
    def values(self):
        """The plane in float64, which the stages compute in; made where one reads it
        (a clean picture's real-time restoration reads only the plane as given)."""
        if self._values is None:
            self._values = np.ascontiguousarray(self.source, dtype=np.float64)
        return self._values

    def extremes(self):
        """The plane's smallest and largest values, a whole-plane statistic."""
        return self.statistics.take(
            "extremes", lambda: (float(self.values.min()), float(self.values.max())))

    def reach(self, r):
        return (r if self.ndim == 3 else 0, r, r)

    def padded(self, array, r, fill, slices=False, out=None, dtype=None):
        """`array` extended by `r` past each edge of the filtered axes (`fill` for cval);
        with `slices`, of the last two only (each slice of a volume on its own); into
        `out` if given, else in `dtype` (default the array's)."""
        reach = (0, r, r) if slices else self.reach(r)
        index = [extended_indices(n, extra, extra, self.mode)
                 for n, extra in zip(array.shape, reach)]
        if out is None:
            out = np.empty(tuple(map(len, index)), dtype or array.dtype)
        _extend.extend(array.astype(out.dtype, copy=False), *index, fill, reach[2], out,
                       self.n_threads)
        return out

    def shifted(self, array, fill, offsets):
        """`array` read at each (z, y, x) offset of at most 1 per axis, past the borders
        through the border rule (`fill` for cval)."""
        padded = self.padded(array, 1, fill)
        return [padded[tuple(slice(r + o, r + o + n) for r, o, n in
                             zip(self.reach(1), offset, array.shape))]
                for offset in offsets]

    def neighbours(self, array, fill):
        """`array` read at each unit offset of :meth:`cube` (1, without the centre)."""
        return self.shifted(array, fill, self.cube(1, skip_centre=True))

    def cube(self, radius, skip_centre=False):
        """Offsets (z, y, x) of the cube of `radius`, nearest first (by Chebyshev radius)."""
        return list(_cube(self.ndim, radius, skip_centre))

    @staticmethod
    def deltas(offsets, padded):
        """Flat index differences, in `padded`, of the (z, y, x) `offsets`."""
        o = np.asarray(offsets, dtype=np.intp).reshape(-1, 3)
        _, height, width = padded.shape
        return np.ascontiguousarray((o[:, 0] * height + o[:, 1]) * width + o[:, 2])

    def deltas_rows(self, rows, padded):
        """:meth:`deltas` of each row of offsets, as a 2-d array."""
        return np.ascontiguousarray(np.stack([self.deltas(row, padded) for row in rows]))

    def box_mean(self, array, size, fill=0.0):
        """Mean over the size^ndim window of each pixel (`fill` past a constant border)."""
        out = np.ascontiguousarray(array, dtype=np.float64)
        for axis in self.axes:
            index = extended_indices(out.shape[axis], size // 2, size // 2, self.mode)
            result = np.empty_like(out)
            _window.box_mean_pass(out, result, axis, index, size, fill, self.n_threads)
            out = result
        return out

    def wiener_restore(self, J, B, O, sig2, floor, size, c, target):
        """B + g E into `target` (the plane's view of the output), E the residual J - B
        (0 where O), with the Wiener gain g of E's size^ndim windows and the noise
        variance `sig2` (a _Variance), raised to the gains `floor` where given (§5).

        The kernel writes the output itself where it can: in a dtype it writes, that
        none of the values it reads share memory with (the output may be the image).
        """
        depth = size if self.ndim == 3 else 1
        index = [extended_indices(n, w // 2, w // 2, self.mode)
                 for n, w in zip(J.shape, (depth, size, size))]
        out = target.reshape(J.shape)
        direct = out.dtype in _window.DTYPES and not any(
            np.may_share_memory(out, read) for read in (J, B, sig2.proxy, floor)
            if read is not None)
        into = out if direct else np.empty(J.shape)
        low, high = bounds(into.dtype) or (0, 0)
        J, B, proxy = (np.ascontiguousarray(a, a.dtype if a.dtype in _window.DTYPES
                                            else np.float64) for a in (J, B, sig2.proxy))
        _window.wiener_restore(J, B, O.view(np.uint8) if O.any() else None, sig2.a, sig2.b,
                               proxy, floor, *index, depth, size, c, into, low, high,
                               self.n_threads)
        if not direct:
            store(into, target)

    def count(self, value, size):
        """How many values of the size^ndim window of each pixel equal `value`.

        Exact: running sums of zeros and ones are integers, and the scaled means
        are within far less than 1/2 of them.
        """
        fill = float(self.cval == value)
        mean = self.box_mean(self.values == value, size, fill)
        return np.rint(mean * size ** self.ndim)

    def median(self, array, size, cval):
        return self.ranked(median, array, size, cval=cval)

    def ranked(self, function, array, *arguments, cval):
        """`function` (:func:`crcx.median` or :func:`crcx.rank_filter`) of `array`
        over the plane's axes, in its dtype; of the plane's float64 values, taken on
        the plane as given and converted: the same values, since a rank commutes with
        the conversion to float64, at a fraction of the cost for integers."""
        own = array is self._values
        out = function(self.source if own else array, *arguments, mode=self.mode, cval=cval,
                       axes=self.axes, n_threads=self.n_threads)
        return out.astype(np.float64, copy=False) if own else out


@functools.cache
def _cube(ndim, radius, skip_centre):
    """:meth:`_Plane.cube`, made once for each of its few shapes (the stages ask for
    the same cubes on every plane)."""
    span = range(-radius, radius + 1)
    offsets = [(0,) * (3 - ndim) + o for o in itertools.product(span, repeat=ndim)]
    offsets.sort(key=lambda o: max(map(abs, o)))
    return tuple(o for o in offsets if any(o) or not skip_centre)


# --- §1 impulse stage ----------------------------------------------------------------

class _GrowingWindows:
    """The cubes 3, 5, ..., s_max of the impulse stage, over the padded image.

    Both the adaptive median and the replacement of impulses grow the same windows
    over the same padded plane, so it is built once.
    """

    def __init__(self, plane, s_max):
        r = s_max // 2
        self.reach = plane.reach(r)
        self.padded = plane.padded(plane.values, r, plane.cval)
        self.deltas = plane.deltas(plane.cube(r), self.padded)
        self.levels = np.array([len(plane.cube(s // 2)) for s in range(3, s_max + 1, 2)],
                               np.intp)
        self.radius = r


def _adaptive_median(plane, windows):
    """Hwang & Haddad (1995) levels: plain flag, modified flag, A_amf, class.

    Most pixels qualify at the first level, the 3-cube, whose median, minimum and
    maximum the rank-filter kernels give for the whole plane at once; the per-pixel
    kernel grows windows for the rest.
    """
    I = plane.values
    low, high = (plane.ranked(rank_filter, I, rank, 3, cval=plane.cval) for rank in (0, -1))
    replacement = plane.median(I, 3, plane.cval)
    plain = ~((low < I) & (I < high))
    modified = plain.copy()
    kind = np.zeros(I.shape, np.int8)
    todo = ~((low < replacement) & (replacement < high))
    _stages.adaptive_median(windows.padded, windows.reach, windows.deltas, windows.levels,
                         todo.view(np.uint8), plain.view(np.uint8), modified.view(np.uint8),
                         replacement, kind, plane.n_threads)
    return plain, modified, replacement, kind


def _immerkaer(plane):
    """|N * I| / 6^(d/2), N the d-fold product of [1, -2, 1] (Immerkaer 1996)."""
    offsets = plane.cube(1)
    L = np.zeros(plane.values.shape)
    for offset, values in zip(offsets, plane.shifted(plane.values, plane.cval, offsets)):
        weight = float(np.prod([-2.0 if o == 0 else 1.0 for o in offset[3 - plane.ndim:]]))
        L += weight * values
    return np.abs(L) / 6.0 ** (plane.ndim / 2)


def _gradient_energy(plane):
    """Mean over the ENERGY_WINDOW cube of the squared forward differences (§2)."""
    I = plane.values
    steps = [tuple(int(axis == a) for a in range(3)) for axis in plane.axes]
    squares = sum((values - I) ** 2 for values in plane.shifted(I, plane.cval, steps))
    return plane.box_mean(squares, ENERGY_WINDOW)


def _noise_model(plane, L, O, proxy, P, energy=None):
    """(a, b) of the noise variance a + b * intensity (§2), on the weak-texture samples
    where the gradient `energy` is given."""
    if not isinstance(P.noise, str):
        return float(P.noise) ** 2, 0.0
    near = plane.ranked(rank_filter, O, -1, 3, cval=0)
    return fit_noise(L[~near], proxy[~near], P.noise, P.noise_bins, _stages.samples_by_bin,
                     None if energy is None else (energy[~near], plane.ndim))


def _structures(ndim):
    """Offsets of the §1.3 patterns, five each (runs pad with the pixel itself)."""
    patterns = [[tuple(k * c for c in e) for k in (-2, -1, 0, 1, 2)]
                for e in itertools.product((-1, 0, 1), repeat=ndim) if any(e)]
    for i, j in itertools.combinations(range(ndim), 2):
        for si, sj in itertools.product((-1, 1), repeat=2):
            corner = []
            for ki, kj in ((1, 0), (2, 0), (0, 1), (0, 2), (1, 1)):
                offset = [0] * ndim
                offset[i], offset[j] = ki * si, kj * sj
                corner.append(tuple(offset))
            patterns.append(corner)
    return [[(0,) * (3 - ndim) + o for o in pattern] for pattern in patterns]


def _excess_thresholds(plane, O, P):
    """[(extreme, thresholds or None)] of the excess rule, or [] when it keeps nothing."""
    I = plane.values
    low, high = plane.extremes()
    middle = (low < I) & (I < high)
    pairs = np.count_nonzero(middle) * (3 ** plane.ndim - 1)
    # without a flagged extreme there is nothing to keep: skip the counting
    if pairs < MIN_SAMPLES or not np.any(O & ~middle):
        return []
    extremes = (low, high)
    shifted = plane.neighbours(I, plane.cval)
    hits = [sum(int(np.count_nonzero((values == e) & middle)) for values in shifted)
            for e in extremes]
    counts = [int(np.count_nonzero(I == e)) for e in extremes]
    return list(zip(extremes, excess_thresholds(hits, pairs, counts, I.size,
                                                P.majority ** plane.ndim,
                                                P.s_max ** plane.ndim, P.excess)))


def _excess(plane, O, P):
    """Unflag extreme values that are more frequent than impulses explain (§1.3)."""
    I = plane.values
    for e, threshold in plane.statistics.take("excess thresholds",
                                              lambda: _excess_thresholds(plane, O, P)):
        candidates = O & (I == e)
        if threshold is None or not candidates.any():
            continue
        region_min, window_min = threshold
        O &= ~(candidates & (plane.count(e, P.s_max) >= region_min)
               & (plane.count(e, P.majority) >= window_min))


class _Isolation:
    """§1.5: the pixels far from their unflagged neighbours, found by passes from
    outside in, and what their number and values say about the image's impulses."""

    def __init__(self, plane, P):
        I = plane.values
        self.plane = plane
        self.radius = isolation_radius(plane.ndim)
        self.padded = plane.padded(I, self.radius, plane.cval)
        # Row-major, the order in which both implementations sum the trend's slopes.
        self.offsets = np.array(sorted(plane.cube(self.radius, skip_centre=True)), float)
        self.deltas = plane.deltas(self.offsets.astype(np.intp), self.padded)
        self.majority = P.majority
        low, high = plane.extremes()
        self.floor = P.isolation * (high - low)
        self.candidates = self.peeled()
        self.density, self.share = plane.statistics.take(
            "isolated density and fixed share",
            lambda: (float((self.candidates & self.isolated(rank=1, at=self.candidates))
                           .mean()), fixed_share(I[self.candidates])))
        self.random_valued = self.density >= ISOLATED_DENSITY and self.share < FIXED_SHARE

    def isolated(self, flags=None, factor=ISOLATION_SPREAD, rank=ISOLATION_RANK, at=None,
                 since=None):
        """Pixels whose `rank`-th nearest neighbour not in `flags` (the candidates) is
        farther than the floor and than `factor` times the spread of those neighbours;
        only those `at` that, if given. With `since`, the flags and the result of an
        earlier call with the same factor, rank and `at`: a pixel's result changes only
        where a flag of its neighbours did, and is taken again only there."""
        flags = self.candidates if flags is None else flags
        if since is not None:
            earlier, result = since
            changed = self.plane.ranked(rank_filter, flags ^ earlier, -1,
                                        2 * self.radius + 1, cval=0)
            at = changed if at is None else changed & at
            if not at.any():
                return result
        far = self._far(self.plane.padded(flags.view(np.uint8), self.radius, 0), self.padded,
                        factor, rank, 0.0, at)
        return far if since is None else np.where(at, far, result)

    def peeled(self, factor=ISOLATION_SPREAD, rank=ISOLATION_RANK, at=None):
        """:meth:`isolated` given the previous pass's pixels, from none, in
        ISOLATION_PASSES passes: clustered impulses found from outside in."""
        previous = np.zeros(self.plane.values.shape, bool)
        found = self.isolated(previous, factor, rank, at)
        for _ in range(ISOLATION_PASSES - 1):
            previous, found = found, self.isolated(found, factor, rank, at,
                                                   since=(previous, found))
        return found

    def stands_out(self, repaired, factor, rank):
        """A random-valued pass: the pixels isolated given no flags among the
        `repaired` neighbours (:meth:`repaired`), those past the border left out
        (a pixel's mirror image would vouch for it), read less a plane's slopes where
        that leaves under RANDOM_TREND of their spread."""
        return self._far(self._outside, repaired, factor, rank, RANDOM_TREND, None)

    @functools.cached_property
    def _outside(self):
        """Flags, padded for the isolation kernel, that mark only what lies past the
        border."""
        return np.pad(np.zeros(self.plane.values.shape, np.uint8),
                      [(r, r) for r in self.plane.reach(self.radius)], constant_values=1)

    def _far(self, flags, padded, factor, rank, trend, at):
        """:meth:`isolated`'s test, at the pixels `at` (a bool plane) or all; False
        elsewhere (the kernel leaves a distance of 0 there)."""
        new = np.empty if at is None else np.zeros
        distance, spread = new(self.plane.values.shape), new(self.plane.values.shape)
        _stages.isolation(padded, flags, self.plane.values, self.plane.reach(self.radius),
                       self.deltas, self.offsets, trend, rank,
                       None if at is None else at.view(np.uint8), distance, spread,
                       self.plane.n_threads)
        far = distance > np.maximum(factor * spread, self.floor)
        return far if at is None else far & at

    def repaired(self, flags, windows):
        """The image with `flags` replaced as §1.4 replaces impulses, padded for
        :meth:`isolated`."""
        J = self.plane.values.copy()
        valid = self.plane.padded((~flags).view(np.uint8), windows.radius, 1)
        _stages.valid_median(windows.padded, valid, windows.reach, windows.deltas, windows.levels,
                          flags.view(np.uint8), J, self.plane.n_threads)
        return self.plane.padded(J, self.radius, self.plane.cval)

    def at_levels(self, O, far, of_all=False):
        """Whether the flags `O` are at the picture's own levels (:func:`held_by_levels`
        of the values of the `far` flags, those farther than the floor from A_amf,
        among the pixels not in `O` or, `of_all`, among all): then its edges are
        extremes far from their window's median."""
        I = self.plane.values
        levels = self.plane.statistics.take("far flags' levels", lambda: flag_levels(I[far]))
        if of_all:
            return self.plane.statistics.take("the picture's levels",
                                              lambda: held_by_levels(I, None, levels))
        return self.plane.statistics.take("flags at the picture's levels",
                                          lambda: held_by_levels(I, O, levels))

    def among_levels(self, O, far):
        """The impulses of a picture of few levels, and their kind: the `far` flags
        (those of `O` farther than the floor from A_amf) left alone at LEVELS_RANK,
        peeled from outside in as the candidates are, where they are as dense as
        impulse noise makes them (the isolated dots of a clean binarised scan are
        not); or the flags of `O` that differ from their majority window's median
        (those the majority rule of §1.3 keeps, at any density: not the straight
        edges) where those are as dense as salt and pepper, whose impulses meet
        others of their value, or hardly more than the lone ones (then they also
        hold the impulses beside a line of their value)."""
        I = self.plane.values
        off_majority = (O & (I != self.plane.median(I, self.majority, self.plane.cval))
                        if self.majority else O)
        found = self.peeled(FIXED_SPREAD, LEVELS_RANK, at=far)
        density, dense = self.plane.statistics.take(
            "isolated and majority-flagged density among the levels",
            lambda: (float(found.mean()), float(off_majority.mean())))
        if dense < DENSE_LEVELS and density < LEVELS_DENSITY:
            return np.zeros_like(found), "none"
        if (dense >= DENSE_LEVELS or density >= DENSE_IMPULSES
                or dense <= LEVELS_OFF_MAJORITY * density):
            return off_majority, "fixed-valued"
        return found, "fixed-valued"

    def clipped_noise(self, O):
        """The flags of `O` at an extreme value at which the plane's noise is clipped
        (:func:`clipped`), beside an intermediate value within the floor: a level at
        the limit of the range, whose noise the range cut, not impulses (§1.5)."""
        I = self.plane.values
        low, high = self.plane.extremes()
        at = [I == e for e in (low, high)]
        if not any((O & at_e).any() for at_e in at):
            return np.zeros_like(O)
        near = [np.zeros_like(O) for _ in at]
        for values in self.plane.neighbours(I, self.plane.cval):
            middle = (low < values) & (values < high)
            for e, near_e in zip((low, high), near):
                near_e |= middle & (np.abs(values - e) <= self.floor)
        limits = self.plane.statistics.take("clipped extremes", lambda: [
            clipped(np.count_nonzero(at_e), np.count_nonzero(at_e & near_e),
                    np.count_nonzero(near_e), I.size) for at_e, near_e in zip(at, near)])
        out = np.zeros_like(O)
        for limit, at_e, near_e in zip(limits, at, near):
            if limit:
                out |= O & at_e & near_e
        return out

    def noise_flags(self):
        """The candidates the noise fits leave out: all, in an image with random-valued
        impulses; none otherwise."""
        return self.candidates if self.random_valued else np.zeros_like(self.candidates)

    def apply(self, O, windows, deviation, flagged):
        """The final flags from the adaptive median's flags `O`, and IMPULSE_KINDS's
        name of the image's impulses, by what the image's impulses are (§1.5):
        random-valued impulses (many isolated pixels of many values) keep the flags
        whose `deviation` from A_amf passes RANDOM_DEVIATION floors (none where `O` is
        at the picture's own levels, :meth:`at_levels`: they are its edges) and add
        the pixels that stand out of their neighbours once the previous pass's flags
        are repaired, by fewer spreads the more are flagged; salt and pepper (the
        flags' values, or those of many isolated pixels, are fixed) keep `O`, or on a
        picture of few levels :meth:`among_levels`; sparse fixed-valued impulses keep
        its isolated flags, as do values most of whose pixels are isolated (hot
        pixels among stars); without impulse noise nothing is flagged. `flagged` is
        the share of flags before the rules of §1.3. The flags at an extreme at
        which the noise is clipped, beside its noise (:meth:`clipped_noise`), leave `O`
        first."""
        far = O & (deviation > self.floor)
        # the clipped flags are at the picture's levels too: the test of levels reads
        # them; random-valued impulses cannot make two values frequent, but may hide
        # the picture's levels under the flags: their test reads every pixel
        at_levels = functools.partial(self.at_levels, O, far)
        levels_of_all = functools.partial(self.at_levels, O, far, of_all=True)
        noise = self.clipped_noise(O)
        O, far = O & ~noise, far & ~noise
        if self.random_valued:
            kept = O & (deviation > RANDOM_DEVIATION * self.floor) & (not levels_of_all())
            return kept | random_valued_flags(
                self.candidates, self.plane.ndim,
                lambda flags, spread, rank: self.stands_out(self.repaired(flags, windows),
                                                            spread, rank),
                self.plane.statistics.take), "random-valued"
        # many isolated pixels at fixed values: salt and pepper, whatever the flags hold
        dense_fixed = self.share >= FIXED_SHARE and self.density >= DENSE_IMPULSES
        if dense_fixed:
            values = self.plane.statistics.take(
                "impulse values the flags miss",
                lambda: values_the_flags_miss(self.plane.values[self.candidates],
                                              self.plane.values[self.candidates & O]))
            if values.size:
                return self.isolated(factor=FIXED_SPREAD, rank=FIXED_RANK,
                                     at=np.isin(self.plane.values, values)), "fixed-valued"
        flagged_share, crowded = self.plane.statistics.take(
            "flagged fixed share and density",
            lambda: (fixed_share(self.plane.values[O]), float(O.mean())))
        confirmed = self.share >= FIXED_SHARE or crowded >= CROWDED_FLAGS
        if (flagged_share >= FIXED_SHARE and confirmed) or dense_fixed:
            if flagged >= LEVELS_MAJORITY or not at_levels():
                return O, "fixed-valued"
            return self.among_levels(O, far)
        if self.share >= FIXED_SHARE:
            values = self.plane.statistics.take(
                "fixed values", lambda: fixed_values(self.plane.values[self.candidates]))
            at_value = np.isin(self.plane.values, values)
            at_value_isolated = self.isolated(factor=FIXED_SPREAD, rank=FIXED_RANK,
                                              at=O & at_value)
            return O & np.where(at_value, at_value_isolated,
                                self.isolated(at=O & ~at_value)), "fixed-valued"
        values = self.plane.statistics.take(
            "mostly isolated values",
            lambda: mostly_isolated_values(self.plane.values, self.candidates))
        if values.size:
            return self.isolated(factor=FIXED_SPREAD, rank=FIXED_RANK,
                                 at=O & np.isin(self.plane.values, values)), "fixed-valued"
        return np.zeros_like(O), "none"


def _impulses(plane, P):
    """O (impulse flags), J (impulses replaced), the Laplacian and the impulses'
    kind, §1."""
    I = plane.values
    if P.impulses == "none":
        return np.zeros(I.shape, bool), I, None, None
    windows = _GrowingWindows(plane, P.s_max)
    plain, modified, A_amf, kind = _adaptive_median(plane, windows)
    if P.impulses == "hwang-haddad":
        return plain, np.where(plain, A_amf, I), None, None
    L = _immerkaer(plane)
    # every gate (two noise fits, then the final one) keeps the impulse-dominated
    # flags and tests the same deviations against its own threshold
    kept = modified & (kind == 1)
    deviation = np.abs(I - A_amf)
    isolation = _Isolation(plane, P) if P.isolation > 0 else None
    unfit = np.zeros(I.shape, bool) if isolation is None else isolation.noise_flags()
    O = modified
    for iteration in range(2):
        a, b = plane.statistics.take(f"impulse noise fit {iteration}",
                                     lambda: _noise_model(plane, L, O | unfit, A_amf, P))
        sigma = np.sqrt(a + b * np.maximum(A_amf, 0.0))
        O = kept | (modified & (deviation > P.kappa * sigma))
    flagged = plane.statistics.take("impulse density", lambda: float(O.mean()))
    O = kept | (modified & (deviation > gate_kappa(P, flagged) * sigma))
    if P.majority and flagged < P.majority_density:
        O &= I != plane.median(I, P.majority, plane.cval)
    if flagged < P.line_density:
        padded = plane.padded(I, 2, plane.cval)
        _stages.keep_structure(padded, plane.reach(2), plane.deltas_rows(_structures(plane.ndim),
                                                                      padded),
                            P.kappa * sigma, O.view(np.uint8), plane.n_threads)
    if P.majority and P.excess > 0:
        _excess(plane, O, P)
    found = None
    if isolation is not None:
        O, found = isolation.apply(O, windows, deviation, flagged)
    if not O.any():
        return O, I, L, found
    J = np.where(O, A_amf, I)
    _replace(plane, windows, O, O & (kind != 2), J)
    return O, J, L, found


def _replace(plane, windows, O, todo, J):
    """§1.4: J, where `todo`, the median of the pixels not in O of the smallest of the
    growing `windows` that holds any (left as it is where none does)."""
    valid = plane.padded((~O).view(np.uint8), windows.radius, 1)
    _stages.valid_median(windows.padded, valid, windows.reach, windows.deltas, windows.levels,
                         todo.view(np.uint8), J, plane.n_threads)


# --- §13 switching stage ---------------------------------------------------------------

def _switching_estimate(plane, P, n_threads=None):
    """The NoiseEstimate of the full impulse stage and noise fit (§1-§2) on the
    plane's mosaic of `sample` pixels, the impulse values of its flags beyond the
    isolation floor (:func:`fixed_values`), the range of the mosaic's values and the
    footprint of the median base (:func:`switching_scales`); made on `n_threads`
    (default the plane's)."""
    def estimate():
        values = mosaic(plane.source.reshape(plane.shape[3 - plane.ndim:]), P.sample)
        sample = _Plane(values, plane.mode, plane.cval,
                        plane.n_threads if n_threads is None else n_threads)
        O, _, _, model, kind = _fitted(sample, P.replace(impulses="adaptive"))
        found = noise_estimate(O, model, kind)
        spread, size = switching_scales(P, found, values)
        # not the flags within the isolation floor of their 3x3 median: the steps of a
        # flat region, which a near-zero sigma lets the gate flag
        far = O & (np.abs(sample.values - sample.median(sample.values, 3, sample.cval))
                   > P.isolation * spread)
        return found, fixed_values(sample.values[far]), spread, size
    return plane.statistics.take("switching estimate", estimate)


def _sample_estimates(planes, P):
    """Make each plane's :func:`_switching_estimate` ahead, where §13 asks for them:
    the planes side by side on the threads, since a sample's stages are too short
    to share threads well."""
    if P.impulses == "switching" and planes:
        concurrently(lambda plane, n_threads: _switching_estimate(plane, P, n_threads),
                     planes, planes[0].n_threads)


def _in_regions(plane, values, density, P):
    """The pixels at one of `values` whose majority window holds more of it than
    impulses of `density` explain (:func:`region_limit`): a black background, which
    flagged whole would take the values of the picture beside it, §13."""
    I, window = plane.values, P.majority ** plane.ndim
    limit = region_limit(window, density, P.excess)
    found = np.zeros(I.shape, bool)
    for value in values:
        at = I == value
        count = plane.box_mean(at, P.majority, fill=float(plane.cval == value))
        found |= at & (np.rint(count * window) > limit)
    return found


def _full_impulse_stage(plane, P):
    """O and J of the full impulse stage of §1, where the switching stage's 3x3 test
    cannot tell the impulses from the picture (§13)."""
    O, J, _, _ = _impulses(plane, P.replace(impulses="adaptive"))
    return O, J


def _switching(plane, P):
    """§13: O, J, the estimate and the footprint of the median base of the switching
    median, whose estimate on a sample of the plane says whether it has impulses,
    and of which kind. Fixed-valued impulses are the 3x3 window's extremes far from
    its median, at the values of the sample's flags (else those most of the
    extremes take; at any such value outside a region of it once the impulses are
    dense), and take the median of their unflagged neighbours;
    random-valued ones, which no 3x3 test tells from texture, go through the full
    stage of §1."""
    estimate, sample_values, spread, size = _switching_estimate(plane, P)
    if estimate.impulse_kind == "none":        # J is the plane as given
        return np.zeros(plane.shape, bool), plane.source, estimate, size
    if estimate.impulse_kind == "random-valued":
        return (*_full_impulse_stage(plane, P), estimate, size)
    I = plane.values
    M3 = plane.median(I, 3, plane.cval)
    sigma = np.sqrt(estimate.variance + estimate.gain * np.maximum(M3, 0.0))
    low, high = (plane.ranked(rank_filter, I, rank, 3, cval=plane.cval) for rank in (0, -1))
    gated = (((I <= low) | (I >= high))
             & (np.abs(I - M3) > np.maximum(P.kappa * sigma, P.isolation * spread)))
    # the sample's flags know the impulses from the picture's own extremes (black
    # strokes beside pepper at 20); too few of them there, the extremes' values
    values = sample_values if sample_values.size else plane.statistics.take(
        "switching values", lambda: fixed_values(I[gated]))
    sparse = estimate.impulse_density < DENSE_IMPULSES
    dense = not sparse
    if dense and P.majority and P.excess > 0:
        dense = ~_in_regions(plane, values, estimate.impulse_density, P)
    O = np.isin(I, values) & (gated | dense)
    if sparse and plane.statistics.take("switching flag share", lambda: float(O.mean())) > (
            SWITCHING_EXCESS * estimate.impulse_density):
        return (*_full_impulse_stage(plane, P), estimate, size)
    J = np.where(O, M3, I)
    if O.any():
        _replace(plane, _GrowingWindows(plane, P.s_max), O, O, J)
    return O, J, estimate, size


# --- §3 non-local stage, §4 correlation map ---------------------------------------------

def _padded_stack(planes, arrays, r):
    """Each of `arrays`, of the matching one of `planes` (the channels of one image),
    padded by `r` as :meth:`_Plane.padded` pads it, in one array."""
    first = planes[0]
    shape = tuple(n + 2 * e for n, e in zip(first.shape, first.reach(r)))
    out = np.empty((len(arrays),) + shape)
    for plane, array, into in zip(planes, arrays, out):
        plane.padded(array, r, plane.cval, out=into)
    return out


def _nonlocal_mean(planes, noise, sig2, P):
    """B of §3 for planes that share their weights (the channels of a colour image):
    the non-local mean of J; with two passes, again where O is not set, weighing the
    first pass's patches. `noise` holds each plane's (O, J, sigma^2), `sig2` their
    sigma^2 in one array."""
    O, J, _ = zip(*noise)
    if not sig2.any():        # pure impulse noise: every weight is 0, and B = J
        return list(J)
    plane, r, half = planes[0], P.search, P.patch // 2
    padded = _padded_stack(planes, J, r + half)
    rows = sorted({offset[:2] + (0,) for offset in plane.cube(half)})
    geometry = (plane.reach(r + half),
                plane.deltas(plane.cube(r, skip_centre=True), padded[0]),
                plane.deltas(rows, padded[0]), half, sig2)
    B = np.empty(sig2.shape)
    _stages.nonlocal_mean(padded, padded, *geometry, P.h, 1.0, True, B, plane.n_threads)
    if P.passes == 1:
        return list(B)
    guide = _padded_stack(planes, B, r + half)
    first = guide[(slice(None),) + tuple(slice(e, e + n) for e, n in
                                         zip(plane.reach(r + half), B.shape[1:]))]
    # the guided pass reads the first pass's values from `guide`: it may overwrite B
    _stages.nonlocal_mean(padded, guide, *geometry, P.pilot_h, 0.0, False, B,
                       plane.n_threads)
    np.copyto(B, first, where=np.stack(O))
    return list(B)


def _with_dct(plane, O, J, sig2, B, P):
    """B of §3 averaged with the DCT estimate D, (B + D) / 2, and B itself at the
    impulses O."""
    D = _dct_estimate(plane, J, sig2, P)
    D += B
    D *= 0.5
    np.copyto(D, B, where=O)
    return D


def _dct_estimate(plane, J, sig2, P):
    """D of §3: J's sliding-window DCT coefficients hard-thresholded at `dct_threshold`
    noise standard deviations, squares of `dct` pixels in each slice."""
    r = P.dct - 1
    D = np.empty(J.shape)
    _stages.dct_shrink(plane.padded(J, r, plane.cval, slices=True, dtype=np.float64),
                    plane.padded(sig2, r, 0.0, slices=True), dct_basis(P.dct),
                    P.dct_threshold ** 2, D, plane.n_threads)
    return D


def _residual_scale(E, B, border):
    """The rounding of B, the largest |E|, then, over it, the largest variance of a
    flat Pearson window (SPREAD of the larger of max |B| and max |E|, squared) and the
    robust deviation of E, values within that rounding taken as 0 (§4); where every
    value is, infinity (E over it is 0), 0 and 0. `border` is |cval| where B read it
    past a constant border, else 0."""
    base = max(float(np.max(np.abs(B, dtype=np.float64), initial=0.0)), border)
    rounding = FLAT * base
    s = float(np.max(np.abs(E), initial=0.0))
    if s <= rounding:
        return rounding, np.inf, 0.0, 0.0
    U = _beyond_rounding(E, rounding) / s
    return (rounding, s, (SPREAD * max(base, s) / s) ** 2,
            1.4826 * float(np.median(np.abs(U))))


def _beyond_rounding(E, rounding):
    """E with its values no larger than `rounding` taken as 0: whether they come out
    0 or one ulp either side depends on the order in which B was summed (§4)."""
    return np.where(np.abs(E) <= rounding, 0.0, E)


def _correlation_map(plane, E, B, P):
    """CRC(p) of the residual E of B and the index of the first maximising lag (§4)."""
    half = P.window // 2
    border = abs(plane.cval) if plane.mode == "constant" else 0.0
    rounding, s, flat, tau = plane.statistics.take("residual scale",
                                                   lambda: _residual_scale(E, B, border))
    padded = plane.padded(_beyond_rounding(E, rounding) / s, half + 1, 0.0)
    lag_offsets = [(0,) * (3 - plane.ndim) + lag for lag in lags(plane.ndim)]
    crc = np.empty(E.shape)
    direction = np.empty(E.shape, np.int16)
    _stages.correlation_map(padded, plane.reach(half + 1), plane.deltas(lag_offsets, padded),
                         plane.deltas(plane.cube(half), padded), flat, TIE,
                         P.correlation == "renyi", P.bins, tau, crc, direction,
                         plane.n_threads)
    return crc, direction.astype(np.int8)


# --- driver ---------------------------------------------------------------------------

class _Variance(typing.NamedTuple):
    """The noise variance sigma^2(p) = a + b max(proxy(p), 0) of §2. The proxy is M;
    or sigma^2 itself (a = 0, b = 1) once made as a plane, for the stages that read
    one."""
    a: float
    b: float
    proxy: np.ndarray

    def plane(self, out=None):
        sig2 = np.maximum(self.proxy, 0.0, out=out, dtype=np.float64)   # no temporaries
        sig2 *= self.b
        sig2 += self.a
        return sig2


def _noise(plane, P, into=None):
    """§1-§2 for one plane: O, J, the median proxy M and sigma^2(p), a _Variance;
    made as a plane, in `into`, where given."""
    O, J, M, (a, b), _ = _fitted(plane, P)
    sig2 = _Variance(a, b, M)
    if into is not None:
        sig2 = _Variance(0.0, 1.0, sig2.plane(out=into))
    return O, J, M, sig2


def _fitted(plane, P):
    """§1-§2 for one plane: O, J, M, the noise model (a, b) and the impulses' kind."""
    if P.impulses == "switching":       # its noise model is its estimate's (§13)
        O, J, estimate, size = _switching(plane, P)
        return (O, J, plane.median(J, size, plane.cval), (estimate.variance, estimate.gain),
                estimate.impulse_kind)
    O, J, L, kind = _impulses(plane, P)
    M = plane.median(J, P.size, plane.cval)
    if L is None and isinstance(P.noise, str):
        L = _immerkaer(plane)
    # where impulses were replaced, the texture-inclusive level also smooths the
    # repairs; elsewhere the noise level is that of the weak-texture samples
    flagged = plane.statistics.take("flagged density", lambda: float(O.mean()))
    sparse = flagged < WEAK_TEXTURE_DENSITY
    a, b = plane.statistics.take("noise fit", lambda: _noise_model(
        plane, L, O, M, P, _gradient_energy(plane) if sparse else None))
    return O, J, M, (a, b), kind


def _estimates(planes, P):
    """§1-§3 for the planes of an image: (O, B, J, sigma^2(p)) of each, in order, made
    a group of planes at a time (:func:`channel_groups`), so that only one group's
    planes are held at once."""
    _sample_estimates(planes, P)
    for group in channel_groups(len(planes), P):
        group = [planes[i] for i in group]
        # §3 weighs its patches with the group's sigma^2 planes, in one array
        variance = (np.empty((len(group),) + group[0].shape) if P.base == "nonlocal"
                    else [None] * len(group))
        noise, B = [], []
        for plane, into in zip(group, variance):
            O, J, M, sig2 = _noise(plane, P, into)
            noise.append((O, J, sig2))
            B.append(M if P.base == "median" else None)   # not kept where §3 replaces it
        if P.base == "nonlocal":
            B = _nonlocal_mean(group, noise, variance, P)
            if P.dct:
                B = [_with_dct(plane, O, J, sig2, b, P) if sig2.any() else b
                     for plane, (O, J, _), b, sig2 in zip(group, noise, B, variance)]
        for (O, J, sig2), b in zip(noise, B):
            yield O, b, J, sig2


def _residual(O, B, J):
    """E of §4: J - B, 0 at the impulses."""
    E = np.subtract(J, B, dtype=np.float64)
    E[O] = 0.0
    return E


def _restore(planes, P, targets):
    """§5: out = B + g E, for each plane, in order (as they are made), into its target
    (its view of the output)."""
    for plane, target, (O, B, J, sig2) in zip(planes, targets, _estimates(planes, P)):
        _gain(plane, O, B, J, sig2, P, target)


def _gain(plane, O, B, J, sig2, P, target):
    floor = None
    if P.gain in ("crc", "wiener+crc"):
        E = _residual(O, B, J)
        crc, _ = _correlation_map(plane, E, B, P)
        floor = np.clip((crc - P.t0) / (P.t1 - P.t0), 0.0, 1.0)
    if P.gain in ("wiener", "wiener+crc"):
        plane.wiener_restore(J, B, O, sig2, floor, P.window, P.wiener_c, target)
        return
    g = np.zeros(B.shape) if floor is None else floor
    g *= _residual(O, B, J)
    g += B
    store(g, target)


def _planes(image, size, mode, cval, n_threads, channel_axis, statistics=None):
    image, mode, cval, n_threads, planes, join = prepare(image, size, mode, cval, n_threads,
                                                         channel_axis)
    threads = effective_n_threads(n_threads, image.size)
    given = [None] * len(planes) if statistics is None else statistics
    return image, [_Plane(p, mode, cval, threads, g) for p, g in zip(planes, given)], join


def denoise_planes(image, P, mode, cval, channel_axis, output, n_threads, statistics=None):
    """:func:`crc_median` with its options `P` (a CRCOptions), and optionally given
    statistics."""
    image, planes, _ = _planes(image, P.size, mode, cval, n_threads, channel_axis,
                               statistics)
    result = prepare_output(output, image)
    with reusing_memory():
        # `output` may be the image itself: the restoration writes into a plane of it
        # directly only where that shares no memory with what it reads, and the
        # planes of channels are copies
        _restore(planes, P, output_planes(result, image, channel_axis))
    return result


def plane_statistics(image, P, mode, cval, channel_axis, n_threads):
    """The whole-plane statistics of each plane, for :func:`denoise_planes` on its blocks.

    Only the stages up to the last statistic run: the noise fit of §2, or with a CRC
    gain the residual's scale of §4.
    """
    image, planes, _ = _planes(image, P.size, mode, cval, n_threads, channel_axis)
    if image.size:
        with reusing_memory():
            if P.gain in ("crc", "wiener+crc"):
                _restore(planes, P, (np.empty(plane.shape) for plane in planes))
            else:
                _sample_estimates(planes, P)
                for plane in planes:
                    _noise(plane, P)
    return [plane.statistics.values for plane in planes]


@takes_options
def estimate_noise(image, *, options=None, channel_axis=None, mode="reflect", cval=0.0,
                   n_threads=None, **algorithm):
    """The noise that :func:`crc_median` finds, and removes, in an image.

    The same estimate the filter makes, blind (docs/algorithm.md §1.5, §2): the
    impulses found and what they are, and the noise variance fitted away from them,
    ``variance + gain * intensity`` (a Gaussian variance and a Poisson gain).

    Parameters
    ----------
    image : array_like
        2-d image or 3-d volume, optionally with a channel axis; finite values.
    options : CRCOptions, optional
        The options of CRC-MF (default ``CRCOptions()``); those given below as
        keywords override its fields. Only those of the impulse stage and the noise
        model (§1, §2) change the estimate.
    %(options)s
    channel_axis : int, optional
        Axis of colour channels or independent planes: one estimate per plane.
    mode, cval : optional
        Border rule of every window, as in scipy.ndimage.
    n_threads : int, optional
        OpenMP threads (default: all the runtime offers).

    Returns
    -------
    NoiseEstimate or tuple of NoiseEstimate
        One estimate, or one per plane along `channel_axis`.

    Examples
    --------
    >>> import numpy as np, crcx
    >>> rng = np.random.default_rng(0)
    >>> image = np.linspace(20, 230, 128) + rng.normal(0, 5, (128, 128))
    >>> hit = rng.random(image.shape) < 0.1     # random-valued impulses
    >>> image[hit] = rng.integers(0, 256, hit.sum())
    >>> found = crcx.estimate_noise(image)
    >>> found.impulse_kind, round(found.variance ** 0.5), round(found.impulse_density, 2)
    ('random-valued', 5, 0.09)
    """
    P = given_options(options, algorithm)
    image, planes, _ = _planes(image, P.size, mode, cval, n_threads, channel_axis)
    found = []
    with reusing_memory():
        if image.size:
            _sample_estimates(planes, P)
        for plane in planes:
            if plane.source.size:
                O, _, _, model, kind = _fitted(plane, P)
            else:
                O, model, kind = plane.values.astype(bool), (0.0, 0.0), None
            found.append(noise_estimate(O, model, kind))
    return found[0] if channel_axis is None else tuple(found)


@takes_options
def crc_median(image, size=FROM_OPTIONS, *, options=None, mode="reflect", cval=0.0,
               channel_axis=None, output=None, n_threads=None, **algorithm):
    """Denoise with CRC-MF: impulses out, noise averaged, coherent detail kept.

    Impulses are found by an adaptive median and replaced by the median of their
    clean neighbours; the remaining noise is averaged over a small search window with
    patch-similarity weights scaled by a noise level estimated from the image; the
    detail this removed is given back by a noise-aware gain. docs/algorithm.md gives
    every stage; :func:`crcx.reference.crc.crc_median` is its literal transcription.

    Parameters
    ----------
    image : array_like
        2-d image or 3-d volume, optionally with a channel axis; any dtype that
        :func:`crcx.median` takes. Processed in float64; must be finite (NaN or
        infinity raises ValueError).
    options : CRCOptions, optional
        The options of the algorithm (default ``CRCOptions()``, the defaults chosen by
        the quality benchmark); `size` and the keywords below override its fields.
    %(options)s
    mode, cval : optional
        Border rule of every window, as in scipy.ndimage.
    channel_axis : int, optional
        Axis of colour channels (or, with ``joint_channels=False``, of independent
        planes).
    output : ndarray or dtype, optional
        Where to write the result, or its dtype (default the image's).
    n_threads : int, optional
        OpenMP threads (default: all the runtime offers).

    Returns
    -------
    ndarray
        The denoised image; integer results rounded half to even and clipped.

    Examples
    --------
    >>> import numpy as np, crcx
    >>> image = np.full((16, 16), 100, np.uint8)
    >>> image[1::4, 2::4] = 255            # hot pixels on a flat patch
    >>> int(crcx.crc_median(image).max())
    100
    >>> strong = crcx.CRCOptions(h=1.25)
    >>> int(crcx.crc_median(image, options=strong, passes=1).max())
    100
    """
    P = given_options(options, algorithm, size)
    return denoise_planes(image, P, mode, cval, channel_axis, output, n_threads)


@takes_options
def crc_map(image, size=FROM_OPTIONS, *, options=None, mode="reflect", cval=0.0,
            channel_axis=None, return_direction=False, return_impulses=False,
            return_variance=False, n_threads=None, **algorithm):
    """The canonical Rényi correlation map of the residual CRC-MF restores.

    ``CRC(p) = max(0, max over lags of rho(p, lag))`` of the residual after the
    impulse and non-local stages: near 0 where it is white noise, towards 1 where it
    holds coherent detail (docs/algorithm.md, §4).

    Parameters
    ----------
    image, options, mode, cval, channel_axis, n_threads
        As for :func:`crc_median`.
    %(options)s
    return_direction : bool, optional
        Also return the canonical direction: the index into
        :func:`crcx.reference.crc.lags` of the first lag attaining the maximum.
    return_impulses : bool, optional
        Also return the impulse flags.
    return_variance : bool, optional
        Also return the noise variance sigma^2(p) the filter assumes at each pixel.

    Returns
    -------
    crc : ndarray of float64
        The map, in [0, 1].
    direction : ndarray of int8, optional
    impulses : ndarray of bool, optional
    variance : ndarray of float64, optional

    Notes
    -----
    The options of the gain (`gain`, `wiener_c`, `t0`, `t1`) do not change the map;
    they are accepted so that one set of options serves both functions.

    Examples
    --------
    >>> import numpy as np, crcx
    >>> image = np.zeros((12, 12))
    >>> image[:, 6] = 50.0                 # a thin vertical line, no noise
    >>> crc, direction = crcx.crc_map(image, size=3, window=3, base="median",
    ...                               impulses="none", return_direction=True)
    >>> round(float(crc[6, 6]), 3), int(direction[6, 6])   # lag (1, 0): along the line
    (1.0, 2)
    """
    P = given_options(options, algorithm, size)
    image, planes, join = _planes(image, P.size, mode, cval, n_threads, channel_axis)
    maps, directions, flags, variances = [], [], [], []
    if not image.size:
        for plane in planes:
            shape = plane.shape[3 - plane.ndim:]
            maps.append(np.zeros(shape))
            directions.append(np.zeros(shape, np.int8))
            flags.append(np.zeros(shape, bool))
            variances.append(np.zeros(shape))
    else:
        with reusing_memory():
            for plane, (O, B, J, sig2) in zip(planes, _estimates(planes, P)):
                shape = plane.shape[3 - plane.ndim:]
                crc, direction = _correlation_map(plane, _residual(O, B, J), B, P)
                maps.append(crc.reshape(shape))
                directions.append(direction.reshape(shape))
                flags.append(O.reshape(shape))
                variances.append(sig2.plane().reshape(shape))
    out = [join(maps)]
    if return_direction:
        out.append(join(directions).astype(np.int8))
    if return_impulses:
        out.append(join(flags).astype(bool))
    if return_variance:
        out.append(join(variances).astype(np.float64))
    return out[0] if len(out) == 1 else tuple(out)
