"""The ``crcx`` command: demo, denoise, tune, score and inspect.

Run ``crcx demo`` for a first look, ``crcx denoise --help`` for the workflow.
"""
import argparse
import json
import math
import signal
import sys
import time

import numpy as np

import crcx
from crcx._apps.collection import (MAX_CHANNELS, METHODS, collection_score, denoise_collection,
                                   expand_inputs, filter_function)
from crcx._apps.io import optional_import, read_image
from crcx._apps.tuning import LOSSES, tune
from crcx._crc.options import PRESETS, gather_options

__all__ = ["main"]

DEFAULT_METHOD = "crc"
MODES = ("reflect", "mirror", "nearest", "wrap", "constant")
# The demo's noise models: name -> (Gaussian sigma, salt-and-pepper fraction).
NOISES = {"mixed": (10.0, 0.2), "gaussian": (15.0, 0.0), "impulse": (0.0, 0.2)}
DEMO_SEED = 0
# Options that only CRC-MF has.
_CRC_ONLY = ("window", "correlation", "preset")


def _add_filter_arguments(parser, *, method=True, sizes=True):
    if method:
        parser.add_argument("--method", choices=sorted(METHODS),
                            help="filter: CRC-MF (crc, the default) or the plain median")
    if sizes:
        parser.add_argument("--size", type=int, help="median window size (odd)")
        parser.add_argument("--window", type=int, help="CRC-MF correlation window (crc only)")
        parser.add_argument("--correlation", choices=("pearson", "renyi"),
                            help="CRC-MF correlation function (crc only)")
        parser.add_argument("--preset", choices=tuple(PRESETS),
                            help="CRC-MF's options to start from (crc only; default quality)")
    parser.add_argument("--mode", choices=MODES, help="border rule (default reflect)")
    parser.add_argument("--cval", type=float, help="value past the border with --mode constant")
    parser.add_argument("--threads", type=int, dest="n_threads",
                        help="OpenMP threads per image (default: all, or 1 with --jobs > 1)")


def _filter_options(parser, args, method, names=("size", "window", "correlation", "preset",
                                                 "mode", "cval", "n_threads"), saved=None):
    """The keyword options of `method` from the command line, over those `saved` by
    crcx tune; CRC-MF's in one :class:`crcx.CRCOptions`."""
    given = {name: getattr(args, name) for name in names
             if getattr(args, name, None) is not None}
    if method != "crc":
        misplaced = [name for name in _CRC_ONLY if name in given]
        if misplaced:
            parser.error(f"--{misplaced[0]} applies to --method crc only")
    options = {**(saved or {}), **given}
    return gather_options(options) if method == "crc" else options


def _build_parser():
    parser = argparse.ArgumentParser(
        prog="crcx", description="Median filtering and CRC-MF denoising of images.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser("demo", help="denoise a noisy sample image; write a figure",
                               description="Denoise scikit-image's camera image with added "
                               "noise; print PSNR, SSIM and time per method; save a figure.")
    demo.add_argument("--output", default="crcx-demo.png", help="figure file (crcx-demo.png)")
    demo.add_argument("--noise", choices=sorted(NOISES), default="mixed",
                      help="mixed (Gaussian sigma 10 + 20%% salt-and-pepper, the default), "
                           "gaussian (sigma 15) or impulse (20%% salt-and-pepper)")

    denoise = commands.add_parser(
        "denoise", help="denoise files into a directory",
        description="Denoise images (files, directories, glob patterns) into OUTDIR, "
                    "keeping each file's name, format, dtype and shape. Existing outputs "
                    "are kept (re-running finishes an interrupted run) unless --overwrite.")
    denoise.add_argument("inputs", nargs="+", metavar="INPUT")
    denoise.add_argument("-o", "--output-dir", required=True, metavar="OUTDIR")
    _add_filter_arguments(denoise)
    denoise.add_argument("--params", metavar="JSON", help="parameters saved by crcx tune "
                         "(explicit options take precedence)")
    denoise.add_argument("--jobs", type=int, default=1, help="images denoised at once")
    denoise.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    denoise.add_argument("--no-progress", action="store_true", help="no progress bar")

    tune = commands.add_parser(
        "tune", help="choose filter parameters without clean images",
        description="Score a grid of parameters over the images by an estimate of the "
                    "error that needs no clean image (Stein's, or the J-invariant loss of "
                    "Noise2Self); print and save the best.")
    tune.add_argument("inputs", nargs="+", metavar="INPUT")
    _add_filter_arguments(tune, sizes=False)
    tune.add_argument("--loss", choices=LOSSES, default=LOSSES[0],
                      help="the error estimate (default: %(default)s)")
    tune.add_argument("--save", metavar="JSON", help="write the parameters and losses here")

    score = commands.add_parser("score", help="the collection's CRC score d",
                                description="Print d = log(sum_i mean_p CRC_i(p)).")
    score.add_argument("inputs", nargs="+", metavar="INPUT")
    _add_filter_arguments(score, method=False)

    inspect = commands.add_parser(
        "inspect", help="the noise CRC-MF finds in each image",
        description="Print, per image and channel, the noise model that CRC-MF fits "
                    "(Gaussian sigma, Poisson gain) and the impulses it finds (density "
                    "and kind: none, fixed-valued, random-valued).")
    inspect.add_argument("inputs", nargs="+", metavar="INPUT")
    inspect.add_argument("--figure", metavar="FILE", help="also draw, per image: the image, "
                         "the impulse mask, the CRC map and the fitted noise curve")
    return parser


