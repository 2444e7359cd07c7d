"""The filters on dask arrays, and collections of files on a dask cluster.

Results are identical to the in-memory filters for every border mode and any chunking.
Blocks overlap by how far the filter reads past a pixel (its reach, before and after,
per filtered axis) and are filtered by the in-memory function itself, so a block on the
image's border meets the true border and applies the same rule there: this is exact
for filters made of several local stages too (a later stage extends the earlier
stage's output, not the input). An axis that the overlap would cover anyway (the reach
before and after at least its length) is taken whole, in one chunk.
``wrap`` is the exception, as it reads the far end of the axis: the array is first
extended periodically by the reach along the axes whose mode is ``wrap`` (a median
takes a mode per axis where :func:`crcx.median` does), blocks are filtered, and the
extension is cropped (a periodic image filtered by a shift-invariant filter stays
periodic, so this is exact as well). CRC-MF also reads statistics of the whole plane;
they are computed first, once per plane, and every block is filtered with them.
"""
import functools

import dask
import dask.array as da
import numpy as np

import crcx
from crcx._apps.collection import (CollectionResult, as_list, call_options, denoise_file,
                                   plan_files, validate_filter)
from crcx._common.arguments import check_dtype, median_rank, rank_arguments
from crcx._common.boundary import extended_indices
from crcx._crc.model import reach as crc_reach
from crcx._crc.options import FROM_OPTIONS, given_options, takes_options
from crcx._crc.pipeline import denoise_planes, plane_statistics
from crcx._crc.planes import crc_arguments

__all__ = ["FILTERS", "crc_median", "denoise_files", "median"]

def _along(axis, index):
    return (slice(None),) * axis + (index,)


def _extend(array, reach, mode):
    """`array` extended past both ends of each axis in `reach` by the rule `mode`.

    The index map is the compiled filter's own, so extensions longer than the axis
    repeat exactly as the filter's do.
    """
    for axis, (before, after) in reach.items():
        length = array.shape[axis]
        index = extended_indices(length, before, after, mode)
        pieces = [array[_along(axis, index[:before])], array,
                  array[_along(axis, index[before + length:])]]
        array = da.concatenate([piece for piece in pieces if piece.shape[axis]], axis=axis)
    return array


def _map_filter(array, function, reach, modes, **arguments):
    """Apply the in-memory `function` blockwise, exactly (see the module docstring).

    `modes` gives the canonical border mode of each axis in `reach`; `arguments` go
    to every call of `function` (dask computes delayed ones first).
    """
    # On an axis taken whole, `function` applies the border rule itself, and no block
    # reads more along it than the axis.
    whole = {axis for axis, extents in reach.items() if sum(extents) >= array.shape[axis]}
    array = array.rechunk(dict.fromkeys(whole, -1))
    reach = {axis: extents for axis, extents in reach.items() if axis not in whole}
    periodic = {axis: extents for axis, extents in reach.items() if modes[axis] == "wrap"}
    padded = _extend(array, periodic, "wrap")
    # Symmetric, so that a block on the border also holds the pixels that the border
    # rule mirrors in (a window shifted by its origin reaches further on one side).
    depth = {axis: max(extents) for axis, extents in reach.items()}
    result = da.map_overlap(function, padded, depth=depth, boundary="none", trim=True,
                            dtype=array.dtype, meta=np.empty((0,) * array.ndim, array.dtype),
                            **arguments)
    if not periodic:
        return result
    return result[tuple(slice(periodic[axis][0], periodic[axis][0] + length)
                        if axis in periodic else slice(None)
                        for axis, length in enumerate(array.shape))]


def _as_dask(array):
    array = da.asarray(array)
    check_dtype(array.dtype, "array")
    return array


def median(array, size=None, footprint=None, mode="reflect", cval=0.0, origin=0, *,
           axes=None, n_threads=1):
    """:func:`crcx.median` on a dask array, blockwise and lazily.

    Parameters
    ----------
    array : dask.array.Array or array_like
        The image; any chunking.
    size, footprint, mode, cval, origin, axes
        As in :func:`crcx.median`.
    n_threads : int, optional
        OpenMP threads per block; dask already runs blocks in parallel.

    Returns
    -------
    dask.array.Array
        Identical, once computed, to ``crcx.median(array.compute(), ...)``.

    Examples
    --------
    >>> import numpy as np, dask.array as da, crcx, crcx.dask
    >>> image = np.random.default_rng(0).integers(0, 256, (40, 30), dtype=np.uint8)
    >>> lazy = crcx.dask.median(da.from_array(image, chunks=(16, 16)), 5, mode="wrap")
    >>> bool((lazy.compute() == crcx.median(image, 5, mode="wrap")).all())
    True
    """
    array = _as_dask(array)
    # The in-memory filter's own rules, so that a sequence of modes is taken (and
    # refused) exactly where crcx.median takes it.
    geometry, _, modes, _, _ = rank_arguments(array.ndim, median_rank, size, footprint, mode,
                                              cval, origin, axes, n_threads)
    reach = dict(zip(geometry.axes, geometry.extents()))
    function = functools.partial(crcx.median, size=size, footprint=footprint, mode=mode,
                                 cval=cval, origin=origin, axes=axes, n_threads=n_threads)
    return _map_filter(array, function, reach, dict(zip(geometry.axes, modes)))


