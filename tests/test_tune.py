"""crcx._apps.tuning: the Stein and J-invariant losses and the parameter search."""
import inspect
import itertools

import numpy as np
import pytest
from scipy import ndimage as ndi

import crcx
from crcx._apps.collection import METHODS, filter_function
from crcx._apps.io import write_image
from crcx._apps.tuning import DEFAULT_GRIDS, LOSSES, self_supervised_loss, stein_loss, tune

RNG = np.random.default_rng(11)


def _noisy(shape=(20, 23), sigma=20.0):
    return np.clip(100 + RNG.normal(0, sigma, shape), 0, 255).astype(np.uint8)


def _loss_by_definition(image, denoise, stride=4):
    """Batson & Royer's loss written out with scipy: hide, fill, denoise, score."""
    noisy = image.astype(np.float64)
    cross = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]]) / 4.0
    fill = ndi.convolve(noisy, cross, mode="mirror")
    if image.dtype.kind in "iu":
        fill = np.rint(fill)
    total = 0.0
    for row, column in itertools.product(range(stride), repeat=2):
        mask = np.zeros(image.shape, bool)
        mask[row::stride, column::stride] = True
        masked = np.where(mask, fill, noisy).astype(image.dtype)
        total += np.mean((denoise(masked)[mask].astype(np.float64) - noisy[mask]) ** 2)
    return total


@pytest.mark.parametrize("method", sorted(METHODS))
@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
@pytest.mark.parametrize("size", [3, 5])
def test_loss_matches_the_definition(method, dtype, size):
    image = _noisy().astype(dtype)
    function = filter_function(method)
    expected = _loss_by_definition(image, lambda x: function(x, size=size, n_threads=1))
    loss = self_supervised_loss([image], method, size=size, n_threads=1)
    assert loss == pytest.approx(expected, rel=1e-12)


def test_loss_of_the_identity_is_the_interpolation_error(monkeypatch):
    monkeypatch.setitem(METHODS, "identity", ("identity_filter", {"axes": (1, 2)}))
    monkeypatch.setattr(crcx, "identity_filter", lambda image, axes: image.copy(),
                        raising=False)
    image = _noisy((13, 9))
    assert self_supervised_loss([image], "identity", stride=3) == pytest.approx(
        _loss_by_definition(image, lambda x: x, stride=3), rel=1e-12)


def test_loss_sums_over_images_and_averages_over_channels():
    a, b = _noisy(), _noisy((17, 17))
    def loss(images):
        return self_supervised_loss(images, "median", n_threads=1)

    assert loss([a, b]) == pytest.approx(loss([a]) + loss([b]))
    rgb = np.stack([_noisy() for _ in range(3)], axis=-1)
    assert loss([rgb]) == pytest.approx(np.mean([loss([rgb[..., c]]) for c in range(3)]))


@pytest.mark.parametrize("loss", LOSSES)
def test_tune_prefers_a_larger_median_on_strong_gaussian_noise(loss):
    # 64 pixels a side: CRC-MF's noise fit, which the Stein loss uses, needs that many
    best, table = tune([_noisy((64, 64)), _noisy((48, 80))], {"size": (1, 3, 5)}, "median",
                       loss=loss, n_threads=1)
    assert best == {"size": 5}
    assert [row["size"] for row in table] == [1, 3, 5]
    assert table[0]["loss"] > table[1]["loss"] > table[2]["loss"]


def test_the_j_invariant_loss_prefers_no_filter_on_a_clean_textured_image():
    checker = (np.indices((24, 24)).sum(axis=0) % 2 * 200).astype(np.uint8)
    stripes = np.add.outer(np.arange(24) % 3, np.zeros(24, int)).astype(np.uint8) * 90
    best, table = tune([stripes, checker], {"size": (1, 3)}, "median", loss="j-invariant",
                       n_threads=1)
    assert best == {"size": 1}


def _scored(image):
    """The pixels the Stein loss scores: neither impulses nor outliers, by definition."""
    _, impulses, variance = crcx.crc_map(image, return_impulses=True, return_variance=True)
    outlier = np.abs(image - ndi.median_filter(image, size=5, mode="reflect")) > 4 * np.sqrt(
        variance)
    return ~impulses & ~outlier, variance


def test_stein_loss_of_the_identity_is_the_noise_variance(monkeypatch):
    # f(y) = y: no error against y, divergence exactly one, so the estimate is s(p)
    monkeypatch.setitem(METHODS, "identity", ("identity_filter", {"axes": (1, 2)}))
    monkeypatch.setattr(crcx, "identity_filter", lambda image, axes: image.copy(),
                        raising=False)
    image = _noisy((64, 64)).astype(np.float64)
    scored, variance = _scored(image)
    assert scored.mean() > 0.9 and variance.min() > 0
    assert stein_loss([image], "identity") == pytest.approx(variance[scored].mean(), rel=1e-12)


