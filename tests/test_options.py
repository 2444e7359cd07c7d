"""crcx.CRCOptions: the options of CRC-MF, defined once and taken by every entry point."""
import ast
import dataclasses
import inspect
import re
from pathlib import Path

import dask.array as da
import numpy as np
import pytest

import crcx
import crcx._apps.cli
import crcx.dask
from crcx import CRCOptions
from crcx._apps.collection import collection_score, denoise_image
from crcx._apps.tuning import tune
from crcx._crc.options import OPTION_NAMES
from crcx.reference import crc as reference

DOCS = Path(__file__).resolve().parents[1] / "docs" / "algorithm.md"
# One value per option that its check refuses.
BAD = {"size": 0, "window": 9.0, "correlation": "spearman", "bins": 1, "s_max": 1,
       "impulses": "median", "sample": -1, "noisy_size": 4, "kappa": -0.5,
       "sparse_kappa": True, "isolation": 2.0,
       "majority": 4, "majority_density": "0.3", "excess": float("nan"),
       "line_density": None, "noise": "poisson", "noise_bins": 1, "base": "mean",
       "search": -1, "patch": 2, "h": 0, "passes": 0, "pilot_h": -1.0, "dct": 1,
       "dct_threshold": -0.5,
       "joint_channels": 1, "gain": "magic", "wiener_c": float("inf"), "t0": "low",
       "t1": 0.05}
# Checked against the image, by the functions that take the options.
CHECKED_WITH_THE_IMAGE = {"size"}


def _noisy(shape=(48, 48), seed=0):
    rng = np.random.default_rng(seed)
    rows, columns = np.indices(shape)
    clean = 60 + 2 * columns + 30 * np.sin(rows / 4)
    noisy = clean + rng.normal(0, 8, shape)
    noisy[rng.random(shape) < 0.05] = 255
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


def _documented_defaults():
    """{name: default} of the table of docs/algorithm.md §9."""
    section = DOCS.read_text().split("## 9. Defaults")[1].split("\n## ")[0]
    documented = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) != 3 or not cells[0].startswith("`"):
            continue
        names = re.findall(r"`(\w+)`", cells[0])
        values = [re.sub(r" \(.*\)$", "", value.strip("` ")) for value in cells[1].split(",")]
        assert len(names) == len(values), line
        documented.update(zip(names, (ast.literal_eval(value) for value in values)))
    return documented


def test_the_defaults_are_those_of_the_documentation():
    documented = _documented_defaults()
    options = CRCOptions()
    assert sorted(documented) == sorted(OPTION_NAMES)
    for name, value in documented.items():
        assert getattr(options, name) == value and type(getattr(options, name)) is type(value)


def test_the_options_are_frozen():
    options = CRCOptions()
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.h = 2.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.extra = 1
    assert options.h == 1.0


def test_replace_makes_a_checked_variant_and_keeps_the_original():
    options = CRCOptions(h=1.25)
    variant = options.replace(passes=1)
    assert (variant.h, variant.passes, options.passes) == (1.25, 1, 2)
    assert variant == CRCOptions(h=1.25, passes=1) and hash(variant) == hash(
        CRCOptions(h=1.25, passes=1))
    with pytest.raises(ValueError, match="^passes: "):
        options.replace(passes=3)


def test_values_are_stored_as_the_annotated_types():
    options = CRCOptions(window=np.int64(5), kappa=3, joint_channels=np.bool_(False),
                         noise=4, size=(3, 5))
    assert type(options.window) is int and type(options.kappa) is float
    assert options.joint_channels is False
    assert options.noise == 4 and options.size == (3, 5)


def test_the_repr_shows_what_differs_from_the_defaults_and_round_trips():
    assert repr(CRCOptions()) == "CRCOptions()"
    options = CRCOptions(h=1.25, gain="crc", joint_channels=False)
    assert repr(options) == "CRCOptions(h=1.25, joint_channels=False, gain='crc')"
    assert eval(repr(options), {"CRCOptions": CRCOptions}) == options


