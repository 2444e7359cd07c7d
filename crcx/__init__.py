"""crcx: median filtering and detail-preserving CRC-MF denoising.

The filters are compiled (Cython, OpenMP). ``crcx.reference`` holds pure-Python
transcriptions of the same definitions; importing it loads no compiled code, which
is why the public names below are imported lazily.
"""
import importlib

__version__ = "0.1.0"

_PUBLIC = {
    "median": "crcx.filters",
    "rank_filter": "crcx.filters",
    "percentile_filter": "crcx.filters",
    "crc_median": "crcx.crc",
    "crc_map": "crcx.crc",
    "estimate_noise": "crcx.crc",
    "CRCOptions": "crcx._crc_parameters",
    "NoiseEstimate": "crcx._crc_parameters",
    "clear_output_cache": "crcx._output_cache",
    "set_cache_limit": "crcx._output_cache",
    "denoise_image": "crcx.collection",
    "denoise_collection": "crcx.collection",
    "collection_score": "crcx.collection",
    "read_image": "crcx.io",
    "write_image": "crcx.io",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name):
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'crcx' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
