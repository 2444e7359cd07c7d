"""The C API (crcx/include/crcx/crcx.h): its table gives the Python functions' results
bit for bit, from native threads at once, and reports bad arguments as codes and
messages; the header and the table agree on every code and field."""
import ctypes
import importlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import crcx
from crcx._capi import table
from crcx._crc.model import IMPULSE_KINDS
from crcx._crc.options import OPTION_NAMES

HEADER = Path(crcx.get_include()) / "crcx" / "crcx.h"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
ARGUMENT, OK = 1, 0


def _header_block(pattern):
    return re.search(pattern, HEADER.read_text(), re.S).group(1)


def _enum(first):
    """The names of the enum of crcx.h whose first member is `first`, in order."""
    body = _header_block(r"typedef enum \{\s*(" + first + r"[^}]*)\}")
    return [re.sub(r"/\*.*?\*/", "", item).split("=")[0].strip()
            for item in re.sub(r"/\*.*?\*/", "", body).split(",") if item.strip()]


def test_the_header_codes_are_the_tables():
    assert _enum("CRCX_BOOL") == [f"CRCX_{d.name.upper()}" for d in table.DTYPES]
    assert _enum("CRCX_REFLECT") == [f"CRCX_{m.upper()}" for m in table.MODES]
    assert _enum("CRCX_IMPULSES_NONE") == [
        f"CRCX_IMPULSES_{k.upper().replace('-', '_')}" for k in IMPULSE_KINDS]


def _option_fields():
    """(type, name) of each field of crcx_crc_options, in order."""
    body = re.sub(r"/\*.*?\*/", "", _header_block(r"typedef struct \{([^}]*)\} crcx_crc_options;"),
                  flags=re.S)
    return [line.rsplit(None, 1) for line in (line.strip().rstrip(";")
                                              for line in body.splitlines()) if line]


def test_the_options_struct_has_every_option_of_crc_options():
    fields = [name.lstrip("*").split("[")[0] for _, name in _option_fields()]
    call = ["noise_sd", "mode", "cval", "channel_axis", "n_threads"]
    assert fields[0] == "struct_size"
    assert sorted(fields[1:]) == sorted([*OPTION_NAMES, *call])


# The table through ctypes: the layouts of crcx.h, for the calls below.
class Array(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("dtype", ctypes.c_int), ("ndim", ctypes.c_int),
                ("shape", ctypes.c_ssize_t * 4), ("strides", ctypes.c_ssize_t * 4)]


class Window(ctypes.Structure):
    _fields_ = [("size", ctypes.c_ssize_t * 4), ("footprint", ctypes.c_void_p),
                ("mode", ctypes.c_int), ("cval", ctypes.c_double),
                ("origin", ctypes.c_ssize_t * 4), ("n_threads", ctypes.c_int)]


class Estimate(ctypes.Structure):
    _fields_ = [("variance", ctypes.c_double), ("gain", ctypes.c_double),
                ("impulse_density", ctypes.c_double), ("impulse_kind", ctypes.c_int)]


def _options_type():
    """crcx_crc_options as ctypes declares it, from the header's own field list."""
    types = {"size_t": ctypes.c_size_t, "int": ctypes.c_int, "double": ctypes.c_double,
             "crcx_mode": ctypes.c_int}
    fields = []
    for kind, name in _option_fields():
        kind = ctypes.c_char_p if name.startswith("*") else types[kind]
        name = name.lstrip("*")
        if "[" in name:
            name, length = name.rstrip("]").split("[")
            kind = kind * int(length)
        fields.append((name, kind))
    return type("Options", (ctypes.Structure,), {"_fields_": fields})


Options = _options_type()
_status = ctypes.c_int
_RANK = ctypes.CFUNCTYPE(_status, ctypes.POINTER(Array), ctypes.POINTER(Array),
                         ctypes.POINTER(Window), ctypes.c_char_p, ctypes.c_size_t)
_RANKED = ctypes.CFUNCTYPE(_status, ctypes.POINTER(Array), ctypes.POINTER(Array),
                           ctypes.POINTER(Window), ctypes.c_ssize_t, ctypes.c_char_p,
                           ctypes.c_size_t)
_PERCENTILE = ctypes.CFUNCTYPE(_status, ctypes.POINTER(Array), ctypes.POINTER(Array),
                               ctypes.POINTER(Window), ctypes.c_double, ctypes.c_char_p,
                               ctypes.c_size_t)
_INIT = ctypes.CFUNCTYPE(_status, ctypes.POINTER(Options), ctypes.c_size_t, ctypes.c_char_p,
                         ctypes.c_size_t)
