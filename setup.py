"""Build the compiled kernels: Cython, with OpenMP when the compiler has it.

The build is portable, as a wheel must be: the compiler's generic target, and on
x86-64 the hot modules once more for each instruction-set level of
crcx/_runtime/isa.py, which picks the best one this CPU runs when they are imported.
``CRCX_NATIVE=1`` builds for the build machine's own instruction set instead
(``-march=native``), once.
``CRCX_SANITIZE=1`` adds AddressSanitizer and UndefinedBehaviorSanitizer (GCC or
Clang), for tools/sanitize.sh, which also says how to run the result.
"""
import glob
import importlib.util
import os
import platform
import sys
import tempfile
import textwrap

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

# The compiled modules, by their dotted names under crcx.
MODULES = ["_runtime.threads", "_runtime.memory", "_runtime._cpu", "_rank._driver",
           "_rank.prepared", "_crc._window", "_crc._stages", "_crc._extend", "_capi.table"]
NATIVE = os.environ.get("CRCX_NATIVE") == "1"


# The kernels' C++ headers, included as "crcx/median/<name>.h".
INCLUDE = os.path.join("crcx", "include")
MEDIAN_HEADERS = os.path.join(INCLUDE, "crcx", "median")


def _load(path):
    """The Python module at `path` (without importing crcx, which is not built yet)."""
    spec = importlib.util.spec_from_file_location(os.path.basename(path)[:-3], path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


isa = _load(os.path.join("crcx", "_runtime", "isa.py"))


def _write_box_networks():
    """Generate box_networks.h in MEDIAN_HEADERS from crcx/_rank/_selection_network.py."""
    module = _load(os.path.join("crcx", "_rank", "_selection_network.py"))
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
    """Add OpenMP and optimisation flags that this compiler accepts, build the modules
    of each instruction-set level apart, and on every core."""

    def finalize_options(self):
        super().finalize_options()
        if self.parallel is None:
            self.parallel = os.cpu_count() or 1

    def build_extensions(self):
        compiler = self.compiler
        if compiler.compiler_type == "msvc":
            compile_flags, link_flags = ["/O2", "/openmp"], []
        else:
            # No FP exception flags are read, so floor() may be vectorised. No a * b + c
            # is fused into one FMA (rounded once, not twice) where a level has FMA and
            # not where it has none: every level gives the same results.
            # No debug information (Python's own flags ask for it): it took a third of
            # the build's time and nine tenths of the modules' size; the sanitizer
            # build below asks for it again.
            compile_flags = ["-O3", "-g0", "-fno-math-errno", "-fno-trapping-math",
                             "-ffp-contract=off", "-Wno-unreachable-code"]
            if NATIVE and _compiles_with(compiler, ["-march=native"],
                                         "int main(void) { return 0; }"):
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
        levels = self._levels(compiler)
        self.extensions = [ext for ext in self.extensions
                           if _level_of(ext.name) in (None, *levels)]
        for ext in self.extensions:
            level = _level_of(ext.name)
            ext.extra_compile_args = compile_flags + ([f"-march={level}"] if level else [])
            ext.extra_link_args = link_flags
        super().build_extensions()

    def copy_extensions_to_source(self):
        # A level's modules go to crcx/_isa/<level>/, folders of no package.
        for ext in self.extensions:
            if _level_of(ext.name):
                os.makedirs(os.path.join(*ext.name.split(".")[:-1]), exist_ok=True)
        super().copy_extensions_to_source()

    def _levels(self, compiler):
        """The levels of isa.LEVELS to build the dispatched modules for here."""
        if NATIVE or compiler.compiler_type == "msvc" or platform.machine().lower() not in (
                "x86_64", "amd64"):
            return ()
        return tuple(level for level in isa.LEVELS
                     if _compiles_with(compiler, [f"-march={level}"],
                                       "int main(void) { return 0; }"))


def _level_of(name):
    """The instruction-set level the extension `name` is built for; None: the baseline."""
    return next((level for level in isa.LEVELS for module in isa.DISPATCHED
                 if isa.variant_name(module, level) == name), None)


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

compiled = cythonize(
    extensions,
    nthreads=os.cpu_count() or 1,
    compiler_directives={
        "language_level": 3, "boundscheck": False, "wraparound": False,
        "cdivision": True, "initializedcheck": False, "nonecheck": False,
    },
)


def _variant(module, level):
    """The extension of `module` for `level`: its C++ through a file of the level's own
    (build/isa/...), so that each level's objects have paths of their own."""
    base = next(ext for ext in compiled if ext.name == module)
    source = os.path.abspath(base.sources[0])
    wrapper = os.path.join("build", "isa", *isa.variant_name(module, level).split(".")) + ".cpp"
    text = f'#include "{source}"\n'
    os.makedirs(os.path.dirname(wrapper), exist_ok=True)
    if not os.path.exists(wrapper) or open(wrapper).read() != text:
        with open(wrapper, "w") as handle:
            handle.write(text)
    return Extension(isa.variant_name(module, level), [wrapper],
                     include_dirs=base.include_dirs, depends=[source, *base.depends],
                     define_macros=base.define_macros, language="c++")


# The dispatched modules once more per level (BuildExt drops those of the levels this
# compiler or machine cannot build).
variants = [_variant(module, level) for level in isa.LEVELS for module in isa.DISPATCHED]
setup(ext_modules=compiled + variants, cmdclass={"build_ext": BuildExt})
