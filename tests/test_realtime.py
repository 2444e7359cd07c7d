"""The real-time preset (docs/algorithm.md §13): the switching stage against its
reference, the sample its estimate is made on, and what the preset promises."""
import dask.array as da
import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage import data

import crcx
from crcx import dask as crcx_dask
from crcx._crc.model import MOSAIC_TILES, NoiseEstimate, mosaic, switching_scales
from crcx.reference import crc as reference

# As in tests/test_crc.py: float64 results of the two implementations differ by the
# rounding of sums taken in other orders, far inside a millionth of a grey level.
TOLERANCE = 1e-9


def _noisy(kind, shape=(30, 34), seed=2):
    rng = np.random.default_rng(seed)
    clean = np.add.outer(np.arange(shape[0]), np.arange(shape[1])) * 3.0
    hit = rng.random(shape) < 0.15
    if kind == "clean":
        return clean, clean
    if kind == "gaussian":
        return clean + rng.normal(0.0, 4.0, shape), clean
    if kind == "salt-and-pepper":
        return np.where(hit, rng.choice([0.0, 255.0], shape), clean), clean
    return np.where(hit, rng.integers(0, 256, shape), clean + rng.normal(0.0, 2.0, shape)), clean


@pytest.mark.parametrize("kind, expected", [
    ("clean", "none"), ("gaussian", "none"), ("salt-and-pepper", "fixed-valued"),
    ("random-valued", "random-valued")])
# each border rule on the whole plane and on a mosaic, not every pair (the reference
# takes seconds on random-valued impulses)
@pytest.mark.parametrize("mode, sample", [("reflect", 0), ("constant", 256)])
def test_the_switching_stage_matches_the_reference(kind, expected, mode, sample):
    image, clean = _noisy(kind)
    kwargs = dict(preset="realtime", sample=sample, mode=mode, cval=7.0)
    _, impulses = crcx.crc_map(image, return_impulses=True, **kwargs)
    _, expected_impulses = reference.crc_map(image, return_impulses=True, **kwargs)
    np.testing.assert_array_equal(impulses, expected_impulses)
    assert crcx.estimate_noise(image, **kwargs).impulse_kind == expected
    # an impulse near the value it hides is no impulse to find
    far, near = np.abs(image - clean) > 80, np.abs(image - clean) < 10
    if far.any():
        assert impulses[far].mean() > 0.9 and impulses[near].mean() < 0.05
    np.testing.assert_allclose(crcx.crc_median(image, **kwargs),
                               reference.crc_median(image, **kwargs), rtol=0,
                               atol=TOLERANCE * 255)


@pytest.mark.parametrize("shape, sample", [((40, 52), 1024), ((9, 40, 44), 4096),
                                           ((40, 52), 0), ((20, 20), 400)])
def test_the_mosaic_takes_tiles_spread_evenly_over_the_plane(shape, sample):
    values = np.arange(np.prod(shape)).reshape(shape)
    tiles = mosaic(values, sample)
    if sample == 0 or values.size <= sample:
        assert tiles is values
        return
    side = int((sample / MOSAIC_TILES ** len(shape)) ** (1 / len(shape)))
    for axis, n in enumerate(shape):
        # along each axis: the first and the last `side` lines, and evenly between
        kept = np.unique(np.unravel_index(tiles.ravel(), shape)[axis])
        if n > MOSAIC_TILES * side:
            assert kept.size == MOSAIC_TILES * side
            assert kept[0] == 0 and kept[-1] == n - 1
        else:
            np.testing.assert_array_equal(kept, np.arange(n))


def test_the_estimate_is_made_on_the_sample():
    image, _ = _noisy("gaussian", (96, 100))
    found = crcx.estimate_noise(image, preset="realtime", sample=2048)
    on_sample = crcx.estimate_noise(mosaic(image, 2048))
    assert (found.variance, found.gain) == (on_sample.variance, on_sample.gain)


@pytest.mark.parametrize("kind, sigma, shape, base", [
    ("none", 0.016, (64, 64), 7), ("fixed-valued", 0.016, (64, 64), 7),
    ("none", 0.014, (64, 64), 5), ("none", 0.0, (64, 64), 5),
    ("random-valued", 0.016, (64, 64), 5), ("random-valued", 0.014, (64, 64), 3),
    ("random-valued", 0.0, (64, 64), 3), ("none", 0.05, (8, 64, 64), 5),
    ("random-valued", 0.0, (8, 64, 64), 5)])
