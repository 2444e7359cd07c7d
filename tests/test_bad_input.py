"""Bad input to every public function, as one table: each row states its answer.

A row is one call with one bad argument and its documented answer: an exception of
the listed types whose message names the argument, or the documented result (for
the command line, its exit status and message). No row may warn, and after every row its
input arrays and the sample files are unchanged. For ``crcx.median`` and
``crcx.rank_filter`` the first listed type is the one scipy raises for the same
call, and scipy is run side by side to show it.
"""
import contextlib
import io as text_io
import re
import signal
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytest
import scipy.ndimage as ndi
from numpy.lib.stride_tricks import sliding_window_view

import crcx
import crcx._apps.cli
import crcx._apps.collection as collection
import crcx._apps.io as image_io
import crcx._apps.tuning as tune
from crcx import reference

RNG = np.random.default_rng(14)
IMAGE = np.arange(12.0).reshape(3, 4)
GREY = RNG.integers(0, 256, (16, 16)).astype(np.uint8)
NOISY = RNG.integers(0, 256, (8, 8)).astype(np.float64)


def as_dates(image):
    return image.astype(np.int64).astype("datetime64[s]")


def with_value(image, value, where=(2, 3)):
    out = image.copy()
    out[where] = value
    return out


NAN = with_value(NOISY, np.nan)
NAN_GREY = with_value(GREY.astype(np.float32), np.nan)
# Half the values NaN, so that some windows' medians are NaN and others not.
NAN_HALF = np.where(RNG.random((6, 7)) < 0.5, np.nan, RNG.random((6, 7)))
INFINITIES = np.array([[np.inf, -np.inf, 1.0, 2.0], [3.0, np.inf, -np.inf, 0.0]])


@dataclass(frozen=True)
class Raises:
    """The call raises an instance of every one of `types`; its message matches `names`."""
    types: tuple
    names: str


@dataclass(frozen=True)
class Returns:
    """The call returns; ``check(result, function, args, kwargs)`` asserts the answer."""
    check: Callable


@dataclass(frozen=True)
class File:
    """A path in the shared samples (which no row may modify) or in the row's own folder."""
    name: str
    scratch: bool = False


def sample(name):
    return File(name)


def scratch(name):
    return File(name, scratch=True)


@dataclass(frozen=True)
class Row:
    id: str
    function: Callable
    args: tuple
    kwargs: dict = field(default_factory=dict)
    expect: object = None
    scipy: Callable = None   # where scipy takes the same call, it raises types[0]


def label(function):
    prefix = "reference." if function.__module__.startswith("crcx.reference") else ""
    return prefix + function.__name__


# --- documented results ------------------------------------------------------------

def like_scipy(scipy_function):
    """The drop-in answer: scipy's result for the same call, dtype included."""
    def check(result, function, args, kwargs):
        expected = scipy_function(*args, **kwargs)
        assert result.dtype == expected.dtype
        np.testing.assert_array_equal(result, expected)
    return Returns(check)


def numpy_order(rank):
    """README: NaN sorts above +inf, as numpy.sort orders it (3x3 window, reflect)."""
    def check(result, function, args, kwargs):
        image = args[0]
        windows = sliding_window_view(np.pad(image, 1, mode="symmetric"), (3, 3))
        expected = np.sort(windows.reshape(image.shape + (9,)), axis=-1)[..., rank]
        assert np.isnan(expected).any() and not np.isnan(expected).all()
        np.testing.assert_array_equal(result, expected)
    return Returns(check)


def same_as(**changed):
    """The same answer as the call with `changed` keywords instead."""
    def check(result, function, args, kwargs):
        np.testing.assert_array_equal(result, function(*args, **{**kwargs, **changed}))
    return Returns(check)


def empty_result(result, function, args, kwargs):
    first = result[0] if isinstance(result, tuple) else result
    assert first.shape == np.shape(args[0]) and first.size == 0


EMPTY = Returns(empty_result)


# --- the table -----------------------------------------------------------------------

BAD_VALUE = (RuntimeError, ValueError)   # scipy's RuntimeError, a reader's ValueError


def median_rows(id, image, kwargs, expect, scipy=True):
    """One call to crcx.median and to the reference, scipy's median side by side."""
    return [Row(f"median-{id}", crcx.median, (image,), kwargs, expect,
                ndi.median_filter if scipy else None),
            Row(f"reference.median-{id}", reference.median, (image,), kwargs, expect)]


