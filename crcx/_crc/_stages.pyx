"""Compiled stages of CRC-MF (see docs/algorithm.md), on float64 planes.

Every kernel reads a plane that Python has extended by the border rule (a padded,
C-contiguous copy, ``reach`` values past each edge of each filtered axis), so the
loops need no border logic: a window is a list of offsets, turned here into flat
index deltas. Each kernel runs nogil with OpenMP threads over output lines.
"""
from libc.math cimport fabs, sqrt
from libc.stdint cimport int8_t, int16_t, uint8_t
from libc.stdlib cimport free
from cython.parallel cimport prange, parallel

from crcx._runtime.scratch cimport own_part, scratch_block

import math

import numpy as np

BUFFERS = "CRC-MF's per-thread buffers"

cdef extern from "<algorithm>" namespace "std" nogil:
    void nth_element[T](T first, T nth, T last)

cdef extern from "crcx/crc/order.h" nogil:
    enum: NEIGHBOURHOODS "CRCX_NEIGHBOURHOODS"
    double crcx_kth_distance(const double* values, Py_ssize_t n, Py_ssize_t k, double centre,
                             Py_ssize_t below)

cdef extern from "crcx/crc/neighbours.h" nogil:
    void crcx_neighbour_slopes(const double* at, int lanes, const Py_ssize_t* deltas,
                               const double* offsets, Py_ssize_t count, const double* norms,
                               double* out)
    void crcx_sorted_neighbours(const double* at, const uint8_t* skip, int lanes,
                                const Py_ssize_t* deltas, const double* offsets,
                                Py_ssize_t count, const double* slopes, Py_ssize_t k,
                                const double* centres, double* values, Py_ssize_t* counts,
                                Py_ssize_t* below)

cdef extern from "crcx/crc/squares.h" nogil:
    enum: SQUARES "CRCX_SQUARES"
    void crcx_squares_dct(const double* m, const double* source, double* target,
                          double* folded, Py_ssize_t side, Py_ssize_t step,
                          Py_ssize_t across, bint inverse)
    void crcx_squares_shrink(double* squares, const double* threshold, double* kept,
                             Py_ssize_t size)


cdef extern from "crcx/crc/exp.h" nogil:
    double crcx_exp_minus(double t) noexcept


cdef inline Py_ssize_t _base(const Py_ssize_t* shape, Py_ssize_t line,
                             Py_ssize_t height, Py_ssize_t rz, Py_ssize_t ry,
                             Py_ssize_t rx) noexcept nogil:
    """Flat index, in a padded (z, y, x) plane of `shape`, of the first pixel of output
    line `line` (z, y)."""
    cdef Py_ssize_t z = line // height, y = line % height
    return ((z + rz) * shape[1] + y + ry) * shape[2] + rx