def test_the_base_follows_the_noise_on_planes(kind, sigma, shape, base):
    # sigma as a fraction of the sample's range (NOISY_BASE: 1.5 %), at its mean level
    sample = np.linspace(0.0, 200.0, np.prod(shape)).reshape(shape)
    variance = (sigma * 200.0) ** 2       # a quarter of it from the gain, at level 100
    estimate = NoiseEstimate(variance=0.75 * variance, gain=0.25 * variance / 100.0,
                             impulse_density=0.0, impulse_kind=kind)
    realtime = crcx.CRCOptions.preset("realtime")
    assert (realtime.size, realtime.noisy_size) == (5, 7)
    assert switching_scales(realtime, estimate, sample) == (200.0, base)
    assert switching_scales(realtime.replace(noisy_size=0), estimate, sample)[1] == 5


@pytest.mark.parametrize("shape, larger", [((32, 32), True), ((64, 64), False)])
def test_the_preset_smooths_more_where_the_noise_is_stronger(shape, larger):
    image, _ = _noisy("gaussian", shape)     # sigma 4 of a range of 190 and of 380
    realtime = crcx.CRCOptions.preset("realtime")
    same = np.array_equal(crcx.crc_median(image, options=realtime),
                          crcx.crc_median(image, options=realtime.replace(noisy_size=0)))
    assert same != larger


def test_the_preset_is_its_options():
    image, _ = _noisy("salt-and-pepper")
    realtime = crcx.CRCOptions.preset("realtime")
    np.testing.assert_array_equal(crcx.crc_median(image, preset="realtime"),
                                  crcx.crc_median(image, options=realtime))
    np.testing.assert_array_equal(crcx.crc_median(image, preset="quality"),
                                  crcx.crc_median(image))
    assert crcx.CRCOptions.preset("quality") == crcx.CRCOptions()


def test_a_preset_with_options_or_an_unknown_preset_is_refused():
    image, _ = _noisy("clean")
    with pytest.raises(ValueError, match="^preset: give either options or a preset"):
        crcx.crc_median(image, options=crcx.CRCOptions(), preset="realtime")
    with pytest.raises(ValueError, match="^preset: expected one of"):
        crcx.crc_median(image, preset="fast")


def test_dask_blocks_take_the_planes_decisions():
    image, _ = _noisy("random-valued", (64, 70))
    whole = crcx.crc_median(image, preset="realtime", sample=1024)
    blocks = crcx_dask.crc_median(da.from_array(image, chunks=(32, 35)), preset="realtime",
                                  sample=1024).compute()
    np.testing.assert_allclose(blocks, whole, rtol=0, atol=TOLERANCE * 255)


def _psnr(clean, image):
    error = np.mean((np.asarray(image, np.float64) - clean) ** 2)
    return np.inf if error == 0 else 10 * np.log10(255.0 ** 2 / error)


@pytest.mark.parametrize("name", ["camera", "coins"])
def test_clean_pictures_come_back_almost_unchanged(name):
    clean = getattr(data, name)()[:256, :256]
    assert _psnr(clean, crcx.crc_median(clean, preset="realtime")) >= 45


@pytest.mark.parametrize("condition", ["gaussian", "salt-and-pepper", "hot"])
def test_noise_is_removed_better_than_by_the_median(condition):
    clean = data.camera()[:256, :256].astype(np.float64)
    rng = np.random.default_rng(11)
    if condition == "gaussian":
        noisy = clean + rng.normal(0.0, 15.0, clean.shape)
    elif condition == "salt-and-pepper":
        noisy = np.where(rng.random(clean.shape) < 0.3, rng.choice([0, 255], clean.shape), clean)
    else:
        noisy = np.where(rng.random(clean.shape) < 0.003, 255, clean)
    noisy = np.clip(np.rint(noisy), 0, 255).astype(np.uint8)
    better_median = max(_psnr(clean, ndi.median_filter(noisy, k)) for k in (3, 5))
    out = crcx.crc_median(noisy, preset="realtime")
    assert _psnr(clean, out) > max(better_median, _psnr(clean, noisy))


