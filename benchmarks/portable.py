"""The portable build's speed at each instruction-set level, against a native build.

A wheel is built for the compiler's generic target; crcx carries its hot modules for
the levels of crcx/_runtime/isa.py besides it and loads the best one the CPU runs.
This times the cells of the portable-speed goal (1024x1024 uniform input, one thread:
the median of uint8 3x3, 7x7, 15x15, uint16 3x3, 7x7, float32 3x3, 5x5, 7x7; CRC-MF on
a 512x512 picture under Gaussian noise of sigma 15) under each level of this install
(``CRCX_ISA``) and under a native build (``CRCX_NATIVE=1``, in the folder given), each
in a process of its own, the processes in turns, each cell the best of its rounds.
All must give the same outputs (checked). Writes ``results/portable.md``.

Usage::

    git clone . /tmp/native && (cd /tmp/native && CRCX_NATIVE=1 python setup.py build_ext --inplace)
    python benchmarks/portable.py --native /tmp/native
"""
import argparse
import datetime
import hashlib
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

PROCESSES = 7     # processes per build and level, in turns (3 left cells 0.67-1.05 apart)
REPEATS = 5       # timings of each cell within a process (CRC-MF: 2)
MEDIAN_CELLS = [("uint8", 3), ("uint8", 7), ("uint8", 15), ("uint16", 3), ("uint16", 7),
                ("float32", 3), ("float32", 5), ("float32", 7)]
CRC_CELL = "CRC-MF 512x512 uint8"


def _inputs():
    rng = np.random.default_rng(0)
    inputs = {"uint8": rng.integers(0, 256, (1024, 1024)).astype(np.uint8),
              "uint16": rng.integers(0, 65536, (1024, 1024)).astype(np.uint16),
              "float32": rng.random((1024, 1024), dtype=np.float32)}
    y, x = np.mgrid[:512, :512] / 512
    clean = 128 + 60 * np.sin(6 * x) * np.cos(4 * y) + 40 * (x - y)
    picture = np.clip(np.rint(clean + rng.normal(0, 15, clean.shape)), 0, 255)
    return inputs, picture.astype(np.uint8)


def worker():
    """Time every cell in this process; print the times (s) and the outputs' digests."""
    import crcx
    from crcx._runtime import isa
    inputs, picture = _inputs()
    calls = {f"median {dtype} {size}x{size}": (lambda d=dtype, s=size:
                                                crcx.median(inputs[d], s, n_threads=1))
             for dtype, size in MEDIAN_CELLS}
    calls[CRC_CELL] = lambda: crcx.crc_median(picture, n_threads=1)
    times, digests = {}, {}
    for name, call in calls.items():
        best = float("inf")
        for _ in range(2 if name == CRC_CELL else REPEATS):
            start = time.perf_counter()
            output = call()
            best = min(best, time.perf_counter() - start)
        times[name] = best
        digests[name] = hashlib.sha256(output.tobytes()).hexdigest()
    print(json.dumps({"level": isa.level(), "times": times, "digests": digests}))


def _cpu_name():
    """The CPU's model name where Linux tells it, else what platform knows."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "CPU not named"


def _run(environment):
    run = subprocess.run([sys.executable, __file__, "--worker"], capture_output=True,
                         text=True, env={**os.environ, **environment}, check=True)
    return json.loads(run.stdout)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--native", required=True,
                        help="a clone of crcx built in place with CRCX_NATIVE=1")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--output",
                        default=str(Path(__file__).parent / "results" / "portable.md"))
    args = parser.parse_args(argv)
    from crcx._runtime import isa
    builds = {level: {isa.ENVIRONMENT: level}
              for level in (isa.BASELINE, *isa.built_levels()) if level == isa.BASELINE
              or level in isa.supported_levels()}
    builds["native"] = {"PYTHONPATH": os.path.abspath(args.native)}
    best, digests = {}, {}
    for _ in range(PROCESSES):
        for build, environment in builds.items():
            result = _run(environment)
            assert build == "native" or result["level"] == build, result["level"]
            digests[build] = result["digests"]
            for cell, seconds in result["times"].items():
                best[build, cell] = min(best.get((build, cell), float("inf")), seconds)
    assert all(d == digests["native"] for d in digests.values()), "outputs differ"
    chosen = isa.level()
    cells = list(digests["native"])
    levels = [build for build in builds if build != "native"]
    lines = ["# The portable build against a native one", "",
             f"Written by `python benchmarks/portable.py` on {datetime.date.today()}, "
             f"{platform.machine()}, {_cpu_name()}, Python "
             f"{platform.python_version()}; one thread, ms, the best of {PROCESSES} "
             f"processes per build in turns, {REPEATS} calls each (CRC-MF: 2). Every build "
             "gave the same outputs (checked). `native` is built with `CRCX_NATIVE=1`; the "
             f"others are this install at each level, `{chosen}` the one it loads here.", "",
             "| cell | native ms | " + " | ".join(f"{level} ms" for level in levels)
             + " | " + " | ".join(f"{level} / native speed" for level in levels) + " |",
             "|---" * (2 + 2 * len(levels)) + "|"]
    for cell in cells:
        native = best["native", cell]
        lines.append(f"| {cell} | {native * 1e3:.2f} | "
                     + " | ".join(f"{best[level, cell] * 1e3:.2f}" for level in levels) + " | "
                     + " | ".join(f"{native / best[level, cell]:.2f}" for level in levels)
                     + " |")
    text = "\n".join(lines) + "\n"
    Path(args.output).write_text(text)
    print(text)


if __name__ == "__main__":
    if "--worker" in sys.argv:
        worker()
    else:
        main()
