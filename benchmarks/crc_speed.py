"""CRC-MF's speed and memory against OpenCV's non-local means, side by side in one run.

The figures the issue "CRC-MF fast and lean" asks of the quality preset, and of the
real-time preset (``preset="realtime"``, 2 threads) on both cases:

* 512x512 grey uint8 pictures (``skimage.data.camera`` and ``moon``) under Gaussian
  noise of sigma GREY_SIGMA, rounded and clipped as a camera delivers them:
  ``crcx.crc_median(image, n_threads=n)`` (blind) against
  ``cv2.fastNlMeansDenoising(image, None, h, 7, 21)`` given the true sigma
  (h = 0.8 sigma), on 1 and 2 threads;
* a 1920x1080 RGB uint8 frame (``skimage.data.astronaut`` resized) under Gaussian
  noise of sigma FRAME_SIGMA: ``crcx.crc_median(frame, channel_axis=-1,
  n_threads=n)`` on 1 and 2 threads against
  ``cv2.fastNlMeansDenoisingColored(frame, None, 10, 10, 7, 21)`` and
  ``cv2.medianBlur(frame, 5)`` on 2 threads.

Each call runs in a process of its own, on an image it reads from a file, the best of
ROUNDS calls; its peak memory is the process's maximum resident size during the
calls above what it held before the first (Linux's VmHWM, reset just before, from
``/proc/self/status``: ``tracemalloc`` does not see compiled allocations). OpenCV's
threads are set with ``cv2.setNumThreads``. PSNR against the clean picture, over
0-255. Writes ``results/crc_speed.md``.

Usage::

    python benchmarks/crc_speed.py [--quick] [--output PATH]
"""
import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROUNDS = 3
SEED = 20261206
GREY_SIGMA = 15.0
FRAME_SIGMA = 10.0
FRAME_SHAPE = (1080, 1920)
GREY_IMAGES = ("camera", "moon")
# The goals of the issue, each a ratio measured in this run.
GREY_SPEEDUP = 2.0        # x OpenCV's NL-means on 512x512 grey, at 1 and at 2 threads
FRAME_SPEEDUP = 3.0       # x OpenCV's coloured NL-means on the 1080p frame, 2 threads
PSNR_MARGIN = 0.2         # dB below OpenCV's NL-means at most
THREAD_GAIN = 1.8         # 2 threads over 1, CRC-MF
FRAME_MEMORY_MB = 100.0   # extra memory at peak on the 1080p frame
REALTIME_MEDIAN = 8.0     # the real-time preset's time on the frame, x cv2.medianBlur's


def noisy(clean, sigma):
    """`clean` (0-255) with Gaussian noise of `sigma`, rounded and clipped to uint8."""
    rng = np.random.default_rng(SEED)
    return np.clip(np.rint(clean + rng.normal(0.0, sigma, clean.shape)), 0, 255).astype(
        np.uint8)


def cases(quick):
    """(name, clean uint8, noisy uint8, sigma, colour) of each case."""
    import cv2
    import skimage.data
    out = []
    for name in GREY_IMAGES[:1] if quick else GREY_IMAGES:
        clean = getattr(skimage.data, name)()
        out.append((f"{name} 512x512 grey", clean, noisy(clean, GREY_SIGMA), GREY_SIGMA,
                    False))
    if not quick:
        clean = cv2.resize(skimage.data.astronaut(), FRAME_SHAPE[::-1],
                           interpolation=cv2.INTER_AREA)
        out.append(("astronaut 1920x1080 RGB", clean, noisy(clean, FRAME_SIGMA),
                    FRAME_SIGMA, True))
    return out


def methods(colour):
    """(method, threads) of each run of a case."""
    crc = [("crcx.crc_median", 1), ("crcx.crc_median", 2), ("crcx.crc_median realtime", 2)]
    if colour:
        return crc + [("OpenCV NL-means", 2), ("OpenCV medianBlur 5", 2)]
    return crc + [("OpenCV NL-means", 1), ("OpenCV NL-means", 2)]