@pytest.mark.parametrize("name", sorted(set(BAD) - CHECKED_WITH_THE_IMAGE))
def test_a_bad_value_is_named(name):
    with pytest.raises(ValueError, match=f"^{name}: "):
        CRCOptions(**{name: BAD[name]})
    with pytest.raises(ValueError, match=f"^{name}: "):
        CRCOptions().replace(**{name: BAD[name]})
    for function in (crcx.crc_median, reference.crc_median):
        with pytest.raises(ValueError, match=f"^{name}: "):
            function(np.zeros((6, 6)), **{name: BAD[name]})


@pytest.mark.parametrize("name", sorted(CHECKED_WITH_THE_IMAGE))
def test_a_bad_value_checked_with_the_image_is_named(name):
    options = CRCOptions(**{name: BAD[name]})
    for function in (crcx.crc_median, reference.crc_median, crcx.estimate_noise):
        with pytest.raises(ValueError, match=f"^{name}: "):
            function(np.zeros((6, 6)), options=options)


def test_every_option_has_a_refused_value():
    assert sorted(BAD) == sorted(OPTION_NAMES)


@pytest.mark.parametrize("function, arguments", [
    (CRCOptions().replace, ()),
    *[(function, (np.zeros((6, 6)),)) for function in (crcx.crc_median, crcx.crc_map,
                                                       crcx.estimate_noise,
                                                       reference.crc_median)]])
def test_an_unknown_option_is_a_type_error_listing_the_options(function, arguments):
    with pytest.raises(TypeError, match=r"'windw'.*'window'"):
        function(*arguments, windw=5)


@pytest.mark.parametrize("options", [{"h": 1.25}, "h=1.25", CRCOptions])
def test_options_must_be_a_crc_options(options):
    with pytest.raises(TypeError, match="^options: expected a CRCOptions"):
        crcx.crc_median(np.zeros((6, 6)), options=options)


def test_options_and_keywords_give_the_same_result_bit_for_bit():
    image = _noisy()
    keywords = crcx.crc_median(image, size=3, noise=5.0, base="median")
    assert not np.array_equal(keywords, crcx.crc_median(image))
    for call in (lambda: crcx.crc_median(image, options=CRCOptions(size=3, noise=5.0,
                                                                    base="median")),
                 lambda: crcx.crc_median(image, 3, options=CRCOptions(noise=5.0),
                                         base="median"),
                 # keywords override the object's fields, the positional size too
                 lambda: crcx.crc_median(image, 3, options=CRCOptions(size=7, noise=1.0,
                                                                       base="median"),
                                         noise=5.0)):
        result = call()
        assert result.dtype == keywords.dtype
        np.testing.assert_array_equal(result, keywords)


def test_crc_map_and_estimate_noise_take_the_options():
    image = _noisy()
    options = CRCOptions(size=3, s_max=7, gain="wiener+crc", correlation="renyi")
    keywords = dict(size=3, s_max=7, gain="wiener+crc", correlation="renyi")
    requests = dict(return_direction=True, return_impulses=True, return_variance=True)
    for given, expected in zip(crcx.crc_map(image, options=options, **requests),
                               crcx.crc_map(image, **keywords, **requests)):
        np.testing.assert_array_equal(given, expected)
    assert crcx.estimate_noise(image, options=options) == crcx.estimate_noise(image, **keywords)
    unflagged = crcx.estimate_noise(image, options=CRCOptions(impulses="none"))
    assert unflagged.impulse_density == 0 < crcx.estimate_noise(image).impulse_density


