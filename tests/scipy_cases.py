"""What scipy.ndimage computes correctly, and random calls of crcx's rank filters.

Shared by tests/test_median.py (hypothesis draws its calls; a few hundred of the
random cases below run in CI) and benchmarks/fuzz.py (the long run of the same
cases). A case is checked against scipy wherever :func:`scipy_agrees`, else
against crcx.reference.
"""
import hashlib
from dataclasses import dataclass

import numpy as np
import scipy.ndimage as ndi

import crcx
import crcx.reference
from crcx._common.arguments import MODES, normalize_geometry, percentile_rank

DTYPES = tuple(np.dtype(t) for t in (bool, np.uint8, np.int8, np.uint16, np.int16, np.uint32,
                                      np.int32, np.uint64, np.int64, np.float32, np.float64))
CANONICAL_MODES = ("reflect", "mirror", "nearest", "wrap", "constant")
MODE_NAMES = CANONICAL_MODES + tuple(sorted(set(MODES) - set(CANONICAL_MODES)))
# scipy compares in float64, exact for integers up to this magnitude.
EXACT_IN_FLOAT64 = 2**53

LAYOUTS = ("contiguous", "fortran", "strided", "reversed", "swapped", "readonly")


def lay_out(array, layout):
    """Return an array equal to `array`, stored as `layout` says."""
    if layout == "fortran":
        return np.asfortranarray(array)
    if layout == "strided":
        buffer = np.zeros(tuple(2 * n + 1 for n in array.shape), array.dtype)
        view = buffer[tuple(slice(1, None, 2) for _ in array.shape)]
        view[...] = array
        return view
    if layout == "reversed":
        flip = tuple(slice(None, None, -1) for _ in array.shape)
        return array[flip].copy()[flip]
    if layout == "swapped":
        return array.astype(array.dtype.newbyteorder())
    if layout == "readonly":
        array = array.copy()
        array.flags.writeable = False
        return array
    return np.ascontiguousarray(array)


def value_range(dtype, exact):
    """Smallest and largest value to draw for `dtype`; within 2**53 if `exact`."""
    if dtype.kind == "b":
        return 0, 1
    if dtype.kind == "f":
        return float(np.finfo(dtype).min), float(np.finfo(dtype).max)
    info = np.iinfo(dtype)
    if exact:
        return max(int(info.min), -EXACT_IN_FLOAT64), min(int(info.max), EXACT_IN_FLOAT64)
    return int(info.min), int(info.max)


@dataclass
class Call:
    """One call of a median filter, to make with either implementation.

    `layout` is the image's (see :func:`lay_out`); `output` says how to pass the
    ``output`` argument: ``("none",)``, ``("dtype", dtype)`` or
    ``("array", dtype, layout)``.
    """
    image: np.ndarray
    layout: str
    kwargs: dict
    output: tuple

    @property
    def output_dtype(self):
        return self.image.dtype if self.output[0] == "none" else np.dtype(self.output[1])

    def run(self, function):
        """Call `function`, handing it a fresh output array if the call passes one."""
        kind = self.output[0]
        if kind == "array":
            output = lay_out(np.zeros(self.image.shape, self.output[1]), self.output[2])
        else:
            output = None if kind == "none" else self.output[1]
        result = function(self.image, output=output, **self.kwargs)
        if kind == "array":
            assert result is output
        return result


def canonical_modes(mode):
    """The canonical names of `mode`, one name or a sequence of them (one per axis)."""
    return {MODES[m] for m in ([mode] if isinstance(mode, str) else mode)}


def scipy_agrees(call):
    """Whether scipy.ndimage (1.17) computes `call` correctly, as crcx does.

    scipy takes a 1-d path for 1-d images and an n-d path otherwise; it goes wrong:

    * when a window reaches further than the axis length past an edge: it reads
      memory outside the array (1-d path with mirror, reflect, wrap; n-d path with
      reflect and a non-zero origin);
    * on NaN, whose order it leaves undefined, and on 64-bit integers beyond 2**53,
      which it rounds through float64;
    * for 1-d images with a footprint that has holes: the 1-d path filters the
      footprint's whole bounding box;
    * with an output dtype other than the input's, in the 1-d path for int64, float32
      and float64 (it writes the input type into the output's buffer) and for bool
      outputs (it truncates and stores byte values other than 0 and 1); in the n-d
      path a safe cast is fine;
    * with a `cval` that is NaN or beyond the input dtype's range: scipy converts it
      to that dtype with a C cast, which is undefined there (crcx converts it as
      numpy does).
    """
    image, kwargs = call.image, call.kwargs
    geometry = normalize_geometry(image.ndim, kwargs.get("size"), kwargs.get("footprint"),
                                  kwargs.get("origin", 0), kwargs.get("axes"))
    if any(max(reach) >= image.shape[axis]
           for axis, reach in zip(geometry.axes, geometry.extents())):
        return False
    low, high = value_range(image.dtype, exact=True)
    if not (np.all(image >= low) and np.all(image <= high)):   # False for NaN too
        return False
    if image.ndim == 1 and not geometry.footprint.all():
        return False
    dtype, output_dtype = image.dtype.newbyteorder("="), call.output_dtype.newbyteorder("=")
    if output_dtype != dtype and (image.ndim == 1 or output_dtype.kind == "b"
                                  or not np.can_cast(dtype, output_dtype, "safe")):
        return False
    cval = float(kwargs.get("cval", 0.0))
    if "constant" not in canonical_modes(kwargs.get("mode", "reflect")):
        return True
    low, high = value_range(dtype, exact=False)
    return bool(np.isfinite(cval)) and low <= cval <= high


