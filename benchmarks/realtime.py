"""The real-time preset of CRC-MF over the noise space, against its targets.

``crcx.crc_median(image, preset="realtime")`` on the pictures, conditions and seeds of
``noise_space.py`` (both groups, uint8 and uint16, clipped and rounded), beside the 3x3
and 5x5 medians computed here and the quality preset's PSNR read from
``results/noise_space.json`` (the same inputs). The targets are those the issue
"CRC-MF fast and lean" sets the preset: at least the better median wherever the median
improves on the input, a mean gain of 2 dB or more over it (over the noisy cells: a
clean picture left unchanged would count 100 dB), clean pictures almost unchanged
(>= 45 dB, SSIM >= 0.995) and never below the input. Its speed is in
``crc_speed.py``. Writes ``results/realtime.md``.

Usage::

    python benchmarks/realtime.py [--quick] [--sample N]

``--sample N`` runs the preset with another sample (the estimate's pixels, §13),
written to ``results/realtime_sampleN.md``: how the default was chosen.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
from scipy import ndimage as ndi

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from noise_space import (CONDITIONS, HELD_OUT, QUICK_CONDITIONS, QUICK_IMAGES,  # noqa: E402
                         TUNING, add_noise, better_median, inputs, scores)
from quality import versions  # noqa: E402

import crcx  # noqa: E402

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
MEAN_GAIN = 2.0          # dB over the better median, mean over a group's noisy cells
CLEAN_PSNR, CLEAN_SSIM = 45.0, 0.995


def run_cell(clean, condition, seed, top, options):
    noisy = add_noise(clean, condition, seed, top)
    cell = {"noisy": scores(clean, noisy, top)}
    for size in (3, 5):
        cell[f"median{size}"] = scores(clean, ndi.median_filter(noisy, size, mode="reflect"), top)
    start = time.perf_counter()
    out = crcx.crc_median(noisy, options=options)
    cell["realtime"] = {**scores(clean, out, top), "time": time.perf_counter() - start}
    return cell


def misses(cells):
    """{target: [cell that misses it]} of the real-time preset's targets."""
    out = {"clean: >= 45 dB and SSIM >= 0.995": [],
           "PSNR and SSIM >= the better median where it improves on the input": [],
           "not below the input": []}
    keys = list(out)
    for where, cell in cells.items():
        rt, noisy = cell["realtime"], cell["noisy"]
        if where[1] == "clean":
            if rt["psnr"] < CLEAN_PSNR or rt["ssim"] < CLEAN_SSIM:
                out[keys[0]].append(f"{' / '.join(where)} ({rt['psnr']:.2f} dB, {rt['ssim']:.4f})")
            continue
        best = better_median(cell)
        if best > noisy["psnr"] and (rt["psnr"] < best or rt["ssim"] < better_median(cell, "ssim")):
            out[keys[1]].append(f"{' / '.join(where)} ({rt['psnr'] - best:+.2f} dB)")
        if rt["psnr"] < noisy["psnr"]:
            out[keys[2]].append(f"{' / '.join(where)} ({rt['psnr'] - noisy['psnr']:+.2f})")
    return out


def report(groups, conditions, quality):
    lines = ["# The real-time preset over the noise space", "",
             f"Written by `python benchmarks/realtime.py`; {versions()}.",
             "Inputs, seeds and pictures of `noise_space.py`. Mean PSNR (dB) over each "
             "group's pictures, an unchanged clean picture counting 100 dB; `quality`: the "
             "default preset, from `results/noise_space.json`; ms: the real-time preset's "
             "mean time per picture (512x512 at most, default threads).", ""]
    for group, cells in groups.items():
        lines += [f"## {group}: {', '.join(dict.fromkeys(tag for tag, _ in cells))}", "",
                  "| condition | noisy | median3 | median5 | realtime | quality | "
                  "realtime - better median | ms |", "|---|---|---|---|---|---|---|---|"]
        gains = []
        for condition in conditions:
            rows = {tag: cell for (tag, c), cell in cells.items() if c == condition}
            mean = {m: np.mean([min(cell[m]["psnr"], 100.0) for cell in rows.values()])
                    for m in ("noisy", "median3", "median5", "realtime")}
            known = [quality.get(group, {}).get(tag, {}).get(condition) for tag in rows]
            mean_quality = (f"{np.mean([min(q['crc']['psnr'], 100.0) for q in known]):.2f}"
                            if all(known) else "–")
            gain = [min(cell["realtime"]["psnr"], 100.0) - better_median(cell)
                    for cell in rows.values()]
            if condition != "clean":
                gains += gain
            ms = 1e3 * np.mean([cell["realtime"]["time"] for cell in rows.values()])
            lines.append(f"| {condition} | {mean['noisy']:.2f} | {mean['median3']:.2f} | "
                         f"{mean['median5']:.2f} | {mean['realtime']:.2f} | {mean_quality} | "
                         f"{np.mean(gain):+.2f} | {ms:.0f} |")
        mean_gain = float(np.mean(gains))
        lines += ["", f"- **mean gain over the better median, noisy cells**: {mean_gain:+.2f} dB: "
                  f"{'pass' if mean_gain >= MEAN_GAIN else 'FAIL'} (goal: {MEAN_GAIN:+g} dB)"]
        for target, missed in misses(cells).items():
            lines.append(f"- **{target}**: {len(missed)} cells missed"
                         + (": " + "; ".join(missed) if missed else ""))
        lines.append("")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a subset of pictures and conditions")
    parser.add_argument("--sample", type=int, help="the estimate's sample (default the preset's)")
    args = parser.parse_args()
    options = crcx.CRCOptions.preset("realtime")
    if args.sample is not None:
        options = options.replace(sample=args.sample)
    conditions = QUICK_CONDITIONS if args.quick else CONDITIONS
    with open(os.path.join(RESULTS, "noise_space.json")) as f:
        quality = json.load(f)["results"]
    groups = {}
    for group, names in (("Tuning pictures", TUNING), ("Held-out pictures", HELD_OUT)):
        names = [n for n in names if not args.quick or n in QUICK_IMAGES]
        cells = {}
        for tag, clean, top in inputs(names, print):
            index = (TUNING + HELD_OUT).index(tag.split(" ")[0])
            for condition in conditions:
                cell = run_cell(clean, condition, index * 1000 + CONDITIONS.index(condition),
                                top, options)
                cells[tag, condition] = cell
                print(f"{tag:22s} {condition:9s} "
                      + "  ".join(f"{m} {v['psnr']:6.2f}" for m, v in cell.items()), flush=True)
        groups[group] = cells
    stem = ("realtime" + ("_quick" if args.quick else "")
            + ("" if args.sample is None else f"_sample{args.sample}"))
    with open(os.path.join(RESULTS, stem + ".md"), "w") as f:
        f.write(report(groups, conditions, quality))


if __name__ == "__main__":
    main()
