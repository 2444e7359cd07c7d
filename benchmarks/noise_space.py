"""The whole noise space, as a camera delivers it: CRC-MF at its defaults, blind.

Inputs are clipped and rounded to their dtype (uint8; uint16 for two images), from
clean pictures through light Gaussian and Poisson noise to impulses of every kind.
Two image groups: the pictures the defaults of docs/algorithm.md §1.5 and §2 were
chosen on, and pictures held out from that choice, reported apart. Anchors: the 3x3
and 5x5 medians, Hwang and Haddad's adaptive median (impulse conditions), a two-phase
random-valued impulse filter (ROAD detection with 5x5 median repair), blind NL-means
(sigma from skimage's estimate) and BM3D given the true sigma (Gaussian sigma <= 5, the
reference of the low-noise target). Writes ``results/noise_space.md`` and
``results/noise_space.json``; the targets are those of docs/algorithm.md §10.

Usage::

    python benchmarks/noise_space.py [--quick]
"""
import argparse
import json
import os
import sys
import time

import numpy as np
from scipy import ndimage as ndi
from skimage import color, data, restoration
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from quality import adaptive_median_plane, has_bm3d, versions  # noqa: E402

import crcx  # noqa: E402

TUNING = ["camera", "grass", "moon", "coins", "astronaut_grey", "text", "page", "cell",
          "hubble"]
HELD_OUT = ["chelsea", "coffee", "rocket", "retina", "gravel"]
UINT16 = ["camera", "cell"]
CONDITIONS = (["clean"] + [f"g{s}" for s in (1, 2, 5, 10, 15, 25, 40)]
              + [f"p{p}" for p in (1000, 255, 60, 30, 10)]
              + [f"sp{d}" for d in (5, 10, 30, 50, 70, 90)] + ["spm10", "spm50"]
              + [f"rv{d}" for d in (5, 10, 20, 30, 40)]
              + ["hot0.1", "hot1", "dead0.1", "dead1", "g10+sp20", "g8+rv10"])
QUICK_CONDITIONS = ["clean", "g2", "g15", "p255", "sp10", "sp50", "rv10", "rv30", "hot1",
                    "g8+rv10"]
QUICK_IMAGES = ["camera", "grass", "page", "chelsea"]
METHODS = ["median3", "median5", "adaptive", "road", "nlm", "bm3d", "crc"]


# --- data -----------------------------------------------------------------------------

def load(name):
    """A clean 8-bit grey picture of skimage.data, at most 512 x 512."""
    loaders = {"astronaut_grey": data.astronaut, "hubble": data.hubble_deep_field}
    image = loaders.get(name, lambda: getattr(data, name)())()
    if image.ndim == 3:
        image = np.round(color.rgb2gray(image) * 255).astype(np.uint8)
    if name == "retina":
        image = image[300:812, 300:812]
    return image[:512, :512]


def add_noise(clean, condition, seed, top):
    """`clean` (values 0..top) under `condition`, clipped and rounded to its dtype.

    Gaussian sigmas and the salt-and-pepper values 20/235 (``spm``) are in 8-bit units
    scaled to `top`; Poisson peaks are the photon count of `top`; random-valued impulses
    are uniform over 0..top; hot pixels are top, dead pixels 0.
    """
    rng = np.random.default_rng(seed)
    x = clean.astype(np.float64)
    unit = top / 255.0

    def impulses(values, density):
        return np.where(rng.random(x.shape) < density, values, x)

    def pepper_salt(low, high, density):
        return impulses(np.where(rng.random(x.shape) < 0.5, low, high), density)

    gauss_then = condition.split("+")
    if len(gauss_then) == 2:
        x = x + rng.normal(0.0, float(gauss_then[0][1:]) * unit, x.shape)
        condition = gauss_then[1]
    if condition == "clean":
        y = x
    elif condition.startswith("g"):
        y = x + rng.normal(0.0, float(condition[1:]) * unit, x.shape)
    elif condition.startswith("p"):
        peak = float(condition[1:])
        y = rng.poisson(x * peak / top) * top / peak
    elif condition.startswith("spm"):
        y = pepper_salt(20 * unit, 235 * unit, int(condition[3:]) / 100)
    elif condition.startswith("sp"):
        y = pepper_salt(0.0, top, int(condition[2:]) / 100)
    elif condition.startswith("rv"):
        y = impulses(rng.integers(0, int(top) + 1, x.shape), int(condition[2:]) / 100)
    elif condition.startswith("hot"):
        y = impulses(top, float(condition[3:]) / 100)
    elif condition.startswith("dead"):
        y = impulses(0.0, float(condition[4:]) / 100)
    else:
        raise ValueError(condition)
    return np.clip(np.rint(y), 0, top).astype(clean.dtype)


