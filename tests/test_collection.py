"""crcx._apps.collection: plane-by-plane denoising, file collections, resume, failures, score."""
import math
import os

import numpy as np
import pytest
import skimage.data

import crcx
from crcx._apps.collection import (METHODS, collection_score, denoise_collection, denoise_image,
                                   expand_inputs, filter_function)
from crcx._apps.io import partial_files, read_image, write_image

RNG = np.random.default_rng(3)
# Each method is run with options that every filter accepts.
OPTIONS = {"size": 3, "n_threads": 1}


def _image(shape, dtype=np.uint8):
    return RNG.integers(0, np.iinfo(dtype).max, shape, dtype=dtype, endpoint=True)


def _noisy(shape):
    """Grey 100 under Gaussian noise: CRC-MF's non-local stage works on it."""
    return np.clip(100.0 + RNG.normal(0.0, 12.0, shape), 0, 255).astype(np.uint8)


def _by_planes(image, method, channels_last):
    """The expected result: the filter called on each 2-d plane separately, but CRC-MF
    on the channels of one colour image together (they share the non-local weights)."""
    function = filter_function(method)
    if method == "crc" and channels_last and image.ndim == 3:
        return function(image, channel_axis=-1, **OPTIONS)
    moved = np.moveaxis(image, -1, 0) if channels_last else image
    planes = [function(plane, **OPTIONS) for plane in moved.reshape((-1,) + moved.shape[-2:])]
    result = np.reshape(planes, moved.shape)
    return np.moveaxis(result, 0, -1) if channels_last else result


@pytest.fixture(params=sorted(METHODS))
def method(request):
    return request.param


@pytest.mark.parametrize("shape, channels_last", [
    ((12, 15), False), ((12, 15, 3), True), ((12, 15, 4), True), ((12, 15, 2), True),
    ((3, 12, 15), False), ((2, 3, 12, 15), False), ((2, 12, 15, 3), True)])
def test_denoise_image_filters_each_plane(method, shape, channels_last):
    image = _noisy(shape)
    result = denoise_image(image, method, **OPTIONS)
    assert result.dtype == image.dtype and result.shape == image.shape
    np.testing.assert_array_equal(result, _by_planes(image, method, channels_last))


def test_denoise_image_rejects_cross_plane_options_and_flat_input():
    with pytest.raises(TypeError, match="axes"):
        denoise_image(_image((8, 8)), "median", axes=(0, 1))
    with pytest.raises(TypeError, match="channel_axis"):
        denoise_image(_image((8, 8)), "median", channel_axis=0)
    with pytest.raises(TypeError, match="joint_channels"):
        denoise_image(_image((8, 8, 3)), "crc", joint_channels=False)
    with pytest.raises(ValueError, match="image: expected at least 2 dimensions"):
        denoise_image(_image((8,)), "median")


def test_arrays_in_arrays_out(method):
    images = [_image((10, 12)), _image((10, 12, 3), np.uint16), _image((2, 9, 9))]
    result = denoise_collection(images, method, **OPTIONS)
    assert result.skipped == [] and result.failures == []
    for image, output in zip(images, result.outputs, strict=True):
        np.testing.assert_array_equal(output, denoise_image(image, method, **OPTIONS))


def test_parallel_jobs_equal_one_job(method):
    images = [_image((20, 20)) for _ in range(6)]
    serial = denoise_collection(images, method, size=3)
    parallel = denoise_collection(images, method, jobs=3, size=3)
    for a, b in zip(serial.outputs, parallel.outputs, strict=True):
        np.testing.assert_array_equal(a, b)


def _write_inputs(folder):
    folder.mkdir()
    images = {"a.png": _image((16, 16)), "b.png": _image((16, 16), np.uint16),
              "c.tif": _image((3, 16, 16), np.uint16), "d.png": _image((16, 16, 3))}
    for name, image in images.items():
        write_image(folder / name, image)
    return images