MEDIAN_ROWS = [
    # dtypes
    *median_rows("object", IMAGE.astype(object), {"size": 3}, Raises(BAD_VALUE, "input")),
    *median_rows("complex", IMAGE.astype(complex), {"size": 3}, Raises((TypeError,), "input")),
    *median_rows("str", IMAGE.astype(str), {"size": 3}, Raises((TypeError,), "input")),
    *median_rows("bytes", IMAGE.astype(bytes), {"size": 3}, Raises((TypeError,), "input")),
    # scipy: RuntimeError for 2-d dates, TypeError (numpy's promotion error) for 1-d
    *median_rows("datetime", as_dates(IMAGE), {"size": 3},
                 Raises((RuntimeError, TypeError), "input")),
    *median_rows("1-d datetime", as_dates(IMAGE[0]), {"size": 3}, Raises((TypeError,), "input")),
    *median_rows("timedelta", IMAGE.astype("timedelta64[s]"), {"size": 3},
                 Raises(BAD_VALUE, "input")),
    # ranks
    *median_rows("0-d", np.array(3.0), {"size": 3}, like_scipy(ndi.median_filter)),
    *median_rows("1-d footprint", IMAGE, {"footprint": np.ones(3)},
                 Raises(BAD_VALUE, "footprint")),
    *median_rows("3-d footprint", IMAGE, {"footprint": np.ones((3, 3, 3))},
                 Raises(BAD_VALUE, "footprint")),
    *median_rows("3 sizes", IMAGE, {"size": (3, 3, 3)}, Raises(BAD_VALUE, "size")),
    *median_rows("5-d, 2 axes", RNG.random((2, 3, 2, 3, 2)), {"size": 3, "axes": (1, 3)},
                 like_scipy(ndi.median_filter)),
    # windows over any number of axes, as scipy filters them
    *median_rows("4 axes", RNG.random((2, 3, 2, 3)), {"size": 3},
                 like_scipy(ndi.median_filter)),
    # shapes
    *median_rows("empty", np.zeros(0), {"size": 3}, like_scipy(ndi.median_filter)),
    *median_rows("zero rows", np.zeros((0, 5)), {"size": 3}, like_scipy(ndi.median_filter)),
    *median_rows("zero columns", np.zeros((4, 0), np.uint8), {"footprint": np.eye(3)},
                 like_scipy(ndi.median_filter)),
    *median_rows("zero-length footprint", IMAGE, {"footprint": np.ones((0, 3))},
                 Raises(BAD_VALUE, "footprint")),
    # NaN and infinities
    *median_rows("nan", NAN_HALF, {"size": 3}, numpy_order(4), scipy=False),
    *median_rows("nan float32", NAN_HALF.astype(np.float32), {"size": 3}, numpy_order(4),
                 scipy=False),
    *median_rows("inf", INFINITIES, {"size": 3}, like_scipy(ndi.median_filter)),
    # sizes
    *median_rows("size 0", IMAGE, {"size": 0}, Raises(BAD_VALUE, "size")),
    *median_rows("size -1", IMAGE, {"size": -1}, Raises((ValueError,), "size")),
    *median_rows("size 10**8", IMAGE, {"size": 10**8}, Raises((MemoryError, ValueError), "size")),
    *median_rows("size 2**70", IMAGE, {"size": 2**70}, Raises((ValueError,), "size")),
    *median_rows("size 3.0", IMAGE, {"size": 3.0}, Raises((TypeError,), "size")),
    *median_rows("size True", IMAGE, {"size": True}, Raises((TypeError,), "size")),
    *median_rows("size np.bool_", IMAGE, {"size": np.bool_(True)}, Raises((TypeError,), "size")),
    *median_rows("size (3, True)", IMAGE, {"size": (3, True)}, Raises((TypeError,), "size")),
    *median_rows("size '3'", IMAGE, {"size": "3"}, Raises((TypeError,), "size")),
    *median_rows("size (None, 3)", IMAGE, {"size": (None, 3)}, Raises((TypeError,), "size")),
    *median_rows("size 0-d array", IMAGE, {"size": np.array(3)}, like_scipy(ndi.median_filter)),
    *median_rows("origin (0, True)", IMAGE, {"size": 3, "origin": (0, True)},
                 Raises((TypeError,), "origin")),
    *median_rows("origin '0'", IMAGE, {"size": 3, "origin": "0"}, Raises((TypeError,), "origin")),
    *median_rows("origin 1.5", IMAGE, {"size": 3, "origin": 1.5}, Raises((TypeError,), "origin")),
    *median_rows("origin 10**20", IMAGE, {"size": 3, "origin": 10**20},
                 Raises((ValueError,), "origin")),
    # keyword types
    *median_rows("mode 3", IMAGE, {"size": 3, "mode": 3}, Raises(BAD_VALUE, "mode")),
    *median_rows("mode None", IMAGE, {"size": 3, "mode": None}, Raises(BAD_VALUE, "mode")),
    # a mode per axis: only for the smallest and the largest rank (here of 2) of a box
    *median_rows("mode per axis", IMAGE, {"size": 3, "mode": ["reflect", "wrap"]},
                 Raises(BAD_VALUE, "mode")),
    *median_rows("mode per axis, 2 values", IMAGE, {"size": (1, 2), "mode": ["wrap", "constant"],
                                                   "cval": 20.5}, like_scipy(ndi.median_filter)),
    *median_rows("cval str", IMAGE, {"size": 3, "cval": "1"}, Raises((TypeError,), "cval")),
    *median_rows("cval complex", IMAGE, {"size": 3, "cval": 1j}, Raises((TypeError,), "cval")),
    *median_rows("cval numpy complex", IMAGE, {"size": 3, "cval": np.complex128(1j)},
                 Raises((TypeError,), "cval"), scipy=False),   # scipy warns and drops 1j
    *median_rows("cval 1-d array", IMAGE, {"size": 3, "cval": np.ones(2)},
                 Raises((TypeError,), "cval")),
    *median_rows("cval 0-d array", IMAGE, {"size": 3, "cval": np.array(-1.5), "mode": "constant"},
                 like_scipy(ndi.median_filter)),
    *median_rows("axes 1.5", IMAGE, {"size": 3, "axes": 1.5}, Raises((TypeError,), "axes")),
    *median_rows("axes '0'", IMAGE, {"size": 3, "axes": "0"}, Raises((TypeError,), "axes")),
    *median_rows("axes 5", IMAGE, {"size": 3, "axes": 5}, Raises((IndexError, ValueError), "axes")),
    *median_rows("axes -3", IMAGE, {"size": 3, "axes": -3},
                 Raises((IndexError, ValueError), "axes")),
    *median_rows("axes (0, 2)", IMAGE, {"size": 3, "axes": (0, 2)}, Raises((ValueError,), "axes")),
    *median_rows("axes (0, 0)", IMAGE, {"size": 3, "axes": (0, 0)}, Raises((ValueError,), "axes")),
    *median_rows("output 'foo'", IMAGE, {"size": 3, "output": "foo"},
                 Raises((TypeError,), "output")),
    *median_rows("output complex", IMAGE, {"size": 3, "output": np.complex128},
                 Raises((RuntimeError, TypeError), "output")),
    *median_rows("output str", IMAGE, {"size": 3, "output": "U3"},
                 Raises((RuntimeError, TypeError), "output")),
    *median_rows("output shape", IMAGE, {"size": 3, "output": np.zeros((4, 3))},
                 Raises(BAD_VALUE, "output")),
    *median_rows("n_threads 0", IMAGE, {"n_threads": 0}, Raises((ValueError,), "n_threads"),
                 scipy=False),
    *median_rows("n_threads 1.5", IMAGE, {"n_threads": 1.5}, Raises((TypeError,), "n_threads"),
                 scipy=False),
    *median_rows("n_threads True", IMAGE, {"n_threads": True}, Raises((TypeError,), "n_threads"),
                 scipy=False),
    *median_rows("n_threads 10**9", IMAGE, {"n_threads": 10**9}, same_as(n_threads=1),
                 scipy=False),
]