def true_sigma(condition, top):
    """The Gaussian sigma of a pure Gaussian condition, else None."""
    if condition.startswith("g") and "+" not in condition:
        return float(condition[1:]) * top / 255.0
    return None


# --- anchors --------------------------------------------------------------------------

def road_two_phase(image, top):
    """Garnett et al. (2005): a pixel whose four smallest absolute differences to its 8
    neighbours sum above 60 (8-bit units) is an impulse; it takes the 5x5 median."""
    x = image.astype(np.float64)
    padded = np.pad(x, 1, mode="symmetric")
    height, width = x.shape
    differences = np.sort(np.stack([np.abs(padded[1 + dy:1 + dy + height, 1 + dx:1 + dx + width]
                                           - x)
                                    for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx]),
                          axis=0)
    flagged = differences[:4].sum(axis=0) > 60.0 * top / 255.0
    return np.where(flagged, ndi.median_filter(x, 5, mode="reflect"), x)


def blind_nlm(image, top):
    """skimage's NL-means with sigma from estimate_sigma, h = 0.8 sigma, patch 5,
    distance 6, fast mode (ANCHORS.md)."""
    x = image.astype(np.float64) / top
    sigma = max(float(restoration.estimate_sigma(x)), 1e-6)
    return top * restoration.denoise_nl_means(x, h=0.8 * sigma, sigma=sigma, patch_size=5,
                                              patch_distance=6, fast_mode=True)


def bm3d_given_sigma(image, sigma, top):
    import bm3d
    return top * bm3d.bm3d(image.astype(np.float64) / top, sigma_psd=sigma / top)


# --- measuring ------------------------------------------------------------------------

def scores(clean, out, top):
    clean, out = clean.astype(np.float64), np.asarray(out, np.float64)
    if np.array_equal(clean, out):
        return {"psnr": float("inf"), "ssim": 1.0}
    return {"psnr": float(peak_signal_noise_ratio(clean, out, data_range=top)),
            "ssim": float(structural_similarity(clean, out, data_range=top))}


def run_cell(clean, condition, seed, top, log, tag):
    noisy = add_noise(clean, condition, seed, top)
    cell = {"noisy": scores(clean, noisy, top)}
    impulsive = any(condition.startswith(k) or f"+{k}" in condition
                    for k in ("sp", "rv", "hot", "dead"))
    sigma = true_sigma(condition, top)
    for method in METHODS:
        start = time.perf_counter()
        if method in ("median3", "median5"):
            out = ndi.median_filter(noisy, int(method[-1]), mode="reflect")
        elif method == "adaptive":
            if not impulsive:
                continue
            out = adaptive_median_plane(noisy.astype(np.float64))
        elif method == "road":
            out = road_two_phase(noisy, top)
        elif method == "nlm":
            out = blind_nlm(noisy, top)
        elif method == "bm3d":
            if sigma is None or sigma > 5 * top / 255.0 or not has_bm3d():
                continue
            out = bm3d_given_sigma(noisy, sigma, top)
        else:
            out = crcx.crc_median(noisy)
        cell[method] = {**scores(clean, out, top), "time": time.perf_counter() - start}
    log(f"  {tag:22s} {condition:9s} noisy {cell['noisy']['psnr']:6.2f}  "
        + "  ".join(f"{m} {cell[m]['psnr']:6.2f}" for m in METHODS if m in cell))
    return cell


def inputs(names, log):
    """(tag, clean, top) of each picture of the group, with the uint16 copies."""
    for name in names:
        clean = load(name)
        yield name, clean, 255.0
        if name in UINT16:
            yield f"{name} (uint16)", clean.astype(np.uint16) * 257, 65535.0


# --- targets --------------------------------------------------------------------------

def better_median(cell, key="psnr"):
    return max(cell["median3"][key], cell["median5"][key])


