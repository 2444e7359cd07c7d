"""Long fuzz of crcx.median, rank_filter and percentile_filter against scipy.ndimage.

Not run in CI (tests/test_median.py runs a few hundred of the same cases). Case i is
drawn from ``numpy.random.default_rng([seed, i])`` by tests/scipy_cases.py, over
dtypes (byte-swapped too), layouts, shapes of 1 to 4 axes, sizes and footprints,
unordered and negative axes, origins, modes (one per axis too, where scipy takes
them), cvals, outputs of other dtypes, ranks and percentiles; it is checked against
scipy where scipy is right, else against crcx.reference. Prints one summary line, and each
difference with its case number::

    nice -n 19 python benchmarks/fuzz.py --cases 100000
"""
import argparse
import collections
import importlib.util
import sys
import time
from pathlib import Path

import numpy as np


def load_cases():
    """tests/scipy_cases.py, the case generator shared with the tests."""
    path = Path(__file__).resolve().parents[1] / "tests" / "scipy_cases.py"
    spec = importlib.util.spec_from_file_location("scipy_cases", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["scipy_cases"] = module
    spec.loader.exec_module(module)
    return module


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--first", type=int, default=0, help="number of the first case")
    args = parser.parse_args(argv)
    cases = load_cases()
    checked, differences = collections.Counter(), []
    start = time.perf_counter()
    for i in range(args.first, args.first + args.cases):
        case = cases.draw_case(np.random.default_rng([args.seed, i]))
        oracle, difference = cases.check(case)
        checked[oracle] += 1
        if difference is not None:
            differences.append(i)
            print(f"case {i} ({case.filter} against {oracle}): {difference}", flush=True)
    print(f"{args.cases} cases (seed {args.seed}, from {args.first}): {checked['scipy']} "
          f"against scipy, {checked['reference']} against the reference; "
          f"{len(differences)} differences; {time.perf_counter() - start:.0f} s")
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