_CRC = ctypes.CFUNCTYPE(_status, ctypes.POINTER(Array), ctypes.POINTER(Array),
                        ctypes.POINTER(Options), ctypes.c_char_p, ctypes.c_size_t)
_NOISE = ctypes.CFUNCTYPE(_status, ctypes.POINTER(Array), ctypes.POINTER(Options),
                          ctypes.POINTER(Estimate), ctypes.c_size_t, ctypes.c_char_p,
                          ctypes.c_size_t)

_PLAN = ctypes.CFUNCTYPE(_status, ctypes.POINTER(Array), ctypes.POINTER(Window),
                         ctypes.POINTER(ctypes.c_void_p), ctypes.c_char_p, ctypes.c_size_t)
_PLAN_RANK = ctypes.CFUNCTYPE(_status, ctypes.POINTER(Array), ctypes.POINTER(Window),
                              ctypes.c_ssize_t, ctypes.POINTER(ctypes.c_void_p),
                              ctypes.c_char_p, ctypes.c_size_t)
_PLAN_PERCENTILE = ctypes.CFUNCTYPE(_status, ctypes.POINTER(Array), ctypes.POINTER(Window),
                                    ctypes.c_double, ctypes.POINTER(ctypes.c_void_p),
                                    ctypes.c_char_p, ctypes.c_size_t)
_EXECUTE = ctypes.CFUNCTYPE(_status, ctypes.c_void_p, ctypes.POINTER(Array),
                            ctypes.POINTER(Array), ctypes.c_char_p, ctypes.c_size_t)
_DESTROY = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


class Table(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint), ("median", _RANK), ("rank_filter", _RANKED),
                ("percentile_filter", _PERCENTILE), ("crc_options_init", _INIT),
                ("crc_median", _CRC), ("estimate_noise", _NOISE), ("plan_median", _PLAN),
                ("plan_rank_filter", _PLAN_RANK), ("plan_percentile_filter", _PLAN_PERCENTILE),
                ("execute", _EXECUTE), ("destroy_plan", _DESTROY)]


def _table():
    get = ctypes.pythonapi.PyCapsule_GetPointer
    get.restype, get.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    return Table.from_address(get(table._C_API, b"crcx._C_API"))


API = _table()


def _array(values):
    codes = {d: i for i, d in enumerate(table.DTYPES)}
    return Array(values.ctypes.data, codes[values.dtype], values.ndim,
                 (ctypes.c_ssize_t * 4)(*values.shape), (ctypes.c_ssize_t * 4)(*values.strides))


def _window(size, mode="reflect", cval=0.0, footprint=None, n_threads=0):
    window = Window((ctypes.c_ssize_t * 4)(*size), None, table.MODES.index(mode), cval,
                    (ctypes.c_ssize_t * 4)(), n_threads)
    if footprint is not None:
        window.footprint = footprint.ctypes.data
    return window


def _options(**changes):
    options, message = Options(), ctypes.create_string_buffer(256)
    assert API.crc_options_init(ctypes.byref(options), ctypes.sizeof(Options), message,
                                256) == OK, message.value
    for name, value in changes.items():
        setattr(options, name, value)
    return options


def _call(function, *arguments):
    message = ctypes.create_string_buffer(256)
    return function(*arguments, message, len(message)), message.value.decode()


def test_the_table_has_this_headers_version():
    version = int(re.search(r"#define CRCX_API_VERSION (\d+)", HEADER.read_text()).group(1))
    assert API.version == version


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.uint16, np.float32, np.float64,
                                   np.int64])
def test_rank_filters_equal_the_python_filters(dtype):
    rng = np.random.default_rng(3)
    values = (rng.normal(0, 1000, (3, 41, 37)) if np.dtype(dtype).kind in "fi"
              else rng.integers(0, 256, (3, 41, 37))).astype(dtype)
    image = values[:, ::-1, ::2]                       # negative and wide strides
    footprint = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], np.uint8)[None]
    for window, keywords in [((1, 5, 3), dict(size=(1, 5, 3))),
                             ((1, 3, 3), dict(footprint=footprint.astype(bool)))]:
        kw = dict(mode="constant", cval=7.0, **keywords)
        out = np.empty(image.shape, np.float64)       # another dtype than the input's
        spec = _window(window, "constant", 7.0, footprint if "footprint" in kw else None, 2)
        assert _call(API.median, _array(image), _array(out), spec) == (OK, "")
        np.testing.assert_array_equal(out, crcx.median(image, output=np.float64, **kw))
        assert _call(API.rank_filter, _array(image), _array(out), spec, 1) == (OK, "")
        np.testing.assert_array_equal(out, crcx.rank_filter(image, 1, output=np.float64, **kw))
        assert _call(API.percentile_filter, _array(image), _array(out), spec, 80.0) == (OK, "")
        np.testing.assert_array_equal(out, crcx.percentile_filter(image, 80.0,
                                                                  output=np.float64, **kw))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32, np.float64])
