"""Quality benchmark of CRC-MF against the median family and the denoising anchors.

Images from :mod:`skimage.data` (camera, text, brick, grass, moon, coins, astronaut in
grey and RGB, Shepp-Logan phantom; all 8-bit), noise settings salt-and-pepper
10/30/50/70/90 %, Gaussian sigma 15 and 25, Poisson peaks 255 and 30, and mixed
(Gaussian sigma 10 then 20 % salt-and-pepper), all with fixed seeds. Metrics: PSNR,
SSIM, GMSD and the edge preservation index (``benchmarks/metrics.py``), plus the time
per image. Writes ``results/quality.md``, ``results/quality.png`` and the raw numbers
``results/quality.json``.

Usage::

    python benchmarks/quality.py [--quick] [--impl crcx | --impl prototype:PATH.py]
    python benchmarks/quality.py --from-json benchmarks/results/quality.json

``--impl`` selects the CRC-MF implementation that :func:`crc_median` calls: the
compiled ``crcx.crc_median`` (default) or any module file defining a function
``crc_median`` with the same signature (for example a NumPy prototype).
"""
import argparse
import importlib.metadata
import importlib.util
import json
import os
import platform
import sys
import time

import numpy as np
from scipy import ndimage as ndi
from skimage import color, data, restoration

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from metrics import epi, gmsd, psnr, ssim  # noqa: E402

IMAGES = ["camera", "text", "brick", "grass", "moon", "coins", "astronaut_grey", "astronaut",
          "phantom"]
NOISES = ["sp10", "sp30", "sp50", "sp70", "sp90", "g15", "g25", "p255", "p30", "mixed"]
NOISE_LABELS = {"sp10": "s&p 10%", "sp30": "s&p 30%", "sp50": "s&p 50%", "sp70": "s&p 70%",
                "sp90": "s&p 90%", "g15": "Gauss σ15", "g25": "Gauss σ25",
                "p255": "Poisson 255", "p30": "Poisson 30", "mixed": "mixed σ10+20%"}
QUICK_IMAGES = ["camera", "text", "moon", "astronaut_grey", "phantom"]
QUICK_NOISES = ["sp10", "sp50", "sp90", "g25", "p30", "mixed"]
ABLATION_IMAGES = ["camera", "text", "moon", "astronaut_grey", "phantom"]
ABLATION = [
    ("default", {}),
    ("no impulse stage", {"impulses": "none"}),
    ("plain Hwang-Haddad impulse stage", {"impulses": "hwang-haddad"}),
    ("one noise gate at every density (sparse_kappa = kappa)", {"sparse_kappa": 4.0}),
    ("no isolation test (the kind of impulses not told)", {"isolation": 0.0}),
    ("no majority rule", {"majority": 0}),
    ("no excess rule", {"excess": 0.0}),
    ("no structure rule", {"line_density": 0.0}),
    ("constant noise model", {"noise": "constant"}),
    ("5x5 search window", {"search": 2}),
    ("one non-local pass (no guided pass)", {"passes": 1}),
    ("no DCT estimate (the non-local mean alone)", {"dct": 0}),
    ("median base, Wiener gain (no non-local stage)", {"base": "median"}),
    ("median base, CRC gain, pearson (plain reading)", {"base": "median", "gain": "crc"}),
    ("median base, CRC gain, renyi", {"base": "median", "gain": "crc",
                                      "correlation": "renyi"}),
    ("no restoration gain", {"gain": "none"}),
    ("gain max(Wiener, CRC), pearson", {"gain": "wiener+crc"}),
    ("gain max(Wiener, CRC), renyi", {"gain": "wiener+crc", "correlation": "renyi"}),
]
METHODS = ["median3", "median5", "adaptive", "nlm", "tv", "bm3d", "crc"]
METHOD_LABELS = {"median3": "median 3x3", "median5": "median 5x5",
                 "adaptive": "adaptive median", "nlm": "NL-means", "tv": "TV",
                 "bm3d": "BM3D", "crc": "CRC-MF"}

_impl = {"crc_median": None, "name": "crcx"}