def test_paths_in_files_out_and_resume(tmp_path):
    images = _write_inputs(tmp_path / "in")
    out = tmp_path / "out"
    result = denoise_collection(tmp_path / "in", "median", out, **OPTIONS)
    assert sorted(p.name for p in result.outputs) == sorted(images)
    assert result.summary() == "4 written, 0 skipped (exist), 0 failed"
    for name, image in images.items():
        np.testing.assert_array_equal(read_image(out / name),
                                      denoise_image(image, "median", **OPTIONS))
    stamps = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    (out / "b.png").unlink()
    again = denoise_collection(tmp_path / "in", "median", out, **OPTIONS)
    assert [p.name for p in again.outputs] == ["b.png"]
    assert sorted(p.name for p in again.skipped) == ["a.png", "c.tif", "d.png"]
    assert all(stamps[p.name] == p.stat().st_mtime_ns for p in again.skipped)


def test_existing_outputs_are_kept_unless_overwrite(tmp_path):
    _write_inputs(tmp_path / "in")
    out = tmp_path / "out"
    out.mkdir()
    sentinel = np.full((4, 4), 42, np.uint8)
    write_image(out / "a.png", sentinel)
    result = denoise_collection(tmp_path / "in" / "a.png", "median", out, **OPTIONS)
    assert result.outputs == [] and result.skipped == [out / "a.png"]
    np.testing.assert_array_equal(read_image(out / "a.png"), sentinel)
    result = denoise_collection(tmp_path / "in" / "a.png", "median", out, overwrite=True,
                                **OPTIONS)
    assert result.outputs == [out / "a.png"]
    assert read_image(out / "a.png").shape == (16, 16)


def test_an_input_is_never_replaced(tmp_path):
    images = _write_inputs(tmp_path / "in")
    for overwrite in (False, True):
        with pytest.raises(ValueError, match="output_dir: .* would replace the input"):
            denoise_collection(tmp_path / "in", "median", tmp_path / "in", overwrite=overwrite)
    np.testing.assert_array_equal(read_image(tmp_path / "in" / "a.png"), images["a.png"])


def test_unreadable_inputs_are_reported_skipped_and_counted(tmp_path):
    _write_inputs(tmp_path / "in")
    (tmp_path / "in" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    (tmp_path / "in" / "empty.tif").write_bytes(b"")
    result = denoise_collection([tmp_path / "in", tmp_path / "missing.png"], "median",
                                tmp_path / "out", **OPTIONS)
    assert len(result.outputs) == 4
    assert sorted(os.path.basename(f.input) for f in result.failures) == [
        "broken.png", "empty.tif", "missing.png"]
    assert all("cannot read image" in f.reason for f in result.failures)
    assert result.summary() == "4 written, 0 skipped (exist), 3 failed"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "a.png", "b.png", "c.tif", "d.png"]


def test_globs_directories_duplicates_and_name_collisions(tmp_path):
    _write_inputs(tmp_path / "in")
    (tmp_path / "other").mkdir()
    write_image(tmp_path / "other" / "a.png", _image((8, 8)))
    (tmp_path / "empty").mkdir()
    result = denoise_collection(
        [str(tmp_path / "in" / "*.png"), tmp_path / "in", tmp_path / "other" / "a.png",
         str(tmp_path / "nothing*.tif"), tmp_path / "empty"],
        "median", tmp_path / "out", **OPTIONS)
    assert [p.name for p in result.outputs] == ["a.png", "b.png", "d.png", "c.tif"]
    reasons = {os.path.basename(f.input): f.reason for f in result.failures}
    assert "already written from" in reasons["a.png"]
    assert reasons["nothing*.tif"] == "no file matches the pattern"
    assert "holds no PNG, JPEG or TIFF file" in reasons["empty"]


def test_stale_partial_files_of_a_killed_run_are_removed(tmp_path):
    _write_inputs(tmp_path / "in")
    out = tmp_path / "out"
    out.mkdir()
    stale = out / ".a.png.0badf00d.crcx-partial"
    stale.write_bytes(b"\x89PNG half")
    denoise_collection(tmp_path / "in", "median", out, **OPTIONS)
    assert partial_files(out) == []