def scipy_median(call, filter=ndi.median_filter):
    """scipy.ndimage.median_filter for `call`, which :func:`scipy_agrees` accepts.

    The call is respelled only where scipy rejects what crcx accepts. scipy needs an
    explicit size, and rejects a negative integer `axes` (it wants it in a
    sequence). Its 1-d path rejects non-native floats and writes native bytes into
    non-native outputs, so it gets native arrays; and it converts `cval` to the
    image's dtype even when the mode ignores it, raising for NaN or infinity, so it
    gets `cval` only with "constant". The order of `axes` is passed as drawn.
    """
    kwargs = {key: value for key, value in call.kwargs.items() if key != "n_threads"}
    if "constant" not in canonical_modes(kwargs["mode"]):
        del kwargs["cval"]
    if "size" not in kwargs and "footprint" not in kwargs:
        kwargs["size"] = 3
    if isinstance(kwargs.get("axes"), int):
        kwargs["axes"] = (kwargs["axes"],)
    image = call.image.astype(call.image.dtype.newbyteorder("="))
    return filter(image, output=call.output_dtype.newbyteorder("="), **kwargs)


def assert_same(actual, expected):
    """Same shape, same dtype up to byte order, same values (NaN equal to NaN)."""
    assert actual.shape == expected.shape
    assert actual.dtype.newbyteorder("=") == expected.dtype.newbyteorder("=")
    np.testing.assert_array_equal(actual, expected)


# The three filters: crcx's, the reference's and scipy's, by crcx's name.
FILTERS = {
    "median": (crcx.median, crcx.reference.median, ndi.median_filter),
    "rank_filter": (crcx.rank_filter, crcx.reference.rank_filter, ndi.rank_filter),
    "percentile_filter": (crcx.percentile_filter, crcx.reference.percentile_filter,
                          ndi.percentile_filter),
}
# Random cases stay small, so that the reference is quick where scipy is wrong:
# (pixels, window elements, image side, window side). One in WIDE_CASES is wide
# enough for the kernels of lines a vector wide and of windows beyond the networks,
# with only arguments that scipy gets right, so the reference is never needed.
SMALL, WIDE = (64, 27, 8, 7), (4096, 225, 80, 15)
WIDE_CASES = 10


@dataclass
class Case:
    """One random call of a rank filter: which one, its rank or percentile, the call."""
    filter: str
    argument: object
    call: Call

    def bound(self, index):
        """The filter (0: crcx's, 1: the reference's, 2: scipy's) with its argument."""
        function = FILTERS[self.filter][index]
        if self.filter == "median":
            return function
        return lambda image, **kwargs: function(image, self.argument, **kwargs)


def _values(rng, dtype, shape, exact):
    """Values rich in ties and extremes; NaN and integers beyond 2**53 unless `exact`."""
    if dtype.kind == "b":
        return rng.random(shape) < rng.random()
    low, high = value_range(dtype, exact)
    if dtype.kind == "f":
        special = [low, high, 0.0, -0.0, np.inf, -np.inf] + ([] if exact else [np.nan])
        pool = np.concatenate([special, rng.normal(0, 10.0 ** rng.integers(0, 6), 6)])
    else:
        pool = np.concatenate([np.array([low, high, 0], dtype),
                               rng.integers(low, high, 6, endpoint=True, dtype=dtype)])
    values = rng.choice(pool, shape)
    if dtype.kind != "b" and rng.random() < 0.5:
        wide = (rng.integers(low, high, shape, endpoint=True, dtype=dtype)
                if dtype.kind in "iu" else rng.normal(0, 1e3, shape))
        values = np.where(rng.random(shape) < 0.5, values, wide)
    with np.errstate(over="ignore"):
        return np.asarray(values).astype(dtype)


def _spell_axis(rng, axis, ndim):
    return axis - ndim if rng.random() < 0.5 else axis


