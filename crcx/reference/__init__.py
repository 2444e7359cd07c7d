"""Pure-Python reference implementations of crcx's filters.

Each function here is the slow, literal definition of its compiled counterpart and
serves as the test oracle. Importing this package loads no compiled crcx module.
"""
from crcx.reference.crc import CRCOptions, crc_map, crc_median, lags
from crcx.reference.median import extend_index, median, percentile_filter, rank_filter

__all__ = ["CRCOptions", "crc_map", "crc_median", "extend_index", "lags", "median",
           "percentile_filter", "rank_filter"]
