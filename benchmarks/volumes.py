"""CRC-MF on 3-d volumes, against scikit-image's 3-d non-local means and the 3-d medians.

The volumes are a synthetic 16-bit phantom, as a CT or a microscope stack delivers it
(uint16, rounded and clipped): a soft-tissue body with organs of their own levels,
dense rods, thin vessels (one or two voxels across) and a slow shading, of two sizes,
48x128x128 and 64x256x256, under two noises: Poisson (photon counts, a quarter of a
count per grey level, so that the noise's standard deviation grows as the square root
of the level: 63 grey levels at 1000) and Gaussian of sigma 40 grey levels. Each method runs
on the same noisy volume: ``crcx.crc_median`` at its defaults (blind: it estimates the
noise) and with ``preset="realtime"``, ``crcx.median`` 3x3x3 and 5x5x5, and
``skimage.restoration.denoise_nl_means(volume, patch_size=3, patch_distance=2,
h=0.8 sigma, sigma=sigma, fast_mode=True)`` given the noise's true sigma (for Poisson
its root-mean-square over the volume). Each is timed in a process of its own, the
best of ROUNDS calls, on volumes it reads from files (so that making them leaves no
high-water mark); its peak memory is the process's maximum resident size above what
it held before the first call (``resource.getrusage``; ``tracemalloc`` does not see
compiled allocations). PSNR over the phantom's range. Writes ``results/volumes.md``.

Usage::

    python benchmarks/volumes.py [--quick] [--output PATH]
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
SHAPES = ((48, 128, 128), (64, 256, 256))
NOISES = ("poisson", "gaussian")
COUNTS_PER_LEVEL = 0.25     # Poisson: photon counts per grey level
GAUSSIAN_SIGMA = 40.0       # grey levels
METHODS = ("crcx.crc_median", "crcx.crc_median realtime", "crcx.median 3x3x3",
           "crcx.median 5x5x5", "skimage NL-means 3-d")
# The goal on the larger volume (issue "fast and lean"): at least this many times
# faster than scikit-image's 3-d non-local means, at a higher PSNR.
SPEED_GOAL = 5.0


def phantom(shape, seed=0):
    """The clean uint16 phantom of `shape` (z, y, x)."""
    rng = np.random.default_rng(seed)
    z, y, x = np.meshgrid(*(np.linspace(-1, 1, n) for n in shape), indexing="ij")
    volume = 300 + 150 * (x + 0.5 * z)                           # slow shading, air
    volume[(x / 0.9) ** 2 + (y / 0.75) ** 2 + (z / 0.95) ** 2 < 1] = 1000    # body
    for _ in range(6):                                             # organs
        c = rng.uniform(-0.5, 0.5, 3)
        r = rng.uniform(0.12, 0.3, 3)
        level = rng.uniform(700, 1600)
        volume[((z - c[0]) / r[0]) ** 2 + ((y - c[1]) / r[1]) ** 2
               + ((x - c[2]) / r[2]) ** 2 < 1] = level
    for cy, cx in rng.uniform(-0.5, 0.5, (3, 2)):                  # dense rods along z
        volume[(y - cy) ** 2 + (x - cx) ** 2 < 0.06 ** 2] = 2800
    for _ in range(8):                                             # thin vessels
        cy, cx = rng.uniform(-0.6, 0.6, 2)
        slope = rng.uniform(-0.5, 0.5)
        width = rng.choice([1.0, 2.0]) / shape[1]
        volume[(np.abs(y - cy - slope * (x - cx)) < width)
               & (np.abs(z - rng.uniform(-0.6, 0.6)) < 2.0 / shape[0])] = 1900
    return np.clip(np.rint(volume), 0, 65535).astype(np.uint16)


def noisy(clean, noise, seed=1):
    """`clean` under `noise`, as uint16; and the noise's (root-mean-square) sigma."""
    rng = np.random.default_rng(seed)
    if noise == "poisson":
        values = rng.poisson(clean * COUNTS_PER_LEVEL) / COUNTS_PER_LEVEL
        sigma = float(np.sqrt(np.mean(clean / COUNTS_PER_LEVEL)))
    else:
        values = clean + rng.normal(0, GAUSSIAN_SIGMA, clean.shape)
        sigma = GAUSSIAN_SIGMA
    return np.clip(np.rint(values), 0, 65535).astype(np.uint16), sigma


