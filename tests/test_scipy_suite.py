"""scipy.ndimage's own tests of median_filter, rank_filter and percentile_filter, on crcx.

The installed ``scipy/ndimage/tests/test_filters.py`` runs in a separate pytest
process with tests/scipy_ndimage_plugin.py, which puts crcx's filters in scipy's
place (this process keeps scipy's own, which the other tests compare against).
"""
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path


def test_scipy_rank_filter_tests_pass_on_crcx(tmp_path):
    plugin_dir = str(Path(__file__).resolve().parent)
    path = os.pathsep.join(filter(None, [plugin_dir, os.environ.get("PYTHONPATH")]))
    # From an empty directory, so that no project's pytest configuration applies, and
    # rooted at the scipy package, so that its conftest.py (the `xp` fixture) does
    # wherever the package is installed.
    scipy_dir = os.path.dirname(importlib.util.find_spec("scipy").origin)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "scipy_ndimage_plugin", "-p", "no:cacheprovider",
         "-q", "-W", "ignore::pytest.PytestWarning", f"--rootdir={scipy_dir}",
         f"--confcutdir={scipy_dir}",
         importlib.util.find_spec("scipy.ndimage.tests.test_filters").origin],
        capture_output=True, text=True, cwd=tmp_path, env={**os.environ, "PYTHONPATH": path})
    summary = done.stdout.strip().splitlines()[-1]
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-2000:]
    counts = {word: int(n) for n, word in re.findall(r"(\d+) (\w+)", summary)}
    # Only passes: no failure, error, skip or expected failure hides a selected test
    # (warnings hide none: scipy 1.16's own test helpers warn under NumPy 2.4).
    assert set(counts) - {"warnings"} == {"passed", "deselected"}, summary
    assert counts["passed"] > 0