def test_crc_median_and_the_noise_estimate_equal_the_python_ones(dtype):
    rng = np.random.default_rng(4)
    top = 255 if dtype == np.uint8 else 4000
    rgb = np.clip(rng.normal(top / 2, top / 10, (48, 40, 3)), 0, top).astype(dtype)
    options = _options(channel_axis=2, h=1.2, joint_channels=0)
    out = np.empty_like(rgb)
    assert _call(API.crc_median, _array(rgb), _array(out), ctypes.byref(options)) == (OK, "")
    np.testing.assert_array_equal(out, crcx.crc_median(rgb, channel_axis=2, h=1.2,
                                                       joint_channels=False))
    estimates = (Estimate * 3)()
    assert _call(API.estimate_noise, _array(rgb), ctypes.byref(options), estimates, 3) == (OK,
                                                                                           "")
    expected = crcx.estimate_noise(rgb, channel_axis=2, h=1.2, joint_channels=False)
    for got, want in zip(estimates, expected):
        assert (got.variance, got.gain, got.impulse_density) == (
            want.variance, want.gain, want.impulse_density)
        assert IMPULSE_KINDS[got.impulse_kind] == want.impulse_kind
    grey = np.ascontiguousarray(rgb[..., 0])
    plain = np.empty_like(grey)
    assert _call(API.crc_median, _array(grey), _array(plain), None) == (OK, "")
    np.testing.assert_array_equal(plain, crcx.crc_median(grey))


def test_a_given_noise_level_and_its_model_names():
    image = np.random.default_rng(5).integers(0, 256, (40, 40)).astype(np.uint8)
    out = np.empty_like(image)
    given = _options(noise=None, noise_sd=3.0)
    assert _call(API.crc_median, _array(image), _array(out), ctypes.byref(given)) == (OK, "")
    np.testing.assert_array_equal(out, crcx.crc_median(image, noise=3.0))
    constant = _options(noise=b"constant")
    assert _call(API.crc_median, _array(image), _array(out), ctypes.byref(constant)) == (OK,
                                                                                         "")
    np.testing.assert_array_equal(out, crcx.crc_median(image, noise="constant"))


def _plan(kind, like, window, *leading):
    """A plan made through the table (its status asserted), destroyed when dropped."""
    plan = ctypes.c_void_p()
    function = getattr(API, f"plan_{kind}")
    status, message = _call(function, _array(like), window, *leading, ctypes.byref(plan))
    assert (status, message) == (OK, "")
    return plan


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.uint16, np.float32, np.float64])
def test_plans_equal_the_python_filters_on_every_path(dtype):
    rng = np.random.default_rng(8)
    values = (rng.normal(0, 1000, (2, 40, 76)) if np.dtype(dtype).kind in "fi"
              else rng.integers(0, 256, (2, 40, 76))).astype(dtype)
    footprint = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], np.uint8)[None]
    calls = [("median", (), crcx.median, _window((1, 5, 3), "constant", 7.0), {"size": (1, 5, 3)}),
             ("rank_filter", (2,), crcx.rank_filter, _window((1, 3, 3), "wrap", 0.0, footprint),
              {"footprint": footprint.astype(bool)}),
             ("percentile_filter", (30.0,), crcx.percentile_filter, _window((2, 7, 7), "mirror"),
              {"size": (2, 7, 7)})]
    for kind, leading, python, window, keywords in calls:
        kw = dict(mode=table.MODES[window.mode], cval=window.cval, **keywords)
        plan = _plan(kind, values[:, :, ::2], window, *leading)
        try:
            # The same shape under other strides, the output of the input's dtype (no
            # Python), of another dtype, and the input itself (both through Python).
            for image in (values[:, :, ::2], values[:, ::-1, 1::2],
                          np.asfortranarray(values[:, :, :38])):
                expected = python(image, *leading, **kw)
                for out in (np.empty_like(image), np.empty(image.shape, np.float64)):
                    assert _call(API.execute, plan, _array(image), _array(out)) == (OK, "")
                    np.testing.assert_array_equal(out, expected.astype(out.dtype))
                inplace = image.copy()
                assert _call(API.execute, plan, _array(inplace), _array(inplace)) == (OK, "")
                np.testing.assert_array_equal(inplace, expected)
        finally:
            API.destroy_plan(plan)