def read_only(array):
    array = array.copy()
    array.flags.writeable = False
    return array


MEDIAN_ROWS += median_rows("read-only output", IMAGE, {"size": 3, "output": read_only(IMAGE)},
                           Raises((ValueError,), "output"))

RANK_ROWS = [
    Row(f"rank_filter-{id}", crcx.rank_filter, (image, rank), kwargs, expect, ndi.rank_filter)
    for id, image, rank, kwargs, expect in [
        ("rank 9 of 9", IMAGE, 9, {"size": 3}, Raises(BAD_VALUE, "rank")),
        ("rank -10 of 9", IMAGE, -10, {"size": 3}, Raises(BAD_VALUE, "rank")),
        ("rank 2**70", IMAGE, 2**70, {"size": 3}, Raises(BAD_VALUE, "rank")),
        ("str", IMAGE.astype(str), 0, {"size": 3}, Raises((TypeError,), "input")),
        ("size (3, True)", IMAGE, 0, {"size": (3, True)}, Raises((TypeError,), "size")),
        ("inf", INFINITIES, -1, {"size": 3}, like_scipy(ndi.rank_filter)),
        ("mode per axis", IMAGE, 0, {"size": 3, "mode": ("constant", "wrap"), "cval": 0.5},
         like_scipy(ndi.rank_filter)),
        ("mode per axis, rank 4 of 9", IMAGE, 4, {"size": 3, "mode": ["reflect", "wrap"]},
         Raises(BAD_VALUE, "mode")),
        ("mode per axis, footprint with holes", IMAGE, 0,
         {"footprint": np.tri(3), "mode": ["reflect", "wrap"]}, Raises(BAD_VALUE, "mode")),
        ("mode per axis, 3 for 2 axes", IMAGE, -1, {"size": 3, "mode": ("reflect",) * 3},
         Raises(BAD_VALUE, "mode")),
        ("mode per axis, unknown", IMAGE, -1, {"size": 3, "mode": ["reflect", "edge"]},
         Raises(BAD_VALUE, "mode")),
        ("empty", np.zeros((0, 3)), 0, {"size": 3}, like_scipy(ndi.rank_filter)),
    ]
] + [Row("rank_filter-nan", crcx.rank_filter, (NAN_HALF, -3), {"size": 3}, numpy_order(6))]

CRC_FUNCTIONS = (crcx.crc_median, crcx.crc_map, reference.crc_median, reference.crc_map)


def crc_rows(id, image, kwargs, expect, functions=CRC_FUNCTIONS):
    """One call to the compiled CRC-MF and its reference: both answer alike."""
    return [Row(f"{label(function)}-{id}", function, (image,), kwargs, expect)
            for function in functions]


