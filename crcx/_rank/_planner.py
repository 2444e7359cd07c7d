"""The planner of the rank filter: which line algorithm computes a window, and the
plan the compiled driver runs (:class:`crcx._rank._driver.KernelPlan`).
"""
import functools

import numpy as np

from crcx._common.boundary import extended_indices
from crcx._rank import _driver
from crcx._rank._selection_network import GENERATED_BOXES, selection_program

# The key encodings by dtype kind, and the line algorithms, named once in the driver
# (_driver.pyx, its cpdef enum in _driver.pxd).
_ENCODINGS = _driver.ENCODINGS
_ALGORITHMS = _driver.Algorithm
NETWORK, HISTOGRAM, SELECT, RANKED, RANKED_BOX, COLUMNS = (
    _ALGORITHMS.ALGORITHM_NETWORK, _ALGORITHMS.ALGORITHM_HISTOGRAM, _ALGORITHMS.ALGORITHM_SELECT,
    _ALGORITHMS.ALGORITHM_RANKED, _ALGORITHMS.ALGORITHM_RANKED_BOX, _ALGORITHMS.ALGORITHM_COLUMNS)
# Largest non-box window the interpreted selection network handles, by key size in
# bytes: a network costs about n log^2 n operations on 64 / key-size lanes per vector,
# so beyond these it loses to the histogram (8/16-bit) or to introselect (measured by
# benchmarks/median.py). Box windows in GENERATED_BOXES always use their compiled
# network.
NETWORK_MAX_ELEMENTS = {1: 49, 2: 49, 4: 49, 8: 25}
# 2-d boxes of 8/16-bit keys beyond the networks take the column histograms, which
# count in uint16 and beat the sliding histogram several times over on large boxes
# (benchmarks/median.py; the generated 9x9 network stays faster). 16-bit keys take
# them only for windows too large for the ranked box (RANKED_BOX_MIN_OUTPUTS).
COLUMNS_MAX_ELEMENTS = 1 << 16
# Values in one tile's input region for the ranked algorithm (32/64-bit keys): ranks
# within a small region keep the sliding histogram's walks short, while the sort of
# the region is shared by the tile's outputs.
RANKED_REGION = 4096
# Ranks are 16-bit: no region may hold more values than that.
RANKED_REGION_MAX = 1 << 16
# Values in one tile's input region for the ranked box algorithm (2-d boxes, 32/64-bit
# keys): the bit sets of crcx/include/crcx/median/rank_sets.h, CRCX_RANK_WORDS words of
# 64 bits, fixed there because a window's 64 word counts fill two AVX-512 registers.
RANKED_BOX_REGION = 4096
# 16-bit keys take the ranked box rather than the column histograms while a tile has
# this many outputs to share its sort: up to 41x41 boxes it is the faster of the two,
# at 61x61 (16 outputs per tile) the slower (benchmarks/median.py, uint16).
RANKED_BOX_MIN_OUTPUTS = 256


def _tile_shape(extent, shape, limit):
    """Largest (z, y, x) output tile whose input region holds at most `limit` values.

    Doubles x first (contiguous), then y, then z; None if not even one pixel fits.
    """
    def region(tile):
        return int(np.prod([t + f - 1 for t, f in zip(tile, extent)]))
    tile = [1, 1, 1]
    if region(tile) > limit:
        return None
    grown = True
    while grown:
        grown = False
        for axis in (2, 1, 0):
            trial = list(tile)
            trial[axis] = min(2 * tile[axis], shape[axis])
            if trial[axis] > tile[axis] and region(trial) <= limit:
                tile, grown = trial, True
    return tuple(tile)


def _box_tile_shape(fy, fx, height, width, limit):
    """(1, y, x) output tile of most pixels whose (fy, fx) box region holds <= `limit`.

    None if not even one pixel fits.
    """
    best = None
    for tx in range(1, min(width, limit) + 1):
        ty = min(limit // (tx + fx - 1) - fy + 1, height)
        if ty >= 1 and (best is None or ty * tx > best[1] * best[2]):
            best = (1, ty, tx)
    return best


def _runs(mask):
    """(start, stop) of every run of True in a 1-d boolean array."""
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    return zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1))


