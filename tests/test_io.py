"""crcx._apps.io: round trips keep dtype and shape; bad files fail clearly; writes are atomic."""
import struct
import zlib

import numpy as np
import pytest

from crcx._apps.io import ImageReadError, partial_files, read_image, write_image

RNG = np.random.default_rng(7)


def _random(shape, dtype):
    if np.dtype(dtype).kind == "f":
        return RNG.random(shape).astype(dtype)
    return RNG.integers(0, np.iinfo(dtype).max, shape, dtype=dtype, endpoint=True)


LOSSLESS = [
    ("grey8.png", (9, 11), np.uint8),
    ("grey16.png", (9, 11), np.uint16),
    ("rgb.png", (9, 11, 3), np.uint8),
    ("rgba.png", (9, 11, 4), np.uint8),
    ("grey.tif", (9, 11), np.uint16),
    ("stack.tiff", (4, 9, 11), np.uint16),
    ("rgb.tif", (9, 11, 3), np.uint8),
    ("float.tif", (3, 9, 11), np.float32),
    ("signed.tif", (9, 11), np.int16),
    ("volume4d.tif", (2, 3, 9, 11), np.float64),
]


@pytest.mark.parametrize("name, shape, dtype", LOSSLESS)
def test_lossless_round_trip_keeps_values_dtype_and_shape(tmp_path, name, shape, dtype):
    image = _random(shape, dtype)
    write_image(tmp_path / name, image)
    back = read_image(tmp_path / name)
    assert back.dtype == image.dtype and back.shape == image.shape
    np.testing.assert_array_equal(back, image)
    assert partial_files(tmp_path) == []


@pytest.mark.parametrize("channels", [(), (3,)])
def test_jpeg_round_trip_keeps_dtype_and_shape(tmp_path, channels):
    ramp = np.add.outer(np.arange(32), np.arange(40)).astype(np.uint8)
    image = np.ascontiguousarray(np.broadcast_to(ramp[..., None], ramp.shape + channels)
                                 if channels else ramp)
    back = read_image(write_image(tmp_path / "ramp.jpg", image))
    assert back.dtype == np.uint8 and back.shape == image.shape
    # Lossy, but close on a smooth image.
    assert np.abs(back.astype(int) - image).mean() < 2


def test_format_is_recognised_by_content_not_name(tmp_path):
    image = _random((5, 6), np.uint8)
    write_image(tmp_path / "a.png", image)
    (tmp_path / "a.png").rename(tmp_path / "a.tif")
    np.testing.assert_array_equal(read_image(tmp_path / "a.tif"), image)


def _deep_colour_png(path):
    """A valid 16-bit RGB PNG, written by hand (Pillow cannot write one)."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    pixels = _random((2, 3, 3), np.uint16)
    rows = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in pixels)
    header = struct.pack(">IIBBBBB", 3, 2, 16, 2, 0, 0, 0)  # 3x2, 16 bits, RGB
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                     + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def _truncated_png(path):
    write_image(path, _random((64, 64), np.uint16))
    path.write_bytes(path.read_bytes()[:300])


def _truncated_tiff(path):
    write_image(path, _random((3, 16, 16), np.uint16))
    path.write_bytes(path.read_bytes()[:200])


BAD_FILES = {
    "empty.png": lambda path: path.write_bytes(b""),
    "text.png": lambda path: path.write_text("not an image"),
    "truncated.png": _truncated_png,
    "truncated.tif": _truncated_tiff,
    "garbage.jpg": lambda path: path.write_bytes(b"\xff\xd8\xff" + bytes(100)),
    "deep.png": _deep_colour_png,
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_unreadable_files_raise_image_read_error_naming_the_file(tmp_path, name):
    BAD_FILES[name](tmp_path / name)
    with pytest.raises(ImageReadError, match=name):
        read_image(tmp_path / name)


def test_missing_file_and_directory_raise_image_read_error(tmp_path):
    with pytest.raises(ImageReadError, match="missing.png"):
        read_image(tmp_path / "missing.png")
    with pytest.raises(ImageReadError):
        read_image(tmp_path)


def test_deep_colour_png_error_suggests_tiff(tmp_path):
    _deep_colour_png(tmp_path / "deep.png")
    with pytest.raises(ImageReadError, match="TIFF"):
        read_image(tmp_path / "deep.png")


@pytest.mark.parametrize("name, array, message", [
    ("a.bmp", np.zeros((4, 4), np.uint8), "path: unknown image suffix"),
    ("a.png", np.zeros((4, 4), np.float32), "array: PNG holds"),
    ("a.png", np.zeros((4, 4), np.int16), "array: PNG holds"),
    ("a.png", np.zeros((4, 4, 3), np.uint16), "16-bit colour PNG"),
    ("a.png", np.zeros((2, 4, 4, 3), np.uint8), "array: PNG holds"),
    ("a.jpg", np.zeros((4, 4), np.uint16), "array: JPEG holds uint8"),
    ("a.jpeg", np.zeros((4, 4, 4), np.uint8), "array: JPEG holds"),
])
def test_write_refuses_what_the_format_cannot_hold(tmp_path, name, array, message):
    with pytest.raises(ValueError, match=message):
        write_image(tmp_path / name, array)
    assert list(tmp_path.iterdir()) == []


def test_write_needs_an_array(tmp_path):
    with pytest.raises(TypeError, match="array"):
        write_image(tmp_path / "a.png", [[1, 2], [3, 4]])


def test_write_replaces_an_existing_file(tmp_path):
    first, second = _random((5, 5), np.uint8), _random((7, 3), np.uint8)
    write_image(tmp_path / "a.png", first)
    write_image(tmp_path / "a.png", second)
    np.testing.assert_array_equal(read_image(tmp_path / "a.png"), second)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]


def test_a_write_interrupted_midway_leaves_the_old_file_and_no_partial(tmp_path, monkeypatch):
    import tifffile

    old = _random((5, 5), np.uint16)
    write_image(tmp_path / "a.tif", old)

    def crash(handle, *args, **kwargs):
        handle.write(b"II*\x00 half an image")
        raise KeyboardInterrupt

    monkeypatch.setattr(tifffile, "imwrite", crash)
    with pytest.raises(KeyboardInterrupt):
        write_image(tmp_path / "a.tif", _random((5, 5), np.uint16))
    np.testing.assert_array_equal(read_image(tmp_path / "a.tif"), old)
    assert partial_files(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tif"]


def test_partial_files_matches_only_temporaries_of_the_named_target(tmp_path):
    for name in [".a.png.0123abcd.crcx-partial", ".a.png.png.0123abcd.crcx-partial",
                 ".b.png.89abcdef.crcx-partial", "a.png", ".hidden"]:
        (tmp_path / name).touch()
    assert [p.name for p in partial_files(tmp_path, {"a.png"})] == [
        ".a.png.0123abcd.crcx-partial"]
    assert len(partial_files(tmp_path)) == 3