CRC_ROWS = [
    # dtypes
    *crc_rows("object", NOISY.astype(object), {}, Raises((ValueError,), "image")),
    *crc_rows("complex", NOISY.astype(complex), {}, Raises((TypeError,), "image")),
    *crc_rows("str", NOISY.astype(str), {}, Raises((TypeError,), "image")),
    *crc_rows("datetime", as_dates(NOISY), {}, Raises((TypeError,), "image")),
    # ranks
    *crc_rows("0-d", np.array(3.0), {}, Raises((ValueError,), "image")),
    *crc_rows("1-d", np.zeros(8), {}, Raises((ValueError,), "image")),
    *crc_rows("1-d planes", np.zeros((3, 8)), {"channel_axis": 0}, Raises((ValueError,), "image")),
    *crc_rows("4-d", np.zeros((2, 4, 4, 4)), {}, Raises((ValueError,), "image")),
    # shapes
    *crc_rows("zero rows", np.zeros((0, 5)), {}, EMPTY),
    *crc_rows("zero columns", np.zeros((5, 0), np.uint8), {}, EMPTY),
    *crc_rows("zero channels", np.zeros((8, 8, 0)), {"channel_axis": -1}, EMPTY),
    # NaN and infinities: refused (docs/algorithm.md §0)
    *crc_rows("nan", NAN, {}, Raises((ValueError,), "image: contains NaN or infinity")),
    *crc_rows("nan float32", NAN.astype(np.float32), {}, Raises((ValueError,), "image")),
    *crc_rows("+inf", with_value(NOISY, np.inf), {}, Raises((ValueError,), "image")),
    *crc_rows("-inf", with_value(NOISY, -np.inf), {}, Raises((ValueError,), "image")),
    *crc_rows("nan in a channel", np.stack([NOISY, NAN], axis=-1), {"channel_axis": -1},
              Raises((ValueError,), "image")),
    *crc_rows("nan cval", NOISY, {"mode": "constant", "cval": np.nan},
              Raises((ValueError,), "cval")),
    *crc_rows("inf cval", NOISY, {"mode": "constant", "cval": -np.inf},
              Raises((ValueError,), "cval")),
    *crc_rows("unused nan cval", NOISY, {"cval": np.nan, "search": 1}, same_as(cval=0.0)),
    # sizes
    *crc_rows("size 0", NOISY, {"size": 0}, Raises((ValueError,), "size")),
    *crc_rows("size -1", NOISY, {"size": -1}, Raises((ValueError,), "size")),
    *crc_rows("size 10**8", NOISY, {"size": 10**8}, Raises((ValueError,), "size")),
    *crc_rows("size 3.0", NOISY, {"size": 3.0}, Raises((TypeError,), "size")),
    *crc_rows("size True", NOISY, {"size": True}, Raises((TypeError,), "size")),
    *crc_rows("window 0", NOISY, {"window": 0}, Raises((ValueError,), "window")),
    *crc_rows("window 4", NOISY, {"window": 4}, Raises((ValueError,), "window")),
    *crc_rows("window 3.0", NOISY, {"window": 3.0}, Raises((ValueError,), "window")),
    *crc_rows("window True", NOISY, {"window": True}, Raises((ValueError,), "window")),
    *crc_rows("s_max -3", NOISY, {"s_max": -3}, Raises((ValueError,), "s_max")),
    *crc_rows("search -1", NOISY, {"search": -1}, Raises((ValueError,), "search")),
    # keyword types
    *crc_rows("channel_axis 1.5", np.zeros((8, 8, 3)), {"channel_axis": 1.5},
              Raises((TypeError,), "channel_axis")),
    *crc_rows("channel_axis 'x'", np.zeros((8, 8, 3)), {"channel_axis": "x"},
              Raises((TypeError,), "channel_axis")),
    *crc_rows("channel_axis True", np.zeros((8, 8, 3)), {"channel_axis": True},
              Raises((TypeError,), "channel_axis")),
    *crc_rows("channel_axis 3", np.zeros((8, 8, 3)), {"channel_axis": 3},
              Raises((ValueError,), "channel_axis")),
    *crc_rows("mode 3", NOISY, {"mode": 3}, Raises((ValueError,), "mode")),
    *crc_rows("cval str", NOISY, {"cval": "0"}, Raises((TypeError,), "cval")),
    *crc_rows("n_threads 0", NOISY, {"n_threads": 0}, Raises((ValueError,), "n_threads")),
    *crc_rows("correlation 3", NOISY, {"correlation": 3}, Raises((ValueError,), "correlation")),
    *crc_rows("joint_channels 1", NOISY, {"joint_channels": 1},
              Raises((ValueError,), "joint_channels")),
    *crc_rows("unknown keyword", NOISY, {"windw": 5}, Raises((TypeError,), "windw")),
    *crc_rows("output 'foo'", NOISY, {"output": "foo"}, Raises((TypeError,), "output"),
              functions=(crcx.crc_median, reference.crc_median)),
    *crc_rows("output complex", NOISY, {"output": complex}, Raises((TypeError,), "output"),
              functions=(crcx.crc_median, reference.crc_median)),
    *crc_rows("output shape", NOISY, {"output": np.zeros((3, 3))}, Raises((ValueError,), "output"),
              functions=(crcx.crc_median, reference.crc_median)),
]


def returns(predicate):
    """The documented answer as a predicate of the result alone."""
    def check(result, function, args, kwargs):
        assert predicate(result), result
    return Returns(check)


def nan_failure(result):
    (failure,) = result.failures
    return (not result.outputs and failure.input.endswith("nan.tif")
            and "image: contains NaN or infinity" in failure.reason)


def median_of_nan_grey(result, function, args, kwargs):
    np.testing.assert_array_equal(result, crcx.median(NAN_GREY, size=3))


