"""crcx.crc_median and crcx.crc_map against their pure-Python reference, and the
properties the filter promises."""
import inspect

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import ndimage as ndi
from skimage import data, transform

import crcx
from crcx._crc import _stages, model, pipeline
from crcx.reference import crc as reference

# The compiled path sums windows in another order than the reference (running sums,
# per-line loops), so float64 results differ by rounding, about 1e-12 of the image's
# range. TOLERANCE, a fraction of that range, leaves room for that and nothing else:
# a millionth of a grey level on 8-bit data. Integer outputs round those floats, so
# they may differ by one unit, and only where the float result sits that close to a
# rounding tie.
TOLERANCE = 1e-9

DTYPES = (np.uint8, np.uint16, np.int16, np.float32, np.float64, bool)
MODES = ("reflect", "mirror", "nearest", "wrap", "constant")


def _range(image):
    values = np.asarray(image, dtype=np.float64)
    return max(float(values.max() - values.min()), 1.0) if values.size else 1.0


def assert_agrees(compiled, expected, scale):
    """Float results within TOLERANCE * scale of each other."""
    np.testing.assert_allclose(compiled, expected, rtol=0, atol=TOLERANCE * scale)


@st.composite
def images(draw, max_side=7):
    """Small 2-d images, 3-d volumes and RGB images rich in ties and extremes."""
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    form = draw(st.sampled_from(["2d", "2d", "3d", "rgb"]))
    side = st.integers(1, max_side)
    shape = {"2d": (draw(side), draw(side)),
             "3d": (draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 4))),
             "rgb": (draw(st.integers(1, 5)), draw(st.integers(1, 5)), 3)}[form]
    if dtype.kind == "b":
        elements = st.booleans()
    elif dtype.kind == "f":
        elements = st.floats(-1000, 1000, width=dtype.itemsize * 8)
    else:
        info = np.iinfo(dtype)
        elements = st.sampled_from([int(info.min), int(info.max), 0]) | st.integers(
            int(info.min), int(info.max))
    image = draw(hnp.arrays(dtype, shape, elements=elements))
    return image, ({"channel_axis": -1} if form == "rgb" else {})


# Small windows keep the pure-Python reference to a fraction of a second per example.
options = st.fixed_dictionaries({
    "size": st.sampled_from([1, 3, 5]),
    "window": st.sampled_from([3, 5]),
    "correlation": st.sampled_from(["pearson", "renyi"]),
    "bins": st.integers(2, 4),
    "mode": st.sampled_from(MODES),
    "cval": st.sampled_from([0.0, 3.0, 200.5]),
    "s_max": st.sampled_from([3, 5, 7]),
    "impulses": st.sampled_from(["adaptive", "hwang-haddad", "switching", "none"]),
    "sample": st.sampled_from([0, 16]),
    "sparse_kappa": st.sampled_from([4.0, 6.0]),
    "isolation": st.sampled_from([0.0, 0.04, 0.3]),
    "majority": st.sampled_from([0, 3]),
    "noise": st.sampled_from(["affine", "constant", 0.0, 4.0]),
    "base": st.sampled_from(["nonlocal", "median"]),
    "search": st.integers(0, 2),
    "patch": st.sampled_from([1, 3]),
    "passes": st.sampled_from([1, 2]),
    "pilot_h": st.sampled_from([0.3, 1.0]),
    "dct": st.sampled_from([0, 2, 3, 8]),
    "dct_threshold": st.sampled_from([0.0, 2.7]),
    "joint_channels": st.booleans(),
    "gain": st.sampled_from(["wiener", "crc", "wiener+crc", "none"]),
})


@settings(max_examples=60)
@given(images(), options)
def test_crc_median_matches_the_reference(image_and_axis, kwargs):
    image, axis = image_and_axis
    scale = _range(image)
    compiled = crcx.crc_median(image, output=np.float64, **axis, **kwargs)
    expected = reference.crc_median(image, output=np.float64, **axis, **kwargs)
    assert_agrees(compiled, expected, scale)
    if image.dtype.kind in "biu":
        rounded = crcx.crc_median(image, **axis, **kwargs).astype(np.float64)
        rounded_expected = reference.crc_median(image, **axis, **kwargs).astype(np.float64)
        differs = rounded != rounded_expected
        assert np.all(np.abs(rounded - rounded_expected) <= 1)
        tie = np.abs(np.abs(expected - np.floor(expected)) - 0.5) <= TOLERANCE * scale
        assert np.all(tie[differs] | (np.abs(expected[differs]) > 1e300))


@settings(max_examples=40)
@given(images(), options)
# a residual of tiny values: their variances underflowed to 0 and rho was infinite
@example((np.array([[1.24382275e-153, 0.0]]), {}),
         dict(size=3, window=3, correlation="pearson", bins=2, mode="mirror", cval=0.0,
              s_max=3, impulses="none", majority=0, noise="affine", base="median",
              search=0, patch=1, gain="wiener"))
# a residual that is only the rounding of B (-4e-15 in the reference, 0 here): over
# its largest magnitude it looked like signal
@example((np.array([[[1, 0, 30], [1, 0, 0]], [[0, 0, 0], [0, 0, 29]]], np.float32),
          {"channel_axis": -1}),
         dict(size=1, window=3, correlation="pearson", bins=2, mode="reflect", cval=0.0,
              s_max=3, impulses="hwang-haddad", majority=0, noise=4.0, base="nonlocal",
              search=2, patch=1, passes=2, gain="wiener"))
# residual values of one ulp where B is J up to rounding (rows of equal values; below,
# neighbours whose weights underflow): the Rényi quantisation read their sign, which
# the order of summation decides, and the maps differed by 0.71 and 0.15
@example((np.array([[36, 36, 36, 36], [246, 246, 246, 246], [237, 237, 255, 237]], np.uint8),
          {}),
         dict(size=5, window=3, correlation="renyi", bins=3, mode="mirror", cval=3.0,
              s_max=7, impulses="none", majority=3, noise=4.0, base="nonlocal", search=1,
              patch=3, passes=2, pilot_h=1.0, isolation=0.0))
@example((np.array([[96, 241, 15, 45], [134, 253, 150, 64], [32, 206, 221, 26]], np.uint8),
          {}),
         dict(size=1, window=5, correlation="renyi", bins=2, mode="mirror", s_max=7,
              impulses="none", majority=3, noise=4.0, base="nonlocal", search=2, patch=3,
              passes=1, pilot_h=0.3, isolation=0.0))
# a black image past a constant border of 3: the DCT estimate averaged the 3s and left
# B and E at 1e-16, whose rounding the rule measured against max |B| alone; the
# Pearson maps differed by 0.10
@example((np.array([[0, 0]], np.uint8), {}),
         dict(size=1, window=3, correlation="pearson", bins=2, mode="constant", cval=3.0,
              s_max=3, impulses="adaptive", isolation=0.0, majority=0, noise=4.0,
              base="nonlocal", search=0, patch=1, passes=1, dct=2, dct_threshold=0.0))
def test_crc_map_matches_the_reference(image_and_axis, kwargs):
    image, axis = image_and_axis
    assert_map_agrees(image, axis, kwargs)


def assert_map_agrees(image, axis, kwargs):
    """crc_map and its reference agree: the map, the variance, flags and directions."""
    requests = dict(return_direction=True, return_impulses=True, return_variance=True)
    crc, direction, impulses, variance = crcx.crc_map(image, **requests, **axis, **kwargs)
    crc_r, direction_r, impulses_r, variance_r = reference.crc_map(image, **requests, **axis,
                                                                   **kwargs)
    assert_agrees(crc, crc_r, 1.0)
    np.testing.assert_array_equal(impulses, impulses_r)
    # a variance is in squared units of the image
    assert_agrees(variance, variance_r, _range(image) ** 2)
    assert crc.dtype == np.float64 and direction.dtype == np.int8 and impulses.dtype == bool
    assert variance.dtype == np.float64 and variance.shape == crc.shape
    assert np.all(variance >= 0)
    assert np.all((crc >= 0) & (crc <= 1 + TOLERANCE))
    np.testing.assert_array_equal(direction, direction_r)


