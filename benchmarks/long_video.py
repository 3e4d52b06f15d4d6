"""Long video in chunks: Load Video -> Deflicker -> Interpolate x2 -> Video Combine, long vs short.

    python benchmarks/long_video.py                                  # 3,000 vs 300 frames of 512x512
    python benchmarks/long_video.py --long 60 --short 20 --size 64x64 --check 40   # a quick look

The chain is the one a chunked workflow runs, node by node, with each node's own pure code:
Load Video Frames (Chunked)'s selection of each chunk (``chunk_selection`` made seekable, as the
loader does), Deflicker with its chunk state in real ``chunking.state`` files (the node's
``run_with_state``), Interpolate Frames x2 on the chunk (``interpolate_chunk``: only the output
frames the chunk owns) and Video Combine's segments (``new_frames``, ``write_segment`` with its
frame-count record, ``join_segments``). The source is made here with PyAV: a periodic texture
drifting 2x1 px per frame, a disc on a circular path, a 12-bit frame-number code in the top-left
corner, and per-frame flicker (gain, offset, tint), encoded losslessly (h264 qp 0, 4:4:4).

Each chained run is its own subprocess; its peak RSS is the child's ``ru_maxrss`` (``os.wait4``),
so nothing of this process or of the other run counts. This process imports no torch.

Tables:
1. memory: frames, size, chunk/overlap, output frames, seconds, peak RSS of the long and of the
   short run and the ratio (issue 16: at most 1.1);
2. output: frame count against ``2N - 1``, every decoded timestamp against ``i / fps_out``
   (exact fractions), and the order: the frame code of every source frame at output ``2i``
   (order errors); in-betweens with a code block outside their neighbours' range are counted on
   their own (a flaw of the flow-warped picture, which the unchunked run has too, not of order);
3. against the unchunked run, on ``--check`` frames (where the unchunked run fits in memory):
   loaded frames and Load -> Interpolate (the stateless stages) compared bit for bit; Deflicker's
   chunked output against the whole run's (PSNR), and both runs' PSNR to the clean truth
   (issue 16: within 0.5 dB).
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

HERE = Path(__file__).resolve()
CODE_BITS = 12          # frame-number code: up to 4,096 source frames
CODE_BLOCK = 8          # pixels per code block (fewer where the frame is narrower than 12 blocks)
FPS = 24
FLICKER_GAIN, FLICKER_OFFSET, FLICKER_TINT = 0.08, 0.02, 0.02


# --- the source (children only: these import torch) -------------------------------------------

def _scene(width: int, height: int, seed: int = 7):
    """The periodic texture (H, W, 3) every frame is cut from."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    ys = torch.arange(height, dtype=torch.float64).view(-1, 1) / height
    xs = torch.arange(width, dtype=torch.float64).view(1, -1) / width
    texture = torch.zeros(3, height, width, dtype=torch.float64)
    for _ in range(12):  # whole frequencies: the texture wraps around seamlessly
        fx, fy = (int(v) for v in torch.randint(1, 7, (2,), generator=generator))
        phase = float(torch.rand(1, generator=generator)) * 6.283
        colour = torch.rand(3, 1, 1, generator=generator, dtype=torch.float64) - 0.5
        texture += colour * torch.sin(6.283185307 * (fx * xs + fy * ys) + phase)
    texture = 0.5 + 0.3 * texture / texture.abs().max()
    return texture.permute(1, 2, 0).to(torch.float32)


def clean_frame(texture, index: int):
    """Source frame ``index`` before flicker: (H, W, 3) float 0..1."""
    import math

    import torch

    height, width = texture.shape[:2]
    frame = torch.roll(texture, shifts=(index, 2 * index), dims=(0, 1)).clone()
    angle = 2 * math.pi * index / 120
    cx, cy = width / 2 + width / 4 * math.cos(angle), height / 2 + height / 4 * math.sin(angle)
    ys = torch.arange(height, dtype=torch.float32).view(-1, 1)
    xs = torch.arange(width, dtype=torch.float32).view(1, -1)
    disc = (((xs - cx) ** 2 + (ys - cy) ** 2).sqrt() < min(width, height) / 8).unsqueeze(-1)
    frame = torch.where(disc, torch.tensor([0.85, 0.3, 0.2]), frame)
    block = code_block(width)
    for bit in range(CODE_BITS):
        value = 0.9 if (index >> bit) & 1 else 0.1
        frame[:block, bit * block:(bit + 1) * block] = value
    return frame


