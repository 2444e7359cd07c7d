"""crcx.dask: blockwise filters equal the in-memory ones; file collections on a cluster."""
import re

import dask
import dask.array as da
import numpy as np
import pytest
from distributed import Client, LocalCluster

import crcx.dask
from crcx._apps.collection import METHODS, denoise_collection, filter_function
from crcx._apps.io import partial_files, read_image, write_image

RNG = np.random.default_rng(5)
MODES = ["reflect", "mirror", "nearest", "wrap", "constant"]
CHUNKINGS = [(5, 7), (3, 31), (23, 2)]


@pytest.fixture(autouse=True)
def _synchronous():
    # The scheduler does not change the values; the synchronous one skips thread start-up.
    with dask.config.set(scheduler="synchronous"):
        yield


def _image(shape, dtype=np.uint8):
    return RNG.integers(0, 256, shape).astype(dtype)


def _scene(shape, seed=0):
    """A smooth scene under Gaussian noise and 20 % salt and pepper: every whole-plane
    statistic of CRC-MF is in play (noise fits, impulse density, excess rule)."""
    rng = np.random.default_rng(seed)
    rows, columns = np.indices(shape[:2])
    scene = 60 + 120 * columns / shape[1] + 40 * np.sin(rows / 3)
    scene = scene.reshape(shape[:2] + (1,) * (len(shape) - 2))
    noisy = scene + rng.normal(0, 8, shape)
    hit = rng.random(shape) < 0.2
    noisy = np.where(hit, np.where(rng.random(shape) < 0.5, 0, 255), noisy)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("method", sorted(METHODS))
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("chunks", CHUNKINGS)
def test_every_method_equals_its_in_memory_filter(method, mode, chunks):
    image = _image((23, 31))
    expected = filter_function(method)(image, size=3, mode=mode, n_threads=1)
    lazy = crcx.dask.FILTERS[method](da.from_array(image, chunks=chunks), size=3, mode=mode)
    np.testing.assert_array_equal(lazy.compute(), expected)


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape, chunks, kwargs", [
    ((23, 31), (6, 5), {"window": 5, "search": 2}),
    ((9, 12, 3), (4, 5, 2), {"channel_axis": -1, "cval": 3, "s_max": 7}),
    ((7, 9, 12), (3, 4, 5), {"size": 3, "s_max": 5, "search": 1}),
    # the first axis is taken whole, the second (longer than twice the reach, 67) is
    # cut into blocks, and with wrap extended first
    ((20, 300), (8, 70), {"size": 3, "s_max": 5, "search": 1}),
])
def test_crc_median_is_exact_for_any_chunking(mode, shape, chunks, kwargs):
    image = _image(shape)
    expected = crcx.crc_median(image, mode=mode, n_threads=1, **kwargs)
    lazy = crcx.dask.crc_median(da.from_array(image, chunks=chunks), mode=mode, **kwargs)
    np.testing.assert_array_equal(lazy.compute(), expected)


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape, chunks, kwargs", [   # blocks see less than the plane
    ((160, 150), (40, 37), {}),
    ((160, 150), (160, 31), {"gain": "wiener+crc"}),
    ((100, 110, 3), (30, 40, 1), {"channel_axis": -1}),
    ((100, 110, 3), (30, 40, 1), {"channel_axis": -1, "joint_channels": False}),
    ((12, 90, 80), (5, 25, 30), {"s_max": 7}),
])
def test_crc_median_with_whole_plane_statistics_is_exact(mode, shape, chunks, kwargs):
    image = _scene(shape)
    expected = crcx.crc_median(image, mode=mode, n_threads=1, **kwargs)
    lazy = crcx.dask.crc_median(da.from_array(image, chunks=chunks), mode=mode, **kwargs)
    np.testing.assert_array_equal(lazy.compute(), expected)


@pytest.mark.parametrize("kind", ["random-valued", "hot pixels", "none"])
def test_crc_median_is_exact_whatever_the_kind_of_impulses(kind):
    # each kind takes another branch of the isolation test (§1.5), whose passes reach
    # further than any other stage of the impulse stage
    rng = np.random.default_rng(1)
    rows, columns = np.indices((90, 80))
    image = 60 + 120 * columns / 80 + 40 * np.sin(rows / 3) + rng.normal(0, 2, rows.shape)
    hit = rng.random(rows.shape) < {"random-valued": 0.1, "hot pixels": 0.004, "none": 0}[kind]
    image = np.where(hit, rng.integers(0, 256, rows.shape) if kind == "random-valued" else 255,
                     image)
    image = np.clip(np.rint(image), 0, 255).astype(np.uint8)
    expected = crcx.crc_median(image, n_threads=1)
    lazy = crcx.dask.crc_median(da.from_array(image, chunks=(30, 25)))
    np.testing.assert_array_equal(lazy.compute(), expected)
    assert np.any(crcx.crc_map(image, return_impulses=True)[1]) == (kind != "none")


