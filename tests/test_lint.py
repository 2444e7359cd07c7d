"""The sources pass the linters configured in pyproject.toml (ruff, cython-lint)."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON_SOURCES = ["crcx", "tests", "benchmarks", "tools", "examples", "setup.py"]


def _run(*command):
    # cython-lint runs pycodestyle by name: the environment's scripts come first
    env = dict(os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent),
                                                 os.environ.get("PATH", "")]))
    return subprocess.run([sys.executable, *command], cwd=ROOT, env=env,
                          capture_output=True, text=True)


def test_python_sources_pass_ruff():
    result = _run("-m", "ruff", "check", *PYTHON_SOURCES)
    assert result.returncode == 0, result.stdout + result.stderr


def test_cython_sources_pass_cython_lint():
    sources = sorted(str(p.relative_to(ROOT)) for folder in ("crcx", "examples")
                     for p in ROOT.glob(f"{folder}/**/*.p[yx]*") if p.suffix in (".pyx", ".pxd"))
    assert len(sources) >= 10
    result = _run("-c", "import sys; from cython_lint.cython_lint import main; sys.exit(main())",
                  *sources)
    assert result.returncode == 0, result.stdout + result.stderr