def flickering(frame, index: int):
    import torch

    generator = torch.Generator().manual_seed(100_000 + index)
    gain = 1 + FLICKER_GAIN * float(torch.randn(1, generator=generator))
    offset = FLICKER_OFFSET * float(torch.randn(1, generator=generator))
    tint = FLICKER_TINT * torch.randn(3, generator=generator)
    return (frame * gain + offset + tint).clamp(0, 1)


def code_block(width: int) -> int:
    return max(3, min(CODE_BLOCK, width // CODE_BITS))


def read_code(frame) -> list[float]:
    """Mean of each code block's inside of a decoded frame (H, W, 3): (CODE_BITS,) 0..1."""
    block = code_block(frame.shape[1])
    return [float(frame[1:block - 1, b * block + 1:(b + 1) * block - 1].mean()) for b in range(CODE_BITS)]


def code_value(blocks: list[float]) -> int:
    return sum(1 << b for b, v in enumerate(blocks) if v > 0.5)


def make_source(path: str, frames: int, width: int, height: int) -> dict:
    import av
    import numpy as np

    texture = _scene(width, height)
    with av.open(path, mode="w") as out:
        stream = out.add_stream("libx264", rate=FPS, options={"qp": "0", "preset": "veryfast"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv444p"
        stream.codec_context.gop_size = 250
        for index in range(frames):
            array = (flickering(clean_frame(texture, index), index) * 255).round().to(dtype=__import__("torch").uint8)
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(array.numpy()), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return {"path": path, "bytes": os.path.getsize(path)}


# --- the chained run ----------------------------------------------------------------------------

def _pack():
    sys.path.insert(0, str(HERE.parent))
    from _pack import import_pack

    return import_pack()


def chained(source: str, work: str, chunk_frames: int, overlap: int, preset: str, deflicker: bool = True,
            output: str = "", keep: bool = False):
    """The chunked chain on ``source``; returns (summary dict, the output frames when ``keep``)."""
    import torch

    _pack()
    from steadyframe.chunking import ChunkPlan
    from steadyframe.comfy_glue.chunk_state import run_with_state
    from steadyframe.flow.provider import FlowOptions
    from steadyframe.postprocess.chunk_span import ChunkSpan
    from steadyframe.postprocess.chunked_timing import interpolate_chunk
    from steadyframe.postprocess.deflicker import GlobalSettings
    from steadyframe.postprocess.deflicker_chunks import DeflickerCarry, deflicker_chunk
    from steadyframe.video import FrameSelection, load_video
    from steadyframe.video.frame_count import chunk_selection, count_selected, seekable_selection
    from steadyframe.video.segments import join_segments, new_frames, segment_frame_counts, write_segment

    selection = FrameSelection()
    plan = ChunkPlan(count_selected(source, selection), chunk_frames, overlap)
    state_dir = os.path.join(work, "state")
    segments = os.path.join(work, "segments")
    settings = GlobalSettings()  # the Deflicker node's defaults: global (moments), window 49, strength 1
    options = FlowOptions(preset=preset, max_motion=48.0)
    paths, kept, loaded_frames, fps_out = [], [], 0, float(FPS * 2)
    for index in range(plan.count):
        chunk = plan.chunk(index, "bench", state_dir)
        loaded = load_video(source, seekable_selection(source, chunk_selection(selection, chunk.first, chunk.end))).images
        if loaded.shape[0] != chunk.frames:
            raise RuntimeError(f"chunk {index}: loaded {loaded.shape[0]} frames, expected {chunk.frames}")
        loaded_frames += loaded.shape[0]
        images = loaded
        if deflicker:
            span = ChunkSpan.of(chunk)
            images = run_with_state(chunk, "deflicker.2", lambda carried, frames=loaded, span=span:
                                    deflicker_chunk(frames, span, settings,
                                                    None if carried is None else DeflickerCarry(*carried))).images
        timed, out_chunk = interpolate_chunk(images, chunk, "interpolate.3", 2, True, False, FPS, None, options)
        fps_out = timed.fps
        fresh = new_frames(timed.images, out_chunk.lead, out_chunk.end - out_chunk.first_new)
        if output:
            paths.append(write_segment(fresh, segments, index, "h264-mp4", fps_out, 19))
        if keep:
            kept.append(fresh.clone())
        del loaded, images, timed, fresh
    summary = {"frames": plan.total_frames, "chunks": plan.count, "loaded": loaded_frames, "fps_out": fps_out}
    if output:
        counts = segment_frame_counts(paths)  # what Video Combine's join reads back
        summary["out_frames"] = join_segments(paths, counts, output, "h264-mp4", fps_out).frame_count
    return summary, (torch.cat(kept) if keep else None)


def run_child(args) -> dict:
    import resource

    start = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=args.workdir) as work:
        summary, _ = chained(args.source, work, args.chunk, args.overlap, args.preset, output=args.output)
    summary["seconds"] = time.perf_counter() - start
    summary["self_maxrss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return summary


def verify_child(args) -> dict:
    """Count, timestamps and order of the joined output."""
    from fractions import Fraction

    import av

    expected = 2 * args.frames - 1
    fps_out = Fraction(2 * FPS)
    bad_times, bad_order, count = 0, 0, 0
    codes = []
    with av.open(args.output) as container:
        stream = container.streams.video[0]
        time_base = stream.time_base
        for frame in container.decode(stream):
            if Fraction(frame.pts) * time_base != Fraction(count) / fps_out:
                bad_times += 1
            codes.append(read_code(frame.to_ndarray(format="rgb24") / 255.0))
            count += 1
    flagged = []  # (output frame, what was read) of the first few frames flagged
    artifacts = 0
    for i, blocks in enumerate(codes):
        if i % 2 == 0:  # a source frame: its code is exact
            wrong = code_value(blocks) != i // 2
            bad_order += wrong
        elif 0 < i < len(codes) - 1:
            # An in-between's blocks lie between its neighbours'; one outside that range is a flaw of
            # the flow-warped picture (the code is static, the texture around it moves), which the
            # unchunked run shows as well (chunked Load -> Interpolate is bit-identical to it).
            wrong = any(not min(a, b) - 0.15 <= v <= max(a, b) + 0.15
                        for v, a, b in zip(blocks, codes[i - 1], codes[i + 1]))
            artifacts += wrong
        else:
            wrong = False
        if wrong and len(flagged) < 8:
            flagged.append([i, code_value(blocks), [round(v, 2) for v in blocks]])
    return {"count": count, "expected": expected, "bad_times": bad_times, "bad_order": bad_order,
            "artifacts": artifacts,
            "rate": str(stream.average_rate), "flagged": flagged}


def check_child(args) -> dict:
    """Chunked against unchunked on a clip short enough to hold whole."""
    import torch

    _pack()
    from steadyframe.flow.provider import FlowOptions
    from steadyframe.postprocess.chunk_span import ChunkSpan  # noqa: F401  (the chained run's import)
    from steadyframe.postprocess.deflicker import GlobalSettings, deflicker_clip
    from steadyframe.postprocess.metrics import psnr
    from steadyframe.postprocess.timing import interpolate_clip
    from steadyframe.video import load_video

    whole = load_video(args.source).images
    frames, height, width = whole.shape[:3]
    texture = _scene(width, height)
    truth = torch.stack([clean_frame(texture, i) for i in range(frames)])
    options = FlowOptions(preset=args.preset, max_motion=48.0)
    result = {}
    with tempfile.TemporaryDirectory(dir=args.workdir) as work:
        # Loaded frames: the chunks' new frames in a row against the whole load.
        _pack()
        from steadyframe.chunking import ChunkPlan
        from steadyframe.video import FrameSelection
        from steadyframe.video.frame_count import chunk_selection, seekable_selection

        plan = ChunkPlan(frames, args.chunk, args.overlap)
        pieces = []
        for index in range(plan.count):
            chunk = plan.chunk(index)
            loaded = load_video(args.source, seekable_selection(
                args.source, chunk_selection(FrameSelection(), chunk.first, chunk.end))).images
            pieces.append(loaded[chunk.lead:])
        result["load_equal"] = bool(torch.equal(torch.cat(pieces), whole))
        del pieces
        start = time.perf_counter()
        _, chunked_interp = chained(args.source, os.path.join(work, "a"), args.chunk, args.overlap, args.preset,
                                    deflicker=False, keep=True)
        result["interp_chunked_s"] = time.perf_counter() - start
        start = time.perf_counter()
        whole_interp = interpolate_clip(whole, 2, True, False, FPS, None, options).images
        result["interp_whole_s"] = time.perf_counter() - start
        result["interp_frames"] = [int(chunked_interp.shape[0]), int(whole_interp.shape[0])]
        result["interp_equal"] = bool(torch.equal(chunked_interp, whole_interp))
        result["interp_max_diff"] = float((chunked_interp - whole_interp).abs().max())
        del chunked_interp, whole_interp
        # Deflicker alone: the chunks' new frames (as Video Combine keeps them) against the whole run.
        from steadyframe.chunking import load_state, save_state
        from steadyframe.postprocess.chunk_span import ChunkSpan
        from steadyframe.postprocess.deflicker_chunks import DeflickerCarry, deflicker_chunk

        settings = GlobalSettings()
        written = []
        for index in range(plan.count):
            chunk = plan.chunk(index, "check", os.path.join(work, "state"))
            carried = load_state(chunk, "deflicker.2")
            out, carry = deflicker_chunk(whole[chunk.first:chunk.end], ChunkSpan.of(chunk), settings,
                                         None if carried is None else DeflickerCarry(*carried))
            if carry is not None:
                save_state(chunk, "deflicker.2", carry.tensors, carry.meta)
            written.append(out.images[chunk.lead:])
        chunked_deflicker = torch.cat(written)
        whole_deflicker = deflicker_clip(whole, settings).images
        result["psnr_input"] = psnr(whole, truth)
        result["psnr_chunked_vs_whole"] = psnr(chunked_deflicker, whole_deflicker)
        result["psnr_whole_truth"] = psnr(whole_deflicker, truth)
        result["psnr_chunked_truth"] = psnr(chunked_deflicker, truth)
    return result


# --- the parent: no torch here, so the children's peak RSS is theirs alone ----------------------

def child(mode: str, args, **extra) -> tuple[dict, int]:
    """Run this script as ``mode`` in a subprocess; (its JSON result, its peak RSS in KB)."""
    command = [sys.executable, str(HERE), "--child", mode, "--preset", args.preset, "--chunk", str(args.chunk),
               "--overlap", str(args.overlap), "--workdir", args.workdir]
    for key, value in extra.items():
        command += [f"--{key}", str(value)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    stdout = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise SystemExit(f"{mode} child failed with status {process.returncode}:\n{stdout[-3000:]}")
    return json.loads(stdout.strip().splitlines()[-1]), usage.ru_maxrss


def print_table(headers, rows) -> None:
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        print("  ".join(c.rjust(w) if n and i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))), flush=True)
        if n == 0:
            print("  ".join("-" * w for w in widths), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--long", type=int, default=3000)
    parser.add_argument("--short", type=int, default=300)
    parser.add_argument("--check", type=int, default=150, help="frames of the chunked-vs-unchunked comparison (0 = skip)")
    parser.add_argument("--size", default="512x512", help="WxH")
    parser.add_argument("--chunk", type=int, default=64, help="chunk_frames (Load Video Frames (Chunked))")
    parser.add_argument("--overlap", type=int, default=8)
    parser.add_argument("--preset", default="fast", help="Interpolate Frames' flow preset")
    parser.add_argument("--workdir", default="", help="where sources, segments and outputs go (default: a temp folder)")
    parser.add_argument("--child", default="", help=argparse.SUPPRESS)
    parser.add_argument("--source", default="", help=argparse.SUPPRESS)
    parser.add_argument("--output", default="", help=argparse.SUPPRESS)
    parser.add_argument("--frames", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    if args.child:
        action = {"make": lambda: make_source(args.source, args.frames, width, height), "run": lambda: run_child(args),
                  "verify": lambda: verify_child(args), "check": lambda: check_child(args)}[args.child]
        print(json.dumps(action()), flush=True)
        return

    own = tempfile.TemporaryDirectory(prefix="steadyframe-long-") if not args.workdir else None
    args.workdir = args.workdir or own.name
    print(f"machine: {os.cpu_count()} CPUs, python {sys.version.split()[0]}; chunks of {args.chunk} with overlap "
          f"{args.overlap}; Deflicker global (node defaults), Interpolate x2 preset '{args.preset}'", flush=True)
    if args.check:
        source = os.path.join(args.workdir, f"source-{args.check}.mp4")
        child("make", args, source=source, frames=args.check, size=args.size)
        checked, rss = child("check", args, source=source, size=args.size)
        print()
        print(f"against the unchunked run, {args.check} frames of {args.size} (checking child's peak RSS "
              f"{rss / 1024:.0f} MB):")
        print_table(["stage", "chunked vs unchunked", "detail"], [
            ["Load Video", "bit-identical" if checked["load_equal"] else "DIFFERENT", "chunks' new frames in a row"],
            ["Load -> Interpolate x2", "bit-identical" if checked["interp_equal"] else "DIFFERENT",
             f"{checked['interp_frames'][0]} vs {checked['interp_frames'][1]} frames, max |diff| "
             f"{checked['interp_max_diff']:.3g}; {checked['interp_chunked_s']:.0f} s vs {checked['interp_whole_s']:.0f} s"],
            ["Deflicker", f"PSNR {checked['psnr_chunked_vs_whole']:.2f} dB",
             f"to truth: input {checked['psnr_input']:.2f}, unchunked {checked['psnr_whole_truth']:.3f}, chunked "
             f"{checked['psnr_chunked_truth']:.3f} dB (diff "
             f"{checked['psnr_chunked_truth'] - checked['psnr_whole_truth']:+.3f})"],
        ])
    runs = {}
    for name, frames in (("short", args.short), ("long", args.long)):
        source = os.path.join(args.workdir, f"source-{frames}.mp4")
        start = time.perf_counter()
        made, _ = child("make", args, source=source, frames=frames, size=args.size)
        print(f"{name}: made {frames} frames of {args.size} ({made['bytes'] / 1e6:.1f} MB) in "
              f"{time.perf_counter() - start:.0f} s", flush=True)
        output = os.path.join(args.workdir, f"out-{frames}.mp4")
        summary, rss = child("run", args, source=source, output=output, size=args.size)
        verified, _ = child("verify", args, output=output, frames=frames, size=args.size)
        runs[name] = (frames, summary, rss, verified)
        print(f"{name}: {summary['seconds']:.0f} s, peak RSS {rss / 1024:.0f} MB; {verified['count']} frames out of "
              f"{verified['expected']}, {verified['bad_times']} timestamps and {verified['bad_order']} source frames out "
              f"of place ({verified['artifacts']} in-betweens with a flawed code block)", flush=True)
        for index, value, blocks in verified["flagged"]:
            print(f"  flagged: output frame {index} (source {index / 2:g}) reads code {value}, blocks {blocks}")
    short_rss = runs["short"][2]
    rows = [[name, frames, args.size, f"{args.chunk}/{args.overlap}", s["chunks"], s["out_frames"], f"{s['seconds']:.0f}",
             f"{s['seconds'] / frames:.3f}", f"{rss / 1024:.0f}", f"{rss / short_rss:.3f}"]
            for name, (frames, s, rss, _) in runs.items()]
    print()
    print_table(["run", "frames", "size", "chunk/overlap", "chunks", "out frames", "s", "s/frame", "peak RSS MB",
                 "RSS / short"], rows)
    print()
    print_table(["run", "out frames", "expected 2N-1", "timestamps off i/fps_out", "rate", "order errors",
                 "in-betweens with a flawed code block"],
                [[name, v["count"], v["expected"], v["bad_times"], v["rate"], v["bad_order"], v["artifacts"]]
                 for name, (_, _, _, v) in runs.items()])
    if own is not None:
        own.cleanup()


if __name__ == "__main__":
    main()