COLLECTION_ROWS = [Row(f"{label(function)}-{id}", function, args, kwargs, expect)
                   for function, id, args, kwargs, expect in [
    (collection.denoise_image, "str", (GREY.astype(str), "median"), {},
     Raises((TypeError,), "image")),
    (collection.denoise_image, "0-d", (np.array(3), "median"), {}, Raises((ValueError,), "image")),
    (collection.denoise_image, "1-d", (np.zeros(5), "crc"), {}, Raises((ValueError,), "image")),
    (collection.denoise_image, "zero rows", (np.zeros((0, 5)), "median"), {"size": 3}, EMPTY),
    (collection.denoise_image, "zero rows crc", (np.zeros((0, 5, 3)), "crc"), {}, EMPTY),
    (collection.denoise_image, "nan crc", (NAN_GREY, "crc"), {}, Raises((ValueError,), "image")),
    (collection.denoise_image, "nan median", (NAN_GREY, "median"), {"size": 3},
     Returns(median_of_nan_grey)),
    (collection.denoise_image, "method 3", (GREY, 3), {}, Raises((ValueError,), "method")),
    (collection.denoise_image, "method list", (GREY, ["median"]), {},
     Raises((ValueError,), "method")),
    (collection.denoise_image, "axes", (GREY, "median"), {"axes": (0,)},
     Raises((TypeError,), "axes")),
    (collection.denoise_image, "size 0", (GREY, "median"), {"size": 0},
     Raises((ValueError,), "size")),
    (collection.denoise_collection, "int", (3, "median"), {},
     Raises((TypeError,), "images_or_paths")),
    (collection.denoise_collection, "empty", ([], "median"), {},
     returns(lambda result: result.outputs == [] and result.summary().startswith("0 written"))),
    (collection.denoise_collection, "mixed", ([GREY, sample("grey.png")], "median"), {},
     Raises((TypeError,), "images_or_paths")),
    (collection.denoise_collection, "jobs 0", ([GREY], "median"), {"jobs": 0},
     Raises((ValueError,), "jobs")),
    (collection.denoise_collection, "jobs 1.5", ([GREY], "median"), {"jobs": 1.5},
     Raises((ValueError,), "jobs")),
    (collection.denoise_collection, "jobs True", ([GREY], "median"), {"jobs": True},
     Raises((ValueError,), "jobs")),
    (collection.denoise_collection, "overwrite 'no'", ([sample("grey.png")], "median",
     scratch("out")), {"overwrite": "no"}, Raises((TypeError,), "overwrite")),
    (collection.denoise_collection, "progress 'no'", ([GREY], "median"), {"progress": "no"},
     Raises((TypeError,), "progress")),
    (collection.denoise_collection, "arrays with output_dir", ([GREY], "median",
     scratch("out")), {}, Raises((ValueError,), "output_dir")),
    (collection.denoise_collection, "paths without output_dir", ([sample("grey.png")],
     "median"), {}, Raises((ValueError,), "output_dir")),
    (collection.denoise_collection, "output_dir 3", ([sample("grey.png")], "median", 3), {},
     Raises((TypeError,), "output_dir")),
    (collection.denoise_collection, "output_dir a file", ([sample("grey.png")], "median",
     sample("text.txt")), {}, Raises((ValueError,), "output_dir")),
    (collection.denoise_collection, "nan file", ([sample("nan.tif")], "crc", scratch("out")), {},
     returns(nan_failure)),
    (collection.denoise_collection, "nan array", ([NAN_GREY], "crc"), {},
     Raises((ValueError,), "image")),
    (collection.collection_score, "nan", ([NAN_GREY],), {}, Raises((ValueError,), "image")),
    (collection.collection_score, "inf", ([with_value(NOISY, np.inf)],), {},
     Raises((ValueError,), "image")),
    (collection.collection_score, "zero rows", ([np.zeros((0, 4))],), {},
     Raises((ValueError,), "images")),
    (collection.collection_score, "1-d", ([np.zeros(8)],), {}, Raises((ValueError,), "image")),
    (collection.collection_score, "int", (3,), {}, Raises((TypeError,), "images")),
    (collection.collection_score, "str image", ([GREY.astype(str)],), {},
     Raises((TypeError,), "image")),
    (collection.collection_score, "window 0", ([GREY],), {"window": 0},
     Raises((ValueError,), "window")),
    (collection.expand_inputs, "int", (3,), {}, Raises((TypeError,), "paths")),
    (collection.expand_inputs, "[int]", ([3],), {}, Raises((TypeError,), "paths")),
    (collection.expand_inputs, "[None]", ([None],), {}, Raises((TypeError,), "paths")),
    (collection.expand_inputs, "one folder as str", (sample("folder"),), {},
     returns(lambda result: [p.name for p in result[0]] == ["grey.png"] and not result[1])),
    (collection.load_images, "int", (3,), {}, Raises((TypeError,), "images")),
    (collection.load_images, "missing", ([sample("missing.png")],), {},
     Raises((image_io.ImageReadError,), "missing.png")),
    (collection.plan_files, "output_dir None", ([sample("grey.png")], None), {},
     Raises((ValueError,), "output_dir")),
    (collection.plan_files, "output_dir 3", ([sample("grey.png")], 3), {},
     Raises((TypeError,), "output_dir")),
    (collection.plan_files, "one path as str", (sample("grey.png"), scratch("out")), {},
     returns(lambda result: [s.name for s, _ in result[0]] == ["grey.png"])),
    (collection.filter_function, "None", (None,), {}, Raises((ValueError,), "method")),
    (collection.filter_function, "list", (["median"],), {}, Raises((ValueError,), "method")),
]]


