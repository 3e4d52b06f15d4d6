"""Decode speed side by side with the ffmpeg command line: Load Video against `ffmpeg -f rawvideo -pix_fmt rgb24`.

    python benchmarks/video_decode.py [--frames-512 240] [--frames-1080 60] [--repeats 3] [--ffmpeg PATH]

Three clips made here with PyAV (x264 crf 19, preset veryfast): 512x512 yuv420p, 1920x1080
yuv420p and 512x512 yuv444p10le. For each, at one decoder thread and at the default (one per
core), frames per second of:

- ``ffmpeg CLI``: ``ffmpeg -threads T -i clip -f rawvideo -pix_fmt rgb24 -`` writing into a pipe
  that this script reads and drops (the command line's own speed, with its default fast
  colour conversion, which rounds differently from ours);
- ``ffmpeg same rounding``: the same with ``-vf scale=flags=bilinear+accurate_rnd+full_chroma_int:...``
  (our conversion spelled out for the command line); the script checks that its bytes equal
  ours (``same bytes``);
- ``ours uint8``: ``load_video(..., integer=True)``, the frames as codes in one tensor in memory
  (uint16 for the 10-bit clip, which ours reads at 16 bits);
- ``ours float``: ``load_video``, the float IMAGE tensor ComfyUI gets;
- ``plain float``: the simple way, for reference: every frame converted with a fresh swscale
  context, an 8-bit list, then one float copy (what Load Video did before).

The ffmpeg binary comes from ``--ffmpeg``, ``$FFMPEG``, PATH or the ``imageio-ffmpeg`` package; without
one the ffmpeg columns are left out (a note says so). It is a benchmark baseline only, never a
dependency. Cases take turns within each round; each figure is the median of ``--repeats`` rounds.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _pack import import_pack, machine_line  # noqa: E402

import_pack()
from steadyframe.video import load_video  # noqa: E402
from steadyframe.video.pixels import frame_to_array, read_layout, stack_pixels  # noqa: E402

SAME_ROUNDING = "bilinear+accurate_rnd+full_chroma_int"


def find_ffmpeg(explicit: str | None) -> str | None:
    for candidate in (explicit, os.environ.get("FFMPEG"), shutil.which("ffmpeg")):
        if candidate and os.path.isfile(candidate):
            return candidate
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception:  # not installed, or no binary for this platform
        return None


def make_clip(path: str, width: int, height: int, count: int, pix: str) -> None:
    """Moving gradients plus mild noise, x264 crf 19 veryfast."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    with av.open(path, "w") as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = width, height, pix
        stream.options = {"crf": "19", "preset": "veryfast"}
        for i in range(count):
            rgb = np.stack([0.5 + 0.4 * np.sin(xx / 23 + i / 7), 0.5 + 0.4 * np.cos(yy / 19 - i / 9),
                            0.5 + 0.3 * np.sin((xx + yy) / 31 + i / 5)], axis=-1)
            rgb += rng.random(rgb.shape, dtype=np.float32) * 0.04
            codes = (np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(codes, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def same_rounding_filter(height: int) -> str:
    """Our conversion as an ffmpeg filter: our flags, limited -> full range, the matrix Load Video assumes
    for untagged files (BT.709 from 720 lines, BT.601 below), H.264's left chroma siting."""
    matrix = "bt709" if height >= 720 else "bt601"
    return (f"scale=flags={SAME_ROUNDING}:in_color_matrix={matrix}:in_range=tv:out_range=pc:"
            f"in_chroma_loc=left,format=rgb24")


def ffmpeg_decode(ffmpeg: str, path: str, threads: int, vf: str | None = None, digest=None) -> None:
    """ffmpeg writing raw rgb24 into a pipe; the data is read in 1 MB pieces and dropped (or hashed)."""
    cmd = [ffmpeg, "-v", "error", "-threads", str(threads), "-i", path]
    if vf:
        cmd += ["-vf", vf]
    cmd += ["-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE) as proc:
        while True:
            data = proc.stdout.read(1 << 20)
            if not data:
                break
            if digest is not None:
                digest.update(data)
    if proc.returncode != 0:
        raise RuntimeError(f"ffmpeg failed on {path}")


def plain_float(path: str, threads: int) -> torch.Tensor:
    """Every frame converted on its own (fresh swscale context), an 8-bit list, then one float copy."""
    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = threads
        arrays = []
        for frame in container.decode(stream):
            arrays.append(frame_to_array(frame, (frame.width, frame.height), read_layout(frame)))
    return stack_pixels(arrays)[0]


def median_fps(cases: dict, frames: int, repeats: int) -> dict:
    times: dict = {name: [] for name in cases}
    for _ in range(repeats):
        for name, fn in cases.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: frames / statistics.median(ts) for name, ts in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames-512", type=int, default=240, help="frames of the 512x512 clips")
    parser.add_argument("--frames-1080", type=int, default=60, help="frames of the 1080p clip")
    parser.add_argument("--repeats", type=int, default=3, help="rounds per case; the median is shown")
    parser.add_argument("--ffmpeg", default=None, help="ffmpeg binary for the command-line baseline")
    args = parser.parse_args()
    repeats = max(3, args.repeats)
    ffmpeg = find_ffmpeg(args.ffmpeg)
    print(machine_line())
    print(f"PyAV {av.__version__} (libavcodec {'.'.join(map(str, av.library_versions['libavcodec']))}), "
          f"torch threads {torch.get_num_threads()}")
    if ffmpeg:
        version = subprocess.run([ffmpeg, "-version"], capture_output=True, text=True).stdout.split("\n")[0]
        print(f"ffmpeg CLI: {ffmpeg} ({version})")
    else:
        print("ffmpeg CLI: none found (pass --ffmpeg, set $FFMPEG or pip install imageio-ffmpeg); its columns are left out")
    print(f"median of {repeats} rounds, cases taking turns; fps = frames per second (higher is better)\n")

    clips = [("h264 512x512 yuv420p", 512, 512, args.frames_512, "yuv420p"),
             ("h264 1920x1080 yuv420p", 1920, 1080, args.frames_1080, "yuv420p"),
             ("h264 512x512 yuv444p10le", 512, 512, max(1, args.frames_512 // 2), "yuv444p10le")]
    header = (f"{'file':26} {'frames':>6} {'thr':>4} {'ffmpeg CLI':>10} {'ff same rnd':>11} {'ours uint8':>10} "
              f"{'ours float':>10} {'plain float':>11} {'uint8/ff':>8} {'float/ff':>8} {'same bytes':>10}")
    print(header)
    with tempfile.TemporaryDirectory() as tmp:
        for name, width, height, count, pix in clips:
            path = os.path.join(tmp, f"{pix}_{width}x{height}.mp4")
            make_clip(path, width, height, count, pix)
            same = "-"
            if ffmpeg and pix == "yuv420p":
                ours = hashlib.sha256(load_video(path, integer=True).images.numpy().tobytes()).hexdigest()
                theirs = hashlib.sha256()
                ffmpeg_decode(ffmpeg, path, 0, same_rounding_filter(height), theirs)
                same = "yes" if theirs.hexdigest() == ours else "no"
            for threads in (1, 0):
                cases = {}
                if ffmpeg:
                    cases["ff"] = lambda: ffmpeg_decode(ffmpeg, path, threads)
                    cases["ff same"] = lambda: ffmpeg_decode(ffmpeg, path, threads, same_rounding_filter(height))
                cases["uint8"] = lambda: load_video(path, threads=threads, integer=True)
                cases["float"] = lambda: load_video(path, threads=threads)
                cases["plain"] = lambda: plain_float(path, threads)
                fps = median_fps(cases, count, repeats)

                def cell(key, width=10):
                    return f"{fps[key]:{width}.0f}" if key in fps else f"{'-':>{width}}"

                def ratio(key):
                    return f"{fps[key] / fps['ff']:7.2f}x" if "ff" in fps else f"{'-':>8}"

                shown = "default" if threads == 0 else str(threads)
                print(f"{name:26} {count:6d} {shown:>4} {cell('ff')} {cell('ff same', 11)} {cell('uint8')} "
                      f"{cell('float')} {cell('plain', 11)} {ratio('uint8')} {ratio('float')} {same:>10}", flush=True)
    print("\nthr: decoder threads (ffmpeg -threads, our threads=); default = FFmpeg's choice, one per core.")
    print("The 10-bit clip: ours reads 16 bits per channel (uint8 column: uint16 codes), ffmpeg writes rgb24.")


if __name__ == "__main__":
    main()