def _resident_kib(field):
    """The process's VmRSS (resident now) or VmHWM (its high-water mark), in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def run_method(method, folder, threads, sigma):
    """In this process: time `method` on the case saved in `folder`; print its result
    as JSON."""
    import cv2

    import crcx
    clean = np.load(os.path.join(folder, "clean.npy"))
    image = np.load(os.path.join(folder, "noisy.npy"))
    colour = image.ndim == 3
    cv2.setNumThreads(threads)
    calls = {
        "crcx.crc_median": lambda: crcx.crc_median(
            image, channel_axis=-1 if colour else None, n_threads=threads),
        "crcx.crc_median realtime": lambda: crcx.crc_median(
            image, channel_axis=-1 if colour else None, n_threads=threads, preset="realtime"),
        "OpenCV NL-means": (lambda: cv2.fastNlMeansDenoisingColored(image, None, 10, 10, 7, 21))
        if colour else (lambda: cv2.fastNlMeansDenoising(image, None, 0.8 * sigma, 7, 21)),
        "OpenCV medianBlur 5": lambda: cv2.medianBlur(image, 5),
    }
    before = _resident_kib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")       # VmHWM := VmRSS
    best = float("inf")
    for _ in range(ROUNDS):
        start = time.perf_counter()
        result = calls[method]()
        best = min(best, time.perf_counter() - start)
    peak = _resident_kib("VmHWM") - before
    error = np.mean((np.asarray(result, np.float64) - clean) ** 2)
    input_error = np.mean((image.astype(np.float64) - clean) ** 2)
    print(json.dumps({"seconds": best, "peak_mb": peak / 1024,
                      "psnr": 10 * np.log10(255.0 ** 2 / error),
                      "input_psnr": 10 * np.log10(255.0 ** 2 / input_error),
                      "input_mb": image.nbytes / 2 ** 20}))


def measure(case):
    """{(method, threads): result} of every run of `case`, each in a process of its own."""
    name, clean, image, sigma, colour = case
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        np.save(os.path.join(folder, "clean.npy"), clean)
        np.save(os.path.join(folder, "noisy.npy"), image)
        for method, threads in methods(colour):
            run = subprocess.run([sys.executable, __file__, "--method", method,
                                  "--case", json.dumps([folder, threads, sigma])],
                                 capture_output=True, text=True, check=True)
            results[method, threads] = json.loads(run.stdout)
            print(name, method, threads, results[method, threads], flush=True)
    return results


def verdicts(name, colour, results):
    """One line per goal of the issue that `name`'s case measures."""
    def line(what, value, goal, met):
        return f"- {name}: {what} {value}: {'pass' if met else 'FAIL'} (goal: {goal})"

    crc = {threads: results["crcx.crc_median", threads] for threads in (1, 2)}
    gain = crc[1]["seconds"] / crc[2]["seconds"]
    out = [line("CRC-MF 2 threads over 1", f"{gain:.2f}x", f"at least {THREAD_GAIN:g}x",
                gain >= THREAD_GAIN)]
    speedup = FRAME_SPEEDUP if colour else GREY_SPEEDUP
    for threads in (2,) if colour else (1, 2):
        peer = results["OpenCV NL-means", threads]
        ratio = peer["seconds"] / crc[threads]["seconds"]
        out.append(line(f"speed over OpenCV's NL-means, {threads} thread(s),",
                        f"{ratio:.2f}x", f"at least {speedup:g}x", ratio >= speedup))
        margin = crc[threads]["psnr"] - peer["psnr"]
        out.append(line("PSNR over OpenCV's NL-means", f"{margin:+.2f} dB",
                        f"at least -{PSNR_MARGIN:g} dB", margin >= -PSNR_MARGIN))
    if colour:
        extra = max(crc[threads]["peak_mb"] for threads in (1, 2))
        out.append(line("extra memory at peak", f"{extra:.0f} MB",
                        f"at most {FRAME_MEMORY_MB:g} MB", extra <= FRAME_MEMORY_MB))
        ratio = (results["crcx.crc_median realtime", 2]["seconds"]
                 / results["OpenCV medianBlur 5", 2]["seconds"])
        out.append(line("real-time preset's time over cv2.medianBlur(frame, 5)'s",
                        f"{ratio:.1f}x", f"at most {REALTIME_MEDIAN:g}x",
                        ratio <= REALTIME_MEDIAN))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the camera picture only")
    parser.add_argument("--output",
                        default=str(Path(__file__).parent / "results" / "crc_speed.md"))
    parser.add_argument("--method", help=argparse.SUPPRESS)
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.method:
        run_method(args.method, *json.loads(args.case))
        return
    import cv2

    import crcx
    from crcx._runtime import isa
    lines = ["# CRC-MF's speed and memory against OpenCV", "",
             f"Written by `python benchmarks/crc_speed.py` on {datetime.date.today()}: "
             f"{platform.machine()}, {os.cpu_count()} CPUs, Python "
             f"{platform.python_version()}, crcx {crcx.__version__} (kernels for "
             f"{isa.level()}), "
             f"OpenCV {cv2.__version__}, NumPy {np.__version__}. The best of {ROUNDS} "
             "calls, each method in a process of its own; peak memory above the "
             "process's before the call. The cases are in the script's docstring.", "",
             "| case | input PSNR | method | threads | PSNR dB | ms | peak MB (input MB) |",
             "|---|---|---|---|---|---|---|"]
    checks = []
    for case in cases(args.quick):
        name, colour = case[0], case[4]
        results = measure(case)
        for (method, threads), result in results.items():
            lines.append(f"| {name} | {result['input_psnr']:.2f} | {method} | {threads} | "
                         f"{result['psnr']:.2f} | {1e3 * result['seconds']:.1f} | "
                         f"{result['peak_mb']:.0f} ({result['input_mb']:.1f}) |")
        checks += verdicts(name, colour, results)
    lines += ["", "## Against the goals", "", *checks]
    text = "\n".join(lines) + "\n"
    Path(args.output).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
