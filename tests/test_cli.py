"""The crcx command line, run as a separate process on files in a temporary folder."""
import json
import math
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import skimage.data

import crcx
from crcx._apps.collection import denoise_image
from crcx._apps.io import partial_files, read_image, write_image
from crcx._apps.tuning import tune

RNG = np.random.default_rng(13)
MEDIAN = ["--method", "median", "--size", "3"]


def crcx_command(*args, cwd):
    """The command that runs crcx; `cwd` away from the source tree, which in CI is not built."""
    return dict(args=[sys.executable, "-m", "crcx", *map(str, args)], cwd=cwd,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run(*args, cwd):
    return subprocess.run(**crcx_command(*args, cwd=cwd), timeout=300)


def _image(shape, dtype=np.uint8):
    return RNG.integers(0, np.iinfo(dtype).max, shape, dtype=dtype, endpoint=True)


def _smooth(shape):
    """A JPEG-friendly image: lossy coding keeps it close."""
    ramp = np.add.outer(np.arange(shape[0]), np.arange(shape[1])).astype(np.uint8)
    return np.ascontiguousarray(np.broadcast_to(ramp[..., None], shape)) if len(shape) == 3 \
        else ramp


INPUTS = {
    "grey8.png": _image((20, 24)),
    "grey16.png": _image((20, 24), np.uint16),
    "colour.png": _image((20, 24, 3)),
    "stack.tif": _image((3, 20, 24), np.uint16),
    "colour.tif": _image((20, 24, 3), np.uint16),
    "photo.jpg": _smooth((20, 24)),
    "colour.jpeg": _smooth((20, 24, 3)),
}


@pytest.fixture
def inputs(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for name, image in INPUTS.items():
        write_image(folder / name, image)
    return folder


def test_help_lists_the_commands(tmp_path):
    result = run("--help", cwd=tmp_path)
    assert result.returncode == 0
    for command in ("demo", "denoise", "tune", "score", "inspect"):
        assert command in result.stdout


@pytest.mark.parametrize("jobs", [1, 2])
def test_denoise_round_trips_every_format(tmp_path, inputs, jobs):
    result = run("denoise", inputs, "-o", tmp_path / "out", *MEDIAN, "--jobs", jobs,
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == \
        f"{len(INPUTS)} written, 0 skipped (exist), 0 failed"
    assert f"{len(INPUTS)}/{len(INPUTS)}" in result.stderr  # the progress bar, completed
    for name in INPUTS:
        source, output = read_image(inputs / name), read_image(tmp_path / "out" / name)
        assert output.dtype == source.dtype and output.shape == source.shape
        expected = denoise_image(source, "median", size=3)
        if name.endswith((".jpg", ".jpeg")):  # written lossy
            assert np.abs(output.astype(int) - expected).mean() < 2
        else:
            np.testing.assert_array_equal(output, expected)


def test_a_corrupt_file_is_reported_skipped_and_counted(tmp_path, inputs):
    (inputs / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(50))
    result = run("denoise", inputs, "-o", tmp_path / "out", *MEDIAN, cwd=tmp_path)
    assert result.returncode == 1
    assert "corrupt.png" in result.stderr and "cannot read image" in result.stderr
    assert result.stdout.strip().splitlines()[-1] == \
        f"{len(INPUTS)} written, 0 skipped (exist), 1 failed"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(INPUTS)


def _wait_for(paths, process, timeout=120):
    deadline = time.monotonic() + timeout
    while not all(path.exists() for path in paths):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "crcx did not write the first outputs"
        time.sleep(0.02)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs a named pipe")
@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM])
def test_an_interrupted_run_finishes_on_rerun(tmp_path, inputs, signum):
    # The third input is a named pipe: reading it blocks, which holds the run
    # mid-collection (two outputs written, two not) until it is killed.
    blocker = tmp_path / "blocker.png"
    os.mkfifo(blocker)
    names = ["grey8.png", "grey16.png", "colour.png", "stack.tif"]
    arguments = ["denoise", inputs / names[0], inputs / names[1], blocker, inputs / names[2],
                 inputs / names[3], "-o", tmp_path / "out", *MEDIAN]
    out = tmp_path / "out"
    process = subprocess.Popen(**crcx_command(*arguments, cwd=tmp_path))
    _wait_for([out / names[0], out / names[1]], process)
    time.sleep(0.2)
    process.send_signal(signum)
    process.communicate(timeout=60)
    assert process.returncode == (-signal.SIGKILL if signum == signal.SIGKILL else 128 + signum)
    assert sorted(p.name for p in out.iterdir()) == sorted(names[:2])
    stamps = {name: (out / name).stat().st_mtime_ns for name in names[:2]}
    # What a kill in the middle of writing an image leaves behind.
    (out / ".colour.png.0badf00d.crcx-partial").write_bytes(b"\x89PNG half an image")

    blocker.unlink()
    write_image(blocker, _image((20, 24)))
    result = run(*arguments, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "3 written, 2 skipped (exist), 0 failed"
    assert partial_files(out) == []
    assert sorted(p.name for p in out.iterdir()) == sorted(names + ["blocker.png"])
    assert all((out / name).stat().st_mtime_ns == stamp for name, stamp in stamps.items())
    for name in names:
        np.testing.assert_array_equal(read_image(out / name),
                                      denoise_image(INPUTS[name], "median", size=3))


def test_existing_outputs_and_inputs_are_never_overwritten(tmp_path, inputs):
    out = tmp_path / "out"
    out.mkdir()
    sentinel = np.full((5, 5), 7, np.uint8)
    write_image(out / "grey8.png", sentinel)
    result = run("denoise", inputs / "grey8.png", inputs / "grey16.png", "-o", out, *MEDIAN,
                 cwd=tmp_path)
    assert result.returncode == 0
    assert "1 written, 1 skipped (exist), 0 failed" in result.stdout
    np.testing.assert_array_equal(read_image(out / "grey8.png"), sentinel)

    result = run("denoise", inputs / "grey8.png", "-o", out, *MEDIAN, "--overwrite",
                 cwd=tmp_path)
    assert result.returncode == 0 and "1 written" in result.stdout
    assert read_image(out / "grey8.png").shape == INPUTS["grey8.png"].shape

    result = run("denoise", inputs, "-o", inputs, *MEDIAN, "--overwrite", cwd=tmp_path)
    assert result.returncode == 1 and "would replace the input" in result.stderr
    for name, image in INPUTS.items():
        if not name.endswith((".jpg", ".jpeg")):
            np.testing.assert_array_equal(read_image(inputs / name), image)


def test_glob_patterns_are_expanded_by_crcx(tmp_path, inputs):
    result = run("denoise", str(inputs / "*.png"), "-o", tmp_path / "out", *MEDIAN,
                 cwd=tmp_path)
    assert result.returncode == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        name for name in INPUTS if name.endswith(".png"))


@pytest.mark.parametrize("arguments, message", [
    (["--method", "median", "--window", "5"], "--window applies to --method crc only"),
    (["--method", "median", "--correlation", "renyi"], "--correlation applies"),
    (["--method", "median", "--preset", "realtime"], "--preset applies"),
    (["--mode", "edge"], "invalid choice"),
    (["--jobs", "0", "--method", "median"], "--jobs"),
])
def test_usage_errors(tmp_path, inputs, arguments, message):
    result = run("denoise", inputs, "-o", tmp_path / "out", *arguments, cwd=tmp_path)
    assert result.returncode == 2 and message in result.stderr
    assert not (tmp_path / "out").exists()


def test_bad_filter_options_fail_before_writing(tmp_path, inputs):
    result = run("denoise", inputs, "-o", tmp_path / "out", "--method", "median",
                 "--size", "0", cwd=tmp_path)
    assert result.returncode == 1 and "size" in result.stderr
    assert not (tmp_path / "out").exists()


def test_default_method_is_crc(tmp_path, inputs):
    result = run("denoise", inputs / "grey8.png", "-o", tmp_path / "out", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    np.testing.assert_array_equal(read_image(tmp_path / "out" / "grey8.png"),
                                  crcx.crc_median(INPUTS["grey8.png"]))


def test_the_realtime_preset_from_the_command_line(tmp_path, inputs):
    result = run("denoise", inputs / "grey8.png", "-o", tmp_path / "out", "--preset",
                 "realtime", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    np.testing.assert_array_equal(read_image(tmp_path / "out" / "grey8.png"),
                                  crcx.crc_median(INPUTS["grey8.png"], preset="realtime"))


def test_tune_saves_parameters_that_denoise_uses(tmp_path, inputs):
    noisy = tmp_path / "noisy"
    noisy.mkdir()
    for index in range(2):
        image = np.clip(100 + RNG.normal(0, 25, (24, 24)), 0, 255).astype(np.uint8)
        write_image(noisy / f"{index}.png", image)
    result = run("tune", noisy, "--method", "median", "--threads", "1", "--save",
                 tmp_path / "params.json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    saved = json.loads((tmp_path / "params.json").read_text())
    assert saved["method"] == "median" and [row["size"] for row in saved["losses"]] == [3, 5, 7]
    assert saved["loss"] == "sure"
    best = min(saved["losses"], key=lambda row: row["loss"])["size"]
    assert saved["parameters"] == {"size": best} and f"best: size={best}" in result.stdout
    expected = tune(noisy, method="median", loss="j-invariant", n_threads=1)[1]
    result = run("tune", noisy, "--method", "median", "--threads", "1", "--loss",
                 "j-invariant", "--save", tmp_path / "j.json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "j.json").read_text())["losses"] == expected

    # The method comes from the file too.
    result = run("denoise", noisy, "-o", tmp_path / "out", "--params", tmp_path / "params.json",
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    np.testing.assert_array_equal(read_image(tmp_path / "out" / "0.png"),
                                  denoise_image(read_image(noisy / "0.png"), "median",
                                                size=best))


def test_params_for_another_method_and_missing_params_are_errors(tmp_path, inputs):
    (tmp_path / "p.json").write_text(json.dumps({"method": "median", "parameters": {"size": 5}}))
    result = run("denoise", inputs, "-o", tmp_path / "out", "--method", "crc", "--params",
                 tmp_path / "p.json", cwd=tmp_path)
    assert result.returncode == 2 and "the parameters are for --method median" in result.stderr
    result = run("denoise", inputs, "-o", tmp_path / "out", "--params", tmp_path / "none.json",
                 cwd=tmp_path)
    assert result.returncode == 1 and "none.json" in result.stderr
    assert not (tmp_path / "out").exists()


def test_score_is_the_log_of_the_summed_mean_crc(tmp_path):
    # Noisy images with structure: a noise-free image leaves no residual and pure
    # noise no coherent one, and either alone would score log(0).
    detail = skimage.data.camera()[100:148, 200:248]
    images = [np.clip(detail + RNG.normal(0, 12, detail.shape), 0, 255).astype(np.uint8)
              for _ in range(2)]
    paths = [tmp_path / f"{i}.png" for i in range(len(images))]
    for path, image in zip(paths, images):
        write_image(path, image)
    result = run("score", *paths, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    expected = math.log(sum(float(crcx.crc_map(image).mean()) for image in images))
    assert float(result.stdout) == pytest.approx(expected, abs=5e-7)   # printed to 6 places


def test_demo_writes_a_figure_and_a_table(tmp_path):
    result = run("demo", "--output", "figure.png", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    figure = read_image(tmp_path / "figure.png")
    assert figure.ndim == 3 and min(figure.shape[:2]) > 300
    rows = re.findall(r"^(noisy|median \dx\d|CRC-MF) +([\d.]+) +[\d.]+ ", result.stdout,
                      re.MULTILINE)
    psnr = {method: float(value) for method, value in rows}
    assert psnr["median 3x3"] > psnr["noisy"] + 5 and psnr["median 5x5"] > psnr["noisy"] + 5
    assert psnr["CRC-MF"] > max(psnr["median 3x3"], psnr["median 5x5"])


def test_inspect_prints_the_estimate_of_each_channel_and_draws_it(tmp_path):
    clean = skimage.data.camera()[::4, ::4]
    hit = RNG.random(clean.shape) < 0.1
    impulses = np.where(hit, RNG.integers(0, 256, clean.shape), clean).astype(np.uint8)
    write_image(tmp_path / "impulses.png", impulses)
    write_image(tmp_path / "colour.png", np.stack([clean] * 3, axis=-1))
    result = run("inspect", tmp_path / "impulses.png", tmp_path / "colour.png",
                 "--figure", "inspect.png", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = re.findall(r"^\S+(impulses|colour)\.png +(\d) +([\d.]+) +([\d.]+) +([\d.]+) +(\S+)$",
                      result.stdout, re.MULTILINE)
    assert [(name, channel) for name, channel, *_ in rows] == [
        ("impulses", "0"), ("colour", "0"), ("colour", "1"), ("colour", "2")]
    for name, _channel, sigma, _gain, density, kind in rows:
        image = impulses if name == "impulses" else clean
        expected = crcx.estimate_noise(image)
        assert kind == expected.impulse_kind
        assert float(density) == pytest.approx(100 * expected.impulse_density, abs=5e-4)
        assert float(sigma) == pytest.approx(math.sqrt(expected.variance), abs=5e-4)
    assert rows[0][-1] == "random-valued" and rows[1][-1] == "none"
    figure = read_image(tmp_path / "inspect.png")
    assert figure.ndim == 3 and figure.shape[0] > figure.shape[1] / 4
