"""The kernels' C++ headers (crcx/include/crcx/median/, crcx/include/crcx/crc/) as code
of their own.

Each header compiles alone, warning-free, for a generic target and for one with
AVX-512 (the median's headers have a path for each); tests/cpp/median_headers_check.cpp,
tests/cpp/crc_order_check.cpp and tests/cpp/crc_exp_check.cpp run their functions,
built for the generic target and for this machine, on cases checked here against NumPy
(math.exp for the last). The extension itself is built for the build machine only, so
the generic paths of a machine with AVX-512 are reached here alone.
"""
import math
import os
import platform
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import crcx

INCLUDE = Path(crcx.__file__).resolve().parent / "include"
HEADERS = sorted([*(INCLUDE / "crcx" / "median").glob("*.h"),
                  *(INCLUDE / "crcx" / "crc").glob("*.h")])
CHECKS = Path(__file__).with_name("cpp")
COMPILER = os.environ.get("CXX", "g++")
X86 = platform.machine().lower() in ("x86_64", "amd64")
# Targets whose paths differ: on x86-64 the generic one and one with every AVX-512
# extension the headers use (elsewhere the compiler's default); the programs run for
# the generic target and for this machine's.
TARGETS = ["-march=x86-64", "-march=x86-64-v4 -mavx512vbmi -mavx512vbmi2"] if X86 else [""]
RUN_TARGETS = ["-march=x86-64", "-march=native"] if X86 else [""]
LANES = 64


def compiler():
    """The C++ compiler, which building crcx needed too: its absence is a failure."""
    path = shutil.which(COMPILER)
    assert path is not None, f"no C++ compiler {COMPILER!r} (set CXX)"
    return path


def test_every_header_is_found():
    names = {path.name for path in HEADERS}
    assert {"bits.h", "box_networks.h", "columns.h", "lanes.h", "memory.h",
            "rank_sets.h", "order.h"} <= names


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("header", HEADERS, ids=lambda path: path.name)
def test_header_compiles_alone_without_warnings(header, target):
    run = subprocess.run([compiler(), "-std=c++17", "-Wall", "-Wextra", "-Werror",
                          "-fsyntax-only", *target.split(), "-x", "c++", str(header)],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]


