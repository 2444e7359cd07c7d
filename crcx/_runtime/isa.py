"""The instruction-set levels of the hot compiled modules.

A wheel cannot be built for the machine it will run on, and its baseline (x86-64, with
SSE2) runs the kernels several times slower than the vector units of today's CPUs
allow. So the default build (setup.py) builds the modules of DISPATCHED a second time
for each level of LEVELS, into ``crcx/_isa/<level>/``, and the first import of each
loads the one built for the best level that this CPU runs (the x86-64 psABI's levels,
as numpy and OpenCV choose their kernels at run time). The environment variable
``CRCX_ISA`` forces a level (``baseline`` or one of LEVELS), so that tests can check
that every level gives the same results.
"""
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from pathlib import Path

__all__ = ["BASELINE", "DISPATCHED", "ENVIRONMENT", "LEVELS", "built_levels", "install",
           "level", "supported_levels", "variant_name"]

# The levels the modules are built for besides the baseline, in order, by their -march
# names: x86-64-v3 (AVX2, FMA, BMI2: every x86-64 CPU since 2015) and x86-64-v4
# (AVX-512 F/BW/CD/DQ/VL).
LEVELS = ("x86-64-v3", "x86-64-v4")
BASELINE = "baseline"
# The modules whose loops are worth a build per level.
DISPATCHED = ("crcx._rank._driver", "crcx._crc._stages", "crcx._crc._window")
ENVIRONMENT = "CRCX_ISA"
_PACKAGE = Path(__file__).resolve().parents[1]
_chosen = None


def variant_name(module, level):
    """The dotted name `module` is built under for `level`."""
    return "crcx._isa." + level.replace("-", "_") + module.removeprefix("crcx")


def _variant_path(module, level):
    """The file of `module` built for `level`, or None."""
    stem = _PACKAGE.joinpath(*variant_name(module, level).split(".")[1:])
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = stem.with_name(stem.name + suffix)
        if path.is_file():
            return path
    return None


def built_levels():
    """The levels of LEVELS that every module of DISPATCHED was built for."""
    return tuple(level for level in LEVELS
                 if all(_variant_path(module, level) for module in DISPATCHED))


def supported_levels():
    """The levels of LEVELS that this CPU runs."""
    from crcx._runtime import _cpu
    highest = _cpu.isa_level()
    return tuple(level for level in LEVELS if int(level[-1]) <= highest)


def level():
    """The level the modules of DISPATCHED are loaded for (BASELINE: the ones at their
    own names), chosen once: ``CRCX_ISA`` if set, else the best level built that
    this CPU runs."""
    global _chosen
    if _chosen is None:
        usable = [name for name in built_levels() if name in supported_levels()]
        forced = os.environ.get(ENVIRONMENT)
        if forced is None:
            _chosen = usable[-1] if usable else BASELINE
        elif forced == BASELINE or forced in usable:
            _chosen = forced
        else:
            raise ImportError(
                f"{ENVIRONMENT}={forced!r}: expected {BASELINE!r} or a level built and "
                f"supported here: {usable} (built: {list(built_levels())}, this CPU "
                f"runs: {list(supported_levels())})")
    return _chosen


class _LevelFinder(importlib.abc.MetaPathFinder):
    """Finds each module of DISPATCHED in its build for level()."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in DISPATCHED or level() == BASELINE:
            return None
        return importlib.util.spec_from_file_location(fullname,
                                                      _variant_path(fullname, level()))


def install():
    """Put the finder first on ``sys.meta_path`` (once), before any module of
    DISPATCHED is imported."""
    if not any(isinstance(finder, _LevelFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _LevelFinder())
