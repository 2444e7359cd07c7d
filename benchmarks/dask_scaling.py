"""Scaling out on dask: blockwise results against the in-memory filters, and a cluster.

1. ``crcx.dask.median`` and ``crcx.dask.crc_median`` (defaults) on a large image under
   mixed noise, for several chunkings, on dask's threaded scheduler: compared with
   ``crcx.median`` / ``crcx.crc_median`` on the whole array, pixel for pixel, and timed.
2. ``crcx.dask.denoise_files`` on a ``dask.distributed.LocalCluster`` over a folder of
   images, against the serial ``crcx._apps.collection.denoise_collection``: every output
   file compared.

Writes ``benchmarks/results/dask.md``. Not a test: run ``python benchmarks/dask_scaling.py``.
"""
import argparse
import datetime
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import dask
import dask.array as da
import numpy as np
import skimage.data
from distributed import Client, LocalCluster

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from quality import add_noise  # noqa: E402

import crcx  # noqa: E402
import crcx.dask  # noqa: E402
from crcx._apps.collection import denoise_collection  # noqa: E402
from crcx._apps.io import read_image, write_image  # noqa: E402

SEED = 20240611
RESULTS = Path(__file__).parent / "results" / "dask.md"
WORKERS = 2


def mixed_noise(side, seed=SEED):
    """`skimage.data.camera` tiled to `side` x `side` under the quality benchmark's mixed
    noise (Gaussian sigma 10 plus 20 % salt and pepper), rounded to uint8."""
    camera = skimage.data.camera()
    tiles = -(-side // camera.shape[0])
    clean = np.tile(camera, (tiles, tiles))[:side, :side]
    return np.clip(np.rint(add_noise(clean, "mixed", seed)), 0, 255).astype(np.uint8)


def timed(function):
    start = time.perf_counter()
    value = function()
    return value, time.perf_counter() - start


def blockwise_rows(image, chunkings):
    filters = [("median, size 5", crcx.median, crcx.dask.median, {"size": 5}),
               ("crc_median, defaults", crcx.crc_median, crcx.dask.crc_median, {})]
    rows = []
    for name, in_memory, lazy, options in filters:
        expected, seconds = timed(lambda: in_memory(image, n_threads=WORKERS, **options))
        rows.append([name, "whole array, in memory", f"{seconds:.3f}", "(reference)"])
        for chunks in chunkings:
            graph = lazy(da.from_array(image, chunks=chunks), **options)
            with dask.config.set(scheduler="threads", num_workers=WORKERS):
                result, seconds = timed(graph.compute)
            differing = int(np.count_nonzero(result != expected))
            rows.append([name, f"chunks {chunks[0]}x{chunks[1]}", f"{seconds:.3f}",
                         f"{differing} pixels differ"])
    return rows


def cluster_rows(count, side):
    rng = np.random.default_rng(SEED)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        inputs = Path(folder) / "in"
        inputs.mkdir()
        for index in range(count):
            image = mixed_noise(side, SEED + index)
            if index % 2:
                image = (image.astype(np.uint16) * 257 + rng.integers(0, 257, image.shape)
                         ).astype(np.uint16)
            write_image(inputs / f"{index:03d}{'.tif' if index % 2 else '.png'}", image)
        serial, serial_seconds = timed(lambda: denoise_collection(
            str(inputs), "crc", str(Path(folder) / "serial"), n_threads=1))
        with LocalCluster(n_workers=WORKERS, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            spread, spread_seconds = timed(lambda: crcx.dask.denoise_files(
                str(inputs), str(Path(folder) / "cluster"), client, method="crc"))
        names = sorted(os.listdir(inputs))
        differing = [name for name in names
                     if not np.array_equal(read_image(Path(folder) / "serial" / name),
                                           read_image(Path(folder) / "cluster" / name))]
        rows.append(["serial `denoise_collection`, 1 thread", f"{serial_seconds:.3f}",
                     serial.summary()])
        rows.append([f"`denoise_files` on a LocalCluster of {WORKERS} processes",
                     f"{spread_seconds:.3f}",
                     f"{spread.summary()}; {len(differing)} of {len(names)} files differ "
                     "from the serial run"])
    return rows


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=2048, help="side of the large image")
    parser.add_argument("--files", type=int, default=40, help="images in the folder")
    args = parser.parse_args()
    image = mixed_noise(args.side)
    chunkings = [(512, 512), (args.side, 256), (300, 700)]
    blockwise = blockwise_rows(image, chunkings)
    cluster = cluster_rows(args.files, 256)
    lines = ["# crcx on dask: blockwise filters and a local cluster", "",
             "Written by `python benchmarks/dask_scaling.py`.", "",
             f"- Date {datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')};"
             f" {platform.platform()}, {os.cpu_count()} logical cores; crcx {crcx.__version__},"
             f" dask {dask.__version__}.",
             f"- Image: `skimage.data.camera` tiled to {args.side}x{args.side}, Gaussian "
             "sigma 10 plus 20 % salt and pepper, uint8. Threaded scheduler with "
             f"{WORKERS} workers; the in-memory call uses {WORKERS} OpenMP threads.", "",
             "## Blockwise against the whole array", ""]
    lines += table(["filter", "run", "time s", "against the in-memory result"], blockwise)
    lines += ["", "## A folder on a LocalCluster", "",
              f"{args.files} images of 256x256 under mixed noise, 8-bit PNG and 16-bit TIFF "
              "alternately; `--method crc` with its defaults.", ""]
    lines += table(["run", "time s", "result"], cluster)
    RESULTS.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
