"""Video IO speed and memory: SteadyFrame's PyAV paths against baselines measured in the same run.

    python benchmarks/video.py [--frames 240] [--size 512] [--memory-frames 240] [--ffmpeg PATH]

Rows:
- encode h264 (crf 19, preset medium, yuv420p) from a float IMAGE tensor, against plain PyAV
  fed ready 8-bit frames (swscale defaults, frame threads like the command line) and, when an
  ffmpeg binary is found (``--ffmpeg``, ``$FFMPEG``, PATH or the ``imageio-ffmpeg`` package), the
  ffmpeg command line reading the same raw frames from a pipe with the same preset; the encode
  cases take turns within each round, so a shared machine's load falls on all of them alike;
- decode the whole clip to a float tensor, against decoding everything the simple way (every
  frame to a float tensor, then one stack: what core's VideoFromFile.get_components does), and
  ffmpeg decoding to raw frames; plus a load with frame_load_cap (stops decoding early);
- peak RSS (each case in a fresh process) while encoding, above the input tensor itself, and
  while loading, streamed versus decode-everything.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _pack import import_pack  # noqa: E402

import_pack()
from steadyframe import video  # noqa: E402


def make_frames(count: int, size: int) -> torch.Tensor:
    """(F, S, S, 3) float: moving gradients plus mild noise (something an encoder has to work on)."""
    g = torch.Generator().manual_seed(0)
    yy, xx = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32),
                            indexing="ij")
    out = torch.empty(count, size, size, 3)
    for i in range(count):
        out[i, ..., 0] = 0.5 + 0.4 * torch.sin(xx / 23 + i / 7)
        out[i, ..., 1] = 0.5 + 0.4 * torch.cos(yy / 19 - i / 9)
        out[i, ..., 2] = 0.5 + 0.3 * torch.sin((xx + yy) / 31 + i / 5)
        out[i].add_(torch.rand(size, size, 3, generator=g), alpha=0.04)
    return out.clamp_(0, 1)


def find_ffmpeg(explicit: str | None) -> str | None:
    for candidate in (explicit, os.environ.get("FFMPEG"), shutil.which("ffmpeg")):
        if candidate and os.path.isfile(candidate):
            return candidate
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception:  # not installed, or it has no binary for this platform
        return None


REPEATS = 3


def timed(fn):
    """Best wall time of REPEATS runs (the machine may be shared; the best run is the least disturbed)."""
    return timed_side_by_side({"case": fn})["case"]


def timed_side_by_side(cases: dict) -> dict:
    """Best wall time of each case over REPEATS rounds, the cases taking turns within a round,
    so a load that comes and goes on a shared machine falls on all of them alike."""
    best = {name: float("inf") for name in cases}
    for _ in range(REPEATS):
        for name, fn in cases.items():
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


# ------------------------------------------------------------------ speed cases

def encode_steadyframe(frames, path):
    video.encode_video(frames, path, "h264-mp4", 24, crf=19)


def encode_plain_pyav(frames_u8, path):
    with av.open(path, mode="w") as container:
        stream = container.add_stream("libx264", rate=24)
        stream.height, stream.width = frames_u8.shape[1:3]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "19", "preset": "medium"}
        stream.codec_context.thread_type = "AUTO"  # frame threads, as the ffmpeg command line uses
        for array in frames_u8:
            for packet in stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def encode_ffmpeg(ffmpeg, frames_u8, path):
    height, width = frames_u8.shape[1:3]
    cmd = [ffmpeg, "-y", "-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", "24",
           "-i", "-", "-c:v", "libx264", "-crf", "19", "-preset", "medium", "-pix_fmt", "yuv420p", path]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    for array in frames_u8:
        proc.stdin.write(array.tobytes())
    proc.stdin.close()
    if proc.wait() != 0:
        raise RuntimeError("ffmpeg encode failed")


def decode_everything(path):
    """The simple way: every frame to a float tensor, then one stack."""
    with av.open(path) as container:
        frames = [torch.from_numpy(f.to_ndarray(format="rgb24")) / 255.0 for f in container.decode(video=0)]
    return torch.stack(frames)


def decode_ffmpeg(ffmpeg, path, to_tensor: bool, width: int, height: int):
    """ffmpeg decoding to raw rgb24 on a pipe; optionally into a float tensor (what a pipe-based loader does)."""
    cmd = [ffmpeg, "-v", "error", "-threads", "0", "-i", path, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    size = width * height * 3
    frames = []
    with subprocess.Popen(cmd, stdout=subprocess.PIPE) as proc:
        while True:
            data = proc.stdout.read(size)
            if len(data) < size:
                break
            if to_tensor:
                frames.append(np.frombuffer(data, np.uint8).reshape(height, width, 3))
    if proc.returncode != 0:
        raise RuntimeError("ffmpeg decode failed")
    if to_tensor:
        out = torch.empty((len(frames), height, width, 3))
        for i, f in enumerate(frames):
            np.multiply(f, np.float32(1 / 255), out=out[i].numpy())
        return out


# ------------------------------------------------------------------ memory cases (fresh process each)

def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak_rss_bytes() -> int:
    """VmHWM: the peak RSS of this process image (ru_maxrss would carry over the
    parent's peak through fork+exec)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def child(mode: str, frames: int, size: int, path: str) -> dict:
    if mode.startswith("encode"):
        tensor = make_frames(frames, size)
        before = _rss_bytes()
        if mode == "encode-steadyframe":
            video.encode_video(tensor, path, "h264-mp4", 24, crf=19)
        else:  # convert the whole batch to 8-bit first, then encode
            all_u8 = (tensor * 255 + 0.5).clamp(0, 255).to(torch.uint8).numpy()
            encode_plain_pyav(all_u8, path)
        peak = _peak_rss_bytes()
        return {"tensor": tensor.numel() * 4, "above_start": peak - before}
    before = _rss_bytes()
    if mode == "load-steadyframe":
        images = video.load_video(path).images
    else:
        images = decode_everything(path)
    peak = _peak_rss_bytes()
    return {"tensor": images.numel() * 4, "above_start": peak - before}


def run_child(mode, frames, size, path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", mode, "--frames", str(frames), "--size", str(size),
                          "--path", path], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------ main

def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=240, help="frames in the speed clip")
    parser.add_argument("--size", type=int, default=512, help="width = height of the frames")
    parser.add_argument("--memory-frames", type=int, default=240, help="frames for the peak-RSS cases (1000 = the issue's target)")
    parser.add_argument("--ffmpeg", default=None, help="ffmpeg binary for the command-line baseline")
    parser.add_argument("--repeats", type=int, default=3, help="runs per speed case; the best is shown")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--path", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.frames, args.size, args.path)))
        return

    global REPEATS
    REPEATS = max(1, args.repeats)
    ffmpeg = find_ffmpeg(args.ffmpeg)
    print(f"machine: {platform.machine()} {platform.processor() or ''}, {os.cpu_count()} CPUs; python {platform.python_version()}, "
          f"torch {torch.__version__}, PyAV {av.__version__} (libavcodec {'.'.join(map(str, av.library_versions['libavcodec']))})")
    if ffmpeg:
        version = subprocess.run([ffmpeg, "-version"], capture_output=True, text=True).stdout.splitlines()[0]
        print(f"ffmpeg baseline: {ffmpeg} ({version})")
    else:
        print("ffmpeg baseline: no ffmpeg binary found (pass --ffmpeg or pip install imageio-ffmpeg)")
    n, s = args.frames, args.size
    print(f"clip: {n} frames of {s}x{s}, h264 crf 19 preset medium yuv420p; best of {REPEATS} runs per case\n")

    frames = make_frames(n, s)
    frames_u8 = (frames * 255 + 0.5).clamp(0, 255).to(torch.uint8).numpy()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        ours = os.path.join(tmp, "ours.mp4")
        cases = {"ours": lambda: encode_steadyframe(frames, ours),
                 "plain": lambda: encode_plain_pyav(frames_u8, os.path.join(tmp, "plain.mp4"))}
        if ffmpeg:
            cases["ffmpeg"] = lambda: encode_ffmpeg(ffmpeg, frames_u8, os.path.join(tmp, "ff.mp4"))
        best = timed_side_by_side(cases)
        t_ours = best["ours"]
        rows.append(("encode", "SteadyFrame encode_video (float in)", n / t_ours, None))
        rows.append(("encode", "plain PyAV (8-bit in, swscale defaults)", n / best["plain"], best["plain"] / t_ours))
        if ffmpeg:
            rows.append(("encode", "ffmpeg CLI (raw rgb24 pipe)", n / best["ffmpeg"], best["ffmpeg"] / t_ours))

        t_load = timed(lambda: video.load_video(ours))
        t_all = timed(lambda: decode_everything(ours))
        cap = max(1, n // 10)
        t_cap = timed(lambda: video.load_video(ours, video.FrameSelection(frame_load_cap=cap)))
        rows.append(("decode", "SteadyFrame load_video (all frames)", n / t_load, None))
        rows.append(("decode", "decode-everything (to_ndarray, stack)", n / t_all, (n / t_load) / (n / t_all)))
        if ffmpeg:
            t_fft = timed(lambda: decode_ffmpeg(ffmpeg, ours, True, s, s))
            rows.append(("decode", "ffmpeg CLI pipe -> float tensor", n / t_fft, (n / t_load) / (n / t_fft)))
            t_ffd = timed(lambda: decode_ffmpeg(ffmpeg, ours, False, s, s))
            rows.append(("decode", "ffmpeg CLI to raw pipe, discarded (pure decode)", n / t_ffd, (n / t_load) / (n / t_ffd)))
        rows.append(("decode", f"SteadyFrame load_video frame_load_cap={cap} (wall s)", t_cap, None))

        print(f"{'what':8} {'case':55} {'frames/s':>10} {'ours / this':>12}")
        for kind, name, value, ratio in rows:
            shown = f"{value:10.3f}" if "wall s" in name else f"{value:10.1f}"
            print(f"{kind:8} {name:55} {shown} {'' if ratio is None else f'{ratio:11.2f}x':>12}")

        m = args.memory_frames
        clip = os.path.join(tmp, "mem.mp4")
        video.encode_video(make_frames(m, s), clip, "h264-mp4", 24, crf=19)
        print(f"\npeak RSS, {m} frames of {s}x{s} (fresh process per case; MB above the RSS before the call)")
        print(f"{'case':55} {'tensor MB':>10} {'peak above start MB':>20} {'minus tensor MB':>16}")
        mem_rows = [
            (f"encode: SteadyFrame (chunks of {video.ENCODE_CHUNK} frames)", run_child("encode-steadyframe", m, s, os.path.join(tmp, "e1.mp4")), False),
            ("encode: whole batch to 8-bit first, then encode", run_child("encode-all-at-once", m, s, os.path.join(tmp, "e2.mp4")), False),
            ("load: SteadyFrame streamed (8-bit until the end)", run_child("load-steadyframe", m, s, clip), True),
            ("load: decode-everything (float per frame, stack)", run_child("load-everything", m, s, clip), True),
        ]
        for name, res, is_load in mem_rows:
            tensor_mb = res["tensor"] / 2**20
            above = res["above_start"] / 2**20
            # For encoding the tensor exists before the call; for loading it is the result.
            extra = above - tensor_mb if is_load else above
            print(f"{name:55} {tensor_mb:10.0f} {above:20.0f} {extra:16.0f}")


if __name__ == "__main__":
    main()