def loss_of(images, **options):
    """The answer of the same loss on these images."""
    def check(result, function, args, kwargs):
        assert result == function(images, *args[1:], **{**kwargs, **options})
    return Returns(check)


TUNE_ROWS = [Row(f"{label(function)}-{id}", function, args, kwargs, expect)
             for function, id, args, kwargs, expect in [
    (tune.tune, "grid list", ([GREY],), {"grid": [1], "method": "median"},
     Raises((TypeError,), "grid")),
    (tune.tune, "grid str", ([GREY],), {"grid": {"size": "3"}, "method": "median"},
     Raises((TypeError,), "grid")),
    (tune.tune, "grid no value", ([GREY],), {"grid": {"size": ()}, "method": "median"},
     Raises((ValueError,), "grid")),
    (tune.tune, "grid size 0", ([GREY],), {"grid": {"size": (0,)}, "method": "median"},
     Raises((ValueError,), "size")),
    (tune.tune, "loss 3", ([GREY],), {"loss": 3, "method": "median"},
     Raises((ValueError,), "loss")),
    (tune.tune, "stride 2.5", ([GREY],), {"stride": 2.5, "method": "median"},
     Raises((ValueError,), "stride")),
    (tune.tune, "stride True", ([GREY],), {"stride": True, "method": "median"},
     Raises((ValueError,), "stride")),
    (tune.tune, "method 3", ([GREY],), {"method": 3}, Raises((ValueError,), "method")),
    (tune.tune, "progress 'x'", ([GREY],), {"method": "median", "progress": "x"},
     Raises((TypeError,), "progress")),
    (tune.tune, "no image", ([],), {"method": "median"}, Raises((ValueError,), "images")),
    (tune.tune, "int", (3,), {"method": "median"}, Raises((TypeError,), "images")),
    (tune.tune, "zero rows", ([np.zeros((0, 8))],), {"method": "median"},
     Raises((ValueError,), "images")),
    (tune.tune, "1-d", ([np.zeros(8)],), {"method": "median"}, Raises((ValueError,), "image")),
    (tune.tune, "str", ([GREY.astype(str)],), {"method": "median"},
     Raises((TypeError,), "image")),
    (tune.tune, "object", ([GREY.astype(object)],), {"method": "median"},
     Raises((ValueError,), "image")),
    (tune.tune, "complex", ([GREY.astype(complex)],), {"method": "median"},
     Raises((TypeError,), "image")),
    (tune.tune, "nan", ([NAN_GREY],), {"method": "median"}, Raises((ValueError,), "image")),
    (tune.tune, "nan j-invariant", ([NAN_GREY],), {"method": "median", "loss": "j-invariant"},
     Raises((ValueError,), "image")),
    (tune.tune, "inf file", (sample("inf.tif"),), {"method": "median"},
     Raises((ValueError,), "image")),
    (tune.stein_loss, "epsilon nan", ([GREY], "median"), {"epsilon": np.nan},
     Raises((ValueError,), "epsilon")),
    (tune.stein_loss, "seed 'x'", ([GREY], "median"), {"seed": "x"},
     Raises((ValueError,), "seed")),
    (tune.stein_loss, "seed -1", ([GREY], "median"), {"seed": -1},
     Raises((ValueError,), "seed")),
    (tune.stein_loss, "seed 1.5", ([GREY], "median"), {"seed": 1.5},
     Raises((ValueError,), "seed")),
    (tune.stein_loss, "int", (3, "median"), {}, Raises((TypeError,), "images")),
    (tune.stein_loss, "one array", (GREY, "median"), {"size": 3}, loss_of([GREY])),
    (tune.stein_loss, "nan", ([NAN_GREY], "median"), {}, Raises((ValueError,), "image")),
    (tune.self_supervised_loss, "stride 1", ([GREY], "median"), {"stride": 1},
     Raises((ValueError,), "stride")),
    (tune.self_supervised_loss, "stride 2**40", ([GREY], "median"), {"stride": 2**40},
     same_as(stride=GREY.shape[0])),
    (tune.self_supervised_loss, "int", (3, "median"), {}, Raises((TypeError,), "images")),
    (tune.self_supervised_loss, "one array", (GREY, "median"), {"size": 3}, loss_of([GREY])),
    (tune.self_supervised_loss, "nan", ([NAN_GREY], "median"), {}, Raises((ValueError,), "image")),
    (tune.self_supervised_loss, "str", ([GREY.astype(str)], "median"), {},
     Raises((TypeError,), "image")),
    (tune.self_supervised_loss, "datetime", ([as_dates(GREY)], "median"), {},
     Raises((TypeError,), "image")),
    (tune.self_supervised_loss, "zero rows", ([np.zeros((0, 5))], "median"), {},
     Raises((ValueError,), "images")),
]]


