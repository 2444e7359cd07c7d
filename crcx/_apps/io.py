"""Read and write PNG, JPEG and TIFF images, keeping dtype and shape.

PNG and JPEG go through imageio's Pillow plugin, TIFF through tifffile (multi-page
files and stacks of any dimension included). Writes are atomic: the data goes to a
temporary file next to the target, which is renamed over it only once complete, so an
interrupted run never leaves a truncated image behind (see :func:`partial_files`).
"""
import importlib
import os
import secrets
import struct
from pathlib import Path

import numpy as np

__all__ = ["ImageReadError", "SUFFIXES", "read_image", "write_image", "partial_files"]

# What a path argument may be.
PATH_TYPES = (str, os.PathLike)
# File suffix (lower case) -> format written under that name.
SUFFIXES = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".tif": "tiff", ".tiff": "tiff"}
# Formats are recognised by content, not by name, when reading.
_SIGNATURES = ((b"\x89PNG\r\n\x1a\n", "png"), (b"\xff\xd8\xff", "jpeg"),
               (b"II*\x00", "tiff"), (b"MM\x00*", "tiff"),     # classic TIFF
               (b"II+\x00", "tiff"), (b"MM\x00+", "tiff"))     # BigTIFF
# Lossy output is re-encoded once per run; keep that generation loss small.
JPEG_QUALITY = 95
# Temporary files are named ".<target name>.<token><PARTIAL_SUFFIX>".
PARTIAL_SUFFIX = ".crcx-partial"
_TOKEN_BYTES = 4


class ImageReadError(OSError):
    """A file could not be read as an image (missing, unsupported or corrupt).

    Attributes
    ----------
    path : pathlib.Path
        The file.
    reason : str
        What is wrong with it.

    Examples
    --------
    >>> import crcx
    >>> try:
    ...     crcx.read_image("no-such-file.png")
    ... except crcx.ImageReadError as error:
    ...     print(error.reason)
    No such file or directory
    """

    def __init__(self, path, reason):
        super().__init__(f"cannot read image {path}: {reason}")
        self.path = path
        self.reason = reason

    def __reduce__(self):
        # Rebuild from (path, reason), e.g. when a dask worker sends it back.
        return type(self), (self.path, self.reason)


def as_path(path, name="path"):
    """`path` as a pathlib.Path; a TypeError naming `name` unless it is one of PATH_TYPES."""
    if not isinstance(path, PATH_TYPES):
        raise TypeError(f"{name}: expected a str or os.PathLike path, got "
                        f"{type(path).__name__}")
    return Path(path)


