"""Denoise and score collections of images: arrays or files, resumable, in parallel.

Every image is filtered as a stack of 2-d planes: colour channels (a last axis of at
most four) and leading axes (the pages of a TIFF stack, say) are filtered
independently, over rows and columns.
"""
import glob
import math
import numbers
import os
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

import crcx
from crcx._apps.io import (PATH_TYPES, SUFFIXES, ImageReadError, as_path, optional_import,
                           partial_files, read_image, write_image)
from crcx._common.arguments import as_image
from crcx._crc.options import gather_options

__all__ = ["METHODS", "CollectionResult", "Failure", "collection_score",
           "denoise_collection", "denoise_image", "expand_inputs", "filter_function",
           "load_images", "plan_files", "progress_bar"]

# Method name -> crcx function, and how that function is told that axis 0 of a
# (planes, rows, columns) stack holds planes.
METHODS = {
    "median": ("median", {"axes": (1, 2)}),
    "crc": ("crc_median", {"channel_axis": 0}),
}
# A last axis this short holds channels (grey+alpha, RGB, RGBA), not columns.
MAX_CHANNELS = 4
# Options that the plane handling sets; a caller setting them would filter across planes.
_PLANE_KEYWORDS = ("axes", "channel_axis", "joint_channels")


class Failure(NamedTuple):
    """An input that could not be denoised, and why."""
    input: str
    reason: str


@dataclass
class CollectionResult:
    """What :func:`denoise_collection` did.

    Attributes
    ----------
    outputs : list
        Denoised arrays in input order (array inputs), or the paths written by this
        run (path inputs).
    skipped : list of pathlib.Path
        Outputs that already existed and were left alone.
    failures : list of Failure
        Inputs that could not be read or denoised, with the reason.
    """
    outputs: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    failures: list = field(default_factory=list)

    def record(self, outcome):
        """Add the outcome of one file: the path written, or a :class:`Failure`."""
        (self.failures if isinstance(outcome, Failure) else self.outputs).append(outcome)

    def summary(self):
        """One line: ``"N written, M skipped (exist), F failed"``."""
        return (f"{len(self.outputs)} written, {len(self.skipped)} skipped (exist), "
                f"{len(self.failures)} failed")


def filter_function(method):
    """The crcx filter that `method` names.

    Parameters
    ----------
    method : str
        A key of :data:`METHODS`.

    Returns
    -------
    callable

    Raises
    ------
    ValueError
        Unknown method.

    Examples
    --------
    >>> from crcx._apps.collection import filter_function
    >>> filter_function("median").__name__
    'median'
    """
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"method: expected one of {sorted(METHODS)}, got {method!r}")
    return getattr(crcx, METHODS[method][0])


def _as_planes(image):
    """View `image` as (planes, rows, columns); return it, the inverse reshaping, and
    whether the planes are the channels of one colour image (not a stack)."""
    if image.ndim < 2:
        raise ValueError(f"image: expected at least 2 dimensions, got shape {image.shape}")
    channels_last = image.ndim >= 3 and image.shape[-1] <= MAX_CHANNELS
    moved = np.moveaxis(image, -1, 0) if channels_last else image
    planes = moved.reshape((math.prod(moved.shape[:-2]),) + moved.shape[-2:])

    def restore(result):
        result = result.reshape(moved.shape)
        return np.ascontiguousarray(np.moveaxis(result, 0, -1) if channels_last else result)

    return planes, restore, channels_last and image.ndim == 3


def planes_to_score(image):
    """:func:`_as_planes` of an image that a score averages over, so not empty."""
    if image.size == 0:
        raise ValueError(f"images: an image of shape {image.shape} has no pixel to score")
    planes, _, colour = _as_planes(image)
    return planes, colour


def plane_options(method, colour):
    """How `method` is told that axis 0 holds planes: the channels of a colour image,
    whose non-local weights CRC-MF shares, or independent planes."""
    options = dict(METHODS[method][1])
    if method == "crc":
        options["joint_channels"] = colour
    return options


