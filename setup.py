"""Build the compiled kernels: Cython, with OpenMP when the compiler has it.

``CRCX_PORTABLE=1`` builds for a generic x86-64/ARM target instead of the build
machine's own instruction set (use it when building wheels for other machines).
``CRCX_SANITIZE=1`` adds AddressSanitizer and UndefinedBehaviorSanitizer (GCC or
Clang), for tools/sanitize.sh, which also says how to run the result.
"""
import glob
import importlib.util
import os
import sys
import tempfile
import textwrap

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

# The compiled modules, by their dotted names under crcx.
MODULES = ["_runtime.threads", "_runtime.memory", "_rank._driver", "_rank.prepared",
           "_crc._window", "_crc._stages", "_capi.table"]


# The kernels' C++ headers, included as "crcx/median/<name>.h".
INCLUDE = os.path.join("crcx", "include")
MEDIAN_HEADERS = os.path.join(INCLUDE, "crcx", "median")


def _write_box_networks():
    """Generate box_networks.h in MEDIAN_HEADERS from crcx/_rank/_selection_network.py."""
    spec = importlib.util.spec_from_file_location(
        "_selection_network", os.path.join("crcx", "_rank", "_selection_network.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    source = module.box_median_source()
    path = os.path.join(MEDIAN_HEADERS, "box_networks.h")
    if not os.path.exists(path) or open(path).read() != source:
        with open(path, "w") as handle:
            handle.write(source)


def _compiles_with(compiler, flags, source):
    """Whether `compiler` builds and links `source` with `flags`."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "probe.c")
        with open(path, "w") as handle:
            handle.write(textwrap.dedent(source))
        try:
            objects = compiler.compile([path], output_dir=tmp, extra_postargs=flags)
            compiler.link_executable(objects, os.path.join(tmp, "probe"),
                                     extra_postargs=flags)
        except Exception:  # any compiler or linker failure means "no"
            return False
    return True


class BuildExt(build_ext):
    """Add OpenMP and optimisation flags that this compiler accepts."""

    def build_extensions(self):
        compiler = self.compiler
        if compiler.compiler_type == "msvc":
            compile_flags, link_flags = ["/O2", "/openmp"], []
        else:
            # No FP exception flags are read, so floor() may be vectorised.
            compile_flags = ["-O3", "-fno-math-errno", "-fno-trapping-math",
                             "-Wno-unreachable-code"]
            if os.environ.get("CRCX_PORTABLE") != "1" and _compiles_with(
                    compiler, ["-march=native"], "int main(void) { return 0; }"):
                compile_flags.append("-march=native")
            omp = "-fopenmp"
            has_openmp = _compiles_with(compiler, [omp], """
                #include <omp.h>
                int main(void) { return omp_get_max_threads() > 0 ? 0 : 1; }
            """)
            if has_openmp:
                compile_flags.append(omp)
            else:
                print("crcx: the compiler has no OpenMP; building single-threaded",
                      file=sys.stderr)
            link_flags = [omp] if has_openmp else []
            if os.environ.get("CRCX_SANITIZE") == "1":
                sanitize = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-g"]
                compile_flags += sanitize
                link_flags += sanitize
        for ext in self.extensions:
            ext.extra_compile_args = compile_flags
            ext.extra_link_args = link_flags
        super().build_extensions()


_write_box_networks()
extensions = [
    Extension(f"crcx.{name}", [os.path.join("crcx", *name.split(".")) + ".pyx"],
              include_dirs=[np.get_include(), INCLUDE],
              # Rebuilt when a header changes (the generated networks too), not only
              # the .pyx and the .pxd files it cimports.
              depends=sorted(glob.glob(os.path.join(INCLUDE, "crcx", "**", "*.h"),
                                       recursive=True)),
              define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
              language="c++")
    for name in MODULES
]

setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives={
            "language_level": 3, "boundscheck": False, "wraparound": False,
            "cdivision": True, "initializedcheck": False, "nonecheck": False,
        },
    ),
    cmdclass={"build_ext": BuildExt},
)
