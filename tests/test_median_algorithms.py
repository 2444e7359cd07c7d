"""Each algorithm of the compiled rank filter, reached directly.

For every algorithm of crcx/_rank/_driver.pxd, calls that the planner
(crcx._rank._planner.plan) hands to it, the choice asserted, checked bit for bit
against scipy.ndimage's median_filter and rank_filter: every border mode, an origin,
one and two threads, the smallest, the middle and the largest rank.
"""
import numpy as np
import pytest
import scipy.ndimage as ndi

import crcx
import crcx._rank.filters
from crcx._rank import _planner
from crcx._rank._planner import COLUMNS, HISTOGRAM, NETWORK, RANKED, RANKED_BOX, SELECT

MODES = ("reflect", "mirror", "nearest", "wrap", "constant")


def disk(radius):
    y, x = np.mgrid[-radius:radius + 1, -radius:radius + 1]
    return y * y + x * x <= radius * radius


def ring(side):
    footprint = np.zeros((side, side), bool)
    footprint[[0, -1], :] = footprint[:, [0, -1]] = True
    return footprint


# algorithm, dtype, image shape, window
CASES = [
    (NETWORK, np.uint8, (30, 70), dict(size=3)),                  # generated, in bands
    (NETWORK, np.float64, (30, 40), dict(size=5)),                # generated, floats
    (NETWORK, np.int16, (6, 12, 20), dict(size=(3, 3, 3))),       # generated, 3-d
    (NETWORK, np.float32, (30, 40), dict(footprint=disk(3))),     # interpreted
    (NETWORK, np.int32, (30, 20), dict(size=(12, 2))),           # interpreted, presorted
    (HISTOGRAM, np.uint8, (40, 50), dict(footprint=disk(6))),
    (HISTOGRAM, np.int16, (8, 20, 25), dict(size=(3, 5, 5))),
    (COLUMNS, np.uint8, (40, 50), dict(size=15)),
    (COLUMNS, np.int16, (80, 75), dict(size=61)),
    (SELECT, np.float32, (70, 80), dict(footprint=ring(65))),
    (SELECT, np.int64, (70, 70), dict(footprint=ring(66))),
    (RANKED, np.float64, (9, 20, 25), dict(size=(7, 6, 5))),
    (RANKED, np.uint32, (3, 40, 300), dict(footprint=disk(5)[None].repeat(3, 0))),
    (RANKED_BOX, np.float32, (60, 70), dict(size=15)),
    (RANKED_BOX, np.uint16, (60, 80), dict(size=(25, 9))),
]


def image(dtype, shape, rng):
    """Values with ties and the extremes (within float64's exact integers, as scipy
    compares), for floats also +-inf and -0.0."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        values = rng.normal(0, 1e3, shape).astype(dtype)
        pick = rng.random(shape)
        values[pick < 0.03] = np.inf
        values[(pick >= 0.03) & (pick < 0.06)] = -np.inf
        values[(pick >= 0.06) & (pick < 0.1)] = -0.0
        return values
    info = np.iinfo(dtype)
    low, high = max(int(info.min), -2**53), min(int(info.max), 2**53)
    values = rng.integers(low, high, shape, endpoint=True, dtype=dtype)
    ties = rng.integers(0, 5, shape).astype(dtype)
    values = np.where(rng.random(shape) < 0.5, ties, values)
    values[rng.random(shape) < 0.03] = low
    values[rng.random(shape) < 0.03] = high
    return values


@pytest.fixture
def planned(monkeypatch):
    """The algorithms of the plans the kernels run, in order."""
    seen = []
    kernels = crcx._rank.filters._driver

    class Recording:
        @staticmethod
        def rank_filter(src, dst, plan, cval_bits, n_threads):
            seen.append(plan.algorithm)
            kernels.rank_filter(src, dst, plan, cval_bits, n_threads)

    monkeypatch.setattr(crcx._rank.filters, "_driver", Recording)
    return seen


NAMES = {NETWORK: "network", HISTOGRAM: "histogram", COLUMNS: "columns", SELECT: "select",
         RANKED: "ranked", RANKED_BOX: "ranked_box"}


@pytest.mark.parametrize("algorithm, dtype, shape, window", CASES,
                         ids=[f"{NAMES[a]}-{np.dtype(d).name}-{i}" for i, (a, d, _, _)
                              in enumerate(CASES)])
def test_each_algorithm_matches_scipy(planned, algorithm, dtype, shape, window):
    rng = np.random.default_rng(sum(shape))
    values = image(dtype, shape, rng)
    for mode in MODES:
        origin = -1 if mode in ("nearest", "constant") else 0
        kwargs = dict(window, mode=mode, cval=3, origin=origin)
        expected = ndi.median_filter(values, **kwargs)
        for n_threads in (1, 2):
            np.testing.assert_array_equal(
                crcx.median(values, n_threads=n_threads, **kwargs), expected)
        for rank in (0, -1):
            np.testing.assert_array_equal(crcx.rank_filter(values, rank, **kwargs),
                                          ndi.rank_filter(values, rank, **kwargs))
    assert set(planned) == {algorithm}


def test_select_is_planned_where_no_region_holds_a_window():
    # 32/64-bit keys, a footprint too sparse for a network and for the ranked box,
    # whose bounding box is larger than the largest ranked region.
    footprint = ring(65)[None]
    plan = _planner.plan(footprint, ((0, 0), (32, 32), (32, 32)), (1, 70, 80),
                         ("reflect",) * 3, int(footprint.sum()) // 2, np.dtype(np.float32))
    assert (plan.algorithm, plan.tile, plan.rank_shift) == (SELECT, (1, 1, 1), 0)
