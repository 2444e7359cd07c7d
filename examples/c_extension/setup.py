"""Build the example: python setup.py build_ext --inplace (crcx installed)."""
from setuptools import Extension, setup

import crcx

setup(name="crcx-threads-example",
      ext_modules=[Extension("crcx_threads", ["crcx_threads.c"],
                             include_dirs=[crcx.get_include()],
                             extra_compile_args=["-pthread"], extra_link_args=["-pthread"])])