def optional_import(module, extra="io"):
    """Import an optional dependency, saying which extra provides it."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        raise ModuleNotFoundError(
            f"{module} is required for this; install it with pip install 'crcx[{extra}]'"
        ) from error


def _sniff(path):
    with open(path, "rb") as handle:
        head = handle.read(32)
    for signature, kind in _SIGNATURES:
        if head.startswith(signature):
            return kind, head
    return None, head


def _png_is_deep_colour(head):
    # Pillow silently reduces 16-bit colour PNGs to 8 bits; refuse rather than lose data.
    # IHDR is always the first chunk: bit depth at byte 24, colour type at byte 25.
    bit_depth, colour_type = struct.unpack(">BB", head[24:26])
    return bit_depth == 16 and colour_type in (2, 4, 6)


def read_image(path):
    """Read a PNG, JPEG or TIFF image into an array of its stored dtype and shape.

    Parameters
    ----------
    path : str or os.PathLike
        The file. Its format is recognised from its content, not its name.

    Returns
    -------
    ndarray
        ``(rows, columns)`` for grey, ``(rows, columns, channels)`` for colour, and for
        TIFF the stored shape, e.g. ``(pages, rows, columns)`` for a multi-page stack.

    Raises
    ------
    ImageReadError
        The file is missing, not a PNG, JPEG or TIFF file, truncated or corrupt, or a
        16-bit colour PNG (which Pillow would silently reduce to 8 bits; use TIFF).
    TypeError
        `path` is not a str or os.PathLike.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from crcx import read_image, write_image
    >>> path = os.path.join(tempfile.mkdtemp(), "ramp.png")
    >>> _ = write_image(path, np.arange(12, dtype=np.uint16).reshape(3, 4))
    >>> read_image(path).dtype, read_image(path).shape
    (dtype('uint16'), (3, 4))
    """
    path = as_path(path)
    try:
        kind, head = _sniff(path)
        if kind is None:
            raise ImageReadError(path, "not a PNG, JPEG or TIFF file")
        if kind == "png" and len(head) >= 26 and _png_is_deep_colour(head):
            raise ImageReadError(path, "16-bit colour PNG is not supported (it would be "
                                       "reduced to 8 bits); convert it to TIFF")
        if kind == "tiff":
            image = optional_import("tifffile").imread(path)
        else:
            image = optional_import("imageio.v3").imread(path, plugin="pillow")
    except (ImageReadError, ModuleNotFoundError):
        raise
    except OSError as error:
        # The system's words ("No such file or directory"), the path is ours to add.
        raise ImageReadError(path, error.strerror or str(error)) from error
    except Exception as error:  # every decoder failure means the same to the caller
        raise ImageReadError(path, str(error)) from error
    if image.size == 0:
        raise ImageReadError(path, "the file holds no image data")
    return image


def _check_writable(path, kind, array):
    """Refuse arrays that the format of `path` cannot hold exactly."""
    channels = array.shape[-1] if array.ndim == 3 else None
    if array.size == 0:
        raise ValueError(f"array: shape {array.shape} holds no pixel to write ({path})")
    if kind == "tiff":
        if array.dtype.kind not in "biufc":
            raise ValueError(f"array: TIFF holds numbers, not {array.dtype} ({path})")
        if array.ndim < 2:
            raise ValueError(f"array: TIFF holds (rows, columns, ...), not shape "
                             f"{array.shape} ({path})")
    elif kind == "png":
        if array.dtype not in (np.bool_, np.uint8, np.uint16):
            raise ValueError(f"array: PNG holds bool, uint8 or uint16, not {array.dtype} "
                             f"({path}); use a .tif name")
        if not (array.ndim == 2 or (array.ndim == 3 and channels in (2, 3, 4))):
            raise ValueError(f"array: PNG holds (rows, columns[, 2-4 channels]), not shape "
                             f"{array.shape} ({path}); use a .tif name")
        if array.dtype == np.uint16 and array.ndim == 3:
            raise ValueError(f"array: 16-bit colour PNG is not supported ({path}); "
                             "use a .tif name")
    elif kind == "jpeg":
        if array.dtype != np.uint8:
            raise ValueError(f"array: JPEG holds uint8, not {array.dtype} ({path})")
        if not (array.ndim == 2 or (array.ndim == 3 and channels == 3)):
            raise ValueError(f"array: JPEG holds (rows, columns[, 3]), not shape "
                             f"{array.shape} ({path})")


def _encode(handle, kind, array):
    if kind == "tiff":
        # Say what the data is: tifffile would otherwise guess RGB for any length-3 axis.
        colour = array.ndim >= 3 and array.shape[-1] in (3, 4) and array.dtype.kind in "u"
        optional_import("tifffile").imwrite(handle, array,
                                      photometric="rgb" if colour else "minisblack")
    else:
        options = {"quality": JPEG_QUALITY} if kind == "jpeg" else {}
        optional_import("imageio.v3").imwrite(handle, array, plugin="pillow",
                                        extension=f".{kind}", **options)


def write_image(path, array):
    """Write `array` to `path` atomically, in the format its suffix names.

    The image is written to a temporary file in the same directory, flushed to disk and
    renamed over `path`; a run interrupted at any point leaves either the old file or
    the complete new one, plus at worst a temporary file (see :func:`partial_files`).
    An existing `path` is replaced.

    Parameters
    ----------
    path : str or os.PathLike
        Target file; its suffix (``.png``, ``.jpg``/``.jpeg``, ``.tif``/``.tiff``)
        chooses the format.
    array : ndarray
        PNG: bool, uint8 or uint16, grey or 2-4 channels (uint16 grey only);
        JPEG: uint8 grey or RGB; TIFF: two or more axes and any numeric dtype.
        Never empty.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    ValueError
        Unknown suffix, or an array the format cannot hold without loss of dtype or shape.
    TypeError
        `path` is not a path or `array` not an array.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from crcx import read_image, write_image
    >>> path = os.path.join(tempfile.mkdtemp(), "stack.tif")
    >>> stack = np.zeros((3, 4, 5), np.float32)
    >>> read_image(write_image(path, stack)).shape
    (3, 4, 5)
    """
    path = as_path(path)
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise ValueError(f"path: unknown image suffix {path.suffix!r} ({path}); "
                         f"expected one of {sorted(SUFFIXES)}")
    if not isinstance(array, np.ndarray):
        raise TypeError(f"array: expected a numpy array, got {type(array).__name__}")
    _check_writable(path, kind, array)
    partial = path.with_name(
        f".{path.name}.{secrets.token_hex(_TOKEN_BYTES)}{PARTIAL_SUFFIX}")
    try:
        with open(partial, "xb") as handle:
            _encode(handle, kind, array)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return path


def partial_files(directory, names=None):
    """Temporary files that :func:`write_image` left in `directory` when killed.

    Parameters
    ----------
    directory : str or os.PathLike
        Directory to look in.
    names : collection of str, optional
        Only those for these target file names.

    Returns
    -------
    list of pathlib.Path

    Examples
    --------
    >>> import tempfile
    >>> from crcx._apps.io import partial_files
    >>> partial_files(tempfile.mkdtemp())
    []
    """
    directory = as_path(directory, "directory")
    if isinstance(names, (str, bytes)):
        raise TypeError(f"names: expected a collection of file names, got {names!r}")
    tail = 1 + 2 * _TOKEN_BYTES + len(PARTIAL_SUFFIX)  # ".<token><suffix>"

    def matches(entry):
        if not (entry.startswith(".") and entry.endswith(PARTIAL_SUFFIX) and len(entry) > tail):
            return False
        return names is None or entry[1:-tail] in names

    return sorted(Path(directory, entry) for entry in os.listdir(directory) if matches(entry))
