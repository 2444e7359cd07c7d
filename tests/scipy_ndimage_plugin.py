"""pytest plugin: scipy.ndimage's own tests of its rank filters, run on crcx's.

tests/test_scipy_suite.py loads it (``-p scipy_ndimage_plugin``) in a pytest run of
the installed ``scipy.ndimage.tests.test_filters``. On import, before scipy's module
is collected (its parametrisations hold the functions themselves), it makes
``scipy.ndimage.median_filter``, ``rank_filter`` and ``percentile_filter`` crcx's
and gives them the originals' entries in scipy's array-API capability table. It
then deselects every test that calls none of them. No selected test is one where
scipy's own answer is wrong, so every one must pass as written, exception
messages included.
"""
import inspect
import re

import scipy.ndimage
from scipy._lib._array_api import xp_capabilities_table

import crcx

REPLACED = {"median_filter": crcx.median, "rank_filter": crcx.rank_filter,
            "percentile_filter": crcx.percentile_filter}
_NAMES = re.compile(rf"\b({'|'.join(REPLACED)})\b")

for _name, _function in REPLACED.items():
    _original = getattr(scipy.ndimage, _name)
    if _original in xp_capabilities_table:   # scipy 1.17 lists ndimage's filters, 1.16 not
        xp_capabilities_table[_function] = xp_capabilities_table[_original]
    setattr(scipy.ndimage, _name, _function)


def _calls_crcx(item):
    """Whether test `item` calls one of the replaced filters."""
    callspec = getattr(item, "callspec", None)
    functions = [value for value in (callspec.params.values() if callspec else ())
                 if inspect.isfunction(value)]
    if functions:
        return any(function in REPLACED.values() for function in functions)
    return bool(_NAMES.search(inspect.getsource(item.function)))


def pytest_collection_modifyitems(config, items):
    calls = [_calls_crcx(item) for item in items]
    config.hook.pytest_deselected(items=[item for item, c in zip(items, calls) if not c])
    items[:] = [item for item, c in zip(items, calls) if c]
