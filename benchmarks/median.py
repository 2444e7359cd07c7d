"""Speed of ``crcx.median`` against scipy, scikit-image and OpenCV, in one run.

Times ``crcx.median(image, size=k, mode="nearest", n_threads=1)`` side by side with
``scipy.ndimage.median_filter(image, size=k, mode="nearest")``,
``skimage.filters.rank.median(image, footprint=np.ones((k, k)))`` (uint8 and uint16
only) and ``cv2.medianBlur(image, k)`` (uint8 for every odd `k`, uint16 and float32
for k = 3 and 5 only; its border rule BORDER_REPLICATE is scipy's ``"nearest"``), and
writes the throughputs, the ratios and the project's speed targets (pass or fail per
cell) to ``benchmarks/results/median.md``.

Notes
-----
Cases:

* natural input: ``skimage.data.camera`` tiled to 2048 x 2048 plus Gaussian noise of
  sigma 10 (0-255 scale), stored as uint8, uint16 (x 257) and float32 (/ 255), for
  k = 3, 5, 7, 9, 15, 25, every library on one thread (crcx ``n_threads=1``,
  ``cv2.setNumThreads(1)``, threadpoolctl limits for the rest);
* uniform random input, k = 3, 5, 7, 9: the hard case for data-dependent algorithms;
* crcx on 1 and 2 threads, 4096 x 4096, k = 3, 5, 7, 15;
* ``crcx.crc_median`` with its defaults (when crcx has it) on a noisy 512 x 512 grey
  image and a noisy 1920 x 1080 RGB frame, against a 3 x 3 scipy median,
  ``skimage.restoration.denoise_nl_means`` and ``cv2.medianBlur(frame, 5)``.

Before any timing each baseline's output is checked against crcx on the same input
(scipy and OpenCV on every pixel, scikit-image away from the border, where its
shrinking window differs by design); a mismatch aborts the run. Libraries are timed
in turns within each case (each warmed up first, rotating order every round) so that
machine drift touches all alike, and the median of several rounds is reported.
A baseline whose single call would exceed a time budget is timed on a subsample of
every 2nd, 4th, ... row of the input (still the whole picture, fewer rows), and its
throughput is reported in Mpx/s like the rest; the results say which cells are so.

Examples
--------
From the repository root, with crcx built in place and the ``benchmark`` extras::

    python benchmarks/median.py                 # full run, 10-30 minutes
    python benchmarks/median.py --quick         # 512 x 512 smoke run, under a minute
    python benchmarks/median.py --output /tmp/median.md
"""
import argparse
import datetime
import gc
import math
import os
import platform
import sys
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import cv2
import numpy as np
import scipy
import skimage
from scipy import ndimage as ndi
from skimage.filters import rank
from skimage.restoration import denoise_nl_means, estimate_sigma
from threadpoolctl import threadpool_limits

import crcx
from crcx._runtime import isa

SEED = 20240611
NOISE_SIGMA = 10.0  # on the 0-255 scale
DTYPES = (np.uint8, np.uint16, np.float32)
SIZES = (3, 5, 7, 9, 15, 25)
UNIFORM_SIZES = (3, 5, 7, 9)
SCALING_SIZES = (3, 5, 7, 15)
CRC_THREADS = 2
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "median.md"


@dataclass(frozen=True)
class Settings:
    """Sizes and timing effort of one run."""
    size: int              # side of the single-threaded inputs
    scaling_size: int      # side of the 1-vs-2-thread inputs
    grey_side: int         # crc_median grey image
    frame_shape: tuple     # crc_median RGB frame (rows, columns)
    repeats: int           # timed rounds per case; the median is reported
    budget: float          # seconds one baseline call may take before it is subsampled
    min_sample: float      # each timed sample loops a call until it lasts this long
    probe_rows: int        # rows of the call that estimates a baseline's cost


FULL = Settings(size=2048, scaling_size=4096, grey_side=512,
                frame_shape=(1080, 1920), repeats=7, budget=1.0, min_sample=0.05,
                probe_rows=32)