def run_method(method, folder, sigma):
    """In this process: time `method` on the case saved in `folder`; print its result
    as JSON."""
    import resource

    import crcx
    from skimage.metrics import peak_signal_noise_ratio
    from skimage.restoration import denoise_nl_means
    clean = np.load(os.path.join(folder, "clean.npy"))
    volume = np.load(os.path.join(folder, "noisy.npy"))
    calls = {
        "crcx.crc_median": lambda: crcx.crc_median(volume),
        "crcx.crc_median realtime": lambda: crcx.crc_median(volume, preset="realtime"),
        "crcx.median 3x3x3": lambda: crcx.median(volume, 3),
        "crcx.median 5x5x5": lambda: crcx.median(volume, 5),
        "skimage NL-means 3-d": lambda: denoise_nl_means(
            volume.astype(np.float64), patch_size=3, patch_distance=2, h=0.8 * sigma,
            sigma=sigma, fast_mode=True, channel_axis=None),
    }
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    best = float("inf")
    for _ in range(ROUNDS):
        start = time.perf_counter()
        result = calls[method]()
        best = min(best, time.perf_counter() - start)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    print(json.dumps({
        "seconds": best, "peak_mb": peak / 1024,
        "psnr": peak_signal_noise_ratio(clean.astype(np.float64),
                                        np.asarray(result, np.float64),
                                        data_range=float(clean.max() - clean.min())),
        "input_psnr": peak_signal_noise_ratio(clean.astype(np.float64),
                                              volume.astype(np.float64),
                                              data_range=float(clean.max() - clean.min())),
        "input_mb": volume.nbytes / 2 ** 20}))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the smaller volume only")
    parser.add_argument("--output",
                        default=str(Path(__file__).parent / "results" / "volumes.md"))
    parser.add_argument("--method", help=argparse.SUPPRESS)
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.method:
        folder, sigma = json.loads(args.case)
        run_method(args.method, folder, sigma)
        return
    import crcx
    import skimage
    shapes = SHAPES[:1] if args.quick else SHAPES
    rows = []
    for shape in shapes:
        for noise in NOISES:
            results = {}
            clean = phantom(shape)
            volume, sigma = noisy(clean, noise)
            with tempfile.TemporaryDirectory() as folder:
                np.save(os.path.join(folder, "clean.npy"), clean)
                np.save(os.path.join(folder, "noisy.npy"), volume)
                for method in METHODS:
                    run = subprocess.run([sys.executable, __file__, "--method", method,
                                          "--case", json.dumps([folder, sigma])],
                                         capture_output=True, text=True, check=True)
                    results[method] = json.loads(run.stdout)
                    print(shape, noise, method, results[method], flush=True)
            rows.append((shape, noise, results))
    lines = ["# CRC-MF on volumes", "",
             f"Written by `python benchmarks/volumes.py` on {datetime.date.today()}: "
             f"{platform.machine()}, {os.cpu_count()} CPUs, Python "
             f"{platform.python_version()}, crcx {crcx.__version__}, scikit-image "
             f"{skimage.__version__}, NumPy {np.__version__}. crcx on all threads, "
             f"scikit-image's non-local means as it runs (one thread); the best of "
             f"{ROUNDS} calls; peak memory above the process's before the call. The "
             "phantom and the noises are in the script's docstring.", "",
             "| volume | noise | input PSNR | method | PSNR dB | seconds | peak MB "
             "(input MB) |", "|---|---|---|---|---|---|---|"]
    verdicts = []
    for shape, noise, results in rows:
        first = next(iter(results.values()))
        for method, result in results.items():
            lines.append(f"| {'x'.join(map(str, shape))} uint16 | {noise} | "
                         f"{first['input_psnr']:.2f} | {method} | {result['psnr']:.2f} | "
                         f"{result['seconds']:.3f} | {result['peak_mb']:.0f} "
                         f"({result['input_mb']:.0f}) |")
        nlm = results["skimage NL-means 3-d"]
        for method, name in (("crcx.crc_median", "CRC-MF"),
                             ("crcx.crc_median realtime", "CRC-MF realtime")):
            crc = results[method]
            speed = nlm["seconds"] / crc["seconds"]
            met = speed >= SPEED_GOAL and crc["psnr"] > nlm["psnr"]
            verdicts.append(f"- {'x'.join(map(str, shape))}, {noise}: {name} "
                            f"{speed:.2f}x scikit-image's speed, PSNR "
                            f"{crc['psnr'] - nlm['psnr']:+.2f} dB: "
                            f"{'PASS' if met else 'FAIL'} (goal: {SPEED_GOAL:g}x and higher "
                            "PSNR, on 64x256x256)")
    lines += ["", "## Against the goal", "", *verdicts]
    text = "\n".join(lines) + "\n"
    Path(args.output).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