def test_each_non_local_pass_adds_its_search_and_patch_to_the_reach():
    # The guided pass reads the first pass's output over its own search window; the
    # DCT estimate reads J beside the passes, as far as its squares reach (§3).
    one, two = (crcx.CRCOptions(passes=n, dct=0) for n in (1, 2))
    added = crcx.dask.crc_reach(two) - crcx.dask.crc_reach(one)
    assert added == one.search + one.patch // 2
    median_base = two.replace(base="median", dct=8)
    assert crcx.dask.crc_reach(median_base) == crcx.dask.crc_reach(one)
    wide = one.replace(dct=16)
    assert crcx.dask.crc_reach(wide) - crcx.dask.crc_reach(one) == 15 - added
    assert crcx.dask.crc_reach(two.replace(dct=8)) == crcx.dask.crc_reach(two)


def test_blocks_filtered_on_their_own_statistics_would_differ():
    # What the exactness above rests on: with the same overlaps, blocks that fit their
    # own statistics take other decisions than the whole plane. A small s_max keeps
    # the reach (the final impulse passes add theirs) below the image's size.
    image = _scene((160, 160)).astype(np.float64)
    extent = crcx.dask.crc_reach(crcx.CRCOptions(s_max=5))
    assert extent < 80
    alone = crcx.dask._map_filter(da.from_array(image, chunks=(40, 40)),
                                  lambda block: crcx.crc_median(block, n_threads=1, s_max=5),
                                  {0: (extent, extent), 1: (extent, extent)},
                                  {0: "reflect", 1: "reflect"})
    assert np.any(alone.compute() != crcx.crc_median(image, n_threads=1, s_max=5))