def _checker(source, target, folder, parse):
    """Build tests/cpp/`source` for `target`; a function that runs it on lines of cases
    and returns its result lines, each parsed by `parse`."""
    program = folder / "check"
    # GCC's own AVX-512 intrinsics trip -Wmaybe-uninitialized once optimised, and
    # -Wpsabi only says that the vectors passed between inline functions would have
    # another ABI across a library boundary, which they never cross.
    build = subprocess.run([compiler(), "-std=c++17", "-O2", "-Wall", "-Wextra", "-Werror",
                            "-Wno-maybe-uninitialized", "-Wno-psabi",
                            *target.split(), f"-I{INCLUDE}", str(CHECKS / source),
                            "-o", str(program)], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr[-3000:]

    def run(lines):
        done = subprocess.run([str(program)], input="\n".join(lines) + "\n",
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return [[parse(v) for v in line.split()] for line in done.stdout.splitlines()]
    return run


@pytest.fixture(scope="module", params=RUN_TARGETS)
def check(request, tmp_path_factory):
    """tests/cpp/median_headers_check.cpp, built for one target."""
    return _checker("median_headers_check.cpp", request.param,
                    tmp_path_factory.mktemp("median"), int)


@pytest.fixture(scope="module", params=RUN_TARGETS)
def order_check(request, tmp_path_factory):
    """tests/cpp/crc_order_check.cpp, built for one target."""
    return _checker("crc_order_check.cpp", request.param, tmp_path_factory.mktemp("order"),
                    float)


@pytest.fixture(scope="module", params=RUN_TARGETS)
def exp_check(request, tmp_path_factory):
    """tests/cpp/crc_exp_check.cpp, built for one target."""
    return _checker("crc_exp_check.cpp", request.param, tmp_path_factory.mktemp("exp"),
                    float)


def _words(values):
    return " ".join(str(int(v)) for v in values)


def test_select_byte_is_the_sorted_byte(check):
    rng = np.random.default_rng(0)
    cases = []
    for n in [1, 2, 17, 64, 65, 300]:
        for spread in (3, 256):
            values = rng.integers(0, spread, n)
            rank = int(rng.integers(0, n))
            cases.append((values, rank))
    results = check([f"select_byte {rank} {len(values)} {_words(values)}"
                     for values, rank in cases])
    assert [r[0] for r in results] == [int(np.sort(v)[rank]) for v, rank in cases]


def test_select_bit_is_the_position_of_the_nth_set_bit(check):
    rng = np.random.default_rng(1)
    words = [1, 1 << 63, (1 << 64) - 1] + [int(w) for w in rng.integers(1, 2**63, 40,
                                                                        dtype=np.uint64)]
    cases = []
    for word in words:
        bits = np.flatnonzero([(word >> i) & 1 for i in range(64)])
        cases += [(word, n, int(bits[n])) for n in {0, len(bits) // 2, len(bits) - 1}]
    results = check([f"select_bit {word} {n}" for word, n, _ in cases])
    assert [r[0] for r in results] == [position for _, _, position in cases]


@pytest.mark.parametrize("op", ["ce", "min", "max"])
def test_lanes_are_minima_and_maxima(check, op):
    rng = np.random.default_rng(2)
    a, b = rng.integers(-2**31, 2**31, (2, LANES))
    b[:8] = a[:8]   # ties
    (result,) = check([f"lanes {op} {_words(a)} {_words(b)}"])
    low, high = np.minimum(a, b), np.maximum(a, b)
    expected = {"ce": (low, high), "min": (low, b), "max": (a, high)}[op]
    np.testing.assert_array_equal(result, np.concatenate(expected))


@pytest.mark.parametrize("key_size", [1, 2])
def test_column_histogram_medians_are_the_sorted_windows(check, key_size):
    # Every window of fx columns of a strip, at any rank; 16-bit keys with many of
    # one high byte (their low bytes are then searched among many).
    rng = np.random.default_rng(3 + key_size)
    cases = []
    for fy, fx, n in [(1, 1, 5), (3, 3, 40), (7, 5, 90), (15, 15, 200), (2, 9, 9)]:
        keys = rng.integers(0, 256 ** key_size, (n, fy))
        if key_size == 2:
            keys[rng.random((n, fy)) < 0.5] = 0x1200 + rng.integers(0, 256)
        for rank in {0, fx * fy // 2, fx * fy - 1}:
            cases.append((keys, fx, rank))
    results = check([f"columns {key_size} {keys.shape[1]} {fx} {rank} {keys.shape[0]} "
                     f"{_words(keys.ravel())}" for keys, fx, rank in cases])
    for (keys, fx, rank), result in zip(cases, results):
        windows = np.lib.stride_tricks.sliding_window_view(keys, fx, axis=0)
        expected = np.sort(windows.reshape(windows.shape[0], -1), axis=1)[:, rank]
        np.testing.assert_array_equal(result, expected)


@pytest.mark.parametrize("n", [1, 2, 5, 23, 24, 25, 26, 27, 40])
def test_few_values_sort_as_numpy_sorts(order_check, n):
    rng = np.random.default_rng(n)
    cases = [rng.normal(0, 100, n), rng.integers(0, 3, n).astype(float),
             np.where(rng.random(n) < 0.3, np.inf, rng.normal(0, 1, n)),   # the padding
             np.arange(n, 0, -1.0)]
    results = order_check([f"sort {n} {' '.join(repr(float(v)) for v in c)}" for c in cases])
    for values, result in zip(cases, results):
        assert result == sorted(values.tolist())


def test_the_kth_distance_is_the_kth_smallest_gap(order_check):
    rng = np.random.default_rng(9)
    cases = []
    for n in (1, 3, 24, 26):
        for values in (np.sort(rng.normal(0, 10, n)), np.sort(rng.integers(0, 4, n) * 1.0)):
            for centre in (float(values[0]) - 1, float(values[n // 2]), 0.37, 1e3):
                for k in sorted({1, min(3, n), n}):
                    cases.append((k, centre, values))
    results = order_check([f"kth {k} {centre!r} {len(v)} {' '.join(repr(float(x)) for x in v)}"
                           for k, centre, v in cases])
    assert [r[0] for r in results] == [float(np.sort(np.abs(v - c))[k - 1]) for k, c, v in cases]


@pytest.mark.parametrize("span", [(0.0, 1.0), (0.0, 708.0), (700.0, 760.0)])
def test_exp_minus_is_exp_to_rounding_and_underflows_where_libm_does(exp_check, span):
    """exp.h's claim: within 3e-16 relative of exp (math.exp adds at most its own half
    an ulp, 1.1e-16), subnormal results within one unit of the smallest subnormal, and
    0 exactly where exp gives 0."""
    rng = np.random.default_rng(int(span[1]))
    t = np.concatenate([rng.uniform(*span, 4000), [span[0], 708.39, 744.44, 745.13,
                                                   745.14, 746.0, 1e6, np.inf]])
    result = np.array([r[0] for r in exp_check([" ".join(repr(float(v)) for v in t)])])
    expected = np.array([math.exp(-v) for v in t])
    normal = expected >= np.finfo(np.float64).tiny
    np.testing.assert_allclose(result[normal], expected[normal], rtol=4.1e-16, atol=0)
    subnormal = ~normal & (expected > 0)
    assert np.all(np.abs(result[subnormal] - expected[subnormal]) <= 5e-324)
    assert np.array_equal(result == 0, expected == 0)
