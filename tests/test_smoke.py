import importlib.metadata

import numpy as np
import scipy.ndimage as ndi

import crcx


def test_median_matches_scipy_on_an_image():
    image = np.random.default_rng(1).integers(0, 256, (64, 80), dtype=np.uint8)
    np.testing.assert_array_equal(crcx.median(image, 5), ndi.median_filter(image, 5))


def test_the_installed_version_is_the_package_version():
    # pyproject.toml reads the version from crcx.__version__: one place to change it
    assert importlib.metadata.version("crcx") == crcx.__version__
