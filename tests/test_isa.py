"""The instruction-set levels (crcx/_runtime/isa.py): the portable build carries the hot
modules for each level, the best one this CPU runs is loaded, CRCX_ISA forces one, and
every level gives the same results, bit for bit."""
import json
import os
import platform
import subprocess
import sys

import pytest

from crcx._runtime import isa

# Run apart for each level: the modules it loaded, and a digest of each filter's output
# on inputs that reach every line algorithm and CRC-MF's stages.
PROBE = """
import hashlib, json, sys
import numpy as np
import crcx
from crcx._runtime import isa
rng = np.random.default_rng(11)
y, x = np.mgrid[:96, :80] / 96
smooth = 120 + 60 * np.sin(5 * x) * np.cos(3 * y)
images = {
    "uint8": np.clip(smooth + rng.normal(0, 12, smooth.shape), 0, 255).astype(np.uint8),
    "uint16": rng.integers(0, 65536, (70, 90)).astype(np.uint16),
    "float32": rng.normal(0, 1, (64, 72)).astype(np.float32),
    "float64": rng.normal(0, 1, (50, 60)),
    "int32": rng.integers(-10**6, 10**6, (40, 50)).astype(np.int32),
    "volume": rng.integers(0, 4096, (9, 30, 34)).astype(np.uint16),
}
images["float32"][5, 7] = np.nan
cross = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], bool)
outputs = {}
for name, image in images.items():
    for size in (3, 5, 7, 9, 15, 31) if image.ndim == 2 else (3, 5):
        outputs[f"{name} {size}"] = crcx.median(image, size)
    outputs[f"{name} cross"] = crcx.rank_filter(image, 1, footprint=cross if image.ndim == 2
                                                else cross[None])
rgb = np.clip(np.stack([smooth, smooth[::-1], 0.8 * smooth], -1)
              + rng.normal(0, 15, (96, 80, 3)), 0, 255).astype(np.uint8)
outputs["crc grey"] = crcx.crc_median(images["uint8"])
outputs["crc rgb"] = crcx.crc_median(rgb, channel_axis=-1)
outputs["crc volume"] = crcx.crc_median(images["volume"])
for correlation in ("pearson", "renyi"):    # float64 maps: every rounding shows
    outputs[f"map {correlation}"] = crcx.crc_map(images["uint8"], correlation=correlation)
    outputs[f"crc gain {correlation}"] = crcx.crc_median(images["uint8"],
                                                         correlation=correlation, gain="crc")
print(json.dumps({
    "level": isa.level(),
    "files": [sys.modules[name].__file__ for name in isa.DISPATCHED],
    "digests": {key: hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest()
                for key, value in outputs.items()},
}))
"""


def _probe(level, folder):
    # Run from `folder`, where `python -c` finds the installed crcx, not the sources.
    environment = {**os.environ, isa.ENVIRONMENT: level}
    run = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                         env=environment, timeout=600, cwd=folder)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout)


def test_the_build_carries_every_level_and_loads_the_best_this_cpu_runs():
    x86 = platform.machine().lower() in ("x86_64", "amd64")
    assert isa.built_levels() == (isa.LEVELS if x86 else ())
    supported = isa.supported_levels()
    assert supported == isa.LEVELS[:len(supported)]
    assert isa.level() == (supported[-1] if supported else isa.BASELINE)


@pytest.mark.slow
def test_every_level_gives_the_same_results(tmp_path):
    levels = [isa.BASELINE, *(level for level in isa.built_levels()
                              if level in isa.supported_levels())]
    results = {level: _probe(level, tmp_path) for level in levels}
    for level, result in results.items():
        assert result["level"] == level
        folder = os.sep + level.replace("-", "_") + os.sep
        assert all((folder in path) == (level != isa.BASELINE) for path in result["files"])
    digests = [result["digests"] for result in results.values()]
    assert len(digests[0]) == 5 * 7 + 3 + 3 + 4     # every output of the probe
    assert all(other == digests[0] for other in digests[1:]), {
        level: [key for key in result["digests"]
                if result["digests"][key] != digests[0][key]]
        for level, result in results.items()}


def test_a_level_not_built_here_is_refused_by_name(tmp_path):
    environment = {**os.environ, isa.ENVIRONMENT: "x86-64-v9"}
    run = subprocess.run([sys.executable, "-c", "import numpy, crcx; "
                          "crcx.median(numpy.zeros((4, 4)), 3)"],
                         capture_output=True, text=True, env=environment, timeout=120,
                         cwd=tmp_path)
    assert run.returncode != 0
    assert "CRCX_ISA='x86-64-v9': expected 'baseline' or a level built" in run.stderr
