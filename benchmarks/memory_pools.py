"""What crcx's memory pools earn, by the bytes they may keep between calls.

Times frame-by-frame loops (``out = f(image)`` over and over, so that each output is
made while the previous one is still alive) of ``crcx.median(image, size=3)`` on
outputs of 4 MiB to 128 MiB and of ``crcx.crc_median(image)`` on 256x256 to
1024x1024 grey images, on one thread (two threads on a shared two-core machine
wait for each other's time slices), under several cache limits
(``crcx._runtime.memory.set_cache_limit``): 0 keeps nothing between calls, the
largest is what the pools could keep before the limit existed (256 MiB of outputs
and 1 GiB of scratch planes). For each it reports the best time per call, the
minor page faults per call (the cost the pools avoid, and a count that the load
of a shared machine does not blur) and what the pools keep once the loop is over.
Settings take turns within each round, so that machine drift touches all alike.

Examples
--------
From the repository root, with crcx built in place (about two minutes)::

    nice -n 19 python benchmarks/memory_pools.py
    python benchmarks/memory_pools.py --quick --output /tmp/memory_pools.md
"""
import argparse
import datetime
import os
import platform
import resource
import statistics
import time
from pathlib import Path

import numpy as np

import crcx
from crcx._runtime import memory as output_cache

MIB = 1 << 20
LIMITS = [0, 16 * MIB, 64 * MIB, 256 * MIB, 1280 * MIB]
MEDIAN_CASES = [((2048, 2048), np.uint8), ((2048, 2048), np.uint16),
                ((4096, 4096), np.uint16), ((4096, 4096), np.float32),
                ((4096, 4096), np.float64)]
CRC_CASES = [(256, 256), (512, 512), (1024, 1024)]


def loop(function, image, calls):
    """Per-call seconds and minor page faults of `calls` frame-loop calls."""
    out = function(image)                       # warm-up: the loop's steady state
    times, faults = [], []
    for _ in range(calls):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        start = time.perf_counter()
        out = function(image)
        times.append(time.perf_counter() - start)
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    del out
    return times, faults


def measure(label, function, image, calls, rounds):
    """Rows (label, limit, ms per call, faults per call, MiB kept after) per limit."""
    times = {limit: [] for limit in LIMITS}
    faults = {limit: [] for limit in LIMITS}
    kept = {}
    for r in range(rounds):
        order = LIMITS[r % len(LIMITS):] + LIMITS[:r % len(LIMITS)]
        for limit in order:
            output_cache.clear_output_cache()
            output_cache.set_cache_limit(limit)
            t, f = loop(function, image, calls)
            times[limit] += t
            faults[limit] += f
            kept[limit] = (sum(output_cache.kept_sizes())
                           + sum(output_cache.kept_sizes(scratch_pool=True)))
    output_cache.clear_output_cache()
    return [(label, limit, 1e3 * min(times[limit]),
             statistics.median(faults[limit]), kept[limit] / MIB) for limit in LIMITS]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer calls and rounds")
    parser.add_argument("--output", type=Path,
                        default=Path(__file__).parent / "results" / "memory_pools.md")
    args = parser.parse_args()
    calls, rounds = (3, 1) if args.quick else (6, 3)
    rng = np.random.default_rng(20261204)
    default = output_cache.set_cache_limit(0)
    rows = []
    for shape, dtype in MEDIAN_CASES:
        image = rng.integers(0, 256, shape).astype(dtype)
        label = (f"median 3x3, {shape[0]}x{shape[1]} {np.dtype(dtype).name} "
                 f"({image.nbytes // MIB} MiB out)")
        rows += measure(label, lambda a: crcx.median(a, size=3, n_threads=1), image,
                        calls, rounds)
    for shape in CRC_CASES:
        image = rng.integers(0, 256, shape).astype(np.uint8)
        rows += measure(f"crc_median, {shape[0]}x{shape[1]} uint8",
                        lambda a: crcx.crc_median(a, n_threads=1), image,
                        max(2, calls // 2), rounds)
    output_cache.set_cache_limit(default)

    lines = [
        "# What the memory pools earn",
        "",
        "Written by `python benchmarks/memory_pools.py`"
        f"{' --quick' if args.quick else ''}: "
        f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} logical cores "
        "(shared), one thread, load average at the end "
        f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}.",
        "",
        "Frame loops `out = f(image)`: per call, the best time and the median page "
        f"faults (minor) over {rounds} rounds of {calls} calls (crc_median: "
        f"{max(2, calls // 2)}), each after a warm-up call; kept is what both pools hold "
        "after the loop. The limit is `set_cache_limit`; 1280 MiB is what they could "
        "keep before it existed.",
        "",
        "| case | limit (MiB) | ms per call | page faults per call | kept after (MiB) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    lines += [f"| {label} | {limit // MIB} | {ms:.2f} | {f:.0f} | {kept:.0f} |"
              for label, limit, ms, f, kept in rows]
    args.output.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