def test_plans_the_kernels_cannot_take_alone_run_through_python():
    # The smallest value with a border of 0.5 on uint8 (scipy compares the float64
    # cval), and a window longer than 1 along four axes.
    image = np.random.default_rng(9).integers(0, 256, (3, 4, 9, 11)).astype(np.uint8)
    for window, rank, kw in [(_window((1, 1, 3, 3), "constant", 0.5), 0,
                              dict(size=(1, 1, 3, 3), mode="constant", cval=0.5)),
                             (_window((2, 2, 3, 3)), 5, dict(size=(2, 2, 3, 3)))]:
        plan = _plan("rank_filter", image, window, rank)
        out = np.empty_like(image)
        assert _call(API.execute, plan, _array(image), _array(out)) == (OK, "")
        API.destroy_plan(plan)
        np.testing.assert_array_equal(out, crcx.rank_filter(image, rank, **kw))


def test_bad_plans_and_calls_give_a_code_and_a_message():
    image = np.zeros((8, 8), np.uint8)
    plan = ctypes.c_void_p()
    assert _call(API.plan_median, _array(image), _window((0, 3)), ctypes.byref(plan))[
        1].startswith("size:")
    assert _call(API.plan_median, _array(image), _window((3, 3)), None) == (
        ARGUMENT, "plan: expected where to put the plan, got NULL")
    plan = _plan("median", image, _window((3, 3)))
    wide, other = np.zeros((8, 9), np.uint8), np.zeros((8, 8), np.uint16)
    assert _call(API.execute, plan, _array(wide), _array(wide)) == (
        ARGUMENT, "input: expected uint8 of shape (8, 8)")
    assert _call(API.execute, plan, _array(other), _array(image)) == (
        ARGUMENT, "input: expected uint8 of shape (8, 8)")
    assert _call(API.execute, plan, _array(image), _array(wide)) == (
        ARGUMENT, "output: expected shape (8, 8)")
    assert _call(API.execute, plan, _array(image), None) == (
        ARGUMENT, "output: expected shape (8, 8)")
    API.destroy_plan(plan)
    assert _call(API.execute, None, _array(image), _array(image)) == (
        ARGUMENT, "plan: expected a crcx_plan, got NULL")
    API.destroy_plan(None)


# The arrays the structs of _bad_calls point into, alive for the whole session.
_KEPT = []


def _bad_calls():
    image = np.zeros((8, 8), np.uint8)
    out = np.zeros((8, 8), np.uint8)
    small = np.zeros((4, 8), np.uint8)
    _KEPT.extend([image, out, small])
    unknown = _array(image)
    unknown.dtype = 99
    return [
        ("median", (None, _array(out), _window((3, 3))), "input: expected a crcx_array"),
        ("median", (unknown, _array(out), _window((3, 3))), "input: unknown dtype code 99"),
        ("median", (_array(image), _array(small), _window((3, 3))),
         "output: expected the input's shape"),
        ("median", (_array(image), _array(out), None), "window: expected a crcx_window"),
        ("median", (_array(image), _array(out), _window((3, 3), n_threads=-2)), "n_threads"),
        ("rank_filter", (_array(image), _array(out), _window((3, 3)), 9), "rank"),
        ("crc_median", (_array(image), _array(out), ctypes.byref(Options())),
         "options: not initialised by crcx_crc_options_init"),
        ("crc_median", (_array(image), _array(out), ctypes.byref(_options(window=4))),
         "window: expected an odd integer"),
        ("crc_median", (_array(image), _array(out), ctypes.byref(_options(gain=None))),
         "gain: expected text, got NULL"),
        ("estimate_noise", (_array(image), None, (Estimate * 1)(), 0), "count: the image has 1"),
    ]


@pytest.mark.parametrize("function, arguments, message", _bad_calls(),
                         ids=[f"{f}-{m.split(':')[0]}" for f, _, m in _bad_calls()])
def test_bad_arguments_give_a_code_and_a_message_naming_them(function, arguments, message):
    status, text = _call(getattr(API, function), *arguments)
    assert status == ARGUMENT and text.startswith(message), text


