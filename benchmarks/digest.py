"""Fingerprints of crcx's outputs on the benchmarks' inputs: does a change alter results?

A change meant to leave the results alone (a refactoring, a new layout, a faster
kernel) must give the same bytes. This runs CRC-MF on every cell of the quality
benchmark (its default and each ablation row, on the ablation images) and of the
noise-space benchmark (its defaults), and the 3x3, 5x5 and 15x15 medians on the
quality benchmark's inputs, and writes one SHA-256 per output. Run it before and
after, and compare::

    python benchmarks/digest.py --out before.json
    ...  # the change, rebuilt
    python benchmarks/digest.py --out after.json --compare before.json

``--compare`` prints every output that differs and exits with status 1 if any does.
"""
import argparse
import hashlib
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import noise_space  # noqa: E402
import quality  # noqa: E402

import crcx  # noqa: E402


def fingerprint(array):
    """SHA-256 of `array`'s dtype, shape and bytes."""
    array = np.ascontiguousarray(array)
    digest = hashlib.sha256(f"{array.dtype.str}{array.shape}".encode())
    digest.update(array.tobytes())
    return digest.hexdigest()


def quality_outputs():
    """(name, output) of the quality benchmark's cells."""
    for image in quality.IMAGES:
        clean = quality.load_image(image)
        for noise in quality.NOISES:
            noisy = quality.add_noise(clean, noise, quality.seed_of(image, noise))
            channel_axis = -1 if noisy.ndim == 3 else None
            rows = quality.ABLATION if image in quality.ABLATION_IMAGES else quality.ABLATION[:1]
            for row, params in rows:
                yield (f"quality/{image}/{noise}/crc {row}",
                       crcx.crc_median(noisy, channel_axis=channel_axis, **params))
            for side in (3, 5, 15):
                window = (side, side, 1)[:noisy.ndim]
                yield f"quality/{image}/{noise}/median {side}", crcx.median(noisy, window)


def noise_space_outputs():
    """(name, output) of the noise-space benchmark's CRC-MF cells."""
    names = noise_space.TUNING + noise_space.HELD_OUT
    for tag, clean, top in noise_space.inputs(names, print):
        index = names.index(tag.split(" ")[0])
        for number, condition in enumerate(noise_space.CONDITIONS):
            noisy = noise_space.add_noise(clean, condition, index * 1000 + number, top)
            yield f"noise_space/{tag}/{condition}/crc", crcx.crc_median(noisy)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="where to write the JSON of fingerprints")
    parser.add_argument("--compare", metavar="PATH", help="fingerprints to compare with")
    args = parser.parse_args(argv)
    prints = {}
    for name, output in (*quality_outputs(), *noise_space_outputs()):
        prints[name] = fingerprint(output)
    with open(args.out, "w") as handle:
        json.dump(prints, handle, indent=0, sort_keys=True)
    print(f"{len(prints)} outputs fingerprinted into {args.out}")
    if args.compare is None:
        return 0
    with open(args.compare) as handle:
        before = json.load(handle)
    differ = sorted(name for name in prints.keys() | before.keys()
                    if prints.get(name) != before.get(name))
    for name in differ:
        print(f"differs: {name}")
    print(f"{len(differ)} of {len(prints)} outputs differ from {args.compare}")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