# Pearson windows whose residual spread is tens of FLAT units of B (values of 4e-10 next
# to B ~ 190): rho divides by that spread, which magnified the rounding of B, and the
# maps differed by 1.1e-9 to 2.2e-6 (a seeded search, 7 of 20 619 tiny images)
SPREAD_OF_ROUNDING = [
    ([[24, 24, 24, 24], [255, 24, 24, 24], [24, 24, 24, 24], [24, 0, 0, 24]],
     dict(mode="constant", isolation=0.0, size=5, window=5, cval=0.0, s_max=3,
          impulses="none", majority=0, noise=4.0, search=2, patch=1, passes=1, pilot_h=0.3)),
    ([[23, 10, 0, 0, 0, 0], [24, 10, 0, 0, 0, 0]],
     dict(mode="wrap", isolation=0.0, size=3, window=3, s_max=7, impulses="hwang-haddad",
          sparse_kappa=6.0, majority=0, noise=4.0, search=2, patch=1, passes=2,
          pilot_h=0.3)),
    ([[68, 68, 68]] * 4 + [[68, 0, 68], [68, 68, 68]],
     dict(mode="reflect", size=3, window=3, s_max=5, impulses="none", majority=3,
          noise=4.0, search=2, patch=3, passes=2, pilot_h=0.3)),
    ([[87, 160, 95, 188, 1, 249], [162, 121, 56, 222, 19, 76]],
     dict(mode="reflect", isolation=0.0, size=5, window=3, s_max=3,
          impulses="hwang-haddad", sparse_kappa=4.0, majority=3, noise=4.0, search=2,
          patch=1, passes=1, pilot_h=1.0)),
    ([[26, 26, 26, 26], [26, 26, 26, 26], [26, 255, 26, 26], [0, 26, 26, 26],
      [26, 26, 26, 26], [26, 255, 255, 26]],
     dict(mode="constant", isolation=0.0, size=1, window=5, cval=0.0, s_max=5,
          impulses="hwang-haddad", sparse_kappa=4.0, majority=0, noise=4.0, search=2,
          patch=1, passes=2, pilot_h=1.0)),
    ([[119] * 4, [99] * 4, [135] * 4, [0, 135, 135, 135], [45] * 4, [195] * 4],
     dict(mode="nearest", size=5, window=3, s_max=5, impulses="adaptive",
          sparse_kappa=6.0, majority=3, noise=4.0, search=1, patch=3, passes=2,
          pilot_h=1.0)),
    ([[68, 68, 68, 68], [68, 0, 68, 68], [68, 68, 68, 68]],
     dict(mode="mirror", isolation=0.0, size=1, window=3, s_max=5, impulses="none",
          majority=3, noise=4.0, search=2, patch=3, passes=1, pilot_h=0.3)),
]


@pytest.mark.parametrize("rows, kwargs", SPREAD_OF_ROUNDING)
def test_pearson_windows_within_the_rounding_of_b_are_flat(rows, kwargs):
    assert_map_agrees(np.array(rows, np.uint8), {}, dict(correlation="pearson", **kwargs))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (5, 9), (4, 5, 6)])
def test_a_constant_image_is_unchanged(dtype, shape):
    image = np.full(shape, 1 if dtype is bool else 77, dtype)
    np.testing.assert_array_equal(crcx.crc_median(image), image)


def test_impulses_of_one_value_on_a_flat_background_are_removed():
    image = np.full((32, 32), 100, np.uint8)
    hot = (np.arange(3, 32, 7)[:, None], np.arange(2, 32, 6))
    image[hot] = 255
    np.testing.assert_array_equal(crcx.crc_median(image), np.full((32, 32), 100, np.uint8))
    # one outlier alone is no evidence of impulse noise: it stays, as a star would
    image[hot] = 100
    image[7, 7] = 255
    np.testing.assert_array_equal(crcx.crc_median(image), image)


def _line():
    image = np.full((21, 21), 50, np.uint8)
    image[:, 10] = 200
    return image


def _corner():
    image = np.full((21, 21), 50, np.uint8)
    image[10:, 10:] = 200
    return image


@pytest.mark.parametrize("image", [_line(), _corner(), _line().T, np.rot90(_corner())],
                         ids=["line", "corner", "row", "other-corner"])
def test_noise_free_detail_the_median_erases_comes_back_exactly(image):
    assert not np.array_equal(crcx.median(image, 5), image)
    np.testing.assert_array_equal(crcx.crc_median(image), image)


def _phantom(side, density, seed=0):
    """Shepp-Logan-like: a white ring and a black block on grey, on a grey ramp (so
    that black and white are not most of the picture, as on a binary one); s&p
    noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:side, :side] - side / 2
    radius = np.hypot(y / 0.8, x)
    clean = np.where(radius < 0.45 * side, 255, 100 + (x + y) / side * 40).astype(np.uint8)
    clean[radius < 0.45 * side - side // 8] = 60
    clean[(np.abs(y) < side // 10) & (np.abs(x) < side // 5)] = 0
    hit = rng.random(clean.shape) < density
    noisy = np.where(hit, np.where(rng.random(clean.shape) < 0.5, 0, 255), clean)
    return clean, noisy.astype(np.uint8)


def _mse(clean, image):
    return float(np.mean((np.asarray(image, np.float64) - clean) ** 2))


@pytest.mark.parametrize("density", [0.3, 0.5])
def test_dense_impulses_on_real_black_and_white_regions_beat_the_median(density):
    # Impulses take the values of the ring and of the block: above 35 % flagged
    # pixels only the excess rule tells the real ones (docs/algorithm.md, §1.3).
    clean, noisy = _phantom(64, density)
    restored = _mse(clean, crcx.crc_median(noisy))
    assert restored < min(_mse(clean, crcx.median(noisy, k)) for k in (3, 5))
    assert restored < 0.5 * _mse(clean, crcx.crc_median(noisy, excess=0))


def test_the_gate_widens_only_where_flags_are_sparse():
    P = crcx.CRCOptions(kappa=4.0, sparse_kappa=6.0)
    low, high = model.SPARSE_DENSITIES
    assert [model.gate_kappa(P, d) for d in (0.0, low, high, 0.5)] == [6, 6, 4, 4]
    assert model.gate_kappa(P, (low + high) / 2) == pytest.approx(5.0)


def _flags(image, **kwargs):
    return crcx.crc_map(image, return_impulses=True, **kwargs)[1]


def test_without_impulse_noise_the_wider_gate_keeps_detail_flags_would_erase():
    # the gate of §1.2 on its own, without the isolation test that follows it
    rng = np.random.default_rng(3)
    clean = np.zeros((64, 64))
    clean[:, ::8] = 120.0                      # thin lines: extremes far from the median
    noisy = clean + rng.normal(0.0, 10.0, clean.shape)
    narrow = _flags(noisy, sparse_kappa=4.0, isolation=0.0)
    wide = _flags(noisy, isolation=0.0)
    assert 0 < narrow.mean() < model.SPARSE_DENSITIES[0]
    assert not np.any(wide & ~narrow) and np.count_nonzero(wide) < np.count_nonzero(narrow)


def test_under_impulse_noise_the_gate_keeps_kappa():
    _, noisy = _phantom(64, 0.3)
    np.testing.assert_array_equal(_flags(noisy), _flags(noisy, sparse_kappa=4.0))


# --- §1.5 the kind of impulses -----------------------------------------------------

def _camera():
    return data.camera()[::2, ::2]


def test_a_clean_picture_gets_no_impulse_flags():
    assert not _flags(_camera()).any()
    # the adaptive median's gates alone flag the picture's own extremes
    assert _flags(_camera(), isolation=0.0).mean() > 0.01


def test_random_valued_impulses_are_found_and_the_filter_beats_the_median():
    clean = _camera()
    rng = np.random.default_rng(1)
    hit = rng.random(clean.shape) < 0.1
    noisy = np.where(hit, rng.integers(0, 256, clean.shape), clean).astype(np.uint8)
    flags = _flags(noisy)
    visible = hit & (np.abs(noisy - clean.astype(np.float64)) > 40)
    assert flags[visible].mean() > 0.9
    median = _mse(clean, ndi.median_filter(noisy, 3))
    assert _mse(clean, crcx.crc_median(noisy)) < 0.75 * median
    # without the isolation test the impulses that are no window's extreme stay
    assert _mse(clean, crcx.crc_median(noisy, isolation=0.0)) > median


def _random_valued_on_smooth_texture(shape):
    """A gentle ramp with a texture of 12 grey levels, 5 % random-valued impulses,
    and their mask."""
    rng = np.random.default_rng(4)
    texture = ndi.gaussian_filter(rng.normal(0.0, 1.0, shape), 1.5)
    clean = np.round(100 + 30 * np.linspace(0, 1, shape[1])[None, :]
                     + 12 * texture / texture.std()).astype(np.uint8)
    hit = rng.random(shape) < 0.05
    return clean, np.where(hit, rng.integers(0, 256, shape), clean).astype(np.uint8), hit


def test_random_valued_impulses_leave_smooth_texture_alone():
    # the noise fits leave the isolated pixels out and read sigma near 0 here, so the
    # gate of §1.2 flags 4.7 % of the clean pixels; a flag must also depart from A_amf
    # by RANDOM_DEVIATION floors (§1.5), which leaves 1.3 %
    clean, noisy, hit = _random_valued_on_smooth_texture((96, 96))
    assert crcx.estimate_noise(noisy).impulse_kind == "random-valued"
    flags = _flags(noisy)
    assert flags[~hit].mean() < 0.02
    assert flags[hit & (np.abs(noisy - clean.astype(np.float64)) > 10)].mean() > 0.95
    assert _mse(clean, crcx.crc_median(noisy)) < 0.25 * _mse(clean, ndi.median_filter(noisy, 3))


def _flags_as_the_reference(noisy, s_max=5):
    """The impulse flags of crc_map with small windows (the reference takes seconds),
    once they are found equal to the reference's."""
    kwargs = dict(s_max=s_max, search=1)
    _, found = crcx.crc_map(noisy, return_impulses=True, **kwargs)
    _, expected = reference.crc_map(noisy, return_impulses=True, **kwargs)
    np.testing.assert_array_equal(found, expected)
    return found