def call_options(method, options):
    """The keyword `options` of the filter `method` as each image's call takes them:
    those of CRC-MF in one :class:`crcx.CRCOptions`, checked once here. Options that
    the plane handling sets are refused."""
    taken = [key for key in _PLANE_KEYWORDS if key in options]
    if taken:
        raise TypeError(f"{taken[0]}: not accepted here; every image is filtered plane by "
                        "plane over its rows and columns")
    return gather_options(options) if method == "crc" else dict(options)


def denoise_image(image, method="crc", **filter_options):
    """Denoise one image plane by plane with the filter `method` names.

    Parameters
    ----------
    image : array_like
        ``(rows, columns)``, colour ``(rows, columns, channels)`` with at most four
        channels, or a stack ``(..., rows, columns)`` such as TIFF pages.
    method : {'crc', 'median'}, optional
        ``'crc'`` is :func:`crcx.crc_median`, ``'median'`` is :func:`crcx.median`.
    **filter_options
        Passed to the filter (``size``, ``mode``, ``n_threads``, ...; for 'crc' also
        ``options``, a :class:`crcx.CRCOptions`).

    Returns
    -------
    ndarray
        Same shape and dtype as `image`.

    Notes
    -----
    CRC-MF filters the channels of a colour image together (they share its non-local
    weights) and the pages of a stack each on its own. A last axis of at most four is
    taken for channels, so a stack of images four pixels wide or less is filtered
    across its columns' neighbours the wrong way round; call the filter itself for
    such data.

    Examples
    --------
    >>> import numpy as np
    >>> from crcx import denoise_image
    >>> rgb = np.zeros((4, 4, 3), np.uint8); rgb[1, 1] = 255
    >>> denoise_image(rgb, "median", size=3).max()
    np.uint8(0)
    """
    filter_options = call_options(method, filter_options)
    function = filter_function(method)
    # Checked here, so that an error names this function's argument (crcx.median's
    # is `input`, as scipy's).
    planes, restore, colour = _as_planes(as_image(image))
    return restore(function(planes, **plane_options(method, colour), **filter_options))


def _is_path(item):
    return isinstance(item, PATH_TYPES)