def select_implementation(spec):
    """Point :func:`crc_median` at ``crcx`` or at ``prototype:PATH``."""
    if spec == "crcx":
        import crcx
        _impl["crc_median"] = crcx.crc_median
    elif spec.startswith("prototype:"):
        path = spec.split(":", 1)[1]
        module_spec = importlib.util.spec_from_file_location("crc_prototype", path)
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
        _impl["crc_median"] = module.crc_median
    else:
        raise SystemExit(f"--impl: expected 'crcx' or 'prototype:PATH', got {spec!r}")
    _impl["name"] = spec


def crc_median(image, channel_axis=None, **params):
    """The one place the benchmark calls CRC-MF."""
    return _impl["crc_median"](image, channel_axis=channel_axis, **params)


# --- data -----------------------------------------------------------------------------

def load_image(name):
    """Clean 8-bit test image."""
    if name == "astronaut_grey":
        return np.round(color.rgb2gray(data.astronaut()) * 255).astype(np.uint8)
    if name == "phantom":
        return np.round(data.shepp_logan_phantom() * 255).astype(np.uint8)
    return getattr(data, name)()


def add_noise(clean, noise, seed):
    """Noisy copy of `clean`: uint8 for salt-and-pepper, unclipped float64 otherwise.

    Salt and pepper take the values 0 and 255 with equal probability, independently
    per sample (per channel for colour). Gaussian and Poisson noise are not clipped or
    rounded, as in ANCHORS.md; the Poisson image is ``poisson(x peak / 255) 255 / peak``.
    """
    rng = np.random.default_rng(seed)
    x = clean.astype(np.float64)

    def salt_and_pepper(img, density):
        hit = rng.random(img.shape) < density
        value = np.where(rng.random(img.shape) < 0.5, 0.0, 255.0)
        return np.where(hit, value, img)

    if noise.startswith("sp"):
        return salt_and_pepper(x, int(noise[2:]) / 100).astype(np.uint8)
    if noise.startswith("g"):
        return x + rng.normal(0.0, int(noise[1:]), x.shape)
    if noise.startswith("p"):
        peak = int(noise[1:])
        return rng.poisson(x * peak / 255.0) * 255.0 / peak
    if noise == "mixed":
        return salt_and_pepper(x + rng.normal(0.0, 10.0, x.shape), 0.2)
    raise ValueError(noise)


def seed_of(image, noise):
    return IMAGES.index(image) * 100 + NOISES.index(noise)


# --- anchors --------------------------------------------------------------------------

def per_channel(func, image, *args, **kwargs):
    if image.ndim == 3:
        return np.stack([func(image[..., c], *args, **kwargs) for c in range(image.shape[-1])], -1)
    return func(image, *args, **kwargs)


def median(image, k):
    return per_channel(lambda x: ndi.median_filter(x, k, mode="reflect"), image)


def _window_values(padded, pad, rows, cols, s):
    h = s // 2
    offsets = np.arange(-h, h + 1)
    return padded[rows[:, None, None] + pad + offsets[None, :, None],
                  cols[:, None, None] + pad + offsets[None, None, :]].reshape(rows.size, -1)