def adaptive_median(const double[:, :, ::1] padded, tuple reach,
                    const Py_ssize_t[::1] deltas, const Py_ssize_t[::1] level_end,
                    const uint8_t[:, :, ::1] todo, uint8_t[:, :, ::1] plain,
                    uint8_t[:, :, ::1] flagged, double[:, :, ::1] replacement,
                    int8_t[:, :, ::1] kind, int n_threads):
    """Hwang and Haddad's adaptive median for the `todo` pixels (docs/algorithm.md, §1.1).

    Window level l holds the offsets ``deltas[:level_end[l]]`` (growing cubes
    3, 5, ..., s_max). The first level whose median lies strictly between the
    window's minimum and maximum decides; without one, the last level does and
    `kind` says why: 1 when extremes dominate, 2 when the window has only two values.

    H. Hwang and R. A. Haddad, "Adaptive median filters: new algorithms and
    results", IEEE Trans. Image Processing 4(4), 1995.
    """
    cdef Py_ssize_t depth = plain.shape[0], height = plain.shape[1], width = plain.shape[2]
    cdef Py_ssize_t rz = reach[0], ry = reach[1], rx = reach[2]
    cdef Py_ssize_t levels = level_end.shape[0], largest = level_end[levels - 1]
    cdef const double* data = &padded[0, 0, 0]
    cdef char* scratch = scratch_block(largest * sizeof(double), n_threads, BUFFERS)
    cdef double* window
    cdef Py_ssize_t line, x, level, n, m, e, base, at_low, at_high, z, y
    cdef double v, w, low, high, middle
    cdef bint qualified, between
    try:
        with nogil, parallel(num_threads=n_threads):
            window = <double*>own_part(scratch, largest * sizeof(double))
            for line in prange(depth * height, schedule="dynamic", chunksize=4):
                z = line // height
                y = line % height
                base = _base(padded.shape, line, height, rz, ry, rx)
                for x in range(width):
                    if not todo[z, y, x]:
                        continue
                    v = data[base + x]
                    # Each level's window is the last one plus a ring, so the window,
                    # its extremes and their counts grow by the ring only. The median
                    # lies strictly between the extremes exactly when neither extreme
                    # fills its rank: it is selected only where a level qualifies, and
                    # is otherwise the extreme that fills it (1920x1080 RGB: a third of
                    # the filter's time went to selecting medians that did not decide).
                    n = 0
                    low = high = data[base + x + deltas[0]]
                    at_low = at_high = 0
                    for level in range(levels):
                        for e in range(n, level_end[level]):
                            w = data[base + x + deltas[e]]
                            window[e] = w
                            # without branches: a new extreme restarts its count
                            at_low = at_low * (w >= low) + (w <= low)
                            at_high = at_high * (w <= high) + (w >= high)
                            low = min(low, w)
                            high = max(high, w)
                        n = level_end[level]
                        qualified = low < high and at_low <= n // 2 and at_high < n - n // 2
                        if qualified or level == levels - 1:
                            break
                    if qualified:
                        # The median is the (n // 2 - at_low)-th of the values strictly
                        # between the extremes: select among those only, gathered
                        # without a branch (in a dark region of clipped noise most of
                        # the window is the minimum; benchmarks/results/design.md).
                        m = 0
                        for e in range(n):
                            w = window[e]
                            window[m] = w
                            m = m + (low < w) * (w < high)
                        nth_element(window, window + (n // 2 - at_low), window + m)
                        middle = window[n // 2 - at_low]
                    else:
                        middle = low if at_low > n // 2 else high
                    plain[z, y, x] = not (low < v < high)
                    flagged[z, y, x] = plain[z, y, x]
                    replacement[z, y, x] = middle
                    kind[z, y, x] = 0
                    if not qualified:
                        # values other than the extremes lie strictly between them
                        between = at_low + at_high < n
                        if not between:
                            kind[z, y, x] = 2
                            flagged[z, y, x] = v != middle
                        else:
                            kind[z, y, x] = 1
                            flagged[z, y, x] = plain[z, y, x] and (
                                v != middle or min(at_low, at_high) * 8 >= n)
    finally:
        free(scratch)


def valid_median(const double[:, :, ::1] padded, const uint8_t[:, :, ::1] valid,
                 tuple reach, const Py_ssize_t[::1] deltas, const Py_ssize_t[::1] level_end,
                 const uint8_t[:, :, ::1] todo, double[:, :, ::1] replacement, int n_threads):
    """Replace each `todo` pixel by the median of the valid values around it.

    `valid` is padded like `padded`. Windows grow as in :func:`adaptive_median`; the
    first with any valid value decides, and an even count takes the mean of the
    middle pair.
    """
    cdef Py_ssize_t depth = todo.shape[0], height = todo.shape[1], width = todo.shape[2]
    cdef Py_ssize_t rz = reach[0], ry = reach[1], rx = reach[2]
    cdef Py_ssize_t levels = level_end.shape[0], largest = level_end[levels - 1]
    cdef const double* data = &padded[0, 0, 0]
    cdef const uint8_t* ok = &valid[0, 0, 0]
    cdef char* scratch = scratch_block(largest * sizeof(double), n_threads, BUFFERS)
    cdef double* window
    cdef Py_ssize_t line, x, level, e, count, base, z, y
    cdef double upper
    try:
        with nogil, parallel(num_threads=n_threads):
            window = <double*>own_part(scratch, largest * sizeof(double))
            for line in prange(depth * height, schedule="dynamic", chunksize=4):
                z = line // height
                y = line % height
                base = _base(padded.shape, line, height, rz, ry, rx)
                for x in range(width):
                    if not todo[z, y, x]:
                        continue
                    # a level is reached only if the smaller ones had no valid
                    # value, so each level reads its ring only, without a branch
                    # (benchmarks/results/design.md)
                    count = 0
                    for level in range(levels):
                        for e in range(level_end[level - 1] if level > 0 else 0,
                                       level_end[level]):
                            window[count] = data[base + x + deltas[e]]
                            count = count + ok[base + x + deltas[e]]
                        if count > 0:
                            nth_element(window, window + count // 2, window + count)
                            upper = window[count // 2]
                            if count % 2 == 0:
                                nth_element(window, window + count // 2 - 1,
                                            window + count // 2)
                                upper = 0.5 * (upper + window[count // 2 - 1])
                            replacement[z, y, x] = upper
                            break
    finally:
        free(scratch)


def nonlocal_mean(const double[:, :, :, ::1] padded, const double[:, :, :, ::1] guide,
                  tuple reach, const Py_ssize_t[::1] search, const Py_ssize_t[::1] patch_rows,
                  Py_ssize_t half, const double[:, :, :, ::1] variance, double h,
                  double allowance, bint largest_centre, double[:, :, :, ::1] out,
                  int n_threads):
    """Weighted means of the channels of `padded` over a search window, with weights
    from patches of `guide` that the channels share.

    For each offset o of `search` and each channel c whose sigma_c^2 = `variance`[c]
    is not 0 at p, d_c = mean over the patch of the squared difference between the
    patches of `guide`[c] (padded as `padded` is) at p and p + o; the weight is
    exp(-max(mean_c d_c / (2 h^2 sigma_c^2) - allowance, 0)). A channel whose sigma^2
    is 0 at p keeps its value there; the pixel itself counts with the largest weight
    it gave any neighbour if `largest_centre`, else with 1. Buades, Coll and Morel, "A
    non-local algorithm for image denoising", CVPR 2005 (colour patches compared
    jointly, as in their colour experiments). The patch is the rows `patch_rows`
    (flat deltas of its (z, y) offsets) times x offsets -half .. half: per offset and
    channel, each line sums the squared differences down the patch rows once, then
    along x.
    """
    cdef Py_ssize_t channels = out.shape[0], depth = out.shape[1]
    cdef Py_ssize_t height = out.shape[2], width = out.shape[3]
    cdef Py_ssize_t rz = reach[0], ry = reach[1], rx = reach[2]
    cdef Py_ssize_t n_search = search.shape[0], n_rows = patch_rows.shape[0]
    cdef Py_ssize_t span = width + 2 * half, side = 2 * half + 1
    cdef Py_ssize_t plane = padded.shape[1] * padded.shape[2] * padded.shape[3]
    cdef Py_ssize_t per_thread = span + (2 * channels + 5) * width
    cdef const double* data = &padded[0, 0, 0, 0]
    cdef const double* patches = &guide[0, 0, 0, 0]
    cdef double inv_patch = 1.0 / (n_rows * side)
    cdef char* scratch
    cdef double* columns
    cdef double* box
    cdef double* inv_scale
    cdef double* inv_active
    cdef double* total
    cdef double* weights
    cdef double* largest
    cdef double* w
    cdef const double* a
    cdef const double* b
    cdef Py_ssize_t line, x, k, r, u, c, base, z, y
    cdef double diff, scale, weight
    cdef int i
    for i in range(4):
        if guide.shape[i] != padded.shape[i] or (i > 0 and variance.shape[i] != out.shape[i]):
            raise ValueError("guide, variance: expected the shapes of padded and out")
    if padded.shape[0] != channels or variance.shape[0] != channels:
        raise ValueError("padded, variance: expected one plane per channel of out")
    scratch = scratch_block(per_thread * sizeof(double), n_threads, BUFFERS)
    try:
        with nogil, parallel(num_threads=n_threads):
            columns = <double*>own_part(scratch, per_thread * sizeof(double))
            box = columns + span
            inv_active = box + width
            weights = inv_active + width
            largest = weights + width
            w = largest + width
            inv_scale = w + width
            total = inv_scale + channels * width
            for line in prange(depth * height, schedule="dynamic", chunksize=4):
                z = line // height
                y = line % height
                base = _base(padded.shape + 1, line, height, rz, ry, rx)
                for x in range(width):
                    inv_active[x] = 0.0
                    weights[x] = 0.0
                    largest[x] = 0.0
                for c in range(channels):
                    for x in range(width):
                        scale = 2.0 * h * h * variance[c, z, y, x]
                        inv_scale[c * width + x] = inv_patch / scale if scale > 0 else 0.0
                        inv_active[x] = inv_active[x] + (1.0 if scale > 0 else 0.0)
                        total[c * width + x] = 0.0
                for x in range(width):
                    inv_active[x] = 1.0 / inv_active[x] if inv_active[x] > 0 else -1.0
                for k in range(n_search):
                    # Separate passes, each a loop the compiler vectorises; the first
                    # of each sum assigns (0 + v is v: the same sums as from 0).
                    for c in range(channels):
                        for r in range(n_rows):
                            a = patches + c * plane + base + patch_rows[r] - half
                            b = a + search[k]
                            if r == 0:
                                for x in range(span):
                                    diff = a[x] - b[x]
                                    columns[x] = diff * diff
                                continue
                            for x in range(span):
                                diff = a[x] - b[x]
                                columns[x] = columns[x] + diff * diff
                        for x in range(width):
                            box[x] = columns[x]
                        for u in range(1, side):
                            for x in range(width):
                                box[x] = box[x] + columns[x + u]
                        if c == 0:
                            for x in range(width):
                                w[x] = box[x] * inv_scale[x]
                            continue
                        for x in range(width):
                            w[x] = w[x] + box[x] * inv_scale[c * width + x]
                    # exp at every x, then the choice: a loop without branches,
                    # which the compiler vectorises (with -fno-trapping-math, for
                    # floor; benchmarks/results/design.md).
                    for x in range(width):
                        weight = crcx_exp_minus(max(w[x] * inv_active[x] - allowance, 0.0))
                        weight = weight if inv_active[x] >= 0 else 0.0
                        w[x] = weight
                        weights[x] = weights[x] + weight
                        largest[x] = max(largest[x], weight)
                    for c in range(channels):
                        b = data + c * plane + base + search[k]
                        for x in range(width):
                            total[c * width + x] = total[c * width + x] + w[x] * b[x]
                for x in range(width):
                    if largest[x] <= 0 or not largest_centre:
                        largest[x] = 1.0
                for c in range(channels):
                    a = data + c * plane + base
                    for x in range(width):
                        if variance[c, z, y, x] > 0:
                            out[c, z, y, x] = ((largest[x] * a[x] + total[c * width + x])
                                               / (largest[x] + weights[x]))
                        else:
                            out[c, z, y, x] = a[x]
    finally:
        free(scratch)


cdef double _second_singular_value(const double* counts, int bins) noexcept nogil:
    """Second singular value of Q = diag(px)^-1/2 P diag(py)^-1/2, where P is the
    bins x bins table of pair `counts` over their total n.

    The largest is 1, of sqrt(px) and sqrt(py) (the constant functions), so the
    second is the largest of R = Q - sqrt(px) sqrt(py)^T, whose entries are
    (n c_ab - cx_a cy_b) / (n sqrt(cx_a cy_b)): numerators exact in integers, and R
    exactly 0 for independent pairs. Jacobi rotations diagonalise the symmetric
    R R^T, whose largest eigenvalue is its square, to rounding of itself. The
    second eigenvalue of Q Q^T is not accurate enough: next to the first (1), it
    came out up to 1e-16 for independent pairs, and its square root, 1e-8, beat TIE.
    Zero when a marginal has fewer than two non-empty bins: no non-constant
    function exists.
    """
    cdef double cx[4]
    cdef double cy[4]
    cdef double r[16]
    cdef double s[16]
    cdef int a, b, c, used_x = 0, used_y = 0, _sweep, p_, r_
    cdef double n = 0.0, theta, t, cs, sn, spp, srr, spr, tmp, largest
    for a in range(bins):
        cx[a] = 0.0
        cy[a] = 0.0
    for a in range(bins):
        for b in range(bins):
            cx[a] += counts[a * bins + b]
            cy[b] += counts[a * bins + b]
            n += counts[a * bins + b]
    for a in range(bins):
        used_x += cx[a] > 0
        used_y += cy[a] > 0
    if used_x < 2 or used_y < 2:
        return 0.0
    for a in range(bins):
        for b in range(bins):
            r[a * bins + b] = ((n * counts[a * bins + b] - cx[a] * cy[b])
                               / (n * sqrt(cx[a] * cy[b]))
                               if cx[a] > 0 and cy[b] > 0 else 0.0)
    for a in range(bins):
        for c in range(bins):
            tmp = 0.0
            for b in range(bins):
                tmp += r[a * bins + b] * r[c * bins + b]
            s[a * bins + c] = tmp
    for _sweep in range(32):
        for p_ in range(bins):
            for r_ in range(p_ + 1, bins):
                spr = s[p_ * bins + r_]
                if fabs(spr) < 1e-300:
                    continue
                spp = s[p_ * bins + p_]
                srr = s[r_ * bins + r_]
                theta = (srr - spp) / (2.0 * spr)
                t = (1.0 if theta >= 0 else -1.0) / (fabs(theta) + sqrt(theta * theta + 1.0))
                cs = 1.0 / sqrt(t * t + 1.0)
                sn = t * cs
                for c in range(bins):
                    tmp = s[c * bins + p_]
                    s[c * bins + p_] = cs * tmp - sn * s[c * bins + r_]
                    s[c * bins + r_] = sn * tmp + cs * s[c * bins + r_]
                for c in range(bins):
                    tmp = s[p_ * bins + c]
                    s[p_ * bins + c] = cs * tmp - sn * s[r_ * bins + c]
                    s[r_ * bins + c] = sn * tmp + cs * s[r_ * bins + c]
    largest = 0.0
    for a in range(bins):
        largest = max(largest, s[a * bins + a])
    return sqrt(largest)


cdef inline int _quantise(double value, int bins, double tau) noexcept nogil:
    """Bin of a residual value: its sign, or sign and size around +-tau."""
    if bins == 2:
        return value > 0
    if bins == 3:
        return (value >= -tau) + (value > tau)
    return (value > -tau) + (value > 0) + (value > tau)


def correlation_map(const double[:, :, ::1] padded, tuple reach,
                    const Py_ssize_t[::1] lags, const Py_ssize_t[::1] window,
                    double flat, double tie, bint renyi, int bins, double tau,
                    double[:, :, ::1] best, int16_t[:, :, ::1] direction, int n_threads):
    """CRC(p): the largest correlation, over `lags`, of the window's lagged pairs.

    For each lag, the pairs (R(q), R(q + lag)) for q in the window around p give
    Pearson's correlation (0 for a flat window: a variance at most `flat`), or
    (`renyi`) the maximal correlation of their `bins` x `bins` joint distribution.
    `direction` is the index of the first lag within `tie` of the maximum (0 if none
    is positive), so that rounding cannot reorder tied lags.
    """
    cdef Py_ssize_t depth = best.shape[0], height = best.shape[1], width = best.shape[2]
    cdef Py_ssize_t rz = reach[0], ry = reach[1], rx = reach[2]
    cdef Py_ssize_t n_lags = lags.shape[0], n = window.shape[0]
    cdef const double* data = &padded[0, 0, 0]
    cdef char* scratch = scratch_block(16 * sizeof(double), n_threads, BUFFERS)
    cdef double* joint
    cdef Py_ssize_t line, x, k, e, base, z, y
    cdef double a, b, sa, sb, saa, sbb, sab, va, vb, rho, top
    cdef double inv_n = 1.0 / n
    cdef int qa, qb, i
    cdef int16_t arg
    try:
        with nogil, parallel(num_threads=n_threads):
            joint = <double*>own_part(scratch, 16 * sizeof(double))
            for line in prange(depth * height, schedule="dynamic", chunksize=4):
                z = line // height
                y = line % height
                base = _base(padded.shape, line, height, rz, ry, rx)
                for x in range(width):
                    top = 0.0
                    arg = 0
                    for k in range(n_lags):
                        sa = sb = saa = sbb = sab = 0.0
                        for i in range(bins * bins):
                            joint[i] = 0.0
                        for e in range(n):
                            a = data[base + x + window[e]]
                            b = data[base + x + window[e] + lags[k]]
                            sa = sa + a
                            sb = sb + b
                            saa = saa + a * a
                            sbb = sbb + b * b
                            sab = sab + a * b
                            if renyi:
                                qa = _quantise(a, bins, tau)
                                qb = _quantise(b, bins, tau)
                                # counts, not frequencies: exact (see below)
                                joint[qa * bins + qb] += 1.0
                        va = saa * inv_n - (sa * inv_n) * (sa * inv_n)
                        vb = sbb * inv_n - (sb * inv_n) * (sb * inv_n)
                        if renyi:
                            rho = _second_singular_value(joint, bins)
                        elif va <= flat or vb <= flat:
                            rho = 0.0
                        else:
                            rho = (sab * inv_n - (sa * inv_n) * (sb * inv_n)) / sqrt(va * vb)
                        if rho > top + tie:
                            top = rho
                            arg = <int16_t>k
                    best[z, y, x] = top
                    direction[z, y, x] = arg
    finally:
        free(scratch)


def keep_structure(const double[:, :, ::1] padded, tuple reach,
                   const Py_ssize_t[:, ::1] patterns, const double[:, :, ::1] tolerance,
                   uint8_t[:, :, ::1] flagged, int n_threads):
    """Unflag every pixel whose values along some pattern stay within its tolerance.

    A pattern is a row of flat index deltas (a straight run through the pixel, or
    the corner of a block): detail is coherent along a direction, impulses are not
    (docs/algorithm.md, §1.3).
    """
    cdef Py_ssize_t depth = flagged.shape[0], height = flagged.shape[1]
    cdef Py_ssize_t width = flagged.shape[2]
    cdef Py_ssize_t rz = reach[0], ry = reach[1], rx = reach[2]
    cdef Py_ssize_t n_patterns = patterns.shape[0], length = patterns.shape[1]
    cdef const double* data = &padded[0, 0, 0]
    cdef Py_ssize_t line, x, k, e, base, z, y
    cdef double v, tau
    cdef bint similar
    with nogil:
        for line in prange(depth * height, schedule="dynamic", chunksize=4,
                           num_threads=n_threads):
            z = line // height
            y = line % height
            base = _base(padded.shape, line, height, rz, ry, rx)
            for x in range(width):
                if not flagged[z, y, x]:
                    continue
                v = data[base + x]
                tau = tolerance[z, y, x]
                for k in range(n_patterns):
                    similar = True
                    for e in range(length):
                        if fabs(data[base + x + patterns[k, e]] - v) > tau:
                            similar = False
                            break
                    if similar:
                        flagged[z, y, x] = 0
                        break


def samples_by_bin(const Py_ssize_t[::1] bins, Py_ssize_t n_bins,
                   const double[::1] level, const double[::1] laplacian):
    """:func:`crcx._crc.model.samples_by_bin` by one counting sort, and a selection
    in place in each bin's run.

    Masking the samples bin by bin read them all once per bin (1920x1080 RGB: a
    fifth of crc_median's time), and NumPy's median copied each bin's samples. The
    selection is NumPy's partition, vectorised on x86 (x86-simd-sort), which outruns
    std::nth_element (docs/algorithm.md §11).
    """
    cdef Py_ssize_t n = bins.shape[0], i, j
    starts_array = np.zeros(n_bins + 1, np.intp)
    cursors_array = np.empty(n_bins, np.intp)
    level_array, laplacian_array = np.empty(n), np.empty(n)
    cdef Py_ssize_t[::1] starts = starts_array, cursors = cursors_array
    cdef double[::1] level_out = level_array, laplacian_out = laplacian_array
    with nogil:
        for i in range(n):
            starts[bins[i] + 1] += 1
        for j in range(n_bins):
            starts[j + 1] += starts[j]
            cursors[j] = starts[j]
        for i in range(n):
            j = bins[i]
            level_out[cursors[j]] = level[i]
            laplacian_out[cursors[j]] = laplacian[i]
            cursors[j] += 1
    runs = [slice(starts_array[j], starts_array[j + 1]) for j in range(n_bins)]
    return [(level_array[run], _median_in_place(laplacian_array[run])) for run in runs]


def _median_in_place(values):
    """NumPy's median of `values` (the middle value, or the mean of the two middle
    values; NaN without values), which it reorders."""
    if values.size == 0:
        return math.nan
    middle = values.size // 2
    values.partition(middle)
    upper = float(values[middle])
    if values.size % 2:
        return upper
    return (float(values[:middle].max()) + upper) / 2.0


def isolation(const double[:, :, ::1] padded, const uint8_t[:, :, ::1] flagged,
              const double[:, :, ::1] centre, tuple reach, const Py_ssize_t[::1] deltas,
              const double[:, ::1] offsets, double trend, Py_ssize_t k,
              const uint8_t[:, :, ::1] todo, double[:, :, ::1] distance,
              double[:, :, ::1] spread, int n_threads):
    """How far each pixel's `centre` value is from its neighbours in `padded` that are
    not `flagged` (§1.5).

    `flagged` is padded like `padded`; `deltas` are the neighbours' offsets, row-major,
    and `offsets` the same as (z, y, x). Over the unflagged neighbours (all of them
    where fewer than `k` are unflagged): the k-th smallest distance |v - centre(p)|,
    and the spread of their middle half, v[n - 1 - n // 4] - v[n // 4] of the n sorted
    values. With `trend` > 0, the same of the values less the least-squares slopes of
    all the neighbours times their offsets, where that spread is under `trend` times
    the first. NEIGHBOURHOODS pixels of a line are gathered, fitted and sorted side by
    side, one per vector lane (crcx/crc/neighbours.h, crcx/crc/order.h). Where `todo`
    (or None) is given, the pixels of a group of NEIGHBOURHOODS in which it marks
    none are left as they are.
    """
    cdef Py_ssize_t depth = distance.shape[0], height = distance.shape[1]
    cdef Py_ssize_t width = distance.shape[2], count = deltas.shape[0]
    cdef Py_ssize_t rz = reach[0], ry = reach[1], rx = reach[2]
    cdef const double* data = &padded[0, 0, 0]
    cdef const uint8_t* skip = &flagged[0, 0, 0]
    cdef const Py_ssize_t* delta = &deltas[0]
    cdef const double* offset = &offsets[0, 0]
    # a thread's values and levels of NEIGHBOURHOODS pixels side by side, one pixel's
    # sorted values, and each pixel's slopes, centre, count of values and of those
    # below the centre
    cdef Py_ssize_t per_thread = (((2 * NEIGHBOURHOODS + 1) * count + 4 * NEIGHBOURHOODS)
                                  * sizeof(double) + 2 * NEIGHBOURHOODS * sizeof(Py_ssize_t))
    cdef char* scratch = scratch_block(per_thread, n_threads, BUFFERS)
    cdef double* values
    cdef double* level
    cdef double* one
    cdef double* slopes
    cdef double* centres
    cdef Py_ssize_t* counts
    cdef Py_ssize_t* below
    cdef double norms[3]
    cdef Py_ssize_t line, tile, x, t, e, base, z, y, a, lanes
    cdef double level_spread
    cdef const uint8_t* wanted = NULL
    if todo is not None:
        if (todo.shape[0] != depth or todo.shape[1] != height or todo.shape[2] != width):
            raise ValueError("todo: expected the shape of distance")
        wanted = &todo[0, 0, 0]
    for a in range(3):
        norms[a] = 0.0
        for e in range(count):
            norms[a] += offsets[e, a] * offsets[e, a]
    try:
        with nogil, parallel(num_threads=n_threads):
            values = <double*>own_part(scratch, per_thread)
            level = values + NEIGHBOURHOODS * count
            one = level + NEIGHBOURHOODS * count
            slopes = one + count
            centres = slopes + 3 * NEIGHBOURHOODS
            counts = <Py_ssize_t*>(centres + NEIGHBOURHOODS)
            below = counts + NEIGHBOURHOODS
            for line in prange(depth * height, schedule="dynamic", chunksize=4):
                z = line // height
                y = line % height
                base = _base(padded.shape, line, height, rz, ry, rx)
                for tile in range((width + NEIGHBOURHOODS - 1) // NEIGHBOURHOODS):
                    x = tile * NEIGHBOURHOODS
                    lanes = min(NEIGHBOURHOODS, width - x)
                    if wanted != NULL and not _any(wanted + line * width + x, lanes):
                        continue
                    for t in range(NEIGHBOURHOODS):
                        centres[t] = centre[z, y, x + min(t, lanes - 1)]
                    crcx_sorted_neighbours(data + base + x, skip + base + x, lanes, delta,
                                           offset, count, NULL, k, centres, values, counts,
                                           below)
                    for t in range(lanes):
                        _lane(values + t, count, one)
                        distance[z, y, x + t] = crcx_kth_distance(one, counts[t], k,
                                                                  centres[t], below[t])
                        spread[z, y, x + t] = _middle_spread(one, counts[t])
                    if trend <= 0:
                        continue
                    crcx_neighbour_slopes(data + base + x, lanes, delta, offset, count, norms,
                                          slopes)
                    crcx_sorted_neighbours(data + base + x, skip + base + x, lanes, delta,
                                           offset, count, slopes, k, centres, level, counts,
                                           below)
                    for t in range(lanes):
                        _lane(level + t, count, one)
                        level_spread = _middle_spread(one, counts[t])
                        if level_spread < trend * spread[z, y, x + t]:
                            distance[z, y, x + t] = crcx_kth_distance(
                                one, counts[t], k, centres[t], below[t])
                            spread[z, y, x + t] = level_spread
    finally:
        free(scratch)


cdef inline bint _any(const uint8_t* marks, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        if marks[i]:
            return True
    return False


cdef inline void _lane(const double* lane, Py_ssize_t count, double* out) noexcept nogil:
    """The `count` values down a lane of NEIGHBOURHOODS, into `out` in a row."""
    cdef Py_ssize_t e
    for e in range(count):
        out[e] = lane[e * NEIGHBOURHOODS]


cdef inline double _middle_spread(const double* values, Py_ssize_t n) noexcept nogil:
    """The spread of the middle half of the first n `values`, sorted."""
    return values[n - 1 - n // 4] - values[n // 4]


cdef void _transform(double* block, double* tmp, double* folded, const double* basis,
                     Py_ssize_t side, bint inverse) noexcept nogil:
    """Each of the SQUARES side x side squares of `block` transformed by the DCT-II
    `basis` T along both axes, in place: block = T block T^T, or with `inverse`
    block = T^T block T."""
    crcx_squares_dct(basis, block, tmp, folded, side, 1, side, inverse)
    crcx_squares_dct(basis, tmp, block, folded, side, side, 1, inverse)


cdef void _shrink_squares(const double* data, const double* noise, Py_ssize_t pw,
                          Py_ssize_t n, const double* basis, Py_ssize_t side, double k2,
                          double* block, double* tmp, double* folded,
                          double* weight) noexcept nogil:
    """The n <= SQUARES squares of dct_shrink whose first values are data[0 .. n - 1]
    (their lines pw apart), transformed, shrunk and transformed back, into `block`
    (lane t of each SQUARES values: square t), and their aggregation weights."""
    cdef Py_ssize_t size = side * side, b, c, e, t
    cdef double threshold[SQUARES]
    cdef double kept[SQUARES]
    cdef double inv_count = 1.0 / size
    for t in range(SQUARES):
        threshold[t] = 0.0
        kept[t] = size
    for b in range(side):
        for c in range(side):
            e = (b * side + c) * SQUARES
            for t in range(n):
                block[e + t] = data[b * pw + c + t]
                threshold[t] = threshold[t] + noise[b * pw + c + t]
            for t in range(n, SQUARES):
                block[e + t] = 0.0
    for t in range(SQUARES):
        threshold[t] = k2 * threshold[t] * inv_count
    _transform(block, tmp, folded, basis, side, False)
    crcx_squares_shrink(block, threshold, kept, size)
    for t in range(SQUARES):
        weight[t] = 1.0 / kept[t]
    _transform(block, tmp, folded, basis, side, True)


def dct_shrink(const double[:, :, ::1] padded, const double[:, :, ::1] variance,
               const double[:, ::1] basis, double k2, double[:, :, ::1] out, int n_threads):
    """The sliding-window DCT estimate D of docs/algorithm.md §3 (after Yu & Sapiro,
    "DCT image denoising: a simple and effective image denoising algorithm", IPOL 2011).

    Every square of the side of `basis`, the DCT-II matrix of
    :func:`crcx._crc.model.dct_basis`, that overlaps a slice is transformed; its
    coefficients but the mean whose square is at most `k2` times the square's mean
    sigma^2 are set to 0; `out` is the mean of the inverse transforms
    over the squares that cover each pixel, each weighted by 1 / the number of
    coefficients it kept (the aggregation weights of Dabov et al., "Image denoising by
    sparse 3-D transform-domain collaborative filtering", IEEE TIP 2007: a square that
    keeps fewer coefficients carries less noise), and the pixel itself where its own
    sigma^2 is 0. `padded` and `variance` are the plane and sigma^2 extended by
    side - 1 past each edge of the last two axes. Squares whose first lines differ by
    a multiple of the side touch disjoint output lines: the squares of one such class
    run on threads at once, the classes one after another, so that every sum is made
    in the same order whatever the number of threads. Each square stores its weight
    once; a pixel's sum of weights is then the box sum of the squares' weights over
    the side x side corners that cover it.
    """
    cdef Py_ssize_t depth = out.shape[0], height = out.shape[1], width = out.shape[2]
    cdef Py_ssize_t side = basis.shape[0], r = side - 1, size = side * side
    cdef Py_ssize_t pw = padded.shape[2], plane = padded.shape[1] * pw
    cdef Py_ssize_t tops = height + r, lefts = width + r
    cdef Py_ssize_t per_thread = max((2 * size + side + 1) * SQUARES, lefts)
    cdef Py_ssize_t first, lines, i, z, y, x, top, tile, left, n, b, c, e, t, xx, low, high
    cdef const double* data = &padded[0, 0, 0]
    cdef const double* noise = &variance[0, 0, 0]
    cdef char* scratch = NULL
    cdef double* weights = NULL
    cdef double* block
    cdef double* tmp
    cdef double* folded
    cdef double* weight
    cdef double* row
    cdef double* column_sums
    cdef double total
    if basis.shape[1] != side or side < 1:
        raise ValueError("basis: expected a square matrix")
    for i in range(3):
        if (variance.shape[i] != padded.shape[i]
                or padded.shape[i] != out.shape[i] + (2 * r if i else 0)):
            raise ValueError("padded, variance: expected out's shape extended by the "
                             "side - 1 of the basis on the last two axes")
    try:
        scratch = scratch_block(per_thread * sizeof(double), n_threads, BUFFERS)
        weights = <double*>scratch_block(depth * tops * lefts * sizeof(double), 1, BUFFERS)
        out[:, :, :] = 0.0
        for first in range(side):
            lines = (height + r - first + side - 1) // side
            with nogil, parallel(num_threads=n_threads):
                block = <double*>own_part(scratch, per_thread * sizeof(double))
                tmp = block + size * SQUARES
                folded = tmp + size * SQUARES
                weight = folded + side * SQUARES
                for i in prange(depth * lines, schedule="dynamic"):
                    z = i // lines
                    top = first + side * (i % lines)
                    for tile in range((lefts + SQUARES - 1) // SQUARES):
                        left = tile * SQUARES
                        n = min(SQUARES, lefts - left)
                        e = z * plane + top * pw + left
                        _shrink_squares(data + e, noise + e, pw, n, &basis[0, 0], side, k2,
                                        block, tmp, folded, weight)
                        for t in range(n):
                            weights[(z * tops + top) * lefts + left + t] = weight[t]
                        for b in range(side):
                            if not 0 <= top + b - r < height:
                                continue
                            row = &out[z, top + b - r, 0]
                            # c downwards: each pixel sums its squares by their left
                            for c in range(side - 1, -1, -1):
                                xx = left + c - r
                                low = max(0, -xx)
                                high = min(n, width - xx)
                                e = (b * side + c) * SQUARES
                                for t in range(low, high):
                                    row[xx + t] = row[xx + t] + weight[t] * block[e + t]
        # the squares that cover (y, x) start at tops y .. y + r and lefts x .. x + r
        with nogil, parallel(num_threads=n_threads):
            column_sums = <double*>own_part(scratch, per_thread * sizeof(double))
            for i in prange(depth * height):
                z = i // height
                y = i % height
                for left in range(lefts):
                    total = 0.0
                    for b in range(side):
                        total = total + weights[(z * tops + y + b) * lefts + left]
                    column_sums[left] = total
                for x in range(width):
                    e = z * plane + (y + r) * pw + x + r
                    if noise[e] > 0:
                        total = 0.0
                        for c in range(side):
                            total = total + column_sums[x + c]
                        out[z, y, x] = out[z, y, x] / total
                    else:
                        out[z, y, x] = data[e]
    finally:
        free(scratch)
        free(weights)