def draw_case(rng):
    """A random call of one of the filters, over every argument they take."""
    dtype = DTYPES[rng.integers(len(DTYPES))]
    wide = rng.integers(WIDE_CASES) == 0
    pixels, window, side, window_side = WIDE if wide else SMALL
    shape, budget = [], pixels
    for _ in range(rng.integers(1, 4 if wide else 5)):
        shape.append(int(rng.integers(1, min(side, budget) + 1)))
        budget //= shape[-1]
    ndim = len(shape)
    exact = wide or rng.random() < 0.8
    layout = LAYOUTS[rng.integers(len(LAYOUTS))]
    image = lay_out(_values(rng, dtype, tuple(shape), exact), layout)

    kwargs, pick = {}, rng.random()
    if pick < 0.25:
        filtered = list(range(ndim))
    elif pick < 0.4:
        filtered = [int(rng.integers(ndim))]
        kwargs["axes"] = _spell_axis(rng, filtered[0], ndim)
    else:
        filtered = [int(a) for a in rng.permutation(ndim)[:rng.integers(0, ndim + 1)]]
        kwargs["axes"] = tuple(_spell_axis(rng, a, ndim) for a in filtered)
    # scipy 1.17's pairing (see crcx._common.arguments.Geometry).
    along = sorted(filtered)
    within = wide or rng.random() < 0.8
    extents, budget = [], window
    for axis in along:
        limit = min(shape[axis], window_side) if within else window_side
        extents.append(int(rng.integers(1, min(limit, budget) + 1)))
        budget //= extents[-1]
    form = rng.choice(["size", "sizes", "footprint"])
    if form == "size" and extents:
        extents = [min(extents)] * len(extents)
        kwargs["size"] = extents[0]
    elif form == "footprint":
        mask = np.array(rng.random(extents) < rng.uniform(0.3, 1.0))
        mask.flat[rng.integers(mask.size)] = True
        # Non-boolean footprints count their nonzero elements, as scipy's do.
        kwargs["footprint"] = mask * [True, 2, -1, 0.5][rng.integers(4)]
    else:
        kwargs["size"] = tuple(extents)
    origin_axes = filtered if len(filtered) < ndim else along
    origins = tuple(int(rng.integers(-(k // 2), (k - 1) // 2 + 1))
                    for k in (extents[along.index(axis)] for axis in origin_axes))
    if form == "size" and origins and rng.random() < 0.5:
        origins = origins[0]
    if origins or rng.random() < 0.5:
        kwargs["origin"] = origins
    kwargs["mode"] = MODE_NAMES[rng.integers(len(MODE_NAMES))]
    low, high = value_range(dtype, exact=True)
    awkward = [0.5, -0.5, np.nan, np.inf, -np.inf, 1e300, low - 1, high + 1]
    if dtype.kind in "biu":
        cval = float(rng.integers(low, high, endpoint=True))
    else:
        cval = float(rng.normal(0, 100))
        cval = float(dtype.type(cval)) if wide else cval
    kwargs["cval"] = rng.choice(awkward) if not wide and rng.random() < 0.2 else cval

    output_dtype = (dtype if wide or rng.random() < 0.5
                    else DTYPES[rng.integers(len(DTYPES))])
    output = [("none",), ("dtype", output_dtype),
              ("array", output_dtype, LAYOUTS[rng.integers(len(LAYOUTS) - 1)])][rng.integers(3)]
    count = (int(np.count_nonzero(kwargs["footprint"])) if "footprint" in kwargs
             else int(np.prod(extents)))
    name = list(FILTERS)[rng.integers(len(FILTERS))]
    argument, rank = None, count // 2
    if name == "rank_filter":
        # The smallest and the largest rank often: scipy filters them separably.
        argument = int(rng.integers(-count, count) if rng.random() < 0.7
                       else rng.choice([0, -1, count - 1, -count]))
        rank = argument % count
    elif name == "percentile_filter":
        argument = [float(rng.uniform(-100, 100)), int(rng.integers(-100, 101)),
                    np.float32(rng.uniform(-100, 100)), 100, -100, 0, 50][rng.integers(7)]
        rank = percentile_rank(argument, count)
    box = "footprint" not in kwargs or bool(np.all(kwargs["footprint"]))
    if box and rank in (0, count - 1) and rng.random() < 0.3:
        # A mode per entry of `axes` (scipy takes them only here), as a list or a tuple.
        modes = [MODE_NAMES[rng.integers(len(MODE_NAMES))] for _ in filtered]
        kwargs["mode"] = modes if rng.random() < 0.5 else tuple(modes)
    return Case(name, argument, Call(image, layout, kwargs, output))


def check(case):
    """None if crcx answers `case` as expected (and leaves its input alone), else why not.

    Returns ``(oracle, message)``: the oracle is "scipy" or "reference".
    """
    oracle = "scipy" if scipy_agrees(case.call) else "reference"
    before = hashlib.sha256(np.ascontiguousarray(case.call.image).tobytes()).digest()
    try:
        actual = case.call.run(case.bound(0))
        expected = (scipy_median(case.call, filter=case.bound(2)) if oracle == "scipy"
                    else case.call.run(case.bound(1)))
        assert_same(actual, expected)
        after = hashlib.sha256(np.ascontiguousarray(case.call.image).tobytes()).digest()
        assert before == after, "the input was modified"
    except Exception as error:   # a crash or a wrong answer: either is a difference
        return oracle, f"{type(error).__name__}: {error}"
    return oracle, None