def test_random_valued_impulses_on_smooth_texture_match_the_reference():
    _, noisy, hit = _random_valued_on_smooth_texture((30, 32))
    found = _flags_as_the_reference(noisy)
    assert found[hit].mean() > 0.5


def _random_valued_on_steep_ramps(shape, density, seed=5):
    """Sinusoidal ramps of up to 16 grey levels per pixel (a micrograph's cell walls),
    whose crests are plateaus of the image's extremes, with random-valued impulses at
    `density`, and their mask."""
    rng = np.random.default_rng(seed)
    y, x = np.indices(shape)
    clean = np.round(127 + 110 * np.sin(2 * np.pi * (x + 0.5 * y) / 48)).astype(np.uint8)
    hit = rng.random(shape) < density
    return clean, np.where(hit, rng.integers(0, 256, shape), clean).astype(np.uint8), hit


@pytest.mark.parametrize("density", [0.1, 0.2])
def test_random_valued_impulses_on_steep_ramps_are_found(density):
    # the middle half of a 5x5 cube spans the slope here; read less a plane's slopes
    # (RANDOM_TREND, §1.5) the impulses inside its range stand out (94 % of those
    # departing by 30 levels were found without, and the output was 1.8 times the
    # 5x5 median's error at 10 %); the crests' plateaus, the picture's two extremes,
    # make most of the adaptive median's flags: the isolated pixels of many values
    # say random-valued all the same (it read salt and pepper: 17 times the error)
    clean, noisy, hit = _random_valued_on_steep_ramps((96, 96), density)
    assert crcx.estimate_noise(noisy).impulse_kind == "random-valued"
    flags = _flags(noisy)
    assert flags[hit & (np.abs(noisy - clean.astype(np.float64)) > 30)].mean() > 0.98
    assert flags[~hit].mean() < 0.005
    assert _mse(clean, crcx.crc_median(noisy)) < _mse(clean, ndi.median_filter(noisy, 5))


def _random_valued_with_pairs(mode):
    """A smooth picture with 10 % random-valued impulses and, on its first line and
    inside it, pairs of side-by-side impulses of near values, and the pairs' mask."""
    rng = np.random.default_rng(6)
    clean = np.round(90 + 40 * np.linspace(0, 1, 40)[None, :] + np.zeros((40, 1)))
    hit = rng.random(clean.shape) < 0.1
    noisy = np.where(hit, rng.integers(0, 256, clean.shape), clean)
    pairs = np.zeros(clean.shape, bool)
    for row in (0, 20):
        around = np.s_[max(row - 2, 0):row + 3, 8:14]
        noisy[around] = clean[around]
        noisy[row, 10:12] = (230, 236)
        pairs[row, 10:12] = True
    return noisy.astype(np.uint8), pairs


@pytest.mark.parametrize("mode", ["reflect", "nearest"])
def test_random_valued_impulses_on_the_border_are_found(mode):
    # past the border the cube reads the pixel's own mirror image: with its partner
    # and the partner's mirror image a pair on the first line met three near values
    # and stayed, while the same pair inside the picture went
    noisy, pairs = _random_valued_with_pairs(mode)
    _, found = crcx.crc_map(noisy, mode=mode, return_impulses=True)
    assert crcx.estimate_noise(noisy, mode=mode).impulse_kind == "random-valued"
    assert found[pairs].all()


def test_one_pixel_lines_under_noise_are_no_impulses():
    # 1.1 % of the pixels pass the candidates' test here, all on the lines; the rank-1
    # density that decides on impulse noise stays below ISOLATED_DENSITY (§1.5)
    rng = np.random.default_rng(3)
    clean = np.zeros((64, 64))
    clean[:, ::8] = 120.0
    noisy = clean + rng.normal(0.0, 10.0, clean.shape)
    assert crcx.estimate_noise(noisy).impulse_kind == "none"
    assert _mse(clean, crcx.crc_median(noisy)) < 0.2 * _mse(clean, noisy)


def test_hot_pixels_are_removed_from_a_clean_picture():
    clean = _camera()
    hot = np.random.default_rng(2).random(clean.shape) < 0.003
    noisy = np.where(hot, 255, clean).astype(np.uint8)
    flags = _flags(noisy)
    # a hot pixel over a bright region is no outlier there
    assert flags[hot & (clean < 200)].mean() > 0.75
    assert _mse(clean, crcx.crc_median(noisy)) < 0.25 * _mse(clean, noisy)


