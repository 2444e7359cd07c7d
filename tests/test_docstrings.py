"""Every docstring example in the package runs and prints what it shows."""
import doctest
import importlib
import pkgutil

import pytest

import crcx

FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _examples(name):
    module = importlib.import_module(name)
    return module, sum(len(test.examples) for test in doctest.DocTestFinder().find(module))


# crcx.__main__ runs the command line on import.
WITH_EXAMPLES = sorted(name for name in ["crcx", *(m.name for m in pkgutil.walk_packages(
    crcx.__path__, "crcx.") if m.name != "crcx.__main__")] if _examples(name)[1] > 0)


@pytest.mark.parametrize("name", WITH_EXAMPLES)
def test_the_examples_of_each_module_run(name):
    module, count = _examples(name)
    result = doctest.testmod(module, optionflags=FLAGS, report=False)
    assert result.failed == 0 and result.attempted == count


@pytest.mark.parametrize("name", crcx.__all__)
def test_every_public_name_shows_an_example(name):
    found = doctest.DocTestFinder(recurse=False).find(getattr(crcx, name), name)
    assert sum(len(test.examples) for test in found) > 0
    assert _public_module(name) in WITH_EXAMPLES


def _public_module(name):
    return getattr(crcx, name).__module__