@pytest.mark.parametrize("density", [0.05, 0.1])
def test_strokes_under_random_valued_impulses_are_kept_better_than_by_the_median(density):
    # the repaired plane's base is the 3x3 median: the 5x5 one took the strokes
    # (noisy_size=0 keeps it, and stays under the 3x3 median here)
    clean = data.text()[:256, :256]
    rng = np.random.default_rng(11)
    noisy = np.where(rng.random(clean.shape) < density, rng.integers(0, 256, clean.shape),
                     clean).astype(np.uint8)
    better_median = max(_psnr(clean, ndi.median_filter(noisy, k)) for k in (3, 5))
    assert _psnr(clean, crcx.crc_median(noisy, preset="realtime")) > better_median


def test_dense_salt_and_pepper_leaves_a_black_frame_black():
    # dense impulses flag any pixel at their values but those equal to their majority
    # window's median: the frame's pixels would take the picture's values (below
    # the input before)
    clean = np.zeros((256, 256), np.uint8)
    clean[64:192, 64:192] = data.camera()[::4, ::4]
    frame = np.ones(clean.shape, bool)
    frame[56:200, 56:200] = False
    rng = np.random.default_rng(12)
    noisy = np.where(rng.random(clean.shape) < 0.05, rng.choice(np.array([0, 255], np.uint8),
                                                                clean.shape), clean)
    out = crcx.crc_median(noisy, preset="realtime")
    assert np.count_nonzero(out[frame]) <= 0.001 * np.count_nonzero(frame)
    better_median = max(_psnr(clean, ndi.median_filter(noisy, k)) for k in (3, 5))
    assert _psnr(clean, out) > better_median


def _binarised_page_with_dead_pixels():
    clean = (data.page() > 120).astype(np.uint8) * 255
    rng = np.random.default_rng(31)
    return clean, np.where(rng.random(clean.shape) < 0.01, np.uint8(0), clean)


def test_strokes_at_the_dead_pixels_value_are_no_dead_pixels():
    # the strokes of a binarised page are 3x3 extremes at 0, as dead pixels are: the
    # switching flags were 7.5 times the sample's density, and the output's error 4.5
    # times the input's; the full stage of §1 tells them apart
    clean, noisy = _binarised_page_with_dead_pixels()
    error = np.mean((crcx.crc_median(noisy, preset="realtime") - clean.astype(float)) ** 2)
    assert error < 0.5 * np.mean((noisy - clean.astype(float)) ** 2)


@pytest.mark.slow
def test_the_switching_stage_falls_back_to_the_full_stage_as_the_reference_does():
    _, noisy = _binarised_page_with_dead_pixels()
    crop = noisy[:40, :48]
    kwargs = dict(preset="realtime", s_max=5, search=1)
    np.testing.assert_allclose(crcx.crc_median(crop, **kwargs),
                               reference.crc_median(crop, **kwargs), rtol=0,
                               atol=TOLERANCE * 255)


def _binarised_page_under_salt_and_pepper_at_20_and_235():
    clean = (data.page() > 120).astype(np.uint8) * 255
    rng = np.random.default_rng(32)
    hit = rng.random(clean.shape) < 0.1
    values = np.where(rng.random(clean.shape) < 0.5, 20, 235)
    return clean, np.where(hit, values, clean).astype(np.uint8), hit


def test_the_switching_flags_take_the_values_of_the_samples_flags():
    # the page's black strokes are 3x3 extremes as often as the pepper at 20 is: at
    # the values most of those extremes take (0 and 20) the strokes were flagged, and
    # the output's error was 1.3 times the input's
    clean, noisy, _ = _binarised_page_under_salt_and_pepper_at_20_and_235()
    error = np.mean((crcx.crc_median(noisy, preset="realtime") - clean.astype(float)) ** 2)
    assert error < 0.3 * np.mean((noisy - clean.astype(float)) ** 2)


@pytest.mark.slow
def test_the_switching_flags_take_the_samples_values_as_the_reference_does():
    _, noisy, hit = _binarised_page_under_salt_and_pepper_at_20_and_235()
    kwargs = dict(preset="realtime", s_max=5, search=1)
    _, found = crcx.crc_map(noisy[:40, :48], return_impulses=True, **kwargs)
    _, expected = reference.crc_map(noisy[:40, :48], return_impulses=True, **kwargs)
    np.testing.assert_array_equal(found, expected)
    np.testing.assert_array_equal(found, hit[:40, :48])