def plan(footprint, extents, shape, modes, rank, dtype):
    """Build the :class:`~crcx._rank._driver.KernelPlan` for a 3-d footprint over
    (z, y, x) of `shape`, with the border mode of each of the three axes in `modes`."""
    intp = np.intp
    rows = [(dz, dy) for dz in range(footprint.shape[0]) for dy in range(footprint.shape[1])
            if footprint[dz, dy].any()]
    elements = [(j, dx) for j, (dz, dy) in enumerate(rows)
                for dx in np.flatnonzero(footprint[dz, dy])]
    runs = [(j, start, stop) for j, (dz, dy) in enumerate(rows)
            for start, stop in _runs(footprint[dz, dy])]
    count = len(elements)
    key_size = dtype.itemsize
    box = bool(footprint.all())
    generated = (box and rank == count // 2
                 and (len(rows), footprint.shape[2]) in GENERATED_BOXES)
    box_tile = None
    if box and footprint.shape[0] == 1:
        box_tile = _box_tile_shape(footprint.shape[1], footprint.shape[2], shape[1], shape[2],
                                   RANKED_BOX_REGION)
    if generated or count <= NETWORK_MAX_ELEMENTS[key_size]:
        algorithm = NETWORK
    elif (key_size == 2 and box_tile is not None
          and box_tile[1] * box_tile[2] >= RANKED_BOX_MIN_OUTPUTS):
        algorithm = RANKED_BOX
    elif key_size <= 2 and box and footprint.shape[0] == 1 and count < COLUMNS_MAX_ELEMENTS:
        algorithm = COLUMNS
    elif key_size <= 2:
        algorithm = HISTOGRAM
    else:
        algorithm = RANKED if box_tile is None else RANKED_BOX
    tile, rank_shift = (1, 1, 1), 0
    if algorithm == RANKED_BOX:
        tile = box_tile
    if algorithm == RANKED:
        region = min(RANKED_REGION_MAX, max(RANKED_REGION, 4 * count))
        rank_shift = (region.bit_length()) // 2
        tile = _tile_shape(footprint.shape, shape, 1 << (2 * rank_shift))
        if tile is None:   # not even one output's window fits a region
            algorithm, tile, rank_shift = SELECT, (1, 1, 1), 0
    # The generated code holds its own network; the interpreted one is built only
    # where it runs.
    presort = (algorithm == NETWORK and not generated and box and len(rows) > 1
               and footprint.shape[2] > 1)
    if algorithm == NETWORK and not generated:
        program, column_program = selection_program(
            len(rows) if presort else 1, footprint.shape[2] if presort else count,
            rank, presort)
    else:
        program = column_program = np.zeros((0, 3), np.int32)
    maps = [extended_indices(n, before, after, mode)
            for n, (before, after), mode in zip(shape, extents, modes)]
    return _driver.KernelPlan(
        extent=footprint.shape,
        row_dz=np.array([r[0] for r in rows], intp), row_dy=np.array([r[1] for r in rows], intp),
        element_row=np.array([e[0] for e in elements], intp),
        element_dx=np.array([e[1] for e in elements], intp),
        rank=rank,
        run_row=np.array([r[0] for r in runs], intp),
        run_start=np.array([r[1] for r in runs], intp),
        run_stop=np.array([r[2] for r in runs], intp),
        zmap=maps[0], ymap=maps[1], xmap=maps[2], x_before=extents[2][0],
        encoding=_ENCODINGS[dtype.kind], algorithm=algorithm,
        program=program, column_program=column_program, presort=presort, generated=generated,
        band=generated and footprint.shape[0] == 1 and len(rows) > 1,
        tile=tile, rank_shift=rank_shift)


@functools.lru_cache(maxsize=64)
def cached_plan(footprint_shape, footprint_bits, extents, shape, modes, rank, dtype):
    """:func:`plan` for a footprint given as hashable bytes, remembered.

    Building a plan costs Python time of the order of filtering a whole large image
    with a small window; a video or a collection filters many images of one shape,
    which then pay for it once.
    """
    footprint = np.frombuffer(footprint_bits, dtype=bool).reshape(footprint_shape)
    return plan(footprint, extents, shape, modes, rank, dtype)