def check_flag(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: expected True or False, got {value!r}")
    return bool(value)


def as_list(images_or_paths, name):
    if _is_path(images_or_paths) or isinstance(images_or_paths, np.ndarray):
        return [images_or_paths]
    try:
        return list(images_or_paths)
    except TypeError:
        raise TypeError(f"{name}: expected an array, a path or a sequence of them, got "
                        f"{type(images_or_paths).__name__}") from None


def expand_inputs(paths):
    """Files named by `paths`: files, directories (their image files) and glob patterns.

    Parameters
    ----------
    paths : str, os.PathLike or a sequence of them

    Returns
    -------
    files : list of pathlib.Path
        In the order given, directories and globs sorted, each file once.
    failures : list of Failure
        Directories without images and patterns that match nothing.

    Examples
    --------
    >>> import tempfile
    >>> from crcx._apps.collection import expand_inputs
    >>> expand_inputs([tempfile.mkdtemp()])[0]
    []
    """
    files, failures, seen = [], [], set()
    for item in as_list(paths, "paths"):
        text = os.fspath(as_path(item, "paths"))
        if os.path.isdir(text):
            # Hidden files include the partial files of an interrupted run.
            found = sorted(entry for entry in Path(text).iterdir()
                           if entry.suffix.lower() in SUFFIXES and entry.is_file()
                           and not entry.name.startswith("."))
            if not found:
                failures.append(Failure(text, "the directory holds no PNG, JPEG or TIFF file"))
        elif glob.has_magic(text):
            found = [Path(match) for match in sorted(glob.glob(text)) if os.path.isfile(match)]
            if not found:
                failures.append(Failure(text, "no file matches the pattern"))
        else:
            found = [Path(text)]
        for path in found:
            key = os.path.realpath(path)
            if key not in seen:
                seen.add(key)
                files.append(path)
    return files, failures


def load_images(images_or_paths, name="images"):
    """Arrays as given, or the images of files, directories and globs (read in full).

    Raises
    ------
    ImageReadError
        An input could not be found or read.
    """
    items = as_list(images_or_paths, name)
    if not all(_is_path(item) for item in items):
        if any(_is_path(item) for item in items):
            raise TypeError(f"{name}: expected arrays or paths, not a mix of both")
        return [np.asarray(item) for item in items]
    files, failures = expand_inputs(items)
    if failures:
        raise ImageReadError(*failures[0])
    return [read_image(path) for path in files]


def denoise_file(source, target, method, options):
    """Read, denoise and write one file; a Failure when the input is the problem."""
    try:
        image = read_image(source)
    except ImageReadError as error:
        return Failure(os.fspath(source), f"cannot read image: {error.reason}")
    try:
        return write_image(target, denoise_image(image, method, **options))
    except (ValueError, TypeError) as error:  # this image's data, as the options were checked
        return Failure(os.fspath(source), str(error))


def _check_jobs(jobs):
    if isinstance(jobs, bool) or not isinstance(jobs, numbers.Integral) or jobs < 1:
        raise ValueError(f"jobs: expected a positive integer, got {jobs!r}")
    return int(jobs)


def validate_filter(method, options):
    """Fail fast on bad options, before any file is touched, on a tiny image."""
    denoise_image(np.zeros((1, 8, 8), np.uint8), method, **options)


def plan_files(paths, output_dir, overwrite=False):
    """Decide what a run over `paths` writes: work to do, outputs kept, failures.

    Output ``output_dir/<name>`` keeps the input's file name. Stale partial files of
    earlier interrupted runs are removed for every target.

    Returns
    -------
    tasks : list of (pathlib.Path, pathlib.Path)
        (input, output) pairs to process.
    skipped : list of pathlib.Path
        Outputs that exist and are kept.
    failures : list of Failure

    Raises
    ------
    ValueError
        An output would replace one of the inputs.
    """
    if output_dir is None:
        raise ValueError("output_dir: required when the inputs are paths")
    output_dir = as_path(output_dir, "output_dir")
    if output_dir.exists() and not output_dir.is_dir():
        raise ValueError(f"output_dir: {output_dir} exists and is not a directory")
    files, failures = expand_inputs(paths)
    inputs = {os.path.realpath(path): path for path in files}
    pairs, claimed = [], {}
    for source in files:
        target = output_dir / source.name
        key = os.path.realpath(target)
        if key in inputs:
            raise ValueError(f"output_dir: writing {target} would replace the input "
                             f"{inputs[key]}; choose another output directory")
        if key in claimed:
            failures.append(Failure(os.fspath(source),
                                    f"output {target} is already written from {claimed[key]}"))
        else:
            claimed[key] = source
            pairs.append((source, target))
    output_dir.mkdir(parents=True, exist_ok=True)
    for stale in partial_files(output_dir, {target.name for _, target in pairs}):
        stale.unlink(missing_ok=True)
    tasks, skipped = [], []
    for source, target in pairs:
        if target.exists() and not overwrite:
            skipped.append(target)
        else:
            tasks.append((source, target))
    return tasks, skipped, failures


class _NoProgress:
    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return False

    def update(self, n=1):
        pass


def progress_bar(total, enabled, unit):
    """A tqdm bar on stderr when `enabled` (tqdm is then required), else a silent one."""
    if not enabled:
        return _NoProgress()
    return optional_import("tqdm").tqdm(total=total, unit=unit)


def _run_threads(tasks, method, options, jobs, progress):
    """Run `tasks` on `jobs` threads; outcomes in task order."""
    outcomes = [None] * len(tasks)
    with progress_bar(len(tasks), progress, "image") as bar:
        if jobs == 1:
            for index, (source, target) in enumerate(tasks):
                outcomes[index] = denoise_file(source, target, method, options)
                bar.update()
            return outcomes
        executor = ThreadPoolExecutor(max_workers=jobs)
        try:
            futures = {executor.submit(denoise_file, source, target, method, options): index
                       for index, (source, target) in enumerate(tasks)}
            for future in as_completed(futures):
                outcomes[futures[future]] = future.result()
                bar.update()
        finally:
            # On an error or an interrupt, do not start the images still queued.
            executor.shutdown(wait=True, cancel_futures=True)
    return outcomes


def denoise_collection(images_or_paths, method="crc", output_dir=None, *, overwrite=False,
                       jobs=1, progress=False, **filter_options):
    """Denoise a collection of images, in memory or file to file.

    Arrays in, arrays out. Paths in (files, directories, glob patterns), files out:
    each input is written to ``output_dir/<its name>`` in its own format, dtype and
    shape. An output that exists is kept unless `overwrite` (so re-running an
    interrupted run finishes the rest), an input is never replaced, and an input that
    cannot be read or denoised is reported in the result and skipped.

    Parameters
    ----------
    images_or_paths : array, path or sequence of arrays or of paths
        The collection; see :func:`denoise_image` for the image shapes.
    method : {'crc', 'median'}, optional
        Filter: :func:`crcx.crc_median` or :func:`crcx.median`.
    output_dir : str or os.PathLike, optional
        Where to write; required for path inputs, not allowed for arrays.
    overwrite : bool, optional
        Replace outputs that already exist.
    jobs : int, optional
        Images denoised at once, on threads (the filters release the GIL). With more
        than one, each filter call runs on one OpenMP thread unless `n_threads` is set.
    progress : bool, optional
        Show a tqdm progress bar on stderr.
    **filter_options
        Passed to the filter (``size``, ``window``, ``mode``, ``n_threads``, ...; for
        'crc' also ``options``, a :class:`crcx.CRCOptions`).

    Returns
    -------
    CollectionResult

    Raises
    ------
    ValueError, TypeError
        Bad arguments or filter options (checked before any file is touched), or an
        output that would replace an input.

    Examples
    --------
    >>> import numpy as np
    >>> from crcx import denoise_collection
    >>> images = [np.full((5, 5), 7, np.uint8), np.eye(6, dtype=np.uint16)]
    >>> result = denoise_collection(images, method="median", size=3)
    >>> [image.max() for image in result.outputs]
    [np.uint8(7), np.uint16(1)]
    """
    items = as_list(images_or_paths, "images_or_paths")
    jobs = _check_jobs(jobs)
    overwrite = check_flag(overwrite, "overwrite")
    progress = check_flag(progress, "progress")
    filter_options = call_options(method, filter_options)
    if jobs > 1:
        filter_options.setdefault("n_threads", 1)
    # An empty collection holds arrays, unless it is given somewhere to write files.
    paths = all(_is_path(item) for item in items) if items else output_dir is not None
    if not paths:
        if any(_is_path(item) for item in items):
            raise TypeError("images_or_paths: expected arrays or paths, not a mix of both")
        if output_dir is not None:
            raise ValueError("output_dir: only used with path inputs; arrays are returned")
        filter_function(method)
        with ThreadPoolExecutor(max_workers=jobs) as executor:
            outputs = list(executor.map(
                lambda image: denoise_image(image, method, **filter_options), items))
        return CollectionResult(outputs=outputs)
    validate_filter(method, filter_options)
    tasks, skipped, failures = plan_files(items, output_dir, overwrite)
    result = CollectionResult(skipped=skipped, failures=failures)
    for outcome in _run_threads(tasks, method, filter_options, jobs, progress):
        result.record(outcome)
    return result


def collection_score(images, **options):
    """The collection score ``d = log(sum_i mean_p CRC_i(p))``.

    A diagnostic of how much coherent detail a median filter would erase across the
    collection: each image's CRC map (:func:`crcx.crc_map`, plane by plane) is
    averaged over its pixels, and the log of the sum over images is returned.

    Parameters
    ----------
    images : array, path or sequence of arrays or of paths
        The collection (files, directories and globs are read).
    **options
        Passed to :func:`crcx.crc_map` (``options``, a :class:`crcx.CRCOptions`, and
        its fields: ``size``, ``window``, ``correlation``, ...).

    Returns
    -------
    float
        ``-inf`` when every map is zero.

    Examples
    --------
    >>> import numpy as np
    >>> from crcx import collection_score
    >>> ramp = np.add.outer(np.arange(32.0), np.arange(32.0)) * 4
    >>> images = [ramp + np.random.default_rng(0).normal(0, 10, ramp.shape)]
    >>> bool(np.isfinite(collection_score(images, size=3)))
    True
    """
    options = call_options("crc", options)
    total = 0.0
    for image in load_images(images):
        planes, colour = planes_to_score(image)
        maps = crcx.crc_map(planes, **plane_options("crc", colour), **options)
        total += float(np.mean(maps))
    return math.log(total) if total > 0 else -math.inf
