"""crcx: median filtering and detail-preserving CRC-MF denoising.

The filters are compiled (Cython, OpenMP). ``crcx.reference`` holds pure-Python
transcriptions of the same definitions; importing it loads no compiled code, which
is why the public names below are imported lazily.
"""
import importlib
import os

from crcx._runtime import isa as _isa

__version__ = "0.1.0"

_PUBLIC = {
    "median": "crcx._rank.filters",
    "rank_filter": "crcx._rank.filters",
    "percentile_filter": "crcx._rank.filters",
    "crc_median": "crcx._crc.pipeline",
    "crc_map": "crcx._crc.pipeline",
    "estimate_noise": "crcx._crc.pipeline",
    "CRCOptions": "crcx._crc.options",
    "NoiseEstimate": "crcx._crc.model",
    "clear_output_cache": "crcx._runtime.memory",
    "set_cache_limit": "crcx._runtime.memory",
    "denoise_image": "crcx._apps.collection",
    "denoise_collection": "crcx._apps.collection",
    "collection_score": "crcx._apps.collection",
    "tune": "crcx._apps.tuning",
    "read_image": "crcx._apps.io",
    "ImageReadError": "crcx._apps.io",
    "write_image": "crcx._apps.io",
}

__all__ = sorted([*_PUBLIC, "get_include"])

# The hot compiled modules load in their build for the best instruction-set level this
# CPU runs, when first imported.
_isa.install()


def get_include():
    """The folder of crcx's C header, ``crcx/crcx.h`` (docs/embedding.md).

    Examples
    --------
    >>> import os, crcx
    >>> os.path.exists(os.path.join(crcx.get_include(), "crcx", "crcx.h"))
    True
    """
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "include")


def __getattr__(name):
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'crcx' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