def round_trip(result, function, args, kwargs):
    np.testing.assert_array_equal(image_io.read_image(result), args[1])


IO_ROWS = [Row(f"{label(function)}-{id}", function, args, {}, expect)
           for function, id, args, expect in [
    (image_io.read_image, "int", (3,), Raises((TypeError,), "path")),
    (image_io.read_image, "None", (None,), Raises((TypeError,), "path")),
    (image_io.read_image, "array", (GREY,), Raises((TypeError,), "path")),
    (image_io.read_image, "folder", (sample("folder"),), Raises((image_io.ImageReadError,),
                                                                "folder")),
    (image_io.read_image, "text file", (sample("text.txt"),),
     Raises((image_io.ImageReadError,), "text.txt: not a PNG, JPEG or TIFF")),
    (image_io.read_image, "missing", (sample("missing.png"),),
     Raises((image_io.ImageReadError,), "missing.png")),
    (image_io.write_image, "path 3", (3, GREY), Raises((TypeError,), "path")),
    (image_io.write_image, "suffix", (scratch("a.bmp"), GREY), Raises((ValueError,), "path")),
    (image_io.write_image, "list", (scratch("a.png"), [[1]]), Raises((TypeError,), "array")),
    (image_io.write_image, "object tif", (scratch("a.tif"), GREY.astype(object)),
     Raises((ValueError,), "array")),
    (image_io.write_image, "str tif", (scratch("a.tif"), GREY.astype(str)),
     Raises((ValueError,), "array")),
    (image_io.write_image, "datetime tif", (scratch("a.tif"), as_dates(GREY)),
     Raises((ValueError,), "array")),
    (image_io.write_image, "0-d tif", (scratch("a.tif"), np.array(3, np.uint8)),
     Raises((ValueError,), "array")),
    (image_io.write_image, "1-d tif", (scratch("a.tif"), np.zeros(3, np.uint8)),
     Raises((ValueError,), "array")),
    (image_io.write_image, "1-d png", (scratch("a.png"), np.zeros(3, np.uint8)),
     Raises((ValueError,), "array")),
    (image_io.write_image, "zero rows png", (scratch("a.png"), np.zeros((0, 3), np.uint8)),
     Raises((ValueError,), "array")),
    (image_io.write_image, "zero rows jpg", (scratch("a.jpg"), np.zeros((0, 3), np.uint8)),
     Raises((ValueError,), "array")),
    (image_io.write_image, "zero rows tif", (scratch("a.tif"), np.zeros((0, 3), np.uint8)),
     Raises((ValueError,), "array")),
    (image_io.write_image, "float png", (scratch("a.png"), NAN_GREY),
     Raises((ValueError,), "array")),
    (image_io.write_image, "nan tif", (scratch("a.tif"), NAN_GREY), Returns(round_trip)),
    (image_io.partial_files, "int", (3,), Raises((TypeError,), "directory")),
    (image_io.partial_files, "None", (None,), Raises((TypeError,), "directory")),
    (image_io.partial_files, "names str", (sample("folder"), "grey.png"),
     Raises((TypeError,), "names")),
    (image_io.partial_files, "a file", (sample("text.txt"),),
     Raises((NotADirectoryError,), "text.txt")),
]]


def exits(status, says):
    """The command line's answer: its exit status, and an output matching `says`."""
    def check(result, function, args, kwargs):
        got, output = result
        assert got == status and re.search(says, output), output
    return Returns(check)


def cli(*argv):
    """Run the crcx command in this process: (exit status, its stdout and stderr)."""
    output = text_io.StringIO()
    handler = signal.getsignal(signal.SIGTERM)
    try:
        with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
            try:
                status = crcx._apps.cli.main([str(arg) for arg in argv])
            except SystemExit as exit:
                status = exit.code
    finally:
        signal.signal(signal.SIGTERM, handler)
    return status, output.getvalue()


