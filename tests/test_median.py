"""crcx.median against its pure-Python reference and against scipy.ndimage.median_filter.

The compiled filter must equal the reference on every call, and both must equal scipy
wherever scipy's result is defined (see :func:`scipy_agrees` in tests/scipy_cases.py).
"""
import hashlib
import importlib.util
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.ndimage as ndi
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import crcx
import crcx.reference
from crcx import median
from crcx._common.arguments import normalize_geometry
from crcx._rank import _planner
from crcx.reference import extend_index
from crcx.reference import median as reference_median


def _load_scipy_cases():
    """Load tests/scipy_cases.py, shared with benchmarks/fuzz.py (tests/ is no package)."""
    spec = importlib.util.spec_from_file_location(
        "scipy_cases", Path(__file__).with_name("scipy_cases.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules["scipy_cases"] = module
    spec.loader.exec_module(module)


_load_scipy_cases()
import scipy_cases  # noqa: E402
from scipy_cases import (  # noqa: E402
    CANONICAL_MODES,
    DTYPES,
    LAYOUTS,
    MODE_NAMES,
    Call,
    assert_same,
    lay_out,
    scipy_agrees,
    scipy_median,
    value_range,
)

# Keeps the pure-Python reference fast: at most this many pixels and window elements.
MAX_PIXELS, MAX_WINDOW = 200, 49


def images(dtype, shape, exact, nonfinite):
    """Arrays rich in ties and in the extremes of `dtype` (NaN and infinities if `nonfinite`)."""
    low, high = value_range(dtype, exact)
    if dtype.kind == "b":
        return hnp.arrays(dtype, shape)
    if dtype.kind == "f":
        edges = [low, high, 0.0, -0.0] + ([np.nan, np.inf, -np.inf] if nonfinite else [])
        elements = hnp.from_dtype(dtype, allow_nan=nonfinite, allow_infinity=nonfinite)
    else:
        edges = [low, high, 0]
        elements = st.integers(low, high)
    return hnp.arrays(dtype, shape, elements=st.sampled_from(edges) | elements)


def cvals(dtype, exact):
    """Border values: exact values of `dtype` within scipy's range, or anything if not `exact`."""
    low, high = value_range(dtype, exact=True)
    if dtype.kind == "f":
        # scipy's constant border is undefined for an infinite cval (scipy_agrees);
        # infinities come with the awkward values below
        values = hnp.from_dtype(dtype, allow_nan=False, allow_infinity=False)
    else:
        values = st.sampled_from([low, high]) | st.integers(low, high)
    if exact:
        return values
    awkward = [0.5, -0.5, 0.1, np.nan, np.inf, -np.inf, 1e300, low - 1, high + 1, 2**64]
    return values | st.sampled_from(awkward) | st.floats()


@st.composite
def windows(draw, shape, within, holes):
    """Keyword arguments ``axes``, ``size`` or ``footprint``, ``origin`` for `shape`.

    With `within`, no window is longer than the axis it filters; without `holes`,
    footprints are full boxes. `axes` come in any order, negative or not; they pair
    with the window as scipy 1.17 pairs them: the window's i-th dimension with the
    i-th filtered axis in increasing order, the i-th origin with ``axes[i]`` when
    some axes are not filtered, else with axis i.
    """
    ndim = len(shape)
    axes = draw(st.none() | st.integers(-ndim, ndim - 1)
                | st.lists(st.integers(-ndim, ndim - 1), unique_by=lambda a: a % ndim,
                           max_size=ndim).map(tuple))
    filtered = [a % ndim for a in
                (range(ndim) if axes is None else [axes] if isinstance(axes, int) else axes)]
    along = sorted(filtered)
    limits = [min(7, shape[axis]) if within else 7 for axis in along]
    forms = ["sizes", "footprint"] if holes else ["sizes"]
    if all(limit >= 3 for limit in limits):
        forms.append("default")
    side = min(limits, default=7)   # of the largest cube within MAX_WINDOW
    while side ** len(limits) > MAX_WINDOW:
        side -= 1
    form = draw(st.sampled_from(forms + ["size"]))
    kwargs = {} if axes is None else {"axes": axes}
    if form == "default":
        extents = [3] * len(limits)
    elif form == "size":
        kwargs["size"] = draw(st.integers(1, side))
        extents = [kwargs["size"]] * len(limits)
    else:
        budget, extents = MAX_WINDOW, []
        for limit in limits:
            extents.append(draw(st.integers(1, min(limit, budget))))
            budget //= extents[-1]
    if form == "sizes":
        kwargs["size"] = tuple(extents)
    elif form == "footprint":
        mask = draw(hnp.arrays(bool, tuple(extents)))
        mask.flat[draw(st.integers(0, mask.size - 1))] = True
        # Non-boolean footprints count their nonzero elements, as scipy's do.
        kwargs["footprint"] = mask * draw(st.sampled_from([True, 2, -1, 0.5]))
    origin_axes = filtered if len(filtered) < ndim else along
    origins = tuple(draw(st.integers(-(k // 2), (k - 1) // 2))
                    for k in (extents[along.index(axis)] for axis in origin_axes))
    if form in ("default", "size") and extents and draw(st.booleans()):
        origins = origins[0]
    if origins or draw(st.booleans()):
        kwargs["origin"] = origins
    return kwargs


@st.composite
def calls(draw, for_scipy=False, max_side=8, max_pixels=MAX_PIXELS):
    """Calls of the median filter; with `for_scipy`, only calls scipy gets right."""
    dtype = draw(st.sampled_from(DTYPES))
    shape, budget = [], max_pixels
    for _ in range(draw(st.integers(1, 4))):
        shape.append(draw(st.integers(1, min(max_side, budget))))
        budget //= shape[-1]
    shape, ndim = tuple(shape), len(shape)
    exact = for_scipy or draw(st.booleans())
    nonfinite = not for_scipy and dtype.kind == "f" and draw(st.booleans())
    layout = draw(st.sampled_from(LAYOUTS))
    image = lay_out(draw(images(dtype, shape, exact, nonfinite)), layout)
    kwargs = draw(windows(shape, within=for_scipy or draw(st.booleans()),
                          holes=not (for_scipy and ndim == 1)))
    kwargs["mode"] = draw(st.sampled_from(MODE_NAMES))
    kwargs["cval"] = draw(cvals(dtype, exact=for_scipy))
    kwargs["n_threads"] = draw(st.sampled_from([None, 1, 2]))
    if for_scipy:
        output = draw(st.sampled_from([("none",), ("dtype", dtype)]))
    else:
        output_dtype = draw(st.sampled_from(DTYPES))
        output_layout = draw(st.sampled_from(LAYOUTS[:-1]))   # not read-only
        output = draw(st.sampled_from([("none",), ("dtype", output_dtype),
                                       ("array", output_dtype, output_layout)]))
    return Call(image, layout, kwargs, output)


def fingerprint(array):
    """Digest of the array's values and of the whole buffer it views."""
    buffers = [array] if array.base is None else [array, np.asarray(array.base)]
    return [hashlib.sha256(np.ascontiguousarray(b).tobytes()).hexdigest() for b in buffers]


@given(calls())
def test_matches_reference_and_scipy(call):
    before = fingerprint(call.image)
    actual = call.run(median)
    assert_same(actual, call.run(reference_median))
    assert fingerprint(call.image) == before   # neither filter writes to its input
    if scipy_agrees(call):
        assert_same(actual, scipy_median(call))


@given(calls(for_scipy=True))
def test_reference_matches_scipy(call):
    assert scipy_agrees(call)
    assert_same(call.run(reference_median), scipy_median(call))


@given(calls(max_side=64, max_pixels=4096), st.integers(2, 3))
def test_thread_counts_agree(call, n_threads):
    single = median(call.image, **{**call.kwargs, "n_threads": 1})
    several = median(call.image, **{**call.kwargs, "n_threads": n_threads})
    assert single.tobytes() == several.tobytes()


@pytest.mark.parametrize("n_threads", [2, 3])
def test_thread_counts_agree_on_the_sign_of_zero_beside_nan(n_threads):
    # A band of floats with a NaN is filtered again as keys, which order -0 below +0:
    # the bands must not depend on how the lines are shared among the threads.
    image = np.full((40, 70), -0.0, np.float32)
    image[::3, ::5] = 0.0
    image[17, 3] = np.nan
    single = median(image, 3, n_threads=1)
    assert single.tobytes() == median(image, 3, n_threads=n_threads).tobytes()


@st.composite
def wide_box_calls(draw):
    """Box medians of 2-d planes at least one 64-byte vector wide, in bands of lines.

    The small images of :func:`calls` are narrower than a vector, so the kernels that
    filter several lines at once on whole vectors (2-d boxes up to 9x9) need these.
    """
    dtype = draw(st.sampled_from(DTYPES))
    lanes = 64 // dtype.itemsize
    shape = (draw(st.integers(1, 3)), draw(st.integers(1, 20)),
             draw(st.integers(lanes, lanes + 40)))
    nonfinite = dtype.kind == "f" and draw(st.booleans())
    image = lay_out(draw(images(dtype, shape, exact=True, nonfinite=nonfinite)),
                    draw(st.sampled_from(LAYOUTS)))
    size = (draw(st.integers(1, 9)), draw(st.integers(1, 9)))
    kwargs = {"size": size, "axes": (1, 2), "mode": draw(st.sampled_from(CANONICAL_MODES)),
              "origin": tuple(draw(st.integers(-(k // 2), (k - 1) // 2)) for k in size),
              "cval": draw(cvals(dtype, exact=True)), "n_threads": draw(st.sampled_from([1, 2]))}
    output = draw(st.sampled_from([("none",), ("array", dtype, "strided")]))
    return Call(image, "given", kwargs, output)


@given(wide_box_calls())
def test_wide_lines_match_scipy(call):
    actual = call.run(median)
    if scipy_agrees(call):
        assert_same(actual, scipy_median(call))
    else:
        assert_same(actual, call.run(reference_median))


@pytest.mark.parametrize("function", [median, reference_median], ids=["crcx", "reference"])
@given(call=calls())
def test_output_may_be_the_image(function, call):
    # NaN and out-of-range medians convert to integers as numpy's loop for the
    # output's memory layout does, so the separate output is laid out as the image.
    writeable = call.image.flags.writeable
    image = call.image if writeable else np.array(call.image)
    separate = lay_out(np.zeros(image.shape, image.dtype.newbyteorder("=")),
                       call.layout if writeable else "contiguous")
    expected = function(image, output=separate, **call.kwargs)
    assert function(image, output=image, **call.kwargs) is image
    assert_same(image, expected)


@pytest.mark.parametrize("mode", CANONICAL_MODES)
@pytest.mark.parametrize("shape", [(), (0,), (0, 3), (3, 0), (2, 0, 4)])
def test_zero_dimensional_and_empty(shape, mode):
    image = np.full(shape, 7, np.int16)
    expected = ndi.median_filter(image, size=3, mode=mode, cval=1.5, output=np.float32)
    for function in (median, reference_median):
        assert_same(function(image, mode=mode, cval=1.5, output=np.float32), expected)


@pytest.mark.parametrize("dtype, cval, output", [
    (np.uint8, 0.5, np.float64), (np.uint8, -2.0, np.float64), (np.int8, 300.0, np.int16),
    (np.float32, 0.1, np.float64), (bool, 0.5, np.float32), (np.uint16, 70000.0, np.uint16),
])
def test_cval_is_converted_to_the_dtype_first_as_scipy_does(dtype, cval, output):
    # 8 of the 9 values in the window are cval, so the result is cval as the image's
    # dtype holds it (0.5 -> 0, -2 -> 254 for uint8, C truncation for bool), then
    # converted to `output`.
    image = np.zeros((1, 1), dtype)
    as_dtype = np.trunc(cval) if dtype is bool else cval
    with np.errstate(invalid="ignore", over="ignore"):
        expected = np.full((1, 1), as_dtype).astype(dtype).astype(output)
    assert_same(ndi.median_filter(image, 3, mode="constant", cval=cval, output=output), expected)
    for function in (median, reference_median):
        assert_same(function(image, mode="constant", cval=cval, output=output), expected)


@pytest.mark.parametrize("dtype", [np.int64, np.uint64])
def test_64_bit_integers_stay_exact(dtype):
    # All these round to 2**62 in float64, which is what scipy returns everywhere.
    image = np.array([[1, 3, 2, 5, 4]], dtype) + dtype(2**62)
    expected = np.array([[1, 2, 3, 4, 4]], dtype) + dtype(2**62)
    for function in (median, reference_median):
        assert_same(function(image, size=(1, 3)), expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nan_sorts_above_infinity(dtype):
    image = np.array([[np.nan, np.inf, 1, -np.inf, np.nan]], dtype)
    # Windows (reflect): {nan nan inf} {nan inf 1} {inf 1 -inf} {1 -inf nan} {-inf nan nan}
    expected = np.array([[np.nan, np.inf, 1, 1, np.nan]], dtype)
    for function in (median, reference_median):
        assert_same(function(image, size=(1, 3)), expected)


@pytest.mark.parametrize("image, kwargs", [
    (np.arange(6).reshape(2, 3), {"cval": np.nan}),
    (np.arange(6).reshape(2, 3), {"cval": np.nan, "mode": "constant"}),
    (np.array([[np.nan, 1e300, -np.inf]]), {"output": np.int8}),
], ids=["unused nan cval", "nan cval", "nan to int8"])
def test_no_warnings(image, kwargs):
    # scipy converts in C and never warns; neither may crcx.
    for function in (median, reference_median):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert function(image, **kwargs).shape == image.shape


IMAGE = np.arange(12.0).reshape(3, 4)
BAD_VALUE = (RuntimeError, ValueError)


@pytest.mark.parametrize("image, kwargs, types, name, scipy_type", [
    # scipy_type None: scipy has no such argument.
    pytest.param(IMAGE.astype(complex), {}, (TypeError,), "input", TypeError, id="complex"),
    pytest.param(IMAGE.astype(object), {}, BAD_VALUE, "input", RuntimeError, id="object"),
    pytest.param(IMAGE.astype(np.float16), {}, BAD_VALUE, "input", RuntimeError, id="float16"),
    pytest.param(IMAGE.astype(np.longdouble), {}, BAD_VALUE, "input", RuntimeError,
                 id="longdouble"),
    pytest.param(IMAGE, {"size": 0}, BAD_VALUE, "size", RuntimeError, id="size 0"),
    pytest.param(IMAGE, {"size": -3}, BAD_VALUE, "size", ValueError, id="negative size"),
    pytest.param(IMAGE, {"size": (3, 3, 3)}, BAD_VALUE, "size", RuntimeError, id="sizes"),
    pytest.param(IMAGE, {"footprint": np.ones((3, 3, 3))}, BAD_VALUE, "footprint",
                 RuntimeError, id="footprint ndim"),
    pytest.param(IMAGE, {"footprint": np.zeros((3, 3))}, BAD_VALUE, "footprint",
                 RuntimeError, id="empty footprint"),
    pytest.param(IMAGE, {"size": 3, "origin": (0, 0, 0)}, BAD_VALUE, "origin", RuntimeError,
                 id="origins"),
    pytest.param(IMAGE, {"size": 3, "origin": 2}, (ValueError,), "origin", ValueError,
                 id="origin out of the window"),
    pytest.param(IMAGE, {"size": 3, "mode": "edge"}, BAD_VALUE, "mode", RuntimeError,
                 id="unknown mode"),
    pytest.param(IMAGE, {"size": 3, "mode": ["reflect", "wrap"]}, BAD_VALUE, "mode",
                 RuntimeError, id="sequence of modes"),
    pytest.param(IMAGE, {"size": 3, "output": np.zeros((4, 3))}, BAD_VALUE, "output",
                 RuntimeError, id="output shape"),
    # 10**8 rather than 10**6: scipy allocates the footprint, and 10**16 bytes fail
    # at once even where the kernel always overcommits.
    pytest.param(IMAGE, {"size": 10**8}, (MemoryError, ValueError), "size", MemoryError,
                 id="huge size"),
    pytest.param(IMAGE, {"n_threads": 0}, (ValueError,), "n_threads", None, id="no threads"),
    pytest.param(IMAGE, {"n_threads": 1.5}, (TypeError,), "n_threads", None,
                 id="fractional threads"),
])
def test_invalid_arguments(image, kwargs, types, name, scipy_type):
    for function in (median, reference_median):
        with pytest.raises(types[0]) as raised:
            function(image, **kwargs)
        assert isinstance(raised.value, types)
        assert name in str(raised.value)
    if scipy_type is not None:
        # scipy has no default size, and warns when given both size and footprint.
        scipy_kwargs = kwargs if "footprint" in kwargs else {"size": 3, **kwargs}
        with pytest.raises(scipy_type):
            ndi.median_filter(image, **scipy_kwargs)


def test_every_argument_by_keyword_as_scipy_names_it():
    # Code written for scipy may pass every argument by keyword, the image as `input`.
    image = np.random.default_rng(21).integers(0, 50, (6, 7)).astype(np.int16)
    kwargs = dict(input=image, size=(3, 2), footprint=None, output=np.float32,
                  mode="constant", cval=-1.0, origin=(0, -1), axes=(0, 1))
    for crcx_function, reference_function, scipy_function, argument in [
            (median, reference_median, ndi.median_filter, {}),
            (crcx.rank_filter, crcx.reference.rank_filter, ndi.rank_filter, {"rank": 2}),
            (crcx.percentile_filter, crcx.reference.percentile_filter, ndi.percentile_filter,
             {"percentile": 70})]:
        expected = scipy_function(**kwargs, **argument)
        assert_same(crcx_function(**kwargs, **argument), expected)
        assert_same(reference_function(**kwargs, **argument), expected)


@pytest.mark.parametrize("crcx_function, reference_function, scipy_function, argument", [
    (median, reference_median, ndi.median_filter, ()),
    (crcx.rank_filter, crcx.reference.rank_filter, ndi.rank_filter, (1,)),
    (crcx.percentile_filter, crcx.reference.percentile_filter, ndi.percentile_filter, (60,))])
def test_size_and_footprint_warn_as_scipy_warns(crcx_function, reference_function,
                                                scipy_function, argument):
    # The footprint wins, and the warning points at the line that called the filter.
    image = np.random.default_rng(22).random((5, 6))
    footprint = np.tri(3, dtype=bool)
    expected = scipy_function(image, *argument, footprint=footprint)
    places = []
    for function in (scipy_function, crcx_function, reference_function):
        with pytest.warns(UserWarning, match="^ignoring size because footprint is set$") as caught:
            result = function(image, *argument, size=5, footprint=footprint)
        places += [(w.filename, w.lineno) for w in caught]
        assert_same(result, expected)
    assert len(places) == 3 and set(places) == {places[0]} and places[0][0] == __file__


# numpy.pad's spelling of each border rule, with -1 standing for cval.
NUMPY_PAD = {"reflect": {"mode": "symmetric"}, "mirror": {"mode": "reflect"},
             "nearest": {"mode": "edge"}, "wrap": {"mode": "wrap"},
             "constant": {"mode": "constant", "constant_values": -1}}


@pytest.mark.parametrize("mode", CANONICAL_MODES)
@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_extend_index_is_numpy_pad(mode, n):
    reach = 3 * n + 2
    padded = np.pad(np.arange(n), reach, **NUMPY_PAD[mode])
    indices = [extend_index(i, n, mode) for i in range(-reach, n + reach)]
    assert [-1 if i is None else i for i in indices] == padded.tolist()


def test_reference_loads_no_compiled_code():
    # Every crcx module the reference loads is Python source (the reference and the
    # rules it shares with the compiled path), and none of the filters' modules.
    script = ("import sys, numpy as np, crcx.reference\n"
              "assert crcx.reference.median(np.arange(5.0)).tolist() == [0, 1, 2, 3, 4]\n"
              "crcx.reference.crc_median(np.full((4, 4), 9.0), search=1)\n"
              "loaded = {n: m for n, m in sys.modules.items() if n.startswith('crcx.')}\n"
              "print(*sorted(n for n, m in loaded.items() if not m.__file__.endswith('.py')))\n"
              "print(*sorted(loaded))\n")
    root = str(Path(crcx.__file__).resolve().parents[1])
    path = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, check=True)
    compiled, loaded = done.stdout.splitlines()
    assert compiled == ""
    assert loaded.split() == ["crcx._common", "crcx._common.arguments", "crcx._crc",
                              "crcx._crc.model", "crcx._crc.options", "crcx._crc.planes",
                              "crcx._runtime", "crcx._runtime.isa", "crcx.reference",
                              "crcx.reference.crc", "crcx.reference.median"]


def rank_and_percentile(call, data):
    """A rank and a percentile to draw for `call`'s window."""
    count = normalize_geometry(call.image.ndim, call.kwargs.get("size"),
                               call.kwargs.get("footprint"), call.kwargs.get("origin", 0),
                               call.kwargs.get("axes")).count
    rank = data.draw(st.integers(-count, count - 1))
    percentile = data.draw(st.sampled_from([0, 100, -100, 50, -0.0, 99.9, np.array(30.0)])
                           | st.integers(-100, 100) | st.floats(-100, 100)
                           | st.floats(-100, 100, width=32).map(np.float32))
    return [(crcx.rank_filter, crcx.reference.rank_filter, ndi.rank_filter, rank),
            (crcx.percentile_filter, crcx.reference.percentile_filter, ndi.percentile_filter,
             percentile)]


def with_argument(function, argument):
    return lambda image, **kwargs: function(image, argument, **kwargs)


@given(calls(for_scipy=True), st.data())
def test_rank_and_percentile_filters_match_scipy(call, data):
    # Every rank, not only the median, goes through the same kernels; percentiles
    # become ranks as scipy computes them (in the percentile's own type).
    for function, _, scipy_function, argument in rank_and_percentile(call, data):
        assert_same(call.run(with_argument(function, argument)),
                    scipy_median(call, filter=with_argument(scipy_function, argument)))


@given(calls(), st.data())
def test_rank_and_percentile_filters_match_reference(call, data):
    for function, reference_function, _, argument in rank_and_percentile(call, data):
        assert_same(call.run(with_argument(function, argument)),
                    call.run(with_argument(reference_function, argument)))


@pytest.mark.parametrize("argument, types, scipy_type", [
    (0.5, (TypeError,), TypeError), (12, BAD_VALUE, RuntimeError),
    (-13, BAD_VALUE, RuntimeError), ("1", (TypeError,), None)])
@pytest.mark.parametrize("function", [crcx.rank_filter, crcx.reference.rank_filter])
def test_invalid_ranks(function, argument, types, scipy_type):
    with pytest.raises(types[0]) as raised:
        function(IMAGE, argument, size=(3, 4))
    assert isinstance(raised.value, types) and "rank" in str(raised.value)
    if scipy_type is not None:
        assert isinstance(raised.value, scipy_type)
        with pytest.raises(scipy_type):
            ndi.rank_filter(IMAGE, argument, size=(3, 4))


@pytest.mark.parametrize("argument, types, scipy_type", [
    (100.5, BAD_VALUE, RuntimeError), (-101, BAD_VALUE, RuntimeError),
    (np.inf, BAD_VALUE, RuntimeError), (np.nan, BAD_VALUE, ValueError),
    ("50", (TypeError,), TypeError), (1j, (TypeError,), TypeError),
    (np.array([50.0]), (TypeError,), TypeError), (True, (TypeError,), None)])
@pytest.mark.parametrize("function", [crcx.percentile_filter,
                                      crcx.reference.percentile_filter])
def test_invalid_percentiles(function, argument, types, scipy_type):
    # True is a percentile of 1 to scipy; crcx takes no bool for a number.
    with pytest.raises(types[0]) as raised:
        function(IMAGE, argument, size=3)
    assert isinstance(raised.value, types) and "percentile" in str(raised.value)
    if scipy_type is not None:
        assert isinstance(raised.value, scipy_type)
        with pytest.raises(scipy_type):
            ndi.percentile_filter(IMAGE, argument, size=3)


@pytest.mark.parametrize("image, kwargs", [
    ((7, 9), dict(size=(3, 4), axes=(1, 0))),
    ((7, 9), dict(footprint=np.tri(5), axes=(1, 0))),
    ((7, 9), dict(size=(3, 5), origin=(1, -2), axes=(-1, 0))),
    ((5, 7, 9), dict(size=(3, 5), origin=(2, -1), axes=(2, -3))),
    ((5, 7, 9), dict(footprint=np.tri(4)[:3], origin=(-1, 1), axes=(-1, 1))),
    ((4, 5, 6, 3), dict(size=(2, 3, 4), origin=(-1, 0, 1), axes=(2, 0, 1))),
])
def test_axes_pair_with_the_window_as_scipy_pairs_them(image, kwargs):
    # scipy 1.17 lays `size` and `footprint` along the filtered axes in increasing
    # order whatever the order of `axes`, and pairs origins with `axes` only when
    # some axes are not filtered; crcx once paired all three with `axes`.
    image = np.random.default_rng(14).integers(0, 100, image)
    expected = ndi.median_filter(image, **kwargs)
    for function in (median, reference_median):
        assert_same(function(image, **kwargs), expected)


@pytest.mark.parametrize("kwargs", [
    dict(size=(5, 5, 1)),
    dict(size=(3, 1, 1), mode="wrap"),
    dict(footprint=np.tri(3)[:, :, None], origin=(1, 0, 0), mode="constant", cval=300),
    dict(size=(1, 1, 1)),
])
def test_windows_one_element_wide_along_an_axis_filter_its_planes_apart(kwargs):
    # the kernels drop such axes (an RGB image's channels with size=(5, 5, 1)):
    # the results must be scipy's all the same, border rules and origins included
    image = np.random.default_rng(15).integers(0, 256, (9, 11, 3)).astype(np.uint8)
    expected = ndi.median_filter(image, **kwargs)
    assert_same(median(image, **kwargs), expected)
    assert_same(median(np.asfortranarray(image), **kwargs), expected)


@pytest.mark.parametrize("dtype, cval, output", [
    (np.uint8, 0.5, np.float32), (np.int16, -0.5, np.float64), (bool, 0.5, np.float64),
    (bool, 0.5, bool), (np.float32, 0.1, np.float64), (np.int64, 2.5, np.float64),
    (np.uint8, 0.5, np.uint8), (np.float32, 1e30, np.float64)])
def test_extreme_ranks_compare_a_constant_border_as_float64_as_scipy(dtype, cval, output):
    # scipy hands the smallest and the largest rank to its minimum and maximum
    # filters, which compare cval as a float64 (0.5 around uint8 zeros is the
    # largest value), unlike its rank filter, which converts cval to the image's
    # dtype first. With NaN (largest in crcx's order) against the reference.
    footprint = np.array([[1, 0, 1], [0, 0, 1]])
    for shape, kwargs in [((6, 7), dict(size=(2, 3))), ((6, 7), dict(size=3, axes=(1,))),
                          ((6, 7), dict(footprint=footprint, origin=(0, 1))),
                          ((3, 3, 3, 4), dict(size=2))]:
        kwargs = dict(kwargs, mode="constant", cval=cval, output=output)
        image = wide_key_image(np.random.default_rng(19), dtype, shape, specials=False)
        image.flat[::5] = dtype(cval) if np.dtype(dtype).kind == "f" else 0   # ties in dtype
        for function, scipy_function, argument in [
                (crcx.rank_filter, ndi.rank_filter, 0), (crcx.rank_filter, ndi.rank_filter, -1),
                (crcx.percentile_filter, ndi.percentile_filter, 100)]:
            assert_same(function(image, argument, **kwargs),
                        scipy_function(image, argument, **kwargs))
        with_nan = wide_key_image(np.random.default_rng(20), dtype, shape, specials=True)
        for rank in (0, -1):
            assert_same(crcx.rank_filter(with_nan, rank, **kwargs),
                        crcx.reference.rank_filter(with_nan, rank, **kwargs))


EXTREMES = [(crcx.rank_filter, crcx.reference.rank_filter, ndi.rank_filter, 0),
            (crcx.rank_filter, crcx.reference.rank_filter, ndi.rank_filter, -1),
            (crcx.percentile_filter, crcx.reference.percentile_filter, ndi.percentile_filter, 0),
            (crcx.percentile_filter, crcx.reference.percentile_filter, ndi.percentile_filter,
             100)]


@pytest.mark.parametrize("dtype", [bool, np.uint8, np.int64, np.float32, np.float64])
def test_a_mode_per_axis_as_scipy_takes_it(dtype):
    # scipy takes a sequence of modes, mode[i] for axes[i], where its rank filter hands
    # the call to its separable minimum or maximum filter: the smallest and the
    # largest rank (a median of 1 or 2 values too) over a full box. cval is within
    # every dtype's range (beyond, scipy's conversion is undefined: scipy_agrees).
    rng = np.random.default_rng(23)
    image = wide_key_image(rng, dtype, (5, 6, 7), specials=False)
    for kwargs in [dict(size=3, mode=["reflect", "wrap", "constant"], cval=0.5),
                   dict(size=(2, 4), axes=(2, 0), mode=("constant", "mirror"), cval=1),
                   dict(size=(2, 4), axes=(0, 2), mode=("constant", "mirror"), cval=1),
                   dict(size=(3, 1, 4), origin=(1, 0, -1), cval=0,
                        mode=("grid-wrap", "nearest", "grid-constant")),
                   dict(size=5, axes=[-2], mode=["wrap"]),
                   dict(footprint=np.ones((2, 3, 2)), mode=("mirror", "constant", "reflect"),
                        cval=0.5, output=np.float64)]:
        for function, reference_function, scipy_function, argument in EXTREMES:
            expected = scipy_function(image, argument, **kwargs)
            assert_same(function(image, argument, **kwargs), expected)
            assert_same(reference_function(image, argument, **kwargs), expected)
    pair = dict(size=(1, 2, 1), mode=["constant", "wrap", "constant"], cval=0.5, output=np.float32)
    expected = ndi.median_filter(image, **pair)
    for function in (median, reference_median):
        assert_same(function(image, **pair), expected)
    # Over four axes, on the NumPy path.
    volumes = wide_key_image(rng, dtype, (3, 4, 3, 5), specials=False)
    kwargs = dict(size=(2, 3, 2, 2), mode=("constant", "wrap", "mirror", "nearest"), cval=0.5)
    for function, _, scipy_function, argument in EXTREMES[:2]:
        assert_same(function(volumes, argument, **kwargs),
                    scipy_function(volumes, argument, **kwargs))


@pytest.mark.parametrize("rank, kwargs, message", [
    (4, dict(size=3), "A sequence of modes is not supported by non-separable rank filters"),
    (0, dict(footprint=np.tri(3)),
     "A sequence of modes is not supported for non-separable footprints"),
    (-1, dict(size=3, mode=("reflect",) * 3), "sequence argument must have length equal to"),
    (0, dict(size=3, mode=["wrap", "edge"]), None),
])
def test_a_mode_per_axis_elsewhere_raises_as_scipy_raises(rank, kwargs, message):
    kwargs = {"mode": ["reflect", "wrap"], **kwargs}
    for function in (crcx.rank_filter, crcx.reference.rank_filter, ndi.rank_filter):
        with pytest.raises(RuntimeError, match=None if message is None else re.escape(message)):
            function(IMAGE, rank, **kwargs)
    for function in (crcx.rank_filter, crcx.reference.rank_filter):
        with pytest.raises(ValueError, match="^mode: "):
            function(IMAGE, rank, **kwargs)


FOUR_AXES = [dict(size=3), dict(size=(2, 3, 1, 3), origin=(-1, 1, 0, 0)),
             dict(footprint=np.random.default_rng(15).random((3, 2, 3, 2)) < 0.6,
                  origin=(1, 0, -1, 0))]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", CANONICAL_MODES)
def test_windows_over_four_axes_match_scipy(dtype, mode):
    # More filtered axes than the kernels take: NumPy gathers the windows.
    image = wide_key_image(np.random.default_rng(16), dtype, (5, 4, 6, 7), specials=False)
    for kwargs in FOUR_AXES:
        kwargs = dict(kwargs, mode=mode, cval=3)
        assert_same(median(image, **kwargs), ndi.median_filter(image, **kwargs))
        assert_same(crcx.rank_filter(image, -2, **kwargs), ndi.rank_filter(image, -2, **kwargs))
        assert_same(crcx.percentile_filter(image, 30, **kwargs),
                    ndi.percentile_filter(image, 30, **kwargs))
    stack = np.stack([image, image[::-1]], axis=2)   # a fifth axis, not filtered
    kwargs = dict(size=(2, 3, 3, 2), axes=(4, 0, -2, 1), mode=mode, cval=3)
    assert_same(median(stack, **kwargs), ndi.median_filter(stack, **kwargs))


@pytest.mark.parametrize("chunk", [1, 17, 100, 1000])
def test_windows_over_four_axes_in_chunks(chunk, monkeypatch):
    # Chunks of outputs that end mid-line, and windows larger than a chunk's values.
    image = wide_key_image(np.random.default_rng(18), np.int16, (3, 5, 4, 6), specials=False)
    expected = [ndi.median_filter(image, mode="constant", cval=-1, **kwargs)
                for kwargs in FOUR_AXES]
    monkeypatch.setattr(crcx._rank.filters, "GATHERED_VALUES", chunk)
    for kwargs, result in zip(FOUR_AXES, expected):
        assert_same(median(image, mode="constant", cval=-1, **kwargs), result)


@pytest.mark.parametrize("dtype", [np.int64, np.uint64, np.float32, np.float64])
def test_windows_over_four_axes_stay_exact_and_order_nan_last(dtype):
    image = wide_key_image(np.random.default_rng(17), dtype, (3, 4, 3, 4), specials=True)
    if np.dtype(dtype).kind in "iu":
        image += dtype(2**62)   # beyond float64's exact integers
    for kwargs in FOUR_AXES:
        for mode in ("wrap", "constant"):
            assert_same(median(image, mode=mode, cval=np.nan, **kwargs),
                        reference_median(image, mode=mode, cval=np.nan, **kwargs))


def wide_key_image(rng, dtype, shape, specials):
    """Values with many ties; for floats also -0.0, +-inf and (if `specials`) NaN."""
    dtype = np.dtype(dtype)
    low = 0 if dtype.kind == "u" else -40
    image = rng.integers(low, low + 80, shape).astype(dtype)
    if dtype.kind == "f":
        image += rng.random(shape).astype(dtype)   # distinct values too
        pick = rng.random(shape)
        image[pick < 0.05] = -0.0
        image[(pick >= 0.05) & (pick < 0.08)] = np.inf
        image[(pick >= 0.08) & (pick < 0.11)] = -np.inf
        if specials:
            image[(pick >= 0.11) & (pick < 0.2)] = np.nan
    return image


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", CANONICAL_MODES)
def test_float_bands_match_scipy_and_the_reference(dtype, mode):
    # Boxes of up to 9 values on contiguous float lines at least one vector wide
    # compare floats as floats, band by band, and fall back to keys for a band with a
    # NaN (lines 10, 11 and 30 here), so several bands of each kind; origins move the
    # window's reach past the edges.
    rng = np.random.default_rng(5)
    lanes = 64 // np.dtype(dtype).itemsize
    for width in (lanes, lanes + 1, 3 * lanes - 1):
        finite = wide_key_image(rng, dtype, (37, width), specials=False)
        with_nan = finite.copy()
        with_nan[[10, 11, 30], rng.integers(0, width, 3)] = np.nan
        for size, origin in [(3, 0), ((2, 3), (0, -1)), ((3, 2), (1, 0)), (2, (-1, 0))]:
            kwargs = dict(size=size, origin=origin, mode=mode, cval=-0.5)
            assert_same(median(finite, **kwargs), ndi.median_filter(finite, **kwargs))
            assert_same(median(with_nan, n_threads=2, **kwargs),
                        reference_median(with_nan, **kwargs))


@pytest.mark.parametrize("n_threads", [1, 2])
def test_outputs_past_the_caches_match_scipy(n_threads):
    # Outputs of 16 MiB and more are stored past the caches (non-temporal stores) and,
    # with threads, have their pages mapped first; lines of a width that is no multiple
    # of 64 bytes start each at another alignment. NaN sorts above +inf, so as +inf it
    # leaves every median where it is; a float band with a NaN is done again as keys.
    rng = np.random.default_rng(7)
    image = rng.random((2048, 2060), dtype=np.float32)
    image[[5, 700, 701], [3, 2000, 2000]] = np.nan
    actual = median(image, size=3, mode="nearest", n_threads=n_threads)
    expected = ndi.median_filter(np.where(np.isnan(image), np.inf, image), size=3,
                                 mode="nearest")
    assert_same(np.where(np.isnan(actual), np.inf, actual), expected)


WIDE_3D_FOOTPRINTS = [
    (np.ones((4, 4, 4), bool), 0),
    (np.random.default_rng(24).random((4, 4, 4)) < 0.7, (1, -2, 0)),
    (np.ones((3, 5, 4), bool), (-1, 2, 1)),
    (np.random.default_rng(25).random((7, 6, 5)) < 0.8, 0),
]


@pytest.mark.parametrize("dtype", [np.uint32, np.int64, np.float64])
@pytest.mark.parametrize("mode", CANONICAL_MODES)
def test_3d_windows_of_wide_keys_match_scipy(dtype, mode):
    # 3-d windows beyond the networks of 32/64-bit keys rank each tile's input region
    # (ALGORITHM_RANKED): odd shapes leave ragged last tiles, whose regions are odd
    # and smaller than the first ones; values span the dtype (within float64's exact
    # integers, as scipy compares) with ties.
    rng = np.random.default_rng(26)
    plans = set()
    for shape in [(7, 9, 11), (21, 23, 25), (9, 5, 17)]:
        low, high = value_range(np.dtype(dtype), exact=True)
        spread = (rng.integers(low, high, shape, endpoint=True, dtype=dtype)
                  if np.dtype(dtype).kind in "iu" else rng.normal(0, 1e6, shape))
        ties = wide_key_image(rng, dtype, shape, specials=False)
        image = np.where(rng.random(shape) < 0.5, ties, spread).astype(dtype)
        for footprint, origin in WIDE_3D_FOOTPRINTS:
            if any(n >= m for n, m in zip(footprint.shape, shape)):
                continue   # scipy reads outside the array (scipy_agrees)
            extents = tuple((n // 2 + o, n - 1 - n // 2 - o)
                            for n, o in zip(footprint.shape, np.broadcast_to(origin, 3)))
            plans.add(_planner.plan(footprint, extents, shape, (mode,) * 3,
                                    int(footprint.sum()) // 2, image.dtype).algorithm)
            kwargs = dict(footprint=footprint, origin=origin, mode=mode, cval=7)
            expected = [ndi.median_filter(image, **kwargs),
                        ndi.rank_filter(image, 5, **kwargs),
                        ndi.percentile_filter(image, 90, **kwargs)]
            for n_threads in (1, 2):
                assert_same(median(image, n_threads=n_threads, **kwargs), expected[0])
                assert_same(crcx.rank_filter(image, 5, n_threads=n_threads, **kwargs),
                            expected[1])
                assert_same(crcx.percentile_filter(image, 90, n_threads=n_threads, **kwargs),
                            expected[2])
    assert _planner.RANKED in plans   # (4-byte keys take a network up to 49 values)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.uint64])
@pytest.mark.parametrize("mode", CANONICAL_MODES)
def test_ranked_box_matches_scipy(dtype, mode):
    # 2-d boxes of more than 49 elements (not 9x9) with 32/64-bit keys rank each tile
    # and use per-column bit sets; several tiles, ragged edges, origins, both threads.
    rng = np.random.default_rng(7)
    for size, shape, origin in [(15, (90, 110), 0), ((25, 9), (70, 130), (3, -4)),
                                (31, (40, 33), (-15, 15)), ((9, 11), (150, 70), (-2, 1)),
                                ((1, 61), (5, 300), 0), ((61, 2), (100, 7), (0, -1))]:
        image = wide_key_image(rng, dtype, shape, specials=False)
        expected = ndi.median_filter(image, size=size, mode=mode, cval=3, origin=origin)
        for n_threads in (1, 2):
            actual = median(image, size=size, mode=mode, cval=3, origin=origin,
                            n_threads=n_threads)
            assert_same(actual, expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size", [9, 15, (11, 23)])
def test_ranked_box_orders_nan_last(dtype, size):
    rng = np.random.default_rng(8)
    image = wide_key_image(rng, dtype, (13, 17), specials=True)
    for mode in ("nearest", "constant"):
        assert_same(median(image, size=size, mode=mode, cval=np.nan),
                    reference_median(image, size=size, mode=mode, cval=np.nan))


@pytest.mark.parametrize("dtype", [np.float32, np.int64])
@pytest.mark.parametrize("shape", [(1, 1), (3, 40), (40, 2), (5, 5)])
def test_ranked_box_image_smaller_than_window(dtype, shape):
    image = wide_key_image(np.random.default_rng(9), dtype, shape, specials=False)
    for mode in ("nearest", "constant"):
        assert_same(median(image, size=21, mode=mode),
                    ndi.median_filter(image, size=21, mode=mode))


@pytest.mark.parametrize("dtype", [np.float32, np.uint32])
def test_ranked_box_rank_filter(dtype):
    image = wide_key_image(np.random.default_rng(10), dtype, (60, 70), specials=False)
    for rank in (0, 1, 112, 223, -1):
        assert_same(crcx.rank_filter(image, rank, size=15, mode="reflect"),
                    ndi.rank_filter(image, rank, size=15, mode="reflect"))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16, np.uint8])
@pytest.mark.parametrize("mode", CANONICAL_MODES)
def test_9x9_box_matches_scipy(dtype, mode):
    # Wide keys take the shared-runs network, which works in blocks of 128 outputs.
    rng = np.random.default_rng(11)
    for width in (1, 9, 127, 128, 129, 300):
        image = wide_key_image(rng, dtype, (12, width), specials=False)
        if mode in ("reflect", "mirror", "wrap") and width < 5:
            continue   # scipy reads outside the array (scipy_agrees)
        assert_same(median(image, size=9, mode=mode, cval=2, n_threads=2),
                    ndi.median_filter(image, size=9, mode=mode, cval=2))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_9x9_box_orders_nan_last(dtype):
    image = wide_key_image(np.random.default_rng(12), dtype, (9, 140), specials=True)
    assert_same(median(image, size=9, mode="wrap"), reference_median(image, size=9, mode="wrap"))


def column_images(dtype, shape, rng):
    """Images for the column histograms: ties, extremes, flat patches and, for 16-bit
    keys, many keys that share a high byte (so that the low-byte search sees many)."""
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return rng.random(shape) < 0.4
    info = np.iinfo(dtype)
    image = rng.integers(info.min, info.max, shape, endpoint=True, dtype=dtype)
    band = rng.integers(0, 3, shape) * 256 + rng.integers(0, 256, shape) + int(info.min) + 7000
    image = np.where(rng.random(shape) < 0.6, band.astype(dtype), image)
    image[rng.random(shape) < 0.05] = info.max
    image[rng.random(shape) < 0.05] = info.min
    image[: shape[0] // 3, : shape[1] // 2] = info.max // 3
    return image


@pytest.mark.parametrize("dtype", [bool, np.uint8, np.int8, np.uint16, np.int16])
@pytest.mark.parametrize("mode", CANONICAL_MODES)
def test_column_histograms_match_scipy(dtype, mode):
    # Boxes beyond the compiled networks, of 8- and 16-bit keys: ALGORITHM_COLUMNS (for
    # 16-bit keys the ranked box, but for 61x61), with sizes odd and even, origins, and
    # windows taller or wider than the image.
    rng = np.random.default_rng(sum(map(ord, mode)) + np.dtype(dtype).itemsize)
    cases = [((40, 37), 11, 0), ((29, 53), (13, 31), (1, -3)), ((33, 20), (30, 12), (-2, 4)),
             ((70, 9), (17, 16), 0), ((1, 90), (1, 51), (0, 7)), ((90, 1), (25, 1), 0),
             ((80, 75), 61, (3, -5))]
    for shape, size, origin in cases:
        image = column_images(dtype, shape, rng)
        expected = ndi.median_filter(image, size=size, mode=mode, origin=origin)
        for n_threads in (1, 2):
            actual = median(image, size=size, mode=mode, origin=origin, n_threads=n_threads)
            assert_same(actual, expected)


@pytest.mark.parametrize("dtype", [np.uint8, np.int16])
def test_column_histograms_small_images_match_reference(dtype):
    # Windows that reach past both edges, which scipy does not handle (scipy_agrees).
    rng = np.random.default_rng(7)
    for shape, size in [((6, 9), 15), ((3, 4), (11, 13)), ((1, 1), 12)]:
        image = column_images(dtype, shape, rng)
        for mode in CANONICAL_MODES:
            assert_same(median(image, size=size, mode=mode, cval=3),
                        reference_median(image, size=size, mode=mode, cval=3))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_column_histograms_layouts_strips_and_ranks(dtype):
    # Several strips of columns, non-contiguous and batched inputs, any rank.
    rng = np.random.default_rng(11)
    image = column_images(dtype, (24, 1100), rng)
    expected = ndi.median_filter(image, size=(9, 12), mode="nearest")
    assert_same(median(image, size=(9, 12), mode="nearest"), expected)
    strided = lay_out(image[:, :300], "strided")
    assert_same(median(strided, size=15, mode="mirror"),
                ndi.median_filter(image[:, :300], size=15, mode="mirror"))
    stack = np.stack([image[:, :200], image[:, 200:400][::-1]], axis=-1)
    assert_same(median(stack, size=11, axes=(0, 1), mode="wrap"),
                ndi.median_filter(stack, size=(11, 11, 1), mode="wrap"))
    for rank in (0, 60, -1):
        assert_same(crcx.rank_filter(image[:, :200], rank, size=11, mode="reflect"),
                    ndi.rank_filter(image[:, :200], rank, size=11, mode="reflect"))


def test_column_histograms_are_planned_for_large_boxes():
    from crcx._rank._planner import COLUMNS, HISTOGRAM, NETWORK, RANKED_BOX, plan
    def algorithm(footprint, dtype):
        extents = ((0, 0),) + tuple((n // 2, (n - 1) // 2) for n in footprint.shape[1:])
        return plan(footprint, extents, (1, 80, 80), ("nearest",) * 3, footprint.sum() // 2,
                     np.dtype(dtype)).algorithm
    assert algorithm(np.ones((1, 15, 15), bool), np.uint8) == COLUMNS
    assert algorithm(np.ones((1, 25, 25), bool), np.int16) == RANKED_BOX
    assert algorithm(np.ones((1, 61, 61), bool), np.uint16) == COLUMNS
    assert algorithm(np.ones((1, 9, 9), bool), np.uint8) == NETWORK
    assert algorithm(np.ones((3, 5, 5), bool), np.uint8) == HISTOGRAM
    holes = np.ones((1, 15, 15), bool)
    holes[0, 7, 7] = False
    assert algorithm(holes, np.uint16) == HISTOGRAM


@pytest.mark.parametrize("first", range(0, 600, 100))
def test_random_cases_match_scipy_or_the_reference(first):
    # A few hundred of benchmarks/fuzz.py's cases (its seed 0), each against scipy
    # where scipy is right, else against the reference.
    for i in range(first, first + 100):
        case = scipy_cases.draw_case(np.random.default_rng([0, i]))
        assert scipy_cases.check(case)[1] is None, (i, case)