def test_stein_loss_ranks_medians_as_the_true_error_does():
    clean = np.add.outer(np.linspace(40, 200, 128), np.zeros(128))
    noisy = clean + np.random.default_rng(5).normal(0, 20, clean.shape)
    sizes = (1, 3, 5, 7)
    true = [np.mean((crcx.median(noisy, size=k) - clean) ** 2) for k in sizes]
    estimated = [stein_loss([noisy], "median", size=k, n_threads=1) for k in sizes]
    assert np.argsort(estimated).tolist() == np.argsort(true).tolist()


def test_stein_loss_is_reproducible_and_independent_of_threads():
    image = _noisy((64, 64))
    one = stein_loss([image], "median", size=3, n_threads=1)
    assert stein_loss([image], "median", size=3, n_threads=2) == one
    assert stein_loss([image], "median", size=3, seed=1, n_threads=1) != one


def test_stein_tuning_keeps_clean_pixels_under_impulse_noise():
    # Salt and pepper leave most pixels clean; the filter should keep them. Scored by
    # predicting hidden pixels, the J-invariant loss rewards smoothing them instead.
    from skimage import data
    clean = data.coins()[100:196, 100:196]
    rng = np.random.default_rng(3)
    hit = rng.random(clean.shape) < 0.3
    noisy = np.where(hit, np.where(rng.random(clean.shape) < 0.5, 0, 255), clean)
    noisy = noisy.astype(np.uint8)
    # One non-local pass: the guided second pass already keeps these pixels, and
    # then wiener_c changes the error by less than 0.01 (nothing for a loss to find).
    grid = {"wiener_c": (1.0, 3.0), "passes": (1,)}
    error = {c: np.mean((crcx.crc_median(noisy, wiener_c=c, passes=1).astype(float)
                         - clean) ** 2) for c in grid["wiener_c"]}
    oracle = min(error, key=error.get)
    assert error[3.0] > error[1.0] + 1
    assert tune([noisy], grid, "crc", n_threads=1)[0] == {"wiener_c": oracle, "passes": 1}


def test_default_grid_and_table_layout():
    best, table = tune([_noisy()], method="median", n_threads=1)
    assert [row["size"] for row in table] == list(DEFAULT_GRIDS["median"]["size"])
    assert best["size"] == min(table, key=lambda row: row["loss"])["size"]
    assert set(best) == {"size"}


@pytest.mark.parametrize("method", sorted(METHODS))
def test_default_grids_name_parameters_of_the_filter(method):
    parameters = inspect.signature(filter_function(method)).parameters
    assert set(DEFAULT_GRIDS[method]) <= set(parameters)


def test_tune_reads_files_like_arrays(tmp_path):
    images = [_noisy(), _noisy((16, 16))]
    for index, image in enumerate(images):
        write_image(tmp_path / f"{index}.png", image)
    grid = {"size": (3, 5)}
    assert (tune(tmp_path, grid, "median", n_threads=1)
            == tune(images, grid, "median", n_threads=1))


@pytest.mark.parametrize("grid, options, error, message", [
    ([("size", (3, 5))], {}, TypeError, "grid: expected a mapping"),
    ({"size": ()}, {}, ValueError, "grid: no candidate value for 'size'"),
    ({"size": 3}, {}, TypeError, "must be a sequence"),
    ({"mode": "reflect"}, {}, TypeError, "must be a sequence"),
    ({"size": (3,)}, {"size": 5}, TypeError, "also passed as a fixed option"),
    ({"size": (3,)}, {"stride": 1}, ValueError, "stride"),
    ({"size": (3,)}, {"method": "mean"}, ValueError, "method"),
    ({"size": (3,)}, {"axes": (0, 1)}, TypeError, "axes: not accepted"),
    ({"size": (3,)}, {"loss": "l1"}, ValueError, "loss: expected one of"),
])
def test_bad_arguments_name_the_argument(grid, options, error, message):
    options.setdefault("method", "median")
    with pytest.raises(error, match=message):
        tune([_noisy()], grid, **options)


@pytest.mark.parametrize("epsilon", [0, -1.0, "0.3", True])
def test_stein_loss_rejects_a_bad_step(epsilon):
    with pytest.raises(ValueError, match="epsilon"):
        stein_loss([_noisy()], "median", epsilon=epsilon)
