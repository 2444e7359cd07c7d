"""Scale check of ``crcx denoise`` on a folder: failures, a kill, and the resumed run.

Builds a folder of small images (8- and 16-bit, PNG and TIFF, grey, colour and stacks)
with a few corrupt files, runs ``crcx denoise`` on it, kills it with SIGKILL once part
of the outputs exist, runs it again, and checks the result: every good input written
exactly once and equal to the in-memory filter, every corrupt file reported, the exit
codes, and no partial file left. Writes ``benchmarks/results/collection.md``.

Not a test: run ``python benchmarks/collection.py`` (``--help`` for the options).
"""
import argparse
import datetime
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from crcx._apps.collection import denoise_image
from crcx._apps.io import partial_files, read_image, write_image

SEED = 20240611
RESULTS = Path(__file__).parent / "results" / "collection.md"
# Kinds of input, cycled through: (suffix, dtype, shape suffix after (rows, columns)).
KINDS = [(".png", np.uint8, ()), (".png", np.uint16, ()), (".tif", np.uint8, ()),
         (".tif", np.uint16, ()), (".png", np.uint8, (3,)), (".tif", np.uint16, (3,))]


def build_folder(folder, count, side, corrupt):
    """`count` images of `side` x `side`, `corrupt` of them unreadable; their names."""
    rng = np.random.default_rng(SEED)
    folder.mkdir(parents=True)
    good = []
    for index in range(count - corrupt):
        suffix, dtype, channels = KINDS[index % len(KINDS)]
        clean = np.add.outer(np.arange(side), np.arange(side)) * (np.iinfo(dtype).max / (2 * side))
        image = clean[..., None] if channels else clean
        noisy = image + rng.normal(0, np.iinfo(dtype).max / 20, (side, side) + channels)
        impulses = rng.random(noisy.shape) < 0.1
        noisy[impulses] = rng.choice([0, np.iinfo(dtype).max], impulses.sum())
        name = f"image{index:04d}{suffix}"
        write_image(folder / name, np.clip(noisy, 0, np.iinfo(dtype).max).astype(dtype))
        good.append(name)
    bad = []
    for index in range(corrupt):
        # Truncated mid-image copies of good files, PNG and TIFF in turn.
        suffix = (".png", ".tif")[index % 2]
        original = next(name for name in good if name.endswith(suffix))
        data = (folder / original).read_bytes()
        name = f"corrupt{index}{suffix}"
        (folder / name).write_bytes(data[: len(data) // 3])
        bad.append(name)
    return good, bad


def command(folder, out, method, jobs):
    return [sys.executable, "-m", "crcx", "denoise", str(folder), "-o", str(out),
            "--method", method, "--jobs", str(jobs), "--no-progress"]


def interrupted_run(arguments, out, kill_after):
    """Start crcx, SIGKILL it once `kill_after` outputs exist; what it had done by then."""
    start = time.perf_counter()
    process = subprocess.Popen(arguments, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    written = 0
    while process.poll() is None:
        written = sum(1 for entry in os.scandir(out) if not entry.name.startswith(".")) \
            if out.exists() else 0
        if written >= kill_after:
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.005)
    process.communicate()
    return {"exit code": process.returncode, "seconds": time.perf_counter() - start,
            "outputs when killed": written, "partial files left": len(partial_files(out))
            if out.exists() else 0, "killed": process.returncode == -signal.SIGKILL}


def full_run(arguments):
    start = time.perf_counter()
    result = subprocess.run(arguments, capture_output=True, text=True)
    return {"exit code": result.returncode, "seconds": time.perf_counter() - start,
            "summary": result.stdout.strip().splitlines()[-1] if result.stdout.strip() else "",
            "failures reported": [line for line in result.stderr.splitlines()
                                  if line.startswith("crcx: failed:")]}


def verify(folder, out, good, bad, method):
    """Outputs present, equal to the in-memory filter, none for corrupt inputs."""
    written = sorted(entry.name for entry in out.iterdir() if not entry.name.startswith("."))
    mismatches = [name for name in good if name in written and not np.array_equal(
        read_image(out / name), denoise_image(read_image(folder / name), method))]
    return {"outputs": len(written), "missing": sorted(set(good) - set(written)),
            "unexpected": sorted(set(written) - set(good)), "mismatches": mismatches,
            "corrupt written": [name for name in bad if name in written]}


def report(args, method, first, second, third, checks):
    ok = (first["killed"] and second["exit code"] == 1 and checks["outputs"] == args.count
          - args.corrupt and not (checks["missing"] or checks["unexpected"]
                                  or checks["mismatches"] or checks["corrupt written"])
          and len(second["failures reported"]) == args.corrupt and third["exit code"] == 1
          and third["summary"].startswith(f"0 written, {args.count - args.corrupt} skipped")
          and second["partial files left"] == 0)
    lines = [
        "# `crcx denoise` on a folder: failures, a kill and the resumed run", "",
        "Written by `python benchmarks/collection.py`.", "",
        "| item | value |", "| --- | --- |",
        f"| Date | {datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')} |",
        f"| Machine | {platform.platform()}, {os.cpu_count()} logical cores, load "
        f"{', '.join(f'{x:.2f}' for x in os.getloadavg())} |",
        f"| Folder | {args.count} files of {args.side}x{args.side}: 8/16-bit PNG and TIFF, "
        f"grey and RGB; {args.corrupt} corrupt (truncated) |",
        f"| Command | `crcx denoise IN -o OUT --method {method} --jobs {args.jobs}` |", "",
        "| run | exit code | time s | result |", "| --- | --- | --- | --- |",
        f"| 1: killed (SIGKILL) once {args.kill_after} outputs existed | {first['exit code']} | "
        f"{first['seconds']:.2f} | {first['outputs when killed']} outputs, "
        f"{first['partial files left']} partial files left by the kill |",
        f"| 2: the same command again | {second['exit code']} | {second['seconds']:.2f} | "
        f"{second['summary']}; {len(second['failures reported'])} failures reported; "
        f"{second['partial files left']} partial files left |",
        f"| 3: once more (nothing to do) | {third['exit code']} | {third['seconds']:.2f} | "
        f"{third['summary']} |", "",
        f"- Outputs: {checks['outputs']} of {args.count - args.corrupt} good inputs; missing "
        f"{checks['missing'] or 'none'}; unexpected {checks['unexpected'] or 'none'}; "
        f"differing from the in-memory filter {checks['mismatches'] or 'none'}; corrupt "
        f"inputs written {checks['corrupt written'] or 'none'}.",
        "- Failures reported:", *[f"  - `{line}`" for line in second["failures reported"]], "",
        f"**{'PASS' if ok else 'FAIL'}**: the killed run resumes to a complete, correct "
        "output folder with every corrupt file reported and no partial file left.", ""]
    return "\n".join(lines), ok


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200, help="files in the folder (200)")
    parser.add_argument("--corrupt", type=int, default=2, help="corrupt files among them (2)")
    parser.add_argument("--side", type=int, default=128, help="image side in pixels (128)")
    parser.add_argument("--method", choices=("crc", "median"),
                        help="default crc when this build has it, else median")
    parser.add_argument("--jobs", type=int, default=2, help="crcx denoise --jobs (2)")
    parser.add_argument("--kill-after", type=int, default=60,
                        help="outputs to wait for before the kill (60)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="report file")
    args = parser.parse_args()
    method = args.method or "crc"
    with tempfile.TemporaryDirectory() as scratch:
        folder, out = Path(scratch, "in"), Path(scratch, "out")
        good, bad = build_folder(folder, args.count, args.side, args.corrupt)
        arguments = command(folder, out, method, args.jobs)
        first = interrupted_run(arguments, out, args.kill_after)
        second = {**full_run(arguments), "partial files left": None}
        second["partial files left"] = len(partial_files(out))
        third = full_run(arguments)
        checks = verify(folder, out, good, bad, method)
    text, ok = report(args, method, first, second, third, checks)
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