@takes_options
def crc_median(array, size=FROM_OPTIONS, *, options=None, mode="reflect", cval=0.0,
               channel_axis=None, n_threads=1, **algorithm):
    """:func:`crcx.crc_median` on a dask array, blockwise and lazily.

    Parameters
    ----------
    array : dask.array.Array or array_like
        The image; any chunking (the channel axis too, but where the channels share
        their non-local weights, ``joint_channels``, each block holds all of them).
    options, size and the other options of CRC-MF, mode, cval, channel_axis
        As in :func:`crcx.crc_median`.
    n_threads : int, optional
        OpenMP threads per task; dask already runs tasks in parallel.

    Returns
    -------
    dask.array.Array
        Identical, once computed, to ``crcx.crc_median(array.compute(), ...)``.

    Notes
    -----
    CRC-MF also reads statistics of the whole plane: its noise fits, the impulse
    density that switches the majority and structure rules on, the excess rule's
    thresholds, and with a CRC gain the residual's scale. One task computes them per
    plane, from the whole plane, running the stages only as far as the last of them;
    every block is then filtered with its planes' statistics, so it takes the whole
    plane's decisions. That task needs a plane in one worker's memory; the filtering
    itself is blockwise. Blocks overlap by the filter's reach
    (:func:`crcx._crc.model.reach`), the sum of the reaches of its stages.

    Examples
    --------
    >>> import numpy as np, dask.array as da, crcx, crcx.dask
    >>> image = np.random.default_rng(0).integers(0, 256, (40, 30), dtype=np.uint8)
    >>> lazy = crcx.dask.crc_median(da.from_array(image, chunks=(16, 16)))
    >>> bool((lazy.compute() == crcx.crc_median(image)).all())
    True
    """
    array = _as_dask(array)
    P = given_options(options, algorithm, size)
    canonical, _, _, channel_axis = crc_arguments(array.shape, P.size, mode, cval, n_threads,
                                                  channel_axis)
    channels = None if channel_axis is None else channel_axis % array.ndim
    if channels is not None and P.joint_channels:
        array = array.rechunk({channels: -1})
    statistics = dask.delayed(plane_statistics, pure=True)(
        array, P, mode, cval, channel_axis, n_threads)
    extent = crc_reach(P)
    reach = {axis: (extent, extent) for axis in range(array.ndim) if axis != channels}

    def function(block, statistics, block_info=None):
        if channels is not None:
            first, last = block_info[0]["array-location"][channels]
            statistics = statistics[first:last]
        return denoise_planes(block, P, mode, cval, channel_axis, None, n_threads, statistics)

    return _map_filter(array, function, reach, dict.fromkeys(reach, canonical),
                       statistics=statistics)


# Method name (as in crcx._apps.collection.METHODS) -> the dask counterpart of its filter.
FILTERS = {"median": median, "crc": crc_median}


def denoise_files(paths, output_dir, client=None, *, method="crc", overwrite=False,
                  **filter_options):
    """:func:`crcx.denoise_collection` over files, one task per file on dask.

    Parameters
    ----------
    paths : path or sequence of paths
        Files, directories and glob patterns.
    output_dir : str or os.PathLike
        Where each output ``output_dir/<input name>`` is written.
    client : dask.distributed.Client, optional
        Cluster to run on; default dask's current scheduler (the default client, if
        one exists).
    method, overwrite, **filter_options
        As in :func:`crcx.denoise_collection`; each task runs its filter on
        one OpenMP thread unless `n_threads` is given.

    Returns
    -------
    CollectionResult
        The same as the serial run's.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from crcx import write_image
    >>> from crcx.dask import denoise_files
    >>> folder = tempfile.mkdtemp()
    >>> _ = write_image(os.path.join(folder, "a.png"), np.eye(8, dtype=np.uint8))
    >>> denoise_files(folder, os.path.join(folder, "out"), method="median").summary()
    '1 written, 0 skipped (exist), 0 failed'
    """
    paths = as_list(paths, "paths")
    filter_options = call_options(method, filter_options)
    filter_options.setdefault("n_threads", 1)
    validate_filter(method, filter_options)
    tasks, skipped, failures = plan_files(paths, output_dir, overwrite)
    work = [dask.delayed(denoise_file, pure=False)(source, target, method, filter_options)
            for source, target in tasks]
    result = CollectionResult(skipped=skipped, failures=failures)
    for outcome in dask.compute(*work, scheduler=client):
        result.record(outcome)
    return result