def adaptive_median_plane(image, s_max=19):
    """Hwang & Haddad (1995) adaptive median filter, mode ``reflect``.

    Level A grows the window s = 3, 5, ... until min < median < max; level B keeps the
    pixel if min < pixel < max at that size and replaces it by the median otherwise.
    When no size qualifies the pixel takes the median of the s_max window.
    """
    x = np.asarray(image, np.float64)
    pad = s_max // 2
    padded = np.pad(x, pad, mode="symmetric")  # scipy's "reflect"
    out = x.copy()
    todo = np.ones(x.shape, bool)
    for s in range(3, s_max + 1, 2):
        rows, cols = np.nonzero(todo)
        lo = ndi.minimum_filter(x, s, mode="reflect")[rows, cols]
        hi = ndi.maximum_filter(x, s, mode="reflect")[rows, cols]
        med = np.empty(rows.size)
        for i in range(0, rows.size, 1 << 15):
            w = _window_values(padded, pad, rows[i:i + (1 << 15)], cols[i:i + (1 << 15)], s)
            med[i:i + (1 << 15)] = np.partition(w, w.shape[1] // 2, axis=1)[:, w.shape[1] // 2]
        done = ((lo < med) & (med < hi)) | (s == s_max)
        v = x[rows, cols]
        keep = (lo < v) & (v < hi)
        r, c = rows[done], cols[done]
        out[r, c] = np.where(keep[done], v[done], med[done])
        todo[r, c] = False
        if not todo.any():
            break
    return out.astype(image.dtype) if image.dtype == np.uint8 else out


def anscombe(x, peak):
    return 2.0 * np.sqrt(np.maximum(x * peak / 255.0, 0.0) + 0.375)


def inverse_anscombe(y, peak):
    """Closed-form approximation of the exact unbiased inverse (Makitalo & Foi 2011)."""
    y = np.maximum(y, 1e-6)
    s = np.sqrt(1.5)
    counts = 0.25 * y ** 2 + 0.25 * s / y - 1.375 / y ** 2 + 0.625 * s / y ** 3 - 0.125
    return counts * 255.0 / peak


def gaussian_sigmas(noise, noisy):
    """Noise levels handed to the Gaussian anchors: the true sigma where there is one.

    Salt-and-pepper has none, so the anchors get skimage's wavelet estimate; for mixed
    noise both the Gaussian part (10) and the estimate are tried and the better output
    is kept per image, which favours the anchors.
    """
    estimate = float(np.mean(restoration.estimate_sigma(
        noisy.astype(np.float64), channel_axis=-1 if noisy.ndim == 3 else None)))
    if noise.startswith("g"):
        return [float(noise[1:])]
    if noise == "mixed":
        return [10.0, estimate]
    return [max(estimate, 1e-3)]


def run_nlm(x, sigma, channel_axis):
    # skimage's tuned setting from ANCHORS.md: 5x5 patches, 13x13 search, h = 0.6 sigma
    return restoration.denoise_nl_means(x, patch_size=5, patch_distance=6, h=0.6 * sigma,
                                        sigma=sigma, fast_mode=True, channel_axis=channel_axis)


def run_tv(x, sigma, channel_axis):
    return restoration.denoise_tv_chambolle(x, weight=0.7 * sigma, channel_axis=channel_axis)


def run_bm3d(x, sigma, channel_axis):
    import bm3d
    return per_channel(lambda plane: bm3d.bm3d(plane, sigma_psd=sigma), x)


def anchor(method, noise, noisy, clean):
    """Denoise with a Gaussian-noise anchor, via Anscombe for Poisson noise."""
    func = {"nlm": run_nlm, "tv": run_tv, "bm3d": run_bm3d}[method]
    channel_axis = -1 if noisy.ndim == 3 else None
    x = noisy.astype(np.float64)
    if noise.startswith("p"):
        peak = int(noise[1:])
        return inverse_anscombe(func(anscombe(x, peak), 1.0, channel_axis), peak)
    best, best_psnr = None, -np.inf
    for sigma in gaussian_sigmas(noise, noisy):
        out = func(x, sigma, channel_axis)
        score = psnr(clean, out)
        if score > best_psnr:
            best, best_psnr = out, score
    return best


def has_bm3d():
    return importlib.util.find_spec("bm3d") is not None


# --- measuring ------------------------------------------------------------------------

def evaluate(clean, out, seconds):
    channel_axis = -1 if clean.ndim == 3 else None
    out = np.asarray(out, np.float64)
    return {"psnr": psnr(clean, out), "ssim": ssim(clean, out, channel_axis=channel_axis),
            "gmsd": gmsd(clean, out, channel_axis=channel_axis),
            "epi": epi(clean, out, channel_axis=channel_axis), "time": seconds}


def timed(func, *args, **kwargs):
    start = time.perf_counter()
    out = func(*args, **kwargs)
    return out, time.perf_counter() - start


def run_cell(image, noise, methods, log):
    clean = load_image(image)
    noisy = add_noise(clean, noise, seed_of(image, noise))
    channel_axis = -1 if noisy.ndim == 3 else None
    cell = {"noisy": evaluate(clean, noisy, 0.0)}
    for method in methods:
        if method in ("median3", "median5"):
            out, sec = timed(median, noisy, int(method[-1]))
        elif method == "adaptive":
            out, sec = timed(per_channel, adaptive_median_plane, noisy)
        elif method == "crc":
            out, sec = timed(crc_median, noisy, channel_axis=channel_axis)
        elif method == "bm3d" and noise.startswith("sp"):
            continue  # BM3D models Gaussian noise only; impulses make it meaningless
        else:
            out, sec = timed(anchor, method, noise, noisy, clean)
        cell[method] = evaluate(clean, out, sec)
        log(f"  {image:15s} {noise:6s} {method:9s} PSNR {cell[method]['psnr']:6.2f}  "
            f"{sec:6.2f}s")
    return cell


def run_ablation(images, noises, log):
    table = {}
    for name, params in ABLATION:
        for noise in noises:
            for image in images:
                clean = load_image(image)
                noisy = add_noise(clean, noise, seed_of(image, noise))
                out = crc_median(noisy, channel_axis=-1 if noisy.ndim == 3 else None, **params)
                table.setdefault(name, {}).setdefault(noise, {})[image] = psnr(clean, out)
        log(f"  ablation {name}: done")
    return table


# --- report ---------------------------------------------------------------------------

def better_median(cell):
    return max(("median3", "median5"), key=lambda m: cell[m]["psnr"])


def gain_over_median(cell):
    return cell["crc"]["psnr"] - cell[better_median(cell)]["psnr"]


def target_failures(results, images, noises):
    """Cells that miss each target of issue 3 (see docs/algorithm.md)."""
    fails = {"psnr >= better median": [], "ssim >= better median": [],
             "epi > better median": [], "s&p: psnr >= adaptive median": [],
             "mixed: best psnr of all anchors": [], "gauss/poisson: within 1 dB of NL-means": []}
    for noise in noises:
        for image in images:
            cell = results[noise][image]
            crc, med = cell["crc"], cell[better_median(cell)]
            tag = f"{image} / {NOISE_LABELS[noise]}"
            if crc["psnr"] < med["psnr"]:
                fails["psnr >= better median"].append(
                    f"{tag} ({crc['psnr'] - med['psnr']:+.2f} dB)")
            if crc["ssim"] < max(cell["median3"]["ssim"], cell["median5"]["ssim"]):
                fails["ssim >= better median"].append(tag)
            if crc["epi"] <= med["epi"]:
                fails["epi > better median"].append(tag)
            if noise.startswith("sp") and crc["psnr"] < cell["adaptive"]["psnr"]:
                fails["s&p: psnr >= adaptive median"].append(
                    f"{tag} ({crc['psnr'] - cell['adaptive']['psnr']:+.2f} dB)")
            if noise == "mixed":
                best = max(cell[m]["psnr"] for m in cell if m not in ("crc", "noisy"))
                if crc["psnr"] < best:
                    fails["mixed: best psnr of all anchors"].append(
                        f"{tag} ({crc['psnr'] - best:+.2f} dB)")
            if noise[0] in "gp" and crc["psnr"] < cell["nlm"]["psnr"] - 1.0:
                fails["gauss/poisson: within 1 dB of NL-means"].append(
                    f"{tag} ({crc['psnr'] - cell['nlm']['psnr']:+.2f} dB)")
    return fails


def versions():
    import scipy
    import skimage
    out = {"python": platform.python_version(), "numpy": np.__version__,
           "scipy": scipy.__version__, "scikit-image": skimage.__version__,
           "platform": platform.platform(), "cores": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as f:
            out["cpu"] = next(line.split(":", 1)[1].strip() for line in f
                              if line.startswith("model name"))
    except (OSError, StopIteration):
        out["cpu"] = platform.processor()
    try:
        out["bm3d"] = importlib.metadata.version("bm3d")
    except importlib.metadata.PackageNotFoundError:
        out["bm3d"] = "not installed"
    return out


def fmt(v, digits=2):
    return "–" if v is None else f"{v:.{digits}f}"


def write_report(path, results, ablation, images, noises, methods, info):
    lines = ["# CRC-MF quality benchmark\n",
             f"Implementation: `{info['impl']}`; mode: {info['mode']}; "
             f"{len(images)} images x {len(noises)} noise settings; fixed seeds. "
             "Generated by `benchmarks/quality.py`; the algorithm is described in "
             "`docs/algorithm.md`.\n",
             "## Summary: mean PSNR (dB) per noise setting\n",
             "CRC-MF gain = mean over images of CRC-MF minus the better of the 3x3 and 5x5 "
             "medians (per image), with the worst image after the slash.\n"]
    header = ("| noise | " + " | ".join(METHOD_LABELS[m] for m in methods)
              + " | CRC-MF gain / worst |")
    lines += [header, "|" + "---|" * (len(methods) + 2)]
    all_gains = []
    for noise in noises:
        row = [NOISE_LABELS[noise]]
        for m in methods:
            vals = [results[noise][i][m]["psnr"] for i in images if m in results[noise][i]]
            row.append(fmt(np.mean(vals)) if len(vals) == len(images) else "–")
        gains = [gain_over_median(results[noise][i]) for i in images]
        all_gains += gains
        row.append(f"{np.mean(gains):+.2f} / {min(gains):+.2f}")
        lines.append("| " + " | ".join(row) + " |")
    lines.append(f"\nMean gain over the better median across all cells: "
                 f"**{np.mean(all_gains):+.2f} dB** (worst cell {min(all_gains):+.2f} dB).\n")

    lines.append("## Targets (issue 3)\n")
    for target, cells in target_failures(results, images, noises).items():
        lines.append(f"- **{target}**: " + ("met in every cell" if not cells else
                                              f"missed in {len(cells)}: " + "; ".join(cells)))
    lines.append("")

    lines.append("## Time per image (median over cells, seconds)\n")
    lines.append("| " + " | ".join(METHOD_LABELS[m] for m in methods) + " |")
    lines.append("|" + "---|" * len(methods))
    lines.append("| " + " | ".join(
        fmt(np.median([results[n][i][m]["time"] for n in noises for i in images
                       if m in results[n][i]]), 3) for m in methods) + " |")
    lines.append("\nThe CRC-MF time is that of the selected implementation (a NumPy "
                 "prototype is not representative of the compiled filter).\n")

    for metric, title in (("psnr", "PSNR (dB, higher is better)"),
                          ("ssim", "SSIM (higher is better)"),
                          ("gmsd", "GMSD (lower is better)"),
                          ("epi", "Edge preservation index (higher is better)")):
        digits = 2 if metric == "psnr" else 3
        lines.append(f"## Per cell: {title}\n")
        lines.append("| noise | image | noisy | "
                     + " | ".join(METHOD_LABELS[m] for m in methods) + " |")
        lines.append("|" + "---|" * (len(methods) + 3))
        for noise in noises:
            for image in images:
                cell = results[noise][image]
                values = [fmt(cell[m][metric], digits) if m in cell else "–" for m in methods]
                lines.append(f"| {NOISE_LABELS[noise]} | {image} | "
                             f"{fmt(cell['noisy'][metric], digits)} | " + " | ".join(values) + " |")
        lines.append("")

    if ablation:
        names = [n for n, _ in ABLATION]
        ab_noises = list(next(iter(ablation.values())).keys())
        ab_images = list(next(iter(next(iter(ablation.values())).values())).keys())
        lines.append("## Ablation: mean PSNR (dB) of CRC-MF variants\n")
        lines.append(f"Images: {', '.join(ab_images)}. Each row changes one thing against "
                     "the default (keyword arguments in parentheses); Δ is the change of the "
                     "mean over all listed settings.\n")
        lines.append("| variant | " + " | ".join(NOISE_LABELS[n] for n in ab_noises)
                     + " | all | Δ |")
        lines.append("|" + "---|" * (len(ab_noises) + 3))
        base = np.mean([ablation["default"][n][i] for n in ab_noises for i in ab_images])
        for name in names:
            params = dict(ABLATION)[name]
            label = name + (" (" + ", ".join(f"{k}={v!r}" for k, v in params.items()) + ")"
                            if params else "")
            means = [np.mean([ablation[name][n][i] for i in ab_images]) for n in ab_noises]
            total = np.mean(means)
            lines.append(f"| {label} | " + " | ".join(fmt(v) for v in means) +
                         f" | {fmt(total)} | {total - base:+.2f} |")
        lines.append("")

    lines.append("## Anchors and setup\n")
    lines.append(
        "- Median 3x3 / 5x5: `scipy.ndimage.median_filter`, mode reflect, per channel.\n"
        "- Adaptive median: Hwang & Haddad (1995), s_max = 19, per channel (in this file).\n"
        "- NL-means: `skimage.restoration.denoise_nl_means`, patch 5, distance 6, "
        "h = 0.6 sigma, fast mode; TV: `denoise_tv_chambolle`, weight 0.7 sigma; BM3D: "
        "`bm3d.bm3d` per channel with sigma_psd = sigma. They receive the true sigma for "
        "Gaussian noise, sigma = 1 after the Anscombe transform (with the exact unbiased "
        "inverse of Makitalo & Foi 2011) for Poisson noise, skimage's `estimate_sigma` for "
        "salt-and-pepper, and the better of sigma = 10 and the estimate per image for mixed "
        "noise. BM3D is not run on salt-and-pepper noise.\n"
        "- CRC-MF is blind: one default parameter set, no noise level or type given.\n"
        "- Gaussian, Poisson and mixed noisy images are unclipped float64; salt-and-pepper "
        "images are uint8. Metrics on the 0-255 scale against the clean 8-bit image.\n")
    lines.append("## Machine and versions\n")
    for k, v in info["versions"].items():
        lines.append(f"- {k}: {v}")
    lines.append("")
    with open(path, "w") as f:
        f.write("\n".join(lines))


def write_plot(path, results, images, noises, methods):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(15, 5), gridspec_kw={"width_ratios": [3, 2]})
    width = 0.8 / len(methods)
    x = np.arange(len(noises))
    for k, m in enumerate(methods):
        vals = [np.mean([results[n][i][m]["psnr"] for i in images]) if all(
            m in results[n][i] for i in images) else np.nan for n in noises]
        axes[0].bar(x + (k - len(methods) / 2 + 0.5) * width, vals, width, label=METHOD_LABELS[m])
    axes[0].set_xticks(x, [NOISE_LABELS[n] for n in noises], rotation=30, ha="right")
    axes[0].set_ylabel("mean PSNR (dB)")
    axes[0].set_title("Mean PSNR per noise setting")
    axes[0].set_ylim(0, axes[0].get_ylim()[1] * 1.2)
    axes[0].legend(fontsize=8, ncol=len(methods), loc="upper center")
    for i in images:
        gains = [gain_over_median(results[n][i]) for n in noises]
        axes[1].plot(x, gains, marker="o", label=i)
    axes[1].axhline(0.0, color="k", lw=0.8)
    axes[1].set_xticks(x, [NOISE_LABELS[n] for n in noises], rotation=30, ha="right")
    axes[1].set_ylabel("CRC-MF minus better median (dB)")
    axes[1].set_title("Gain per image")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a subset of images and noises")
    parser.add_argument("--impl", default="crcx", help="'crcx' or 'prototype:PATH.py'")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                      "results"))
    parser.add_argument("--no-ablation", action="store_true")
    parser.add_argument("--no-bm3d", action="store_true")
    parser.add_argument("--from-json", metavar="PATH",
                        help="rewrite the report and plot from an earlier run's JSON")
    args = parser.parse_args(argv)
    stem = "quality_quick" if args.quick else "quality"
    os.makedirs(args.out, exist_ok=True)
    if args.from_json:
        with open(args.from_json) as f:
            saved = json.load(f)
        info, results, ablation = saved["info"], saved["results"], saved["ablation"]
        noises = list(results)
        images = list(results[noises[0]])
        methods = [m for m in METHODS if m in results[noises[-1]][images[0]]]
    else:
        select_implementation(args.impl)
        images = QUICK_IMAGES if args.quick else IMAGES
        noises = QUICK_NOISES if args.quick else NOISES
        methods = [m for m in METHODS if m != "bm3d" or (has_bm3d() and not args.no_bm3d)]

        def log(msg):
            print(msg, flush=True)

        results = {}
        for noise in noises:
            for image in images:
                results.setdefault(noise, {})[image] = run_cell(image, noise, methods, log)
        ablation = None
        if not args.no_ablation:
            ablation = run_ablation(ABLATION_IMAGES if not args.quick else QUICK_IMAGES[:3],
                                    noises, log)
        info = {"impl": args.impl, "mode": "quick" if args.quick else "full",
                "versions": versions()}
        with open(os.path.join(args.out, stem + ".json"), "w") as f:
            json.dump({"info": info, "results": results, "ablation": ablation}, f, indent=1)
    write_report(os.path.join(args.out, stem + ".md"), results, ablation, images, noises,
                 methods, info)
    write_plot(os.path.join(args.out, stem + ".png"), results, images, noises, methods)


if __name__ == "__main__":
    main()