QUICK = Settings(size=512, scaling_size=512, grey_side=512,
                 frame_shape=(288, 512), repeats=3, budget=0.1, min_sample=0.01,
                 probe_rows=16)


# --------------------------------------------------------------------------- cases

def always(dtype, k):
    return True


@dataclass(frozen=True)
class Library:
    """A median filter under test: ``call(image, k)`` and where it applies."""
    name: str
    call: Callable
    supports: Callable = always
    border: str = "exact"   # "exact": equal to crcx everywhere; "interior": not at the border


def crcx_median(image, k, n_threads=1, output=None):
    return crcx.median(image, size=k, mode="nearest", n_threads=n_threads, output=output)


def skimage_median(image, k):
    with warnings.catch_warnings():  # uint16 warns that its 65536-bin histogram is slow
        warnings.simplefilter("ignore", UserWarning)
        return rank.median(image, footprint=np.ones((k, k), dtype=bool))


CRCX = Library("crcx", crcx_median)
BASELINES = (
    Library("scipy", lambda image, k: ndi.median_filter(image, size=k, mode="nearest")),
    Library("skimage", skimage_median,
            supports=lambda dtype, k: dtype in (np.uint8, np.uint16), border="interior"),
    Library("OpenCV", cv2.medianBlur,
            supports=lambda dtype, k: dtype == np.uint8 or k in (3, 5)),
)


@dataclass(frozen=True)
class Target:
    """crcx must run at least `minimum` times as fast as `baseline` where `applies`."""
    baseline: str
    minimum: float
    applies: Callable
    where: str


TARGETS = (
    Target("scipy", 100.0, always, "every dtype and k"),
    Target("OpenCV", 1.0, lambda dtype, k: dtype in (np.uint16, np.float32) and k in (3, 5),
           "uint16 and float32 at k = 3, 5"),
    Target("OpenCV", 3.0, lambda dtype, k: dtype == np.uint8 and k >= 7, "uint8 at k ≥ 7"),
    Target("OpenCV", 0.5, lambda dtype, k: dtype == np.uint8 and k in (3, 5),
           "uint8 at k = 3, 5"),
)
SCALING_TARGET = 1.7  # 2 threads over 1 thread
# Windows whose kernel is limited by memory, not by its threads: 2 threads over 1 at
# least this share of a copy's own speed-up, measured in the same run, instead.
MEMORY_BOUND_SIZES = (3,)
MEMORY_BOUND_SHARE = 0.9


# --------------------------------------------------------------------------- inputs

def to_dtype(values, dtype):
    """Map values on the 0-255 scale onto `dtype`'s range (x 257 for uint16, / 255 float)."""
    values = np.clip(values, 0.0, 255.0)
    if dtype == np.float32:
        return (values / 255.0).astype(np.float32)
    scale = {np.uint8: 1.0, np.uint16: 257.0}[dtype]
    return np.rint(values * scale).astype(dtype)


def noisy(clean, dtype=np.uint8):
    """`clean` (0-255) plus Gaussian noise of NOISE_SIGMA, the same noise every call."""
    rng = np.random.default_rng(SEED)
    return to_dtype(clean + rng.normal(0.0, NOISE_SIGMA, clean.shape), dtype)