DENOISE = ("denoise", sample("grey.png"), "-o", scratch("out"), "--no-progress")
MEDIAN = ("--method", "median")
CLI_ROWS = [Row(f"crcx {id}", cli, argv, {}, expect) for id, argv, expect in [
    ("denoise --size 0", (*DENOISE, *MEDIAN, "--size", "0"), exits(1, "size")),
    ("denoise --size -3", (*DENOISE, *MEDIAN, "--size", "-3"), exits(1, "size")),
    ("denoise --size abc", (*DENOISE, "--size", "abc"), exits(2, "--size")),
    ("denoise --size 3.5", (*DENOISE, "--size", "3.5"), exits(2, "--size")),
    ("denoise --size 10**8", (*DENOISE, *MEDIAN, "--size", "100000000"), exits(1, "size")),
    ("denoise --window 4", (*DENOISE, "--window", "4"), exits(1, "window")),
    ("denoise --jobs -1", (*DENOISE, *MEDIAN, "--jobs", "-1"), exits(2, "--jobs")),
    ("denoise --jobs x", (*DENOISE, *MEDIAN, "--jobs", "x"), exits(2, "--jobs")),
    ("denoise --threads 0", (*DENOISE, *MEDIAN, "--threads", "0"), exits(1, "n_threads")),
    ("denoise --cval abc", (*DENOISE, *MEDIAN, "--cval", "abc"), exits(2, "--cval")),
    # a NaN cval converts to an integer image's dtype, as scipy converts it; not so for floats
    ("denoise --cval nan", ("denoise", sample("float.tif"), "-o", scratch("out"), "--mode",
                            "constant", "--cval", "nan", "--no-progress"),
     exits(1, "float.tif: cval: contains NaN or infinity")),
    ("denoise --mode edge", (*DENOISE, "--mode", "edge"), exits(2, "--mode")),
    ("denoise --method x", (*DENOISE, "--method", "x"), exits(2, "--method")),
    ("denoise --params not json", (*DENOISE, "--params", sample("bad.json")),
     exits(1, "--params: .*bad.json")),
    ("denoise --params a list", (*DENOISE, "--params", sample("list.json")),
     exits(1, "--params: .*list.json")),
    ("denoise -o a file", ("denoise", sample("grey.png"), "-o", sample("text.txt"), *MEDIAN),
     exits(1, "output_dir")),
    ("denoise a text file", ("denoise", sample("text.txt"), "-o", scratch("out"), *MEDIAN,
                             "--no-progress"), exits(1, "text.txt: cannot read image")),
    ("denoise nan crc", ("denoise", sample("nan.tif"), "-o", scratch("out"), "--no-progress"),
     exits(1, "nan.tif: image: contains NaN or infinity")),
    ("denoise nan median", ("denoise", sample("nan.tif"), "-o", scratch("out"), *MEDIAN,
                            "--no-progress"), exits(0, "1 written")),
    ("tune nan", ("tune", sample("nan.tif"), *MEDIAN), exits(1, "image: contains NaN")),
    ("tune nan j-invariant", ("tune", sample("nan.tif"), *MEDIAN, "--loss", "j-invariant"),
     exits(1, "image: contains NaN")),
    ("tune --loss x", ("tune", sample("grey.png"), "--loss", "x"), exits(2, "--loss")),
    ("tune --threads 0", ("tune", sample("grey.png"), *MEDIAN, "--threads", "0"),
     exits(1, "n_threads")),
    ("tune an empty folder", ("tune", sample("empty"), *MEDIAN), exits(1, "empty")),
    ("score nan", ("score", sample("nan.tif")), exits(1, "image: contains NaN")),
    ("score --window 0", ("score", sample("grey.png"), "--window", "0"), exits(1, "window")),
    ("score missing", ("score", sample("missing.png")), exits(1, "missing.png")),
    ("bogus command", ("bogus",), exits(2, "COMMAND")),
]]

ROWS = MEDIAN_ROWS + RANK_ROWS + CRC_ROWS + COLLECTION_ROWS + TUNE_ROWS + IO_ROWS + CLI_ROWS


# --- running a row -------------------------------------------------------------------

@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    folder = tmp_path_factory.mktemp("samples")
    image_io.write_image(folder / "grey.png", GREY)
    image_io.write_image(folder / "nan.tif", NAN_GREY)
    image_io.write_image(folder / "inf.tif", with_value(NOISY, np.inf))
    image_io.write_image(folder / "float.tif", NOISY)
    (folder / "folder").mkdir()
    image_io.write_image(folder / "folder" / "grey.png", GREY)
    (folder / "empty").mkdir()
    (folder / "text.txt").write_text("not an image\n")
    (folder / "bad.json").write_text("{not json\n")
    (folder / "list.json").write_text("[1]\n")
    return folder


def resolve(value, samples, folder):
    """`value` with its File placeholders made paths."""
    if isinstance(value, File):
        return folder / value.name if value.scratch else str(samples / value.name)
    if isinstance(value, (list, tuple)):
        return type(value)(resolve(v, samples, folder) for v in value)
    if isinstance(value, dict):
        return {k: resolve(v, samples, folder) for k, v in value.items()}
    return value


def arrays_in(value):
    if isinstance(value, np.ndarray):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from arrays_in(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from arrays_in(item)


def files_in(folder):
    return {path: path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def answer(row, args, kwargs):
    """Run the row's call and assert its documented answer."""
    expect = row.expect
    if isinstance(expect, Raises):
        with pytest.raises(expect.types[0]) as raised:
            row.function(*args, **kwargs)
        assert all(isinstance(raised.value, t) for t in expect.types), type(raised.value).__mro__
        assert isinstance(raised.value, (TypeError, ValueError, OSError))
        assert re.search(expect.names, str(raised.value)), str(raised.value)
    else:
        expect.check(row.function(*args, **kwargs), row.function, args, kwargs)


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_bad_input_gets_its_documented_answer(row, samples, tmp_path):
    args, kwargs = resolve(row.args, samples, tmp_path), resolve(row.kwargs, samples, tmp_path)
    arrays = list(arrays_in((args, kwargs)))
    copies = [array.copy() for array in arrays]
    files = files_in(samples)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        answer(row, args, kwargs)
        if row.scipy is not None and isinstance(row.expect, Raises):
            with pytest.raises(row.expect.types[0]):
                row.scipy(*args, **kwargs)
    for array, copy in zip(arrays, copies):
        assert array.dtype == copy.dtype
        np.testing.assert_array_equal(array, copy)
    assert files_in(samples) == files


def test_ids_are_unique():
    assert len({row.id for row in ROWS}) == len(ROWS)