def test_the_reference_takes_the_same_object():
    image = _noisy((12, 12)).astype(np.float64)
    options = CRCOptions(size=3, search=1, s_max=5, gain="wiener+crc")
    scale = float(image.max() - image.min())
    np.testing.assert_allclose(crcx.crc_median(image, options=options),
                               reference.crc_median(image, options=options),
                               rtol=0, atol=1e-9 * scale)
    np.testing.assert_array_equal(reference.crc_median(image, options=options),
                                  reference.crc_median(image, size=3, search=1, s_max=5,
                                                       gain="wiener+crc"))
    crc, direction = crcx.crc_map(image, options=options, return_direction=True)
    crc_r, direction_r = reference.crc_map(image, options=options, return_direction=True)
    np.testing.assert_allclose(crc, crc_r, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(direction, direction_r)
    found, expected = (f(image, options=options)
                       for f in (crcx.estimate_noise, reference.estimate_noise))
    assert found.impulse_kind == expected.impulse_kind
    assert found.impulse_density == expected.impulse_density
    assert found.variance == pytest.approx(expected.variance, rel=1e-9, abs=1e-12)


def test_dask_takes_the_options():
    image = _noisy((40, 40))
    options = CRCOptions(size=3, passes=1)
    lazy = crcx.dask.crc_median(da.from_array(image, chunks=(20, 20)), options=options,
                                h=1.25)
    np.testing.assert_array_equal(lazy.compute(),
                                  crcx.crc_median(image, options=options, h=1.25, n_threads=1))


@pytest.mark.parametrize("function", [crcx.crc_median, crcx.crc_map, crcx.estimate_noise,
                                      reference.crc_median, reference.crc_map,
                                      reference.estimate_noise, crcx.dask.crc_median])
def test_signatures_and_docstrings_show_every_option(function):
    parameters = inspect.signature(function).parameters
    defaults = CRCOptions()
    for name in OPTION_NAMES:
        assert parameters[name].default == getattr(defaults, name)
    assert parameters["options"].default is None
    if function is not crcx.dask.crc_median:
        doc = inspect.cleandoc(function.__doc__)
        assert "%(options)s" not in doc
        described = re.findall(r"^(\w+(?:, \w+)*) : ", doc, flags=re.M)
        assert set(OPTION_NAMES) <= {name for entry in described for name in entry.split(", ")}


def test_the_options_are_described_once_in_the_class():
    doc = inspect.cleandoc(CRCOptions.__doc__)
    described = [name for entry in re.findall(r"^(\w+(?:, \w+)*) : ", doc, flags=re.M)
                 for name in entry.split(", ")]
    assert described == list(OPTION_NAMES)
    assert inspect.cleandoc(crcx.crc_median.__doc__).count("    Odd side w of the windows") == 1


def test_the_collection_and_the_score_take_the_options():
    image = _noisy((24, 24))
    options = CRCOptions(size=3, h=1.25)
    np.testing.assert_array_equal(denoise_image(image, "crc", options=options),
                                  denoise_image(image, "crc", size=3, h=1.25))
    assert (collection_score([image], options=options)
            == collection_score([image], size=3, h=1.25))


def test_tune_takes_the_options_and_its_best_makes_them():
    image = _noisy()
    grid = {"h": (0.75, 1.25)}
    best, table = tune([image], grid, "crc", options=CRCOptions(passes=1), n_threads=1)
    assert (best, table) == tune([image], grid, "crc", passes=1, n_threads=1)
    assert CRCOptions(passes=1).replace(**best) == CRCOptions(passes=1, h=best["h"])


def test_the_command_line_builds_the_options():
    parser = crcx._apps.cli._build_parser()
    args = parser.parse_args(["denoise", "in.png", "-o", "out", "--window", "5",
                              "--mode", "wrap"])
    options = crcx._apps.cli._filter_options(parser, args, "crc", saved={"window": 3, "h": 1.25})
    # the command line's options take precedence over those saved by crcx tune
    assert options == {"mode": "wrap", "options": CRCOptions(window=5, h=1.25)}
    args = parser.parse_args(["denoise", "in.png", "-o", "out", "--size", "3"])
    assert crcx._apps.cli._filter_options(parser, args, "median", saved={"size": 5}) == {"size": 3}