def misses(results):
    """Cells missing each target of docs/algorithm.md §10 (noise space)."""
    out = {name: [] for name in (
        "clean: >= 45 dB and SSIM >= 0.995 where NL-means keeps >= 45 dB",
        "clean: at most 1 dB below NL-means",
        "low noise: not below the input", "low noise: half of BM3D's gain (true sigma)",
        "low noise: at least NL-means - 0.5 dB",
        "random-valued: at least the better median",
        "every cell: PSNR and SSIM >= the better median where it improves on the input",
        "every cell: not below the input")}
    for tag, cells in results.items():
        for condition, cell in cells.items():
            crc, noisy, where = cell["crc"], cell["noisy"], f"{tag} / {condition}"
            if condition == "clean":
                if cell["nlm"]["psnr"] >= 45 and (crc["psnr"] < 45 or crc["ssim"] < 0.995):
                    out[list(out)[0]].append(f"{where} ({crc['psnr']:.2f} dB, {crc['ssim']:.4f})")
                if crc["psnr"] < cell["nlm"]["psnr"] - 1:
                    out[list(out)[1]].append(f"{where} ({crc['psnr'] - cell['nlm']['psnr']:+.2f})")
                continue
            if condition in ("g1", "g2", "g5", "p1000"):
                if crc["psnr"] < noisy["psnr"]:
                    out[list(out)[2]].append(f"{where} ({crc['psnr'] - noisy['psnr']:+.2f})")
                if "bm3d" in cell:
                    gain = cell["bm3d"]["psnr"] - noisy["psnr"]
                    if crc["psnr"] - noisy["psnr"] < 0.5 * gain:
                        out[list(out)[3]].append(
                            f"{where} ({crc['psnr'] - noisy['psnr']:+.2f} of {gain:+.2f})")
                if crc["psnr"] < cell["nlm"]["psnr"] - 0.5:
                    out[list(out)[4]].append(f"{where} ({crc['psnr'] - cell['nlm']['psnr']:+.2f})")
            if condition.startswith("rv") and crc["psnr"] < better_median(cell):
                out[list(out)[5]].append(f"{where} ({crc['psnr'] - better_median(cell):+.2f})")
            if better_median(cell) > noisy["psnr"] and (
                    crc["psnr"] < better_median(cell) or crc["ssim"] < better_median(cell, "ssim")):
                out[list(out)[6]].append(f"{where} ({crc['psnr'] - better_median(cell):+.2f} dB)")
            if crc["psnr"] < noisy["psnr"]:
                out[list(out)[7]].append(f"{where} ({crc['psnr'] - noisy['psnr']:+.2f})")
    return out


def summary(results, conditions):
    """Rows of mean PSNR per condition and method over the group's pictures."""
    rows = []
    for condition in conditions:
        cells = [cells[condition] for cells in results.values() if condition in cells]
        finite = [c for c in cells if np.isfinite(c["crc"]["psnr"])]
        row = [condition, len(cells)]
        for method in ["noisy"] + METHODS:
            have = [c[method]["psnr"] for c in cells if method in c]
            row.append(np.mean(np.minimum(have, 100.0)) if len(have) == len(cells) else None)
        road = [c["crc"]["psnr"] - c["road"]["psnr"] for c in finite]
        row.append(np.mean(road) if condition.startswith("rv") else None)
        rows.append(row)
    return rows


def report(groups, conditions, info):
    lines = ["# CRC-MF over the noise space (uint8 and uint16, clipped and rounded)", "",
             f"Generated by `python benchmarks/noise_space.py`; {info['versions']}.",
             "Seeds: image index x 1000 + condition index, one noise draw per cell.",
             "Mean PSNR (dB) over each group's pictures; an unchanged clean picture counts",
             "as 100 dB. `road`: the two-phase ROAD + 5x5 median anchor; `nlm`: blind",
             "NL-means; `bm3d`: BM3D given the true sigma (Gaussian sigma <= 5 only).", ""]
    for group, (names, results) in groups.items():
        lines += [f"## {group}: {', '.join(names)} (uint16 copies: "
                  f"{', '.join(n for n in names if n in UINT16) or 'none'})", "",
                  "| condition | pictures | noisy | " + " | ".join(METHODS)
                  + " | CRC-MF - road |", "|" + "---|" * (len(METHODS) + 4)]
        for row in summary(results, conditions):
            lines.append("| " + " | ".join(
                "–" if v is None else (f"{v:.2f}" if isinstance(v, float) else str(v))
                for v in row) + " |")
        lines += ["", "Cells that miss a target:", ""]
        for target, cells in misses(results).items():
            lines.append(f"- **{target}**: {len(cells)} cells" + (": " + "; ".join(cells)
                                                                  if cells else ""))
        lines.append("")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a subset of pictures and conditions")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results"))
    args = parser.parse_args()
    conditions = QUICK_CONDITIONS if args.quick else CONDITIONS
    chosen = [n for n in TUNING + HELD_OUT if not args.quick or n in QUICK_IMAGES]
    groups = {}
    for group, names in (("Tuning pictures", TUNING), ("Held-out pictures", HELD_OUT)):
        names = [n for n in names if n in chosen]
        results = {}
        for tag, clean, top in inputs(names, print):
            index = (TUNING + HELD_OUT).index(tag.split(" ")[0])
            results[tag] = {c: run_cell(clean, c, index * 1000 + CONDITIONS.index(c), top, print,
                                        tag) for c in conditions}
        groups[group] = (names, results)
    info = {"versions": versions(), "mode": "quick" if args.quick else "full"}
    stem = "noise_space_quick" if args.quick else "noise_space"
    with open(os.path.join(args.out, stem + ".json"), "w") as f:
        json.dump({"info": info, "results": {g: r for g, (_, r) in groups.items()}}, f, indent=1)
    with open(os.path.join(args.out, stem + ".md"), "w") as f:
        f.write(report(groups, conditions, info))


if __name__ == "__main__":
    main()
