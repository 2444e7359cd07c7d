"""What a call through crcx's C API costs against the same call from Python.

An embedder that filters small frames one by one pays the per-call cost more than the
filtering. This builds a small C extension against the installed crcx whose function
calls ``crcx_median`` (3x3), ``crcx_execute`` with a plan of that median made once,
or ``crcx_crc_median`` (defaults) `count` times on one uint8 image (a smooth picture
under Gaussian noise) and times the loop in C; the same calls from Python are timed
beside it (``crcx.median(image, 3, output=out)``, ``crcx.crc_median(image,
output=out)``), on one thread, each the best of several rounds taken in turns. Writes
``results/c_api.md``.

Usage::

    python benchmarks/c_api.py [--output PATH]
"""
import argparse
import datetime
import importlib
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import crcx

SIDES = (64, 256)
ROUNDS = 7
SOURCE = r"""
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <time.h>
#include "crcx/crcx.h"

enum { MEDIAN, PLAN, CRC };

/* loop(image, out, call, count, rows, columns): seconds for `count` calls (MEDIAN,
   PLAN or CRC) on C-contiguous uint8 images of rows x columns. */
static PyObject *loop(PyObject *self, PyObject *args)
{
    Py_buffer in, out;
    int call;
    crcx_plan *plan = NULL;
    Py_ssize_t count, rows, columns, i;
    crcx_window window = {{3, 3}, NULL, CRCX_REFLECT, 0.0, {0, 0}, 1};
    crcx_crc_options options;
    char message[256];
    struct timespec start, stop;
    int status = CRCX_OK;
    if (!PyArg_ParseTuple(args, "y*w*innn", &in, &out, &call, &count, &rows, &columns))
        return NULL;
    crcx_array a = {in.buf, CRCX_UINT8, 2, {rows, columns}, {columns, 1}};
    crcx_array b = {out.buf, CRCX_UINT8, 2, {rows, columns}, {columns, 1}};
    if (crcx_crc_options_init(&options, message, sizeof message) != CRCX_OK)
        return PyErr_Format(PyExc_RuntimeError, "%s", message);
    options.n_threads = 1;
    if (crcx_plan_median(&a, &window, &plan, message, sizeof message) != CRCX_OK)
        return PyErr_Format(PyExc_RuntimeError, "%s", message);
    Py_BEGIN_ALLOW_THREADS
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (i = 0; i < count && status == CRCX_OK; i++)
        status = call == CRC ? crcx_crc_median(&a, &b, &options, message, sizeof message)
               : call == PLAN ? crcx_execute(plan, &a, &b, message, sizeof message)
               : crcx_median(&a, &b, &window, message, sizeof message);
    clock_gettime(CLOCK_MONOTONIC, &stop);
    Py_END_ALLOW_THREADS
    crcx_destroy_plan(plan);
    PyBuffer_Release(&in);
    PyBuffer_Release(&out);
    if (status != CRCX_OK)
        return PyErr_Format(PyExc_RuntimeError, "%s", message);
    return PyFloat_FromDouble((stop.tv_sec - start.tv_sec)
                              + 1e-9 * (stop.tv_nsec - start.tv_nsec));
}

static PyMethodDef methods[] = {{"loop", loop, METH_VARARGS, NULL}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "c_api_loop", NULL, -1, methods};

PyMODINIT_FUNC PyInit_c_api_loop(void)
{
    if (crcx_import() < 0)
        return NULL;
    return PyModule_Create(&module);
}
"""
SETUP = """
from setuptools import Extension, setup
setup(ext_modules=[Extension("c_api_loop", ["c_api_loop.c"], include_dirs=[{include!r}])])
"""


def build(folder):
    (folder / "c_api_loop.c").write_text(SOURCE)
    (folder / "setup.py").write_text(SETUP.format(include=crcx.get_include()))
    subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "--inplace"], cwd=folder,
                   check=True, capture_output=True)
    sys.path.insert(0, str(folder))
    return importlib.import_module("c_api_loop")


# The calls of the C loop, by its codes.
CALLS = {"crcx_median 3x3": 0, "crcx_execute, a plan of the 3x3 median": 1,
         "crcx_crc_median": 2}


def python_loop(image, out, crc, count):
    start = time.perf_counter()
    for _ in range(count):
        if crc:
            crcx.crc_median(image, output=out, n_threads=1)
        else:
            crcx.median(image, 3, output=out, n_threads=1)
    return time.perf_counter() - start


def measure(module, side, call):
    # A smooth picture (ramps and waves) under Gaussian noise of sigma 10.
    y, x = np.mgrid[:side, :side] / side
    clean = 128 + 60 * np.sin(6 * x) * np.cos(4 * y) + 40 * (x - y)
    noisy = clean + np.random.default_rng(side).normal(0, 10, clean.shape)
    image = np.clip(np.rint(noisy), 0, 255).astype(np.uint8)
    out = np.empty_like(image)
    crc = CALLS[call] == CALLS["crcx_crc_median"]
    count = max(20, int((2e4 if not crc else 3e2) * (64 / side) ** 2))
    best = {"C API": float("inf"), "Python": float("inf")}
    for _ in range(ROUNDS):
        best["C API"] = min(best["C API"],
                            module.loop(image, out, CALLS[call], count, *image.shape))
        best["Python"] = min(best["Python"], python_loop(image, out, crc, count))
    expected = crcx.crc_median(image) if crc else crcx.median(image, 3)
    out[:] = 0
    module.loop(image, out, CALLS[call], 1, *image.shape)
    assert np.array_equal(out, expected), "the C API's result differs from Python's"
    return {name: seconds / count * 1e6 for name, seconds in best.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=str(Path(__file__).parent / "results" / "c_api.md"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        module = build(Path(folder))
        rows = [(f"{call}, {side}x{side} uint8", measure(module, side, call))
                for call in CALLS for side in SIDES]
    lines = ["# The C API's cost per call", "",
             f"Written by `python benchmarks/c_api.py` on {datetime.date.today()}, "
             f"{platform.machine()}, Python {platform.python_version()}, crcx "
             f"{crcx.__version__}, one thread; the best of {ROUNDS} rounds, in µs per call. "
             "Both paths give the same output (checked).", "",
             "| call | C API µs | Python µs | C API / Python |", "|---|---|---|---|"]
    lines += [f"| {name} | {t['C API']:.1f} | {t['Python']:.1f} | "
              f"{t['C API'] / t['Python']:.2f} |" for name, t in rows]
    text = "\n".join(lines) + "\n"
    Path(args.output).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