def _clustered_hot_and_dead(shape, seed, density=0.006):
    """A smooth ramp with a one-pixel line at 255, scattered hot (255) and dead (0)
    pixels at `density` each, and a cluster of four of each (a run of three and one
    more two lines off, as 1 % of hot pixels gave on skimage's cell); and the
    clusters' mask."""
    y, x = np.mgrid[:shape[0], :shape[1]]
    clean = (60 + x + y // 2).astype(np.uint8)
    clean[:, shape[1] * 2 // 3] = 255
    rng = np.random.default_rng(seed)
    noisy = np.where(rng.random(shape) < density, 255, clean)
    noisy = np.where(rng.random(shape) < density, 0, noisy).astype(np.uint8)
    hot, dead = np.zeros(shape, bool), np.zeros(shape, bool)
    hot[4, 4:7] = hot[6, 6] = True
    dead[-6, 8:11] = dead[-4, 10] = True
    noisy[hot], noisy[dead] = 255, 0
    return clean, noisy, hot | dead


# enough scattered impulses of each value (FIXED_COUNT) for it to be an impulse value,
# and few enough for them to be sparse (DENSE_IMPULSES)
CLUSTERED = ((40, 48), 9, 0.008)


def test_clusters_of_hot_and_dead_pixels_are_removed():
    # four impulses of one value side by side vouch for each other at ISOLATION_RANK;
    # at their value the test takes FIXED_RANK (§1.5), which the line still passes
    clean, noisy, blocks = _clustered_hot_and_dead(*CLUSTERED)
    assert crcx.estimate_noise(noisy).impulse_kind == "fixed-valued"
    flags = _flags(noisy)
    assert flags[blocks].all()
    line = clean == 255
    assert not flags[line & (noisy == 255)].any()
    out = crcx.crc_median(noisy)
    assert np.abs(out[blocks].astype(int) - clean[blocks]).max() <= 2
    np.testing.assert_array_equal(out[line], clean[line])


def _hot_and_dead_on_steep_ramps():
    """Ramps of 15 grey levels per line (as on skimage's cell), 0.4 % dead and 0.4 %
    hot pixels, and the impulses' mask."""
    y, x = np.mgrid[:64, :96]
    clean = (30 + 15 * (y % 12) + x // 8).astype(np.uint8)
    rng = np.random.default_rng(3)
    dead, hot = (rng.random(clean.shape) < 0.004 for _ in range(2))
    return clean, np.where(dead, 0, np.where(hot, 255, clean)).astype(np.uint8), dead | hot


def test_hot_and_dead_pixels_on_steep_ramps_are_removed():
    # the middle half of a 5x5 cube spans 30 grey levels here: at their value the
    # impulses are tested against the floor alone (FIXED_SPREAD, §1.5)
    clean, noisy, impulses = _hot_and_dead_on_steep_ramps()
    flags = _flags(noisy)
    assert flags[impulses].all() and not flags[~impulses].any()
    out = crcx.crc_median(noisy)
    # a repaired pixel takes a median of its ramp: within one line's step of 15
    assert np.abs(out[impulses].astype(int) - clean[impulses]).max() <= 15
    np.testing.assert_array_equal(out[~impulses], clean[~impulses])


@pytest.mark.slow
def test_hot_and_dead_pixels_on_steep_ramps_match_the_reference():
    _, noisy, impulses = _hot_and_dead_on_steep_ramps()
    found = _flags_as_the_reference(noisy)
    assert found[impulses].all()


@pytest.mark.parametrize("mode", ["reflect", "wrap"])
def test_clustered_hot_and_dead_pixels_match_the_reference(mode):
    _, noisy, blocks = _clustered_hot_and_dead(*CLUSTERED)
    kwargs = dict(mode=mode, s_max=5, search=1)
    _, impulses = crcx.crc_map(noisy, return_impulses=True, **kwargs)
    _, expected = reference.crc_map(noisy, return_impulses=True, **kwargs)
    np.testing.assert_array_equal(impulses, expected)
    assert impulses[blocks].all()
    assert_agrees(crcx.crc_median(noisy, output=np.float64, **kwargs),
                  reference.crc_median(noisy, output=np.float64, **kwargs), 255.0)


@pytest.mark.parametrize("values, share", [([], 0.0), ([3.0] * 7, 0.0), ([3.0] * 8, 1.0),
                                           ([0.0] * 6 + [9.0] * 6 + [1.0, 2.0, 4.0, 5.0], 0.75)])
def test_fixed_share_counts_the_two_most_frequent_values(values, share):
    assert model.fixed_share(np.array(values)) == share


@pytest.mark.parametrize("values, impulse_values", [
    ([], []), ([3.0] * 7, []), ([0.0] * 8 + [255.0] * 9 + [5.0], [0.0, 255.0]),
    ([0.0] * 8 + [1.0] * 3 + [2.0] * 2, [0.0])])
def test_fixed_values_are_the_frequent_of_the_two_most_frequent(values, impulse_values):
    found = model.fixed_values(np.array(values))
    np.testing.assert_array_equal(np.sort(found), impulse_values)


@pytest.mark.parametrize("values, isolated, expected", [
    ([], [], []),
    ([7.0] * 32, [True] * 32, [7.0]),
    ([7.0] * 31 + [1.0], [True] * 31 + [False], []),              # too few isolated
    ([7.0] * 40 + [9.0] * 30, [True] * 40 + [False] * 30, [7.0]),
    ([7.0] * 60, [True] * 35 + [False] * 25, []),                 # 35 of 60: 0.58
    ([7.0] * 55, [True] * 33 + [False] * 22, [7.0])])             # 33 of 55: 0.6
def test_mostly_isolated_values_are_those_whose_pixels_stand_alone(values, isolated, expected):
    found = model.mostly_isolated_values(np.array(values), np.array(isolated, bool))
    np.testing.assert_array_equal(found, expected)


def _star_field(side, stars, hot, seed=3):
    """A dark sky (level 30, noise sigma 2) with one-pixel stars of 90 to 250 and hot
    pixels (255) at other places: the clean picture, the noisy one and the hot
    pixels' mask. The stars are most of the isolated pixels, so that the share of any
    one value among them stays under FIXED_SHARE."""
    rng = np.random.default_rng(seed)
    clean = np.rint(np.clip(30.0 + rng.normal(0.0, 2.0, (side, side)), 0, 254))
    places = rng.choice(side * side, stars + hot, replace=False)
    clean.flat[places[:stars]] = np.rint(rng.uniform(90, 250, stars))
    mask = np.zeros(clean.shape, bool)
    mask.flat[places[stars:]] = True
    return clean.astype(np.uint8), np.where(mask, 255, clean).astype(np.uint8), mask


def test_hot_pixels_among_stars_are_removed_and_the_stars_kept():
    clean, noisy, hot = _star_field(192, 100, 40)
    assert crcx.estimate_noise(clean).impulse_kind == "none"
    assert crcx.estimate_noise(noisy).impulse_kind == "fixed-valued"
    flags = _flags(noisy)
    stars = clean > 60
    assert flags[hot].all() and not flags[stars].any()
    out = crcx.crc_median(noisy).astype(int)
    assert np.abs(out[hot] - clean[hot]).max() <= 5
    # elsewhere, the picture's own output without hot pixels: the stars as they were,
    # the sky within a grey level (the noise fits see the repaired pixels)
    without = crcx.crc_median(clean).astype(int)
    np.testing.assert_array_equal(out[stars], without[stars])
    assert np.abs(out - without)[~hot].max() <= 1


@pytest.mark.slow
def test_hot_pixels_among_stars_match_the_reference(monkeypatch):
    # a picture the pure-Python reference takes in seconds holds fewer hot pixels
    # than MOSTLY_ISOLATED_COUNT: both implementations read the lowered count
    monkeypatch.setattr(model, "MOSTLY_ISOLATED_COUNT", 4)
    _, noisy, hot = _star_field(64, 13, 6)
    found = _flags_as_the_reference(noisy)
    np.testing.assert_array_equal(found, hot)


@pytest.mark.parametrize("values, flags, levels, expected", [
    ([0, 0, 255, 255, 9], [True, False, False, False, False], [0, 255], True),
    ([0, 0, 1, 2, 3], [False] * 5, [0], True),                     # 2 of 5: 0.4
    ([0, 1, 2, 3, 4, 5], [False] * 6, [0, 5], False),               # 2 of 6
    ([0, 0, 255, 255], [True] * 4, [0, 255], False),                # nothing unflagged
    ([0, 0, 255], [False] * 3, [], False)])                        # no levels
def test_flags_are_at_the_levels_where_the_unflagged_pixels_hold_those(values, flags, levels,
                                                                       expected):
    assert model.held_by_levels(np.array(values, float), np.array(flags, bool),
                                np.array(levels, float)) == expected


def test_without_flags_the_levels_are_read_over_every_pixel():
    # random-valued impulses may hide a picture's levels under the flags (§1.5)
    values, levels = np.array([0.0, 0.0, 255.0, 7.0, 9.0]), np.array([0.0, 255.0])
    assert model.held_by_levels(values, None, levels)
    assert not model.held_by_levels(values, np.array([True, True, True, False, False]), levels)


def _two_level_picture(name):
    """A picture of two levels, 0 and 255: a silhouette, a binarised page of text, a
    code of 6x6 modules."""
    if name == "code":
        modules = np.random.default_rng(5).random((29, 29)) > 0.5
        shape = np.kron(modules, np.ones((6, 6), bool))
    else:
        shape = ~data.horse() if name == "horse" else data.text() > 100
    return shape.astype(np.uint8) * 255


@pytest.mark.parametrize("name", ["horse", "text", "code"])
@pytest.mark.parametrize("preset", ["quality", "realtime"])
def test_two_level_pictures_come_back_unchanged(name, preset):
    # every edge pixel is an extreme far from its window's median, at the values
    # salt and pepper would take: the picture's own levels are no impulses
    picture = _two_level_picture(name)
    assert crcx.estimate_noise(picture).impulse_kind == "none"
    np.testing.assert_array_equal(crcx.crc_median(picture, preset=preset), picture)


def test_salt_and_pepper_on_a_two_level_picture_goes_and_its_outline_stays():
    clean = _two_level_picture("horse")
    rng = np.random.default_rng(11)
    hit = rng.random(clean.shape) < 0.01
    noisy = np.where(hit, rng.choice(np.array([0, 255], np.uint8), clean.shape), clean)
    visible = noisy != clean
    assert crcx.estimate_noise(noisy).impulse_kind == "fixed-valued"
    out = crcx.crc_median(noisy)
    # the impulses go, and of the outline only the few pixels that differ from their
    # window's majority as impulses do (48 here, for 628 impulses)
    changed = out != clean
    assert np.count_nonzero(changed & visible) <= 0.05 * np.count_nonzero(visible)
    assert np.count_nonzero(changed & ~visible) <= 0.1 * np.count_nonzero(visible)


@pytest.mark.slow
def test_salt_and_pepper_on_a_two_level_picture_matches_the_reference():
    clean = _two_level_picture("horse")[150:190, 100:140]
    rng = np.random.default_rng(12)
    noisy = np.where(rng.random(clean.shape) < 0.03,
                     rng.choice(np.array([0, 255], np.uint8), clean.shape), clean)
    found = _flags_as_the_reference(noisy)
    assert np.count_nonzero(found & (noisy != clean)) >= 0.9 * np.count_nonzero(noisy != clean)


@pytest.mark.parametrize("at, at_near, near, pixels, expected", [
    (100, 95, 400, 1000, True),    # 5 % of the value's pixels lack one, 60 % of all
    (100, 85, 400, 1000, True),    # 15 % against 60 %: CLIPPED, 0.25
    (100, 60, 400, 1000, False),   # 40 %: as often as where impulses would fall
    (100, 0, 0, 1000, False),      # no intermediate value near it: an exact level
    (0, 0, 400, 1000, False)])     # no pixel at the value
def test_noise_is_clipped_where_a_values_pixels_lie_beside_its_noise(at, at_near, near, pixels,
                                                                    expected):
    assert model.clipped(at, at_near, near, pixels) == expected


def _clipped_gaussian(clean, sigma, seed):
    noise = np.random.default_rng(seed).normal(0.0, sigma, clean.shape)
    return np.clip(np.round(clean + noise), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("preset", ["quality", "realtime"])
def test_a_two_level_picture_under_clipped_noise_is_no_salt_and_pepper(preset):
    # Gaussian noise of sigma 5, clipped, puts half of each level at 0 or 255, where
    # salt and pepper would be: the flags of §1.1 held 56 % of the code, whose output
    # lost 23 dB to its input
    clean = _two_level_picture("code")
    noisy = _clipped_gaussian(clean, 5.0, seed=21)
    assert crcx.estimate_noise(noisy).impulse_kind == "none"
    assert _mse(clean, crcx.crc_median(noisy, preset=preset)) < _mse(clean, noisy)


def _poisson(clean, peak, seed):
    photons = np.random.default_rng(seed).poisson(clean * (peak / 255.0))
    return np.clip(np.round(photons * (255.0 / peak)), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("name, seed", [("text", 1508), ("code", 4508)])
@pytest.mark.parametrize("preset", ["quality", "realtime"])
def test_an_exact_black_under_poisson_noise_is_no_pepper(name, seed, preset):
    # Poisson noise leaves black at 0: the ends and corners of the strokes were
    # flagged as pepper (the flags' values fixed, the isolated pixels' not), and
    # the outputs lost 10-16 dB to their inputs (benchmarks/levels.py's draws)
    clean = _two_level_picture(name)
    noisy = _poisson(clean, 1000.0, seed)
    assert _mse(clean, crcx.crc_median(noisy, preset=preset)) < _mse(clean, noisy)


@pytest.mark.slow
def test_flags_of_an_exact_black_match_the_reference(monkeypatch):
    # on this crop the flags' values are fixed and the isolated pixels' are not:
    # without the rule (every share of flags crowded) 362 strokes' pixels are flags
    noisy = _poisson(_two_level_picture("text")[:36, :36], 1000.0, seed=3)
    assert not _flags_as_the_reference(noisy).any()
    monkeypatch.setattr(pipeline, "CROWDED_FLAGS", 0.0)
    monkeypatch.setattr(reference, "CROWDED_FLAGS", 0.0)
    assert _flags_as_the_reference(noisy).any()


@pytest.mark.slow
def test_flags_of_clipped_noise_match_the_reference():
    # a code of 100 and 255 under Gaussian noise of sigma 3, clipped at 255, and 3 %
    # of pepper: the clipping test clears the white's noise (401 flags without it)
    # and the pepper stays flagged
    rng = np.random.default_rng(22)
    clean = np.where(_two_level_picture("code")[:36, :36] > 0, 255.0, 100.0)
    noisy = np.clip(np.round(clean + rng.normal(0.0, 3.0, clean.shape)), 0, 255)
    pepper = rng.random(clean.shape) < 0.03
    noisy = np.where(pepper, 0, noisy).astype(np.uint8)
    np.testing.assert_array_equal(_flags_as_the_reference(noisy), pepper)


def test_pepper_on_a_dark_picture_is_no_clipped_noise():
    # pepper on a dark ramp (3 to 11 and noise) lies beside values within the floor
    # of 0, but the picture's other pixels do as often: the impulses stay flagged
    rng = np.random.default_rng(23)
    ramp = np.repeat(np.round(np.linspace(3.0, 11.0, 128))[None, :], 128, axis=0)
    clean = _clipped_gaussian(ramp, 1.0, seed=24)
    hit = rng.random(clean.shape) < 0.1
    noisy = np.where(hit, rng.choice(np.array([0, 255], np.uint8), clean.shape), clean)
    impulses = noisy != clean
    _, flags = crcx.crc_map(noisy, return_impulses=True)
    assert np.count_nonzero(flags & impulses) >= 0.9 * np.count_nonzero(impulses)


@pytest.mark.parametrize("candidates, flagged, expected", [
    ([20] * 8 + [235] * 8, [], [20, 235]),                       # none of them flagged
    ([20] * 8 + [235] * 8, [20] * 6 + [235] * 5, [20, 235]),     # 11 of 16: FLAGS_MISS
    ([20] * 8 + [235] * 8, [20] * 6 + [235] * 6, []),            # 12 of 16
    ([20] * 8 + [235] * 3, [235] * 3, [20]),                     # 235 too rare a value
    ([20] * 4 + [235] * 4, [], [])])                             # too few to be fixed
def test_the_flags_miss_impulse_values_they_hold_under_a_share_of(candidates, flagged,
                                                                  expected):
    found = model.values_the_flags_miss(np.array(candidates, float),
                                        np.array(flagged, float))
    np.testing.assert_array_equal(np.sort(found), expected)


def _off_level_salt_and_pepper(clean, density, seed):
    rng = np.random.default_rng(seed)
    values = rng.choice(np.array([20, 235], np.uint8), clean.shape)
    return np.where(rng.random(clean.shape) < density, values, clean)


def test_salt_and_pepper_between_a_pictures_levels_is_found():
    # impulses at 20 and 235 on a picture of 0 and 255 are no extreme of their
    # windows, while the picture's own pixels are: the flags held the code's own
    # pixels and missed the impulses (benchmarks/levels.py: 4.7 dB from 13.7)
    clean = _two_level_picture("code")
    noisy = _off_level_salt_and_pepper(clean, 0.1, seed=25)
    assert crcx.estimate_noise(noisy).impulse_kind == "fixed-valued"
    better_median = min(_mse(clean, ndi.median_filter(noisy, k)) for k in (3, 5))
    assert _mse(clean, crcx.crc_median(noisy)) < better_median


@pytest.mark.slow
def test_salt_and_pepper_between_a_pictures_levels_matches_the_reference():
    clean = _two_level_picture("code")[:36, :36]
    noisy = _off_level_salt_and_pepper(clean, 0.1, seed=26)
    found = _flags_as_the_reference(noisy)
    impulses = noisy != clean
    assert np.count_nonzero(found & impulses) >= 0.9 * np.count_nonzero(impulses)


def test_very_dense_salt_and_pepper_on_a_picture_framed_in_black_keeps_the_flags():
    # black holds most unflagged pixels, as on a two-level picture, but under 70 % the
    # majority window's median is often an impulse's value: the flags of §1.3 stay
    # (without LEVELS_MAJORITY the error was 0.69 of the median's)
    clean = np.zeros((224, 224), np.uint8)
    clean[48:176, 48:176] = data.camera()[::4, ::4]
    rng = np.random.default_rng(12)
    noisy = np.where(rng.random(clean.shape) < 0.7,
                     rng.choice(np.array([0, 255], np.uint8), clean.shape), clean)
    better_median = min(_mse(clean, ndi.median_filter(noisy, k)) for k in (3, 5))
    assert _mse(clean, crcx.crc_median(noisy)) < 0.25 * better_median


def _random_valued(clean, density, seed):
    rng = np.random.default_rng(seed)
    values = rng.integers(0, 256, clean.shape).astype(clean.dtype)
    return np.where(rng.random(clean.shape) < density, values, clean)


@pytest.mark.parametrize("name, density, seed", [("text", 0.1, 13), ("code", 0.3, 26)])
@pytest.mark.parametrize("preset", ["quality", "realtime"])
def test_random_valued_impulses_on_a_two_level_picture_beat_the_median(name, density, seed,
                                                                        preset):
    # the flags far from A_amf would be the picture's edges: only the pixels that
    # stand out of their repaired neighbours are impulses. Under 30 % the adaptive
    # median flags most of the code, whose levels then held 0.19 of the pixels left
    # (and it lost 2.8 dB to its input): the levels are read over every pixel
    clean = _two_level_picture(name)
    noisy = _random_valued(clean, density, seed)
    assert crcx.estimate_noise(noisy).impulse_kind == "random-valued"
    assert _mse(clean, crcx.crc_median(noisy, preset=preset)) < min(
        _mse(clean, crcx.median(noisy, k)) for k in (3, 5))


@pytest.mark.slow
@pytest.mark.parametrize("name, crop, density, seed, s_max, clean_share", [
    ("horse", np.s_[160:192, 110:142], 0.1, 14, 5, 0.0),
    # windows up to 13 flag 65 % of the code's clean pixels where its levels are read
    # among the unflagged pixels; a clean pixel in a hundred may stand out of its
    # neighbours among 30 % of impulses
    ("code", np.s_[:36, :36], 0.3, 26, 13, 0.01)])
def test_random_valued_impulses_on_a_two_level_picture_match_the_reference(
        name, crop, density, seed, s_max, clean_share):
    clean = _two_level_picture(name)[crop]
    noisy = _random_valued(clean, density, seed)
    found = _flags_as_the_reference(noisy, s_max)
    assert found[noisy == clean].mean() <= clean_share


def test_the_dct_estimate_lowers_the_error_of_gaussian_noise():
    # §3: the average of two estimates whose errors differ beats the non-local mean
    clean = _camera()
    noisy = np.clip(clean + np.random.default_rng(8).normal(0.0, 10.0, clean.shape), 0, 255)
    without = _mse(clean, crcx.crc_median(noisy, dct=0))
    assert _mse(clean, crcx.crc_median(noisy)) < 0.9 * without
    # where sigma^2 is 0, D is J, which the non-local mean keeps too
    np.testing.assert_array_equal(crcx.crc_median(noisy, noise=0.0),
                                  crcx.crc_median(noisy, noise=0.0, dct=0))


def test_the_dct_estimate_does_not_ring_at_sharp_edges():
    # §3: squares across an edge keep many coefficients and weigh little; averaged
    # evenly, their ringing made this piecewise-constant picture worse than without D
    clean = np.round(transform.resize(data.shepp_logan_phantom(), (128, 128),
                                      anti_aliasing=False) * 255)
    noisy = clean + np.random.default_rng(0).normal(0.0, 15.0, clean.shape)
    without = _mse(clean, crcx.crc_median(noisy, dct=0))
    assert _mse(clean, crcx.crc_median(noisy)) < 0.9 * without


@pytest.mark.parametrize("shape, mode, kwargs", [
    ((21, 26), "reflect", {}), ((19, 17), "constant", {"dct": 5, "dct_threshold": 1.5}),
    ((3, 10, 12), "wrap", {}), ((10, 9, 3), "mirror", {"channel_axis": -1})])
def test_the_dct_estimate_matches_the_reference(shape, mode, kwargs):
    # squares larger than the plane, volumes slice by slice, a constant border
    rng = np.random.default_rng(10)
    ramp = np.add.outer(np.arange(shape[0]), np.arange(shape[1]))[..., None] * 5.0
    image = np.clip(ramp.reshape(shape[:2] + (1,) * (len(shape) - 2)) + 40
                    + rng.normal(0.0, 8.0, shape), 0, 255).astype(np.uint8)
    kwargs = dict(mode=mode, cval=9.0, s_max=5, search=1, noise=6.0, **kwargs)
    expected = reference.crc_median(image, output=np.float64, **kwargs)
    assert_agrees(crcx.crc_median(image, output=np.float64, **kwargs), expected, 255.0)
    assert not np.allclose(expected, reference.crc_median(
        image, output=np.float64, **{**kwargs, "dct": 0}), rtol=0, atol=0.5)


def test_texture_does_not_read_as_noise():
    # the plain fit reads about 10 grey levels of noise in this clean texture (§2)
    _, variance = crcx.crc_map(data.grass()[:128, :128], return_variance=True)
    assert np.sqrt(variance.mean()) < 2.0
    y, x = np.mgrid[:128, :128]
    smooth = 50.0 + x + 30.0 * ((x - 64) ** 2 + (y - 60) ** 2 < 900)
    noisy = smooth + np.random.default_rng(2).normal(0.0, 10.0, smooth.shape)
    _, variance = crcx.crc_map(noisy, return_variance=True)
    assert np.sqrt(variance.mean()) == pytest.approx(10.0, rel=0.05)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fine_texture_under_light_noise_reads_near_the_noise(seed):
    # the weak-texture passes go on until the level settles (§2): three passes stopped
    # inside grass and read sigma 2.6-2.8 for noise of sigma 1 (1.04 once rounded);
    # settled they read 1.2-1.9 on these seeds
    grass = data.grass()
    noise = np.random.default_rng(seed).normal(0.0, 1.0, grass.shape)
    noisy = np.clip(np.rint(grass + noise), 0, 255).astype(np.uint8)
    estimate = crcx.estimate_noise(noisy)
    assert np.sqrt(estimate.variance + estimate.gain * noisy.mean()) < 2.0


def test_dense_random_valued_impulses_need_the_settling_passes():
    # At 40 % the missed impulses of a cube vouch for each other at rank 3 (§1.5): the
    # growing rank and the passes until settled take them, where the median cannot
    clean = data.moon()[::2, ::2]
    rng = np.random.default_rng(5)
    hit = rng.random(clean.shape) < 0.4
    noisy = np.where(hit, rng.integers(0, 256, clean.shape), clean).astype(np.uint8)
    better_median = min(_mse(clean, ndi.median_filter(noisy, k)) for k in (3, 5))
    assert _mse(clean, crcx.crc_median(noisy)) < 0.8 * better_median


@pytest.mark.parametrize("picture, mode, density", [
    ("ramp", "reflect", 0.15), ("ramp", "constant", 0.15), ("ramp", "reflect", 0.4),
    ("steep ramps", "reflect", 0.2)])
def test_random_valued_impulses_match_the_reference(picture, mode, density):
    # at 40 % the final passes compare with a rank above 3 and run until they settle;
    # on the steep ramps they read the neighbours less a plane's slopes
    if picture == "ramp":
        rng = np.random.default_rng(4)
        clean = np.add.outer(np.arange(18.0), np.arange(20.0)) * 6
        hit = rng.random(clean.shape) < density
        noisy = np.where(hit, rng.integers(0, 256, clean.shape), clean).astype(np.uint8)
    else:
        _, noisy, hit = _random_valued_on_steep_ramps((30, 32), density)
    kwargs = dict(mode=mode, s_max=5, search=1)
    _, impulses = crcx.crc_map(noisy, return_impulses=True, **kwargs)
    _, expected = reference.crc_map(noisy, return_impulses=True, **kwargs)
    np.testing.assert_array_equal(impulses, expected)
    assert impulses[hit].mean() > 0.5
    assert_agrees(crcx.crc_median(noisy, output=np.float64, **kwargs),
                  reference.crc_median(noisy, output=np.float64, **kwargs), 255.0)


@pytest.mark.parametrize("mode", ["reflect", "constant"])
def test_dark_clipped_noise_matches_the_reference(mode):
    # Most windows there hold more 0s than anything else: the adaptive median grows
    # them and selects among the values between the extremes (docs/algorithm.md §1.1).
    rng = np.random.default_rng(5)
    image = np.clip(rng.normal(4.0, 10.0, (20, 22)), 0, 255).astype(np.uint8)
    image[5:9, 5:15] = 200
    kwargs = dict(mode=mode, s_max=9, search=1)
    _, impulses = crcx.crc_map(image, return_impulses=True, **kwargs)
    _, expected = reference.crc_map(image, return_impulses=True, **kwargs)
    np.testing.assert_array_equal(impulses, expected)
    assert_agrees(crcx.crc_median(image, output=np.float64, **kwargs),
                  reference.crc_median(image, output=np.float64, **kwargs), 255.0)
    # the plain adaptive median's output, with nothing after it: its medians exactly
    plain = dict(mode=mode, s_max=9, impulses="hwang-haddad", base="median", size=1,
                 gain="none")
    np.testing.assert_array_equal(crcx.crc_median(image, **plain),
                                  reference.crc_median(image, **plain))


@pytest.mark.parametrize("mode, shape", [(mode, (24, 24)) for mode in MODES]
                         + [pytest.param("reflect", (4, 16, 16), marks=pytest.mark.slow),
                            pytest.param("constant", (4, 16, 16), marks=pytest.mark.slow)],
                         ids=[f"2d-{mode}" for mode in MODES] + ["3d-reflect", "3d-constant"])
def test_the_excess_rule_matches_the_reference(mode, shape):
    _, noisy = _phantom(shape[-1], 0.5, seed=1)
    if len(shape) == 3:
        noisy = np.stack([np.roll(noisy, k, axis=1) for k in range(shape[0])])
    kwargs = dict(mode=mode, cval=255.0, s_max=5 if len(shape) == 3 else 7,
                  search=1 if len(shape) == 2 else 0)
    _, _, impulses = crcx.crc_map(noisy, return_direction=True, return_impulses=True,
                                  **kwargs)
    _, _, without = crcx.crc_map(noisy, return_direction=True, return_impulses=True,
                                 excess=0, **kwargs)
    assert np.any(without & ~impulses)
    _, _, expected = reference.crc_map(noisy, return_direction=True, return_impulses=True,
                                       **kwargs)
    np.testing.assert_array_equal(impulses, expected)
    assert_agrees(crcx.crc_median(noisy, output=np.float64, **kwargs),
                  reference.crc_median(noisy, output=np.float64, **kwargs), 255.0)


@pytest.mark.parametrize("mode", ["reflect", "mirror", "nearest", "wrap"])
@pytest.mark.parametrize("transform", [np.flipud, np.fliplr, np.transpose],
                         ids=["flipud", "fliplr", "transpose"])
def test_flips_and_transposes_commute_with_the_filter(mode, transform):
    # The default gain uses no lag set, which is the one part of the filter that is
    # not symmetric (it holds half the neighbourhood).
    rng = np.random.default_rng(4)
    image = np.clip(rng.normal(120, 30, (24, 24)), 0, 255)
    image[rng.random(image.shape) < 0.1] = 255
    image = image.astype(np.float64)
    direct = transform(crcx.crc_median(image, mode=mode))
    transformed = crcx.crc_median(transform(image), mode=mode)
    assert_agrees(transformed, direct, 255.0)


def _compiled_renyi(counts, tau=0.5):
    """The compiled Rényi correlation of pairs whose bins x bins table is `counts`.

    One output pixel, the x values its window and the y values one lag beyond: the
    kernel takes any window and lag as flat offsets.
    """
    bins = counts.shape[0]
    levels = {2: [-1.0, 1.0], 3: [-1.0, 0.0, 1.0], 4: [-1.0, -0.1, 0.1, 1.0]}[bins]
    pairs = [(levels[a], levels[b]) for (a, b), c in np.ndenumerate(counts) for _ in range(c)]
    x, y = np.array(pairs).T
    n = len(x)
    best, direction = np.empty((1, 1, 1)), np.empty((1, 1, 1), np.int16)
    _stages.correlation_map(np.concatenate([x, y]).reshape(1, 1, 2 * n), (0, 0, 0),
                         np.array([n], np.intp), np.arange(n, dtype=np.intp), 0.0,
                         model.TIE, True, bins, tau, best, direction, 1)
    return best[0, 0, 0], (x, y)


@pytest.mark.parametrize("bins", [2, 3, 4])
def test_renyi_of_independent_pairs_is_zero(bins):
    # A table that is the product of its marginals: rho is 0. Taken as the square root
    # of the second eigenvalue of Q Q^T, next to 1, the rounding of 1e-16 came out up
    # to 1e-8, above TIE, where the reference's SVD gives 1e-17: [[2, 8], [3, 12]] of
    # a 5x5 window was one.
    rng = np.random.default_rng(31)
    tried = 0
    for n in (25, 49):
        for _ in range(60):
            rows = rng.multinomial(n // 5 if n == 25 else n // 7, np.ones(bins) / bins)
            columns = rng.multinomial(5 if n == 25 else 7, np.ones(bins) / bins)
            if np.count_nonzero(rows) < 2 or np.count_nonzero(columns) < 2:
                continue
            tried += 1
            assert _compiled_renyi(np.outer(rows, columns))[0] == 0.0
    assert tried > 50


@pytest.mark.parametrize("bins", [2, 3, 4])
def test_renyi_of_any_table_matches_the_reference(bins):
    rng = np.random.default_rng(32)
    for n in (9, 25, 49):
        for _ in range(100):
            counts = rng.multinomial(n, rng.dirichlet(np.ones(bins * bins))).reshape(bins, bins)
            compiled, (x, y) = _compiled_renyi(counts)
            assert_agrees(compiled, reference._renyi(x, y, bins, 0.5), 1.0)


@pytest.mark.parametrize("kwargs", [{}, {"correlation": "renyi", "gain": "wiener+crc"},
                                    {"preset": "realtime", "sample": 1024}])
def test_thread_counts_agree(kwargs):
    rng = np.random.default_rng(5)
    image = np.clip(rng.normal(120, 25, (3, 40, 48)), 0, 255).astype(np.uint8)
    one = crcx.crc_median(image, n_threads=1, channel_axis=0, **kwargs)
    two = crcx.crc_median(image, n_threads=2, channel_axis=0, **kwargs)
    np.testing.assert_array_equal(one, two)
    np.testing.assert_array_equal(crcx.crc_map(image[0], n_threads=1, **kwargs),
                                  crcx.crc_map(image[0], n_threads=2, **kwargs))


def test_thread_counts_agree_with_random_valued_impulses():
    # every stage of §1.5's random-valued passes runs, each thread with its own slopes
    _, noisy, _ = _random_valued_on_steep_ramps((128, 128), 0.2)
    assert crcx.estimate_noise(noisy).impulse_kind == "random-valued"
    one = crcx.crc_median(noisy, n_threads=1)
    for _ in range(3):
        np.testing.assert_array_equal(crcx.crc_median(noisy, n_threads=2), one)


def test_the_input_is_never_modified():
    image = np.random.default_rng(6).integers(0, 256, (12, 12), dtype=np.uint8)
    before = image.copy()
    crcx.crc_median(image, output=image.copy())
    crcx.crc_map(image)
    np.testing.assert_array_equal(image, before)


@pytest.mark.parametrize("shape, dtype, kwargs", [
    ((12, 12), np.uint8, {}), ((12, 12), np.float64, {}),
    ((12, 12), np.uint8, {"preset": "realtime"}),
    ((12, 3, 12), np.float64, {"channel_axis": 1, "preset": "realtime"}),
    ((12, 12, 3), np.uint16, {"channel_axis": -1})])
def test_output_may_be_the_image_itself(shape, dtype, kwargs):
    # planes are written into the output as they are restored: none may be read
    # from the image after an earlier one was written there
    image = np.random.default_rng(7).integers(0, 256, shape).astype(dtype)
    expected = crcx.crc_median(image, **kwargs)
    assert crcx.crc_median(image, output=image, **kwargs) is image
    np.testing.assert_array_equal(image, expected)


@pytest.mark.parametrize("kwargs", [{}, {"preset": "realtime"}, {"gain": "wiener+crc"}])
def test_every_output_dtype_and_layout_holds_the_float64_result_rounded(kwargs):
    # the restoration writes some dtypes itself, in any layout, and leaves the rest
    # to NumPy: both must round half to even and clip as §6 says
    rng = np.random.default_rng(10)
    ramp = np.broadcast_to(np.linspace(-400.0, 600.0, 22), (20, 22))
    image = np.stack([ramp + rng.normal(0.0, 20.0, ramp.shape) for _ in range(2)], axis=-1)
    exact = crcx.crc_median(image, channel_axis=-1, output=np.float64, **kwargs)
    assert exact.min() < -128 and exact.max() > 255     # every clip below is tested
    for dtype in (np.uint8, np.int8, np.uint16, np.int16, np.int32, np.uint32, np.int64,
                  np.uint64, np.float32, bool):
        if np.dtype(dtype).kind == "f":
            expected = exact.astype(dtype)
        else:
            low, high = ((0, 1) if np.dtype(dtype).kind == "b"
                         else (np.iinfo(dtype).min, np.iinfo(dtype).max))
            expected = np.clip(np.rint(exact), low, high).astype(dtype)
        np.testing.assert_array_equal(
            crcx.crc_median(image, channel_axis=-1, output=dtype, **kwargs), expected)
        for layout in (np.empty((20, 44, 2), dtype)[:, ::2],
                       np.empty((2, 22, 20), dtype).T[::-1, ::-1, ::-1],
                       np.empty((20, 22, 2), dtype, order="F")):
            assert crcx.crc_median(image, channel_axis=-1, output=layout, **kwargs) is layout
            np.testing.assert_array_equal(layout, expected)


@pytest.mark.parametrize("dtype", [np.uint64, np.int64])
@pytest.mark.parametrize("preset", ["quality", "realtime"])
def test_the_largest_64_bit_integers_stay_near_the_top_of_their_range(dtype, preset):
    # their float64 results round up to 2**64 (2**63), which no cast may wrap
    top = int(np.iinfo(dtype).max)
    image = np.full((16, 16), top - 1000, dtype)
    image[5, 5] = top
    out = crcx.crc_median(image, preset=preset)
    assert out.dtype == dtype and (out >= top - 4096).all()


def test_identical_channels_are_filtered_as_their_grey_image():
    # Joint weights average the channels' distances; for equal channels that mean is
    # each channel's own distance, so colour changes nothing but the rounding.
    grey = np.random.default_rng(8).normal(100.0, 20.0, (24, 24))
    colour = crcx.crc_median(np.stack([grey] * 3, axis=-1), channel_axis=-1)
    for c in range(3):
        assert_agrees(colour[..., c], crcx.crc_median(grey), _range(grey))


def test_channels_filtered_apart_are_each_the_plane_filtered_alone():
    rng = np.random.default_rng(9)
    ramp = np.add.outer(np.arange(20.0), np.arange(22.0))[..., None] * [3.0, 5.0, 7.0]
    rgb = np.clip(ramp + rng.normal(0.0, 10.0, ramp.shape), 0, 255).astype(np.uint8)
    apart = crcx.crc_median(rgb, channel_axis=-1, joint_channels=False)
    for c in range(3):
        np.testing.assert_array_equal(apart[..., c], crcx.crc_median(rgb[..., c]))
    assert not np.array_equal(apart, crcx.crc_median(rgb, channel_axis=-1))


@pytest.mark.parametrize("kwargs, error, name", [
    ({"correlation": "spearman"}, ValueError, "correlation"),
    ({"bins": 5}, ValueError, "bins"),
    ({"window": 4}, ValueError, "window"),
    ({"s_max": 2}, ValueError, "s_max"),
    ({"mode": "foo"}, ValueError, "mode"),
    ({"channel_axis": 3}, ValueError, "channel_axis"),
    ({"n_threads": 0}, ValueError, "n_threads"),
    ({"noise": -1.0}, ValueError, "noise"),
    ({"excess": -1.0}, ValueError, "excess"),
    ({"sparse_kappa": -1.0}, ValueError, "sparse_kappa"),
    ({"isolation": 1.5}, ValueError, "isolation"),
    ({"window": 257}, ValueError, "window"),
    ({"s_max": 10 ** 4 + 1}, ValueError, "s_max"),
    ({"patch": 301}, ValueError, "patch"),
    ({"search": True}, ValueError, "search"),
    ({"search": 200}, ValueError, "search"),
    ({"kappa": True}, ValueError, "kappa"),
    ({"h": float("inf")}, ValueError, "h"),
    ({"majority_density": float("nan")}, ValueError, "majority_density"),
    ({"gain": "magic"}, ValueError, "gain"),
    ({"passes": 3}, ValueError, "passes"),
    ({"passes": True}, ValueError, "passes"),
    ({"pilot_h": 0.0}, ValueError, "pilot_h"),
    ({"joint_channels": "yes"}, ValueError, "joint_channels"),
    ({"t0": 0.5, "t1": 0.5}, ValueError, "t1"),
    ({"size": 0}, ValueError, "size"),
])
@pytest.mark.parametrize("function", [crcx.crc_median, crcx.crc_map, reference.crc_median],
                         ids=["crc_median", "crc_map", "reference"])
def test_bad_arguments_are_named(function, kwargs, error, name):
    with pytest.raises(error, match=name):
        function(np.zeros((8, 8, 3), np.uint8), **kwargs)


@pytest.mark.parametrize("image", [np.zeros(5), np.zeros((2, 3, 4, 5)),
                                   np.zeros((4, 4), np.complex128)])
def test_unsupported_images_raise(image):
    with pytest.raises((TypeError, ValueError)):
        crcx.crc_median(image)


def test_an_unknown_keyword_is_a_type_error():
    with pytest.raises(TypeError):
        crcx.crc_median(np.zeros((8, 8)), windw=5)


@pytest.mark.parametrize("name", ["crc_median", "crc_map", "estimate_noise"])
def test_compiled_and_reference_share_their_signature(name):
    assert (inspect.signature(getattr(crcx, name))
            == inspect.signature(getattr(reference, name)))


@st.composite
def binned(draw):
    """A bin count and bin indices below it."""
    n_bins = draw(st.integers(1, 9))
    return n_bins, draw(hnp.arrays(np.intp, st.integers(0, 300),
                                   elements=st.integers(0, n_bins - 1)))


@given(binned(), st.integers(0, 2 ** 32 - 1))
def test_samples_by_bin_matches_the_reference(case, seed):
    n_bins, bins = case
    level = np.arange(bins.size, dtype=np.float64)
    # few distinct values, so that bins hold ties, as quantised images give
    laplacian = np.random.default_rng(seed).integers(0, 6, bins.size) * 0.75
    compiled = _stages.samples_by_bin(bins, n_bins, level, laplacian)
    expected = model.samples_by_bin(bins, n_bins, level, laplacian)
    assert len(compiled) == len(expected) == n_bins
    for (x, median), (ex, expected_median) in zip(compiled, expected):
        np.testing.assert_array_equal(x, ex)
        assert median == expected_median or (np.isnan(median) and np.isnan(expected_median))


# --- crcx.estimate_noise ---------------------------------------------------------------

def _ramp(shape=(96, 96)):
    return np.broadcast_to(np.linspace(30.0, 220.0, shape[1]), shape).copy()


@pytest.mark.parametrize("noise, kind", [
    ("clean", "none"), ("gaussian", "none"), ("hot", "fixed-valued"),
    ("salt-and-pepper", "fixed-valued"), ("random-valued", "random-valued")])
def test_estimate_noise_names_the_kind_of_impulses(noise, kind):
    rng = np.random.default_rng(6)
    image = _ramp()
    if noise != "clean":
        image += rng.normal(0.0, 3.0, image.shape)
    hit = rng.random(image.shape) < {"hot": 0.004, "salt-and-pepper": 0.2,
                                     "random-valued": 0.1}.get(noise, 0.0)
    values = {"hot": np.full(image.shape, 255.0),
              "salt-and-pepper": np.where(rng.random(image.shape) < 0.5, 0.0, 255.0)}.get(
        noise, rng.integers(0, 256, image.shape))
    image = np.where(hit, values, image)
    found = crcx.estimate_noise(image)
    assert found.impulse_kind == kind
    assert (found.impulse_density > 0) == (kind != "none")


def test_estimate_noise_fits_gaussian_and_poisson_noise():
    rng = np.random.default_rng(7)
    gaussian = crcx.estimate_noise(_ramp((160, 160)) + rng.normal(0.0, 6.0, (160, 160)))
    assert np.sqrt(gaussian.variance) == pytest.approx(6.0, rel=0.05) and gaussian.gain < 0.02
    peak = 30.0                          # photons at 255: variance = intensity 255 / peak
    poisson = crcx.estimate_noise(rng.poisson(_ramp((160, 160)) * peak / 255) * 255 / peak)
    # within 15 % over the ramp's range: each intensity bin of the fit spans 24 grey
    # levels, which at the dark end is 80 % of the intensity
    intensity = np.linspace(30.0, 220.0, 9)
    np.testing.assert_allclose(poisson.variance + poisson.gain * intensity,
                               intensity * 255 / peak, rtol=0.15)


def test_estimate_noise_is_the_model_the_filter_uses():
    image = _ramp() + np.random.default_rng(8).normal(0.0, 4.0, (96, 96))
    found = crcx.estimate_noise(image)
    _, variance = crcx.crc_map(image, return_variance=True)
    median = crcx.median(image, 5)
    np.testing.assert_allclose(variance, found.variance + found.gain * np.maximum(median, 0))


@pytest.mark.parametrize("mode", ["reflect", "constant"])
def test_estimate_noise_matches_the_reference(mode):
    rng = np.random.default_rng(9)
    image = _ramp((14, 16)) + rng.normal(0.0, 2.0, (14, 16))
    hit = rng.random(image.shape) < 0.1
    image = np.stack([np.where(hit, rng.integers(0, 256, image.shape), image), image], -1)
    compiled = crcx.estimate_noise(image, channel_axis=-1, mode=mode)
    expected = reference.estimate_noise(image, channel_axis=-1, mode=mode)
    assert [f.impulse_kind for f in compiled] == [f.impulse_kind for f in expected]
    for c, e in zip(compiled, expected):
        assert c.impulse_density == e.impulse_density
        assert c.variance == pytest.approx(e.variance, rel=1e-9, abs=1e-9)
        assert c.gain == pytest.approx(e.gain, rel=1e-9, abs=1e-9)


def test_estimate_noise_of_an_empty_image():
    assert crcx.estimate_noise(np.zeros((0, 5))) == crcx.NoiseEstimate(0.0, 0.0, 0.0, "none")