def _table(header, rows):
    """Rows of strings as an aligned text table."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [header, ["-" * width for width in widths], *rows]
    return "\n".join("  ".join(cell.rjust(width) if i else cell.ljust(width)
                               for i, (cell, width) in enumerate(zip(line, widths)))
                     for line in lines)


def _noisy_camera(noise):
    data = optional_import("skimage.data", "demo")
    clean = data.camera()
    sigma, fraction = NOISES[noise]
    rng = np.random.default_rng(DEMO_SEED)
    noisy = clean + rng.normal(0.0, sigma, clean.shape)
    draw = rng.random(clean.shape)
    noisy[draw < fraction / 2] = 0
    noisy[draw > 1 - fraction / 2] = 255
    return clean, np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


def _demo(parser, args):
    matplotlib = optional_import("matplotlib", "demo")
    matplotlib.use("Agg")
    pyplot = optional_import("matplotlib.pyplot", "demo")
    metrics = optional_import("skimage.metrics", "demo")
    clean, noisy = _noisy_camera(args.noise)
    methods = [("median 3x3", "median", {"size": 3}), ("median 5x5", "median", {"size": 5}),
               ("CRC-MF", "crc", {})]
    panels = [("clean", clean), (f"noisy ({args.noise})", noisy)]
    rows = [["noisy", f"{metrics.peak_signal_noise_ratio(clean, noisy):.2f}",
             f"{metrics.structural_similarity(clean, noisy):.3f}", "-"]]
    for label, method, options in methods:
        function = filter_function(method)
        start = time.perf_counter()
        denoised = function(noisy, **options)
        elapsed = time.perf_counter() - start
        panels.append((label, denoised))
        rows.append([label, f"{metrics.peak_signal_noise_ratio(clean, denoised):.2f}",
                     f"{metrics.structural_similarity(clean, denoised):.3f}",
                     f"{1000 * elapsed:.1f}"])
    panels.append(("CRC map", crcx.crc_map(noisy)))
    print(_table(["method", "PSNR dB", "SSIM", "time ms"], rows))

    columns = 3
    figure, axes = pyplot.subplots(math.ceil(len(panels) / columns), columns,
                                   figsize=(4 * columns, 4.3 * math.ceil(len(panels) / columns)),
                                   squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    for axis, (label, image) in zip(axes.flat, panels):
        if label == "CRC map":
            axis.imshow(image, cmap="magma", vmin=0, vmax=1)
        else:
            axis.imshow(image, cmap="gray", vmin=0, vmax=255)
        axis.set_title(label)
    figure.tight_layout()
    figure.savefig(args.output, dpi=100)
    pyplot.close(figure)
    print(f"figure written to {args.output}")
    return 0


def _load_params(path):
    problem = f"--params: {path} is not a file written by crcx tune"
    with open(path) as handle:
        try:
            saved = json.load(handle)
        except json.JSONDecodeError as error:
            raise ValueError(f"{problem} ({error})") from None
    if not isinstance(saved, dict) or not isinstance(saved.get("parameters"), dict):
        raise ValueError(problem)
    return saved


def _denoise(parser, args):
    saved = _load_params(args.params) if args.params else {"parameters": {}}
    method = args.method or saved.get("method") or DEFAULT_METHOD
    if saved.get("method", method) != method:
        parser.error(f"--params: the parameters are for --method {saved['method']}")
    options = _filter_options(parser, args, method, saved=saved["parameters"])
    if args.jobs < 1:
        parser.error("--jobs: expected a positive integer")
    result = denoise_collection(args.inputs, method, args.output_dir,
                                overwrite=args.overwrite, jobs=args.jobs,
                                progress=not args.no_progress, **options)
    for failure in result.failures:
        print(f"crcx: failed: {failure.input}: {failure.reason}", file=sys.stderr)
    print(result.summary())
    return 1 if result.failures else 0


def _tune(parser, args):
    method = args.method or DEFAULT_METHOD
    options = _filter_options(parser, args, method, names=("mode", "cval", "n_threads"))
    best, table = tune(args.inputs, method=method, loss=args.loss, progress=True,
                       **options)
    names = list(best)
    print(_table(names + ["loss"], [[str(row[name]) for name in names] + [f"{row['loss']:.6g}"]
                                    for row in table]))
    print("best:", " ".join(f"{name}={value}" for name, value in best.items()))
    if args.save:
        with open(args.save, "w") as handle:
            json.dump({"method": method, "loss": args.loss, "parameters": best,
                       "losses": table},
                      handle, indent=2)
            handle.write("\n")
        print(f"saved to {args.save}")
    return 0


def _score(parser, args):
    options = _filter_options(parser, args, "crc")
    print(f"{collection_score(args.inputs, **options):.6f}")
    return 0


def _inspect(parser, args):
    files, failures = expand_inputs(args.inputs)
    if failures:
        raise ValueError("; ".join(f"{f.input}: {f.reason}" for f in failures))
    found = []
    for path in files:
        image = read_image(path)
        colour = image.ndim == 3 and image.shape[-1] <= MAX_CHANNELS
        estimates = crcx.estimate_noise(image, channel_axis=-1 if colour else None)
        found.append((path, image, colour, estimates if colour else (estimates,)))
    print(_table(["image", "channel", "sigma", "gain", "impulses %", "kind"],
                 [[str(path), str(c), f"{math.sqrt(e.variance):.3f}", f"{e.gain:.4f}",
                   f"{100 * e.impulse_density:.3f}", e.impulse_kind]
                  for path, _, _, estimates in found for c, e in enumerate(estimates)]))
    if args.figure:
        _inspect_figure(args.figure, found)
        print(f"figure written to {args.figure}")
    return 0


def _inspect_figure(output, found):
    """A row per image: the image, its impulse mask, its CRC map, sigma(intensity)."""
    matplotlib = optional_import("matplotlib", "demo")
    matplotlib.use("Agg")
    pyplot = optional_import("matplotlib.pyplot", "demo")
    figure, axes = pyplot.subplots(len(found), 4, figsize=(16, 4.2 * len(found)),
                                   squeeze=False)
    for row, (path, image, colour, estimates) in zip(axes, found):
        axis = -1 if colour else None
        crc, impulses = crcx.crc_map(image, channel_axis=axis, return_impulses=True)
        if colour:
            crc, impulses = crc.mean(axis=-1), impulses.any(axis=-1)
        low, high = float(image.min()), float(image.max())
        panels = [(image, "gray", f"{path.name}"), (impulses, "gray", "impulses"),
                  (crc, "magma", "CRC map")]
        for cell, (picture, cmap, title) in zip(row, panels):
            cell.imshow(picture, cmap=cmap, vmin=None if picture is image else 0,
                        vmax=None if picture is image else 1)
            cell.set_title(title)
            cell.axis("off")
        intensity = np.linspace(low, high, 64)
        for channel, estimate in enumerate(estimates):
            row[3].plot(intensity, np.sqrt(estimate.variance + estimate.gain
                                           * np.maximum(intensity, 0)),
                        label=f"channel {channel} (impulses: {estimate.impulse_kind})")
        row[3].set_xlabel("intensity")
        row[3].set_ylabel("noise sigma")
        row[3].set_ylim(bottom=0)
        row[3].set_title("fitted noise")
        row[3].legend()
    figure.tight_layout()
    figure.savefig(output, dpi=80)
    pyplot.close(figure)


def _terminate(signum, frame):
    # Unwind normally, so that a file being written is removed rather than left behind.
    raise SystemExit(128 + signum)


def main(argv=None):
    """Run the ``crcx`` command line; return its exit status.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name; default ``sys.argv[1:]``.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import numpy as np
    >>> from crcx._apps.cli import main
    >>> from crcx import write_image
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "noisy.png"
    >>> rng = np.random.default_rng(0)
    >>> saved = write_image(path, np.clip(100 + rng.normal(0, 5, (64, 64)), 0, 255)
    ...                     .astype(np.uint8))
    >>> saved.name
    'noisy.png'
    >>> main(["inspect", str(path)])
    image ... kind
    ...none
    0
    """
    parser = _build_parser()
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    commands = {"demo": _demo, "denoise": _denoise, "tune": _tune, "score": _score,
                "inspect": _inspect}
    try:
        return commands[args.command](parser, args)
    except (OSError, ModuleNotFoundError, TypeError, ValueError) as error:
        print(f"crcx: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("crcx: interrupted; run the same command again to finish", file=sys.stderr)
        return 130