def natural_image(side, dtype):
    """The camera picture tiled to side x side, with noise."""
    camera = skimage.data.camera().astype(np.float64)
    reps = (-(-side // camera.shape[0]), -(-side // camera.shape[1]))
    return noisy(np.tile(camera, reps)[:side, :side], dtype)


def uniform_image(side, dtype):
    """Independent uniform values over `dtype`'s range ([0, 1) for float32)."""
    rng = np.random.default_rng(SEED)
    if dtype == np.float32:
        return rng.random((side, side), dtype=np.float32)
    return rng.integers(0, np.iinfo(dtype).max, (side, side), dtype=dtype, endpoint=True)


def rgb_frame(shape):
    """``skimage.data.astronaut`` resized to `shape` (rows, columns), with noise."""
    frame = cv2.resize(skimage.data.astronaut(), shape[::-1], interpolation=cv2.INTER_AREA)
    return noisy(frame.astype(np.float64))


# --------------------------------------------------------------------------- timing

@contextmanager
def thread_limit(n):
    """Let OpenCV and every threadpoolctl-visible pool (BLAS, OpenMP) use `n` threads."""
    previous = cv2.getNumThreads()
    cv2.setNumThreads(n)
    try:
        with threadpool_limits(limits=n):
            yield
    finally:
        cv2.setNumThreads(previous)


def time_interleaved(calls, repeats, min_sample):
    """Median seconds per call of each zero-argument function in `calls` (a dict).

    Every function is warmed up once, which also sets how many calls make one sample
    (enough to last `min_sample` seconds). Then `repeats` rounds time every function
    once each, the order rotating from round to round.
    """
    names = list(calls)
    loops = {}
    for name in names:
        start = time.perf_counter()
        calls[name]()
        loops[name] = max(1, math.ceil(min_sample / (time.perf_counter() - start)))
    samples = {name: [] for name in names}
    enabled = gc.isenabled()
    gc.disable()
    try:
        for round_ in range(repeats):
            shift = round_ % len(names)
            for name in names[shift:] + names[:shift]:
                call, count = calls[name], loops[name]
                start = time.perf_counter()
                for _ in range(count):
                    call()
                samples[name].append((time.perf_counter() - start) / count)
    finally:
        if enabled:
            gc.enable()
    return {name: float(np.median(samples[name])) for name in names}


def affordable(call, image, settings):
    """`image`, or every 2**j-th row of it if one `call` on it would exceed the budget.

    The cost is estimated from one call on about ``settings.probe_rows`` rows spread
    over the image; the subsample keeps at least that many rows.
    """
    rows = image.shape[0]
    probe_step = max(1, rows // settings.probe_rows)
    start = time.perf_counter()
    call(np.ascontiguousarray(image[::probe_step]))
    estimate = (time.perf_counter() - start) * probe_step
    step = 1
    while estimate / step > settings.budget and rows // (2 * step) >= settings.probe_rows:
        step *= 2
    return image if step == 1 else np.ascontiguousarray(image[::step])


def megapixels(image):
    """Pixels of a grey (rows, columns) or colour (rows, columns, channels) image, in M."""
    return image.shape[0] * image.shape[1] / 1e6


@dataclass
class Measurement:
    """Throughput of one library in one case; `rows` is set when it ran on fewer rows."""
    mpx_per_s: float
    rows: int | None = None


def measure(calls, images, full_rows, settings):
    """Time ``calls[name]()`` (which filters ``images[name]``) and return Measurements."""
    seconds = time_interleaved(calls, settings.repeats, settings.min_sample)
    return {name: Measurement(megapixels(images[name]) / t,
                              None if images[name].shape[0] == full_rows
                              else images[name].shape[0])
            for name, t in seconds.items()}


# --------------------------------------------------------------------------- benchmarks

def check_equal(expected, actual, border, what):
    """Abort the run unless the two outputs agree (away from a border of `border`)."""
    if border:
        expected = expected[border:-border, border:-border]
        actual = actual[border:-border, border:-border]
    if expected.dtype != actual.dtype or not np.array_equal(expected, actual):
        differ = np.count_nonzero(expected != actual) if expected.shape == actual.shape else "?"
        sys.exit(f"MISMATCH: {what}: {differ} pixels differ from crcx; not timing this.")


def with_size(call, k):
    """``call(image, k)`` as a function of the image alone."""
    return lambda image: call(image, k)


def median_case(image, dtype, k, settings, label):
    """Verify and time crcx and every baseline that supports (dtype, k) on `image`."""
    result = CRCX.call(image, k)
    calls = {CRCX.name: partial(CRCX.call, image, k)}
    images = {CRCX.name: image}
    for library in BASELINES:
        if not library.supports(dtype, k):
            continue
        call = with_size(library.call, k)
        sample = affordable(call, image, settings)
        expected = result if sample is image else CRCX.call(sample, k)
        check_equal(expected, call(sample), k // 2 if library.border == "interior" else 0,
                    f"{library.name}, {label}, {np.dtype(dtype).name}, k={k}")
        calls[library.name] = partial(call, sample)
        images[library.name] = sample
    return measure(calls, images, image.shape[0], settings)


def single_thread_suite(make_image, sizes, settings, label):
    """Rows of (dtype, k, {library: Measurement}) for every dtype and k in `sizes`."""
    rows = []
    with thread_limit(1):
        for dtype in DTYPES:
            image = make_image(settings.size, dtype)
            for k in sizes:
                print(f"  {label} {np.dtype(dtype).name} k={k}", flush=True)
                rows.append((dtype, k, median_case(image, dtype, k, settings, label)))
    return rows


def threaded_copy(image, out, pool, n_threads):
    """Copy `image` into `out` in `n_threads` bands of rows at once (numpy lets go of
    the GIL while it copies): how fast memory alone lets a filter go."""
    bands = np.array_split(np.arange(image.shape[0]), n_threads)
    list(pool.map(lambda rows: np.copyto(out[rows[0]:rows[-1] + 1], image[rows[0]:rows[-1] + 1]),
                  bands))
    return out


def scaling_suite(settings):
    """Rows of (dtype, k, {"1 thread": ..., "2 threads": ...}) for crcx, and per
    dtype a row of k None: a copy of the image, the memory bandwidth's ceiling. crcx
    is also timed writing into an `output` it was given (the "given" keys), which a
    caller filtering frame after frame can reuse: its pages are mapped already."""
    rows = []
    with thread_limit(2), ThreadPoolExecutor(2) as pool:
        for dtype in DTYPES:
            image = natural_image(settings.scaling_size, dtype)
            out = np.empty_like(image)
            print(f"  threads {np.dtype(dtype).name} copy", flush=True)
            calls = {"1 thread": partial(threaded_copy, image, out, pool, 1),
                     "2 threads": partial(threaded_copy, image, out, pool, 2)}
            rows.append((dtype, None, measure(calls, dict.fromkeys(calls, image),
                                              image.shape[0], settings)))
            for k in SCALING_SIZES:
                print(f"  threads {np.dtype(dtype).name} k={k}", flush=True)
                check_equal(crcx_median(image, k, 1), crcx_median(image, k, 2), 0,
                            f"2 threads, {np.dtype(dtype).name}, k={k}")
                calls = {"1 thread": partial(crcx_median, image, k, 1),
                         "2 threads": partial(crcx_median, image, k, 2),
                         "1 thread, given": partial(crcx_median, image, k, 1, out),
                         "2 threads, given": partial(crcx_median, image, k, 2, out)}
                rows.append((dtype, k, measure(calls, dict.fromkeys(calls, image),
                                               image.shape[0], settings)))
    return rows


def crc_competitors(image, options):
    """name -> call(image) for crc_median and the denoisers it is compared with."""
    channel_axis = options.get("channel_axis")
    colour = channel_axis is not None
    sigma = estimate_sigma(image, channel_axis=channel_axis, average_sigmas=True)
    return {
        "crcx.crc_median": lambda img: crcx.crc_median(img, **options),
        "scipy median 3x3": lambda img: ndi.median_filter(
            img, size=(3, 3, 1) if colour else 3, mode="nearest"),
        "skimage NL-means": lambda img: denoise_nl_means(
            img, patch_size=5, patch_distance=6, h=0.8 * sigma, fast_mode=True,
            channel_axis=channel_axis),
        "OpenCV medianBlur 5": lambda img: cv2.medianBlur(img, 5),
    }


def crc_suite(settings):
    """Rows of (label, {name: Measurement}) for crc_median, or None without it."""
    if not hasattr(crcx, "crc_median"):
        return None
    cases = (
        (f"{settings.grey_side}x{settings.grey_side} grey uint8",
         natural_image(settings.grey_side, np.uint8), {}),
        (f"{settings.frame_shape[1]}x{settings.frame_shape[0]} RGB uint8",
         rgb_frame(settings.frame_shape), {"channel_axis": -1, "n_threads": CRC_THREADS}),
    )
    rows = []
    with thread_limit(CRC_THREADS):
        for label, image, options in cases:
            print(f"  crc_median {label}", flush=True)
            calls, images = {}, {}
            for name, call in crc_competitors(image, options).items():
                sample = image if name.startswith("crcx") else affordable(call, image, settings)
                output = call(sample)
                if output.shape != sample.shape:
                    sys.exit(f"{name} on {label}: output shape {output.shape} != {sample.shape}")
                calls[name] = partial(call, sample)
                images[name] = sample
            rows.append((label, measure(calls, images, image.shape[0], settings)))
    return rows


# --------------------------------------------------------------------------- report

def markdown_table(header, rows, left=2):
    """A GitHub markdown table: the first `left` columns left-aligned, the rest right."""
    align = ["---" if i < left else "---:" for i in range(len(header))]
    lines = [header, align] + [[str(cell) for cell in row] for row in rows]
    return "\n".join("| " + " | ".join(line) + " |" for line in lines)


def number(value):
    """Three significant figures without scientific notation."""
    digits = max(0, 2 - int(math.floor(math.log10(abs(value))))) if value else 0
    return f"{value:.{digits}f}"


def rate_cell(measurement):
    if measurement is None:
        return "—"
    rows = f" ({measurement.rows} rows)" if measurement.rows else ""
    return number(measurement.mpx_per_s) + rows


def ratio_cell(ratio, minimum=None):
    """``ratio`` as "12.3x", with pass/FAIL against `minimum` when a target applies."""
    if ratio is None:
        return "—"
    text = f"{number(ratio)}x"
    if minimum is None:
        return text
    verdict = "pass" if ratio >= minimum else "**FAIL**"
    return f"{text} {verdict} (≥{minimum:g}x)"


def target_for(baseline, dtype, k):
    minima = [t.minimum for t in TARGETS if t.baseline == baseline and t.applies(dtype, k)]
    return max(minima) if minima else None


def single_thread_table(rows):
    """Markdown table of a single-threaded suite and its (passed, total) target cells."""
    names = [b.name for b in BASELINES]
    header = ["dtype", "k", "crcx Mpx/s"] + [f"{n} Mpx/s" for n in names] + \
             [f"crcx/{n}" for n in names]
    lines, passed, total = [], 0, 0
    for dtype, k, results in rows:
        crcx_rate = results[CRCX.name].mpx_per_s
        ratios = []
        for name in names:
            minimum = target_for(name, dtype, k)
            ratio = crcx_rate / results[name].mpx_per_s if name in results else None
            if ratio is not None and minimum is not None:
                total += 1
                passed += ratio >= minimum
            ratios.append(ratio_cell(ratio, minimum))
        lines.append([np.dtype(dtype).name, k, rate_cell(results[CRCX.name])] +
                     [rate_cell(results.get(name)) for name in names] + ratios)
    return markdown_table(header, lines), passed, total


def scaling_table(rows):
    header = ["dtype", "k", "1 thread Mpx/s", "2 threads Mpx/s", "2 threads GB/s",
              "speed-up", "output given: 1 thread Mpx/s", "2 threads Mpx/s", "speed-up"]
    lines, passed, total, copy_speedup = [], 0, 0, {}
    for dtype, k, results in rows:
        one, two = results["1 thread"].mpx_per_s, results["2 threads"].mpx_per_s
        # Each pixel is read once and written once.
        traffic = two * 2 * np.dtype(dtype).itemsize / 1000
        if k is None:
            copy_speedup[dtype] = two / one
            lines.append([np.dtype(dtype).name, "copy", number(one), number(two),
                          number(traffic), ratio_cell(two / one), "—", "—", "—"])
            continue
        minimum = (round(MEMORY_BOUND_SHARE * copy_speedup[dtype], 2)
                   if k in MEMORY_BOUND_SIZES else SCALING_TARGET)
        total += 1
        passed += two / one >= minimum
        one_given = results["1 thread, given"].mpx_per_s
        two_given = results["2 threads, given"].mpx_per_s
        lines.append([np.dtype(dtype).name, k, number(one), number(two), number(traffic),
                      ratio_cell(two / one, minimum), number(one_given),
                      number(two_given), ratio_cell(two_given / one_given)])
    return markdown_table(header, lines), passed, total


def crc_table(rows):
    names = list(rows[0][1])
    header = ["image"] + [f"{n} Mpx/s" for n in names] + [f"crcx/{n}" for n in names[1:]]
    lines = []
    for label, results in rows:
        crcx_rate = results[names[0]].mpx_per_s
        lines.append([label] + [rate_cell(results[n]) for n in names] +
                     [ratio_cell(crcx_rate / results[n].mpx_per_s) for n in names[1:]])
    return markdown_table(header, lines, left=1)


def machine():
    """(label, value) pairs describing the machine and the software."""
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next((line.split(":", 1)[1].strip() for line in handle
                        if line.startswith("model name")), platform.processor())
    except OSError:
        cpu = platform.processor() or platform.machine()
    from crcx._runtime.threads import openmp_enabled
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return [
        ("Date", datetime.datetime.now().astimezone().isoformat(timespec="seconds")),
        ("CPU", cpu),
        ("Cores", f"{os.cpu_count()} logical, {usable} usable by this process"),
        ("Load average at start (1, 5, 15 min)", load),
        ("OS", platform.platform()),
        ("Python", platform.python_version()),
        ("numpy", np.__version__),
        ("scipy", scipy.__version__),
        ("scikit-image", skimage.__version__),
        ("OpenCV", cv2.__version__),
        ("crcx", f"{crcx.__version__} (OpenMP {'on' if openmp_enabled else 'off'}, "
                 f"kernels for {isa.level()})"),
    ]


def report(settings, quick, info, natural, uniform, scaling, crc):
    """The whole results file as markdown."""
    natural_md, natural_pass, natural_total = single_thread_table(natural)
    uniform_md, uniform_pass, uniform_total = single_thread_table(uniform)
    scaling_md, scaling_pass, scaling_total = scaling_table(scaling)
    side, big = settings.size, settings.scaling_size
    command = "python benchmarks/median.py" + (" --quick" if quick else "")
    targets = "; ".join(f"crcx ≥{t.minimum:g}x {t.baseline} for {t.where}"
                        for t in TARGETS)
    parts = [
        "# crcx.median speed benchmark",
        f"Written by `{command}`." + (
            " **Quick smoke run** (small inputs, few repeats): not the reference numbers."
            if quick else ""),
        "## Machine and software",
        markdown_table(["item", "value"], info),
        "## Method",
        "\n".join([
            f"- Throughput in Mpx/s (input pixels / second; an RGB pixel counts once), the "
            f"median of {settings.repeats} rounds. In each case the libraries are warmed up, "
            "then timed in turns (rotating order) so that machine drift affects all alike; a "
            f"sample loops a call until it lasts {settings.min_sample} s.",
            "- crcx: `crcx.median(image, size=k, mode=\"nearest\", n_threads=1)`; scipy: "
            "`scipy.ndimage.median_filter(image, size=k, mode=\"nearest\")`; skimage: "
            "`skimage.filters.rank.median(image, footprint=np.ones((k, k)))` (uint8, uint16 "
            "only; uint16 uses a 65536-bin histogram); OpenCV: `cv2.medianBlur(image, k)` "
            "(BORDER_REPLICATE, the same as mode=\"nearest\"; uint16 and float32 only for "
            "k = 3, 5). — marks a combination the library does not support.",
            "- Single-threaded tables: crcx `n_threads=1`, `cv2.setNumThreads(1)`, "
            "threadpoolctl limits of 1; scipy and skimage are single-threaded anyway.",
            f"- Inputs: natural = `skimage.data.camera()` tiled to {side}x{side} + Gaussian "
            f"noise sigma {NOISE_SIGMA:g} (0-255 scale), clipped, then uint8, uint16 (x257) "
            f"or float32 (/255); uniform = independent uniform values over the dtype's range "
            f"([0, 1) for float32). Seed {SEED}.",
            "- Before timing, each baseline's output is compared with crcx's on the same "
            "input: scipy and OpenCV on every pixel, skimage away from a k//2 border (its "
            "window shrinks at the border instead of replicating). Any difference aborts.",
            f"- A baseline whose one call on the full input would take over "
            f"{settings.budget} s is timed on every 2nd, 4th, ... row of it (same width, the "
            "whole picture at a lower vertical resolution); such cells say `(N rows)`. "
            "Its Mpx/s is then compared with crcx's on the full input; crcx is never "
            "subsampled.",
            f"- Targets (pass/FAIL per cell): {targets}; 2 threads ≥{SCALING_TARGET}x one "
            f"thread on {big}x{big}, and for k in {MEMORY_BOUND_SIZES}, whose kernels are "
            f"limited by memory, ≥{MEMORY_BOUND_SHARE:g}x the speed-up of a copy of the same "
            "image in the same run.",
        ]),
        f"## Natural image, {side}x{side}, single thread",
        f"Targets met: {natural_pass} of {natural_total}.",
        natural_md,
        f"## Uniform random input, {side}x{side}, single thread (harder case)",
        "Independent uniform noise has no smooth regions, which is the worst case for "
        "algorithms whose cost depends on the data (histograms, sorting networks with "
        "early exits, selection). The same targets are marked for information; "
        f"met: {uniform_pass} of {uniform_total}.",
        uniform_md,
        f"## crcx threads: 1 vs 2, natural image {big}x{big}",
        f"Targets met: {scaling_pass} of {scaling_total}. The `copy` rows copy the same "
        "image with numpy in one and in two bands of rows at once: what memory alone "
        "allows, for a filter that reads each pixel once and writes it once (into an "
        "array it was given). A filter whose two-thread GB/s comes near that of the copy "
        "is limited by memory, not by its threads. The target applies to the call that "
        "returns a new array; the `output given` columns time the same filter writing "
        "into an array it was given. A new array's pages are mapped, and zeroed, by the "
        "kernel on their first write, a cost that hardly shrinks with a second thread; "
        "crcx makes its new output in the memory of a freed output of the same size "
        "where it has one (as here, from the round before), so it pays that cost on the "
        "first call only.",
        scaling_md,
        "## crc_median",
    ]
    if crc is None:
        parts.append("Skipped: this crcx has no `crc_median`.")
    else:
        parts += [
            "`crcx.crc_median(image)` with its defaults on the grey image, and "
            f"`crcx.crc_median(frame, channel_axis=-1, n_threads={CRC_THREADS})` on the RGB "
            "frame (`skimage.data.astronaut` resized), both with Gaussian noise sigma "
            f"{NOISE_SIGMA:g}; against `scipy.ndimage.median_filter(size=3)` (3x3 per "
            "channel), `skimage.restoration.denoise_nl_means(fast_mode=True, patch_size=5, "
            "patch_distance=6, h=0.8*sigma_est)` (sigma from `estimate_sigma`) and "
            f"`cv2.medianBlur(frame, 5)`. OpenCV and threadpoolctl pools may use "
            f"{CRC_THREADS} threads here; scipy and skimage use one. No target applies.",
            crc_table(crc),
        ]
    return "\n\n".join(parts) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="512x512 inputs and fewer repeats, for a smoke run")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT,
                        help=f"markdown results file (default {DEFAULT_OUTPUT})")
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL
    info = machine()  # before any work, so the load average is the machine's own
    crcx_median(np.zeros((8, 8), np.uint8), 3)  # load the compiled code before the limits
    print("single thread, natural image", flush=True)
    natural = single_thread_suite(natural_image, SIZES, settings, "natural")
    print("single thread, uniform random", flush=True)
    uniform = single_thread_suite(uniform_image, UNIFORM_SIZES, settings, "uniform")
    print("1 vs 2 threads", flush=True)
    scaling = scaling_suite(settings)
    print("crc_median", flush=True)
    crc = crc_suite(settings)
    text = report(settings, args.quick, info, natural, uniform, scaling, crc)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(text)
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
