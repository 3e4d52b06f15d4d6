"""Deflicker of a long video in chunks against one run over the whole video.

    python benchmarks/deflicker_chunks.py                      # 240 frames of 40x56, windows 9/25/49
    python benchmarks/deflicker_chunks.py --frames 600 --size 96x64 --drift 0

A synthetic clip with exact ground truth (tests/support/deflicker_synthetic.py): a moving texture
under slow real lighting drift (``--drift``: amplitude of a sine over ~250 frames; 0 = none) with
injected per-frame flicker. Each row deflickers it whole (the baseline, same run) and chunk by
chunk (state through real chunking.state files, lead frames dropped as Video Combine drops them).

Columns: PSNR of the chunked output against the whole run's; PSNR to the clean truth of the
whole run and of the chunked run, and their difference (issue 16 asks for at most 0.5 dB);
seconds for each (chunked includes re-reading the overlap and the state files).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _pack import import_pack, machine_line, print_table  # noqa: E402

import_pack()
from steadyframe.chunking import ChunkPlan, load_state, save_state  # noqa: E402
from steadyframe.postprocess.chunk_span import ChunkSpan  # noqa: E402
from steadyframe.postprocess.deflicker import GlobalSettings, deflicker_clip  # noqa: E402
from steadyframe.postprocess.deflicker_chunks import DeflickerCarry, deflicker_chunk  # noqa: E402
from steadyframe.postprocess.metrics import psnr  # noqa: E402
from support.deflicker_synthetic import inject_flicker, moving_clip  # noqa: E402


def chunked(images, plan, settings, state_dir):
    written = []
    for index in range(plan.count):
        chunk = plan.chunk(index, "bench", state_dir)
        loaded = load_state(chunk, "deflicker.1")
        result, carry = deflicker_chunk(images[chunk.first:chunk.end], ChunkSpan.of(chunk), settings,
                                        None if loaded is None else DeflickerCarry(*loaded))
        if carry is not None:
            save_state(chunk, "deflicker.1", carry.tensors, carry.meta)
        written.append(result.images[chunk.lead:])
    return torch.cat(written)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=240)
    parser.add_argument("--size", default="56x40", help="WxH")
    parser.add_argument("--drift", type=float, default=0.15)
    parser.add_argument("--windows", default="9,25,49")
    parser.add_argument("--chunks", default="40/4,100/8,60/0", help="chunk_frames/overlap, comma-separated")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    frames = args.frames
    clip = moving_clip(frames, height, width, motion=(2, 1), seed=3)
    drift = (1 + args.drift * torch.sin(torch.arange(frames) / 40.0)).view(frames, 1, 1, 1)
    clean = (clip.clean * drift).clamp(0, 1)
    flickering = inject_flicker(clean, gain=0.1, offset=0.02, tint=0.03, seed=4)
    print(machine_line())
    print(f"{frames} frames of {width}x{height}, lighting drift {args.drift}; input PSNR to truth "
          f"{psnr(flickering, clean):.2f} dB")
    rows = []
    for window in (int(w) for w in args.windows.split(",")):
        for method in ("moments", "quantiles"):
            settings = GlobalSettings(window=window, method=method)
            start = time.perf_counter()
            whole = deflicker_clip(flickering, settings).images
            whole_seconds = time.perf_counter() - start
            for spec in args.chunks.split(","):
                chunk_frames, overlap = (int(v) for v in spec.split("/"))
                with tempfile.TemporaryDirectory() as state_dir:
                    start = time.perf_counter()
                    result = chunked(flickering, ChunkPlan(frames, chunk_frames, overlap), settings, state_dir)
                    seconds = time.perf_counter() - start
                to_whole, to_truth_whole, to_truth = psnr(result, whole), psnr(whole, clean), psnr(result, clean)
                rows.append([f"{method} w{window}", f"{chunk_frames}/{overlap}", f"{to_whole:.2f}",
                             f"{to_truth_whole:.3f}", f"{to_truth:.3f}", f"{to_truth - to_truth_whole:+.3f}",
                             f"{whole_seconds:.2f}", f"{seconds:.2f}", f"{seconds / whole_seconds:.2f}x"])
    print_table(["mode", "chunk/overlap", "PSNR vs whole dB", "truth: whole", "truth: chunked", "diff dB",
                 "whole s", "chunked s", "ratio"], rows)


if __name__ == "__main__":
    main()