def test_a_bad_mode_code_and_a_short_message_buffer():
    image = np.zeros((8, 8), np.uint8)
    bad = _window((3, 3))
    bad.mode = 7
    message = ctypes.create_string_buffer(b"x" * 12)
    assert API.median(_array(image), _array(image.copy()), bad, message, 12) == ARGUMENT
    assert message.value == b"window.mode"          # cut to fit, NUL-terminated
    assert API.median(_array(image), _array(image.copy()), bad, None, 0) == ARGUMENT


def test_options_from_another_header_version_are_refused():
    status, text = _call(API.crc_options_init, ctypes.byref(Options()), 8)
    assert status == ARGUMENT and "from another version of crcx.h" in text


def _build_example(name, tmp_path):
    """Build examples/`name` against the installed crcx; import its module."""
    shutil.copytree(EXAMPLES / name, tmp_path / name)
    build = subprocess.run([sys.executable, "setup.py", "build_ext", "--inplace"],
                           cwd=tmp_path / name, capture_output=True, text=True)
    assert build.returncode == 0, build.stderr[-3000:]
    module = {"c_extension": "crcx_threads", "cython_extension": "denoise_frames"}[name]
    sys.path.insert(0, str(tmp_path / name))
    try:
        return importlib.import_module(module)
    finally:
        sys.path.pop(0)


def _noisy(rng, shape):
    return np.clip(rng.normal(120, 30, shape), 0, 255).astype(np.uint8)


@pytest.mark.slow
def test_the_c_example_filters_from_four_threads_at_once(tmp_path):
    example = _build_example("c_extension", tmp_path)
    rng = np.random.default_rng(6)
    images = [_noisy(rng, shape) for shape in [(130, 90), (64, 200), (257, 129), (96, 96)]]
    images[1] = np.asfortranarray(images[1])
    images[3] = images[3][::-1, ::2]
    jobs = [(image, np.empty(image.shape, np.uint8), np.empty(image.shape, np.uint8))
            for image in images]
    assert example.filter_in_threads(jobs, 5) == [(OK, OK, "")] * 4
    for image, median, denoised in jobs:
        np.testing.assert_array_equal(median, crcx.median(image, 5))
        np.testing.assert_array_equal(denoised, crcx.crc_median(image))
    status, message = example.bad_window()
    assert status == ARGUMENT and message.startswith("size:")
    assert example.bad_frame() == (ARGUMENT, "input: expected uint8 of shape (4, 4)")


# Run apart by the test below: one median plan on frames of three layouts, from four
# threads, its output against crcx.median's.
_FRAMES_SCRIPT = """
import sys
import numpy as np
import crcx
sys.path.insert(0, sys.argv[1])
import crcx_threads
rng = np.random.default_rng(10)
frames = [np.clip(rng.normal(120, 30, (72, 64)), 0, 255).astype(np.uint8) for _ in range(9)]
frames[2] = np.asfortranarray(frames[2])
frames[5] = np.clip(rng.normal(120, 30, (72, 128)), 0, 255).astype(np.uint8)[:, ::-2]
outputs = [np.empty(frame.shape, np.uint8) for frame in frames]
print(crcx_threads.median_frames(frames, outputs, 5, sys.argv[2] == "hold"))
print(all(np.array_equal(out, crcx.median(frame, 5)) for frame, out in zip(frames, outputs)))
"""


@pytest.mark.slow
def test_the_c_example_runs_one_plan_from_four_threads_without_the_gil(tmp_path):
    _build_example("c_extension", tmp_path)
    for gil in ("release", "hold"):
        # Holding the GIL, a call into Python would wait forever: run it apart, with
        # a time limit, so that such a bug fails the test instead of hanging it.
        run = subprocess.run([sys.executable, "-c", _FRAMES_SCRIPT,
                              str(tmp_path / "c_extension"), gil],
                             capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert run.returncode == 0, run.stderr[-3000:]
        assert run.stdout.split("\n")[:2] == [str([(OK, "")] * 9), "True"]


@pytest.mark.slow
def test_the_cython_example_filters_frames_on_four_threads(tmp_path):
    example = _build_example("cython_extension", tmp_path)
    frames = _noisy(np.random.default_rng(7), (5, 90, 70))[:, ::-1]
    medians, denoised = np.empty_like(frames), np.empty_like(frames)
    assert example.denoise_frames(frames, medians, denoised, 5, 4) == [(OK, OK)] * 5
    for frame, median, result in zip(frames, medians, denoised):
        np.testing.assert_array_equal(median, crcx.median(frame, 5))
        np.testing.assert_array_equal(result, crcx.crc_median(frame))
    status, message = example.bad_window()
    assert status == ARGUMENT and message.startswith("size:")
