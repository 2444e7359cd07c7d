#!/usr/bin/env bash
# Build crcx with AddressSanitizer and UndefinedBehaviorSanitizer and run the tests
# under them. Any report stops the run with a non-zero status.
#
#   tools/sanitize.sh                                # the whole suite
#   tools/sanitize.sh tests/test_median.py -k box    # any pytest arguments
#
# The build goes to a copy of this working tree, build/sanitize (or
# $CRCX_SANITIZE_DIR), with its own venv, so the normal in-place build stays as it
# is; a second run copies the changed files and recompiles only what they touch.
# Needs GCC (the ASan runtime is found with `c++ -print-file-name`). The tests run
# at low priority: the instrumented kernels are several times slower.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dest=${CRCX_SANITIZE_DIR:-$root/build/sanitize}
# Only files that differ are copied, and they get a new time, so that the build
# sees them newer than what it generated from them before.
cd "$root"
git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' file; do
    if [ -f "$file" ] && ! cmp -s "$file" "$dest/$file"; then
        mkdir -p "$dest/$(dirname "$file")"
        cp "$file" "$dest/$file"
    fi
done
cd "$dest"

export CRCX_SANITIZE=1
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
    nice -n 19 .venv/bin/pip install -q -e ".[test]"
fi
nice -n 19 .venv/bin/python setup.py -q build_ext --inplace

asan=$(${CXX:-c++} -print-file-name=libasan.so)
if [ ! -f "$asan" ]; then
    echo "sanitize.sh: no libasan.so found by ${CXX:-c++}; GCC is needed" >&2
    exit 2
fi
# CPython itself is not instrumented, so the ASan runtime has to be loaded before it,
# and the C++ runtime with it: ASan's __cxa_throw finds no real one to call in a
# C++ runtime loaded later (by matplotlib, whose exceptions then abort).
# CPython keeps its interned objects at exit, which the leak checker would report.
# Huge requests (tests of absurd sizes) get NULL, hence MemoryError, as without ASan.
export LD_PRELOAD="$asan $(${CXX:-c++} -print-file-name=libstdc++.so.6)"
export ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
exec nice -n 19 .venv/bin/pytest --import-mode=importlib -q -x -p no:cacheprovider "${@:-tests}"
