"""Build the example: python setup.py build_ext --inplace (crcx installed)."""
from pathlib import Path

from Cython.Build import cythonize
from setuptools import Extension, setup

import crcx

setup(name="crcx-frames-example",
      ext_modules=cythonize(
          [Extension("denoise_frames", ["denoise_frames.pyx"],
                     include_dirs=[crcx.get_include()],
                     extra_compile_args=["-fopenmp"], extra_link_args=["-fopenmp"])],
          # The folder that holds crcx/capi.pxd (an editable install of crcx is not on
          # the path Cython searches).
          include_path=[str(Path(crcx.__file__).resolve().parents[1])]))