def test_bad_options_fail_before_any_file_is_written(tmp_path):
    _write_inputs(tmp_path / "in")
    with pytest.raises(TypeError, match="colour"):
        denoise_collection(tmp_path / "in", "median", tmp_path / "out", colour=True)
    with pytest.raises(ValueError, match="size"):
        denoise_collection(tmp_path / "in", "median", tmp_path / "out", size=0)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("kwargs, error, message", [
    ({"images_or_paths": [np.zeros((4, 4)), "a.png"]}, TypeError, "not a mix"),
    ({"images_or_paths": 3}, TypeError, "images_or_paths"),
    ({"images_or_paths": ["a.png"]}, ValueError, "output_dir: required"),
    ({"images_or_paths": [np.zeros((4, 4))], "output_dir": "out"}, ValueError, "output_dir"),
    ({"images_or_paths": [np.zeros((4, 4))], "jobs": 0}, ValueError, "jobs"),
    ({"images_or_paths": [np.zeros((4, 4))], "jobs": 1.5}, ValueError, "jobs"),
    ({"images_or_paths": [np.zeros((4, 4))], "method": "mean"}, ValueError, "method"),
])
def test_bad_arguments_name_the_argument(kwargs, error, message):
    kwargs.setdefault("method", "median")
    with pytest.raises(error, match=message):
        denoise_collection(**kwargs)


def test_expand_inputs_ignores_hidden_and_non_image_files(tmp_path):
    (tmp_path / "a.PNG").write_bytes(b"")
    (tmp_path / ".b.png").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("")
    files, failures = expand_inputs([tmp_path])
    assert [p.name for p in files] == ["a.PNG"] and failures == []


def test_collection_score_is_the_log_of_summed_mean_maps(monkeypatch):
    calls = []

    def fake_crc_map(planes, channel_axis, joint_channels, **options):
        calls.append((planes.shape, channel_axis, joint_channels, options))
        return np.full(planes.shape, planes.mean() / 255.0)

    monkeypatch.setattr(crcx, "crc_map", fake_crc_map, raising=False)
    images = [np.full((4, 5), 51, np.uint8), np.full((4, 5, 3), 102, np.uint8)]
    assert collection_score(images, window=5) == pytest.approx(math.log(0.2 + 0.4))
    # the options are checked once and passed to every image as one object
    options = {"options": crcx.CRCOptions(window=5)}
    assert calls == [((1, 4, 5), 0, False, options), ((3, 4, 5), 0, True, options)]
    assert collection_score([np.zeros((4, 4), np.uint8)]) == -math.inf


def test_collection_score_is_the_log_of_the_summed_mean_crc():
    # Structure plus noise: the residual then holds coherent detail, so d is finite.
    detail = skimage.data.camera()[100:148, 200:248].astype(float)
    grey = np.clip(detail + RNG.normal(0, 12, detail.shape), 0, 255)
    colour = np.clip(np.stack([detail] * 3, -1) + RNG.normal(0, 12, detail.shape + (3,)), 0, 255)
    images = [grey.astype(np.uint8), colour.astype(np.uint8)]
    maps = [crcx.crc_map(grey.astype(np.uint8), size=3),
            crcx.crc_map(colour.astype(np.uint8), size=3, channel_axis=-1)]
    expected = math.log(sum(float(m.mean()) for m in maps))
    assert collection_score(images, size=3) == pytest.approx(expected, rel=1e-12)
    assert expected <= math.log(len(images))


def test_files_on_parallel_jobs_equal_one_job(tmp_path):
    images = _write_inputs(tmp_path / "in")
    serial = denoise_collection(tmp_path / "in", "median", tmp_path / "serial", size=3)
    parallel = denoise_collection(tmp_path / "in", "median", tmp_path / "parallel", size=3,
                                  jobs=3)
    assert [p.name for p in parallel.outputs] == [p.name for p in serial.outputs]
    for name in images:
        np.testing.assert_array_equal(read_image(tmp_path / "parallel" / name),
                                      read_image(tmp_path / "serial" / name))
