"""Load Images (Folder) speed and memory against loading every file the simple way, in the same run.

    python benchmarks/image_folder.py [--frames 240] [--size 512] [--repeats 3]

Rows (a folder of PNG frames written first):
- SteadyFrame: ``video.image_folder.load_image_folder`` (headers first, the batch filled in place);
- simple: every file opened with Pillow, EXIF-transposed, converted and turned into a float
  tensor, then one ``torch.stack`` (what chaining core Load Image per frame, or most folder
  loaders, amounts to);
- a selection (every 8th frame, cap 16) with SteadyFrame, which opens only the selected files.
Times are the best of ``--repeats``, the cases taking turns; peak RSS above the process's RSS
before loading is measured in a fresh process per case; "result" is the IMAGE plus the MASK
(zeros here: the frames have no alpha).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _pack import import_pack, machine_line, print_table  # noqa: E402

import_pack()
from steadyframe.video.image_folder import list_images, load_image_folder  # noqa: E402


def write_folder(folder: Path, frames: int, size: int) -> None:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    for i in range(frames):
        r = 127 + 100 * np.sin(xx / 23 + i / 7)
        g = 127 + 100 * np.cos(yy / 19 - i / 9)
        b = 127 + 80 * np.sin((xx + yy) / 31 + i / 5)
        pixels = np.stack([r, g, b], axis=-1) + rng.normal(0, 3, (size, size, 3))
        Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(folder / f"frame{i}.png", compress_level=1)


def load_simple(folder: str) -> tuple[torch.Tensor, torch.Tensor]:
    tensors = []
    for name in list_images(folder):
        with Image.open(os.path.join(folder, name)) as opened:
            image = ImageOps.exif_transpose(opened).convert("RGB")
            tensors.append(torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0))
    images = torch.stack(tensors)
    return images, torch.zeros(images.shape[:3])  # no alpha: core Load Image's zero mask


def load_ours(folder: str, **selection) -> tuple[torch.Tensor, torch.Tensor]:
    loaded = load_image_folder(folder, **selection)
    return loaded.images, loaded.mask


CASES = {
    "steadyframe": load_ours,
    "simple": load_simple,
    "steadyframe every 8th, cap 16": lambda folder: load_ours(folder, select_every_nth=8, image_load_cap=16),
}


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak_rss() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def child(case: str, folder: str) -> None:
    before = _rss()
    result = CASES[case](folder)
    print(json.dumps({"peak": _peak_rss() - before, "result": sum(t.numel() * t.element_size() for t in result)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=240)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    with tempfile.TemporaryDirectory() as tmp:
        write_folder(Path(tmp), args.frames, args.size)
        best = dict.fromkeys(CASES, float("inf"))
        for _ in range(args.repeats):
            for case, load in CASES.items():
                start = time.perf_counter()
                load(tmp)
                best[case] = min(best[case], time.perf_counter() - start)
        memory = {}
        for case in CASES:
            out = subprocess.run([sys.executable, __file__, "--child", case, tmp], capture_output=True, text=True,
                                 check=True)
            memory[case] = json.loads(out.stdout.strip().splitlines()[-1])
    print(machine_line())
    print(f"{args.frames} PNG frames of {args.size}x{args.size}, best of {args.repeats}")
    rows = []
    for case in CASES:
        frames = 16 if "cap" in case else args.frames
        rows.append([case, f"{best[case]:.2f}", f"{frames / best[case]:.0f}", f"{best['simple'] / best[case]:.2f}x",
                     f"{memory[case]['peak'] / 2**20:.0f}", f"{memory[case]['result'] / 2**20:.0f}"])
    print_table(["case", "seconds", "frames/s", "speed vs simple", "peak RSS MB", "result MB"], rows)


if __name__ == "__main__":
    main()
