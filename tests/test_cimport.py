"""The shipped .pxd files let other Cython code cimport crcx's nogil kernels."""
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import crcx

USER_MODULE = """
# cython: language_level=3
from libc.stdint cimport uint16_t
from crcx._rank._keys cimport encode, decode, ENCODING_SIGNED, ENCODING_FLOAT
from crcx._rank._driver cimport Keys, filter_keys
from crcx._runtime.threads cimport effective_n_threads

def signed_roundtrip(uint16_t bits):
    cdef uint16_t key
    with nogil:
        key = encode(bits, ENCODING_SIGNED)
    return key, decode(key, ENCODING_SIGNED)

def keys_size():
    return sizeof(Keys)

def kernel_address():
    return <size_t>&filter_keys

def threads():
    return effective_n_threads(1)
"""

SETUP = """
import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
setup(ext_modules=cythonize(
    [Extension("user", ["user.pyx"], include_dirs=[np.get_include()], language="c++")],
    include_path=[{package_parent!r}]))
"""


@pytest.mark.slow
def test_kernels_cimport_from_the_installed_package(tmp_path):
    package_parent = str(Path(crcx.__file__).resolve().parent.parent)
    (tmp_path / "user.pyx").write_text(textwrap.dedent(USER_MODULE))
    (tmp_path / "setup.py").write_text(SETUP.format(package_parent=package_parent))
    build = subprocess.run([sys.executable, "setup.py", "build_ext", "--inplace"],
                           cwd=tmp_path, capture_output=True, text=True)
    assert build.returncode == 0, build.stderr[-2000:]
    probe = textwrap.dedent("""
        import user
        key, back = user.signed_roundtrip(0x8001)
        print(key, back, user.keys_size() == 72, user.kernel_address() != 0,
              user.threads())
    """)
    run = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True,
                         text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    # int16 bits 0x8001 (-32767) flip their sign bit: key 1, decoded back to 0x8001.
    assert run.stdout.split() == ["1", str(0x8001), "True", "True", "1"]