GEOMETRIES = [
    {"size": (7, 3)},
    {"size": 5, "origin": (2, -1)},
    {"size": 4, "origin": -2},
    {"footprint": np.eye(4, dtype=bool)},
    {"size": 9},                      # reaches past a 6-pixel axis, several times periodic
    {"size": 3, "cval": 0.5},         # a border value the dtype cannot hold
    {"size": (1, 15)},
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("geometry", GEOMETRIES, ids=lambda g: repr(sorted(g)))
def test_median_geometries_on_small_and_uneven_chunks(mode, geometry):
    for shape, chunks in [((23, 31), (4, 6)), ((6, 5), (2, 3))]:
        image = _image(shape)
        expected = crcx.median(image, mode=mode, n_threads=1, **geometry)
        lazy = crcx.dask.median(da.from_array(image, chunks=chunks), mode=mode, **geometry)
        np.testing.assert_array_equal(lazy.compute(), expected)


@pytest.mark.parametrize("mode", MODES)
def test_median_on_a_volume_with_batch_axes_and_floats(mode):
    volume = RNG.normal(size=(4, 9, 10, 3)).astype(np.float32)
    for kwargs in [{"size": 3, "axes": (1, 2)}, {"size": (3, 3, 5), "axes": (0, 1, 2)}]:
        expected = crcx.median(volume, mode=mode, cval=-1.5, n_threads=1, **kwargs)
        lazy = crcx.dask.median(da.from_array(volume, chunks=(3, 4, 3, 2)), mode=mode,
                                cval=-1.5, **kwargs)
        np.testing.assert_array_equal(lazy.compute(), expected)


def test_threaded_scheduler_and_numpy_input():
    image = _image((40, 30), np.uint16)
    with dask.config.set(scheduler="threads"):
        lazy = crcx.dask.median(image, 5, mode="mirror")
        np.testing.assert_array_equal(lazy.compute(), crcx.median(image, 5, mode="mirror"))
    assert lazy.dtype == np.uint16 and lazy.shape == image.shape


# crcx.median takes a mode per axis for a median of one or two values over a full box
# (scipy's minimum or maximum filter); mode[i] goes with axes[i].
MODES_PER_AXIS = [
    {"size": (2, 1), "mode": ("wrap", "constant"), "cval": 0.5},   # a float border
    {"size": (1, 2), "origin": (0, -1), "mode": ["constant", "wrap"], "cval": 3},
    {"size": (1, 2), "axes": (1, 0), "mode": ("wrap", "mirror")},
    {"size": 2, "axes": (1,), "mode": ["grid-wrap"]},
    {"size": 1, "mode": ("wrap", "nearest")},
    {"footprint": np.ones((2, 1)), "mode": ("reflect", "grid-constant"), "cval": 7},
]


def _kwargs_id(kwargs):
    return ",".join(f"{key}={value.shape if isinstance(value, np.ndarray) else value}"
                    for key, value in kwargs.items())


@pytest.mark.parametrize("kwargs", MODES_PER_AXIS, ids=_kwargs_id)
def test_median_takes_a_mode_per_axis_where_crcx_median_does(kwargs):
    for shape, chunks in [((11, 13), (4, 5)), ((2, 3), (1, 2))]:
        image = _image(shape)
        expected = crcx.median(image, n_threads=1, **kwargs)
        lazy = crcx.dask.median(da.from_array(image, chunks=chunks), **kwargs)
        np.testing.assert_array_equal(lazy.compute(), expected)


def test_the_modes_go_with_their_axes():
    # Such a window reaches along one axis only, so only that axis's mode counts:
    # swapped, the modes give another result, and the cases above tell them apart.
    image = _image((11, 13))
    image[0] = 0   # the largest of two: the wrapped-in last row, else this row
    lazy = {mode: crcx.dask.median(da.from_array(image, chunks=(4, 5)), size=(2, 1),
                                   mode=mode, cval=0.5).compute()
            for mode in [("wrap", "constant"), ("constant", "wrap")]}
    np.testing.assert_array_equal(lazy["wrap", "constant"],
                                  crcx.median(image, size=(2, 1), mode="wrap"))
    assert np.any(lazy["wrap", "constant"] != lazy["constant", "wrap"])


@pytest.mark.parametrize("kwargs", [
    {"size": 3, "mode": ("wrap", "reflect")},                          # not an extreme rank
    {"footprint": np.eye(2), "mode": ("wrap", "reflect")},             # not a full box
    {"size": 2, "mode": ("reflect",) * 3},                             # one per axis
    {"size": 2, "mode": ["wrap", "edge"]},
    {"size": 2, "axes": (0,), "mode": "edge"},
], ids=_kwargs_id)
def test_median_refuses_modes_as_crcx_median_refuses_them(kwargs):
    image = _image((8, 8))
    with pytest.raises(ValueError) as expected:
        crcx.median(image, **kwargs)
    with pytest.raises(expected.type, match=f"^{re.escape(str(expected.value))}$"):
        crcx.dask.median(da.from_array(image, chunks=4), **kwargs)


@pytest.mark.parametrize("dtype, kwargs, error, message", [
    (np.uint8, {"mode": "edge"}, ValueError, "mode"),
    (np.uint8, {"size": 0}, ValueError, "size"),
    (np.uint8, {"cval": "zero"}, TypeError, "cval"),
    (np.uint8, {"n_threads": 0}, ValueError, "n_threads"),
    (np.uint8, {"axes": (0, 5)}, ValueError, "axes"),
    (np.complex64, {}, TypeError, "array: complex"),
])
def test_median_rejects_bad_arguments_before_computing(dtype, kwargs, error, message):
    with pytest.raises(error, match=message):
        crcx.dask.median(da.zeros((8, 8), dtype=dtype, chunks=4), **kwargs)


@pytest.fixture(scope="module")
def client():
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        yield client


def test_denoise_files_on_a_cluster_equals_the_serial_run(tmp_path, client):
    source = tmp_path / "in"
    source.mkdir()
    for index in range(4):
        write_image(source / f"g{index}.png", _image((16, 20)))
    write_image(source / "rgb.png", _image((16, 20, 3)))
    write_image(source / "stack.tif", _image((3, 16, 20), np.uint16))
    (source / "corrupt.tif").write_bytes(b"II*\x00" + bytes(40))
    serial = denoise_collection(source, "median", tmp_path / "serial", size=3)
    distributed = crcx.dask.denoise_files(source, tmp_path / "cluster", client,
                                          method="median", size=3)
    assert serial.summary() == distributed.summary() == "6 written, 0 skipped (exist), 1 failed"
    assert [p.name for p in distributed.outputs] == [p.name for p in serial.outputs]
    assert distributed.failures == serial.failures
    for path in serial.outputs:
        np.testing.assert_array_equal(read_image(tmp_path / "cluster" / path.name),
                                      read_image(path))
    assert partial_files(tmp_path / "cluster") == []
    again = crcx.dask.denoise_files(source, tmp_path / "cluster", client, method="median",
                                    size=3)
    assert again.summary() == "0 written, 6 skipped (exist), 1 failed"


def test_crc_wrapper_rejects_a_channel_axis_out_of_range():
    with pytest.raises(ValueError, match="channel_axis"):
        crcx.dask.crc_median(da.zeros((8, 8, 3), dtype=np.uint8, chunks=4), channel_axis=3)
