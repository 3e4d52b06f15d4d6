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
  context, an 8-bit list, then one float copy (what Load Video did before);
- ``ffmpeg -> float``: the command line's rgb24 (its default conversion) read frame by frame into
  one reused buffer and written into a float IMAGE allocated once: the least a loader built on
  the command line (as VideoHelperSuite's is) must do to hand ComfyUI the same tensor;
- ``floor 1 thr`` / ``floor N thr``: no decoding at all, only writing the float IMAGE: one frame's
  codes, already in memory, multiplied into every slot of a freshly allocated tensor, on one thread
  (as ``ffmpeg -> float`` writes) and on as many threads as Load Video's conversion workers. Any loader that
  returns a float IMAGE pays this; how much it costs depends on the machine's memory far more
  than on the decoder (it is what makes the float columns move between runs on a VM).

The ffmpeg binary comes from ``--ffmpeg``, ``$FFMPEG``, PATH or the ``imageio-ffmpeg`` package; without
one the ffmpeg columns are left out (a note says so). It is a benchmark baseline only, never a
dependency. Cases take turns within each round, each round starting one case later than the last
(the first allocation after a pause can cost several times more on a VM, so no case always goes
first); each figure is the median of ``--repeats`` rounds.
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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import av
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _pack import import_pack, machine_line  # noqa: E402

import_pack()
from steadyframe.video import load_video  # noqa: E402
from steadyframe.video.decode import _CONVERT_WORKERS as CONVERT_WORKERS  # noqa: E402
from steadyframe.video.pixels import frame_to_array, read_layout, stack_pixels, write_pixels  # noqa: E402

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


def ffmpeg_to_float(ffmpeg: str, path: str, threads: int, width: int, height: int, frames: int) -> torch.Tensor:
    """The command line's rgb24, one frame at a time into a reused buffer, then into a float IMAGE."""
    images = torch.empty((frames, height, width, 3), dtype=torch.float32)
    codes = np.empty((height, width, 3), np.uint8)
    view = memoryview(codes).cast("B")
    cmd = [ffmpeg, "-v", "error", "-threads", str(threads), "-i", path, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE) as proc:
        for index in range(frames):
            filled = 0
            while filled < len(view):
                got = proc.stdout.readinto(view[filled:])
                if not got:
                    raise RuntimeError(f"ffmpeg ended after {index} of {frames} frames of {path}")
                filled += got
            write_pixels(codes, index, images, None)
        proc.stdout.read()
    return images


def float_floor(width: int, height: int, frames: int, workers: int = 1) -> torch.Tensor:
    """Only the float IMAGE's writes: one frame's codes into every slot of a fresh tensor, on ``workers`` threads."""
    codes = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    images = torch.empty((frames, height, width, 3), dtype=torch.float32)

    def fill(first: int) -> None:
        for index in range(first, frames, workers):
            write_pixels(codes, index, images, None)

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(fill, range(workers)))
    return images


def median_fps(cases: dict, frames: int, repeats: int) -> dict:
    """Frames per second of each case, median of ``repeats`` rounds; the first case rotates per round."""
    times: dict = {name: [] for name in cases}
    names = list(cases)
    for round_index in range(repeats):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            fn = cases[name]
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
    columns = [("ff", "ffmpeg CLI"), ("ff same", "ff same rnd"), ("ff float", "ff->float"), ("uint8", "ours uint8"),
               ("float", "ours float"), ("plain", "plain float"),
               ("floor 1", "floor 1 thr"), ("floor n", f"floor {CONVERT_WORKERS} thr")]
    ratios = [("uint8", "ff", "uint8/ff"), ("float", "ff", "float/ff"), ("float", "ff float", "float/ff->float")]
    print(f"{'file':26} {'frames':>6} {'thr':>7} " + " ".join(f"{title:>11}" for _, title in columns) + " "
          + " ".join(f"{title:>15}" for *_, title in ratios) + f" {'same bytes':>10}")
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
                    cases["ff float"] = lambda: ffmpeg_to_float(ffmpeg, path, threads, width, height, count)
                cases["uint8"] = lambda: load_video(path, threads=threads, integer=True)
                cases["float"] = lambda: load_video(path, threads=threads)
                cases["plain"] = lambda: plain_float(path, threads)
                cases["floor 1"] = lambda: float_floor(width, height, count)
                cases["floor n"] = lambda: float_floor(width, height, count, CONVERT_WORKERS)
                fps = median_fps(cases, count, repeats)
                cells = [f"{fps[key]:11.0f}" if key in fps else f"{'-':>11}" for key, _ in columns]
                cells += [f"{fps[top] / fps[bottom]:14.2f}x" if bottom in fps else f"{'-':>15}"
                          for top, bottom, _ in ratios]
                shown = "default" if threads == 0 else str(threads)
                print(f"{name:26} {count:6d} {shown:>7} " + " ".join(cells) + f" {same:>10}", flush=True)
    print("\nthr: decoder threads (ffmpeg -threads, our threads=); default = FFmpeg's choice, one per core.")
    print("The 10-bit clip: ours reads 16 bits per channel (uint8 column: uint16 codes), ffmpeg writes rgb24.")
    print("floor: writing the float IMAGE alone (no decoding) on 1 thread (as ff->float does) and on as many\n"
          "threads as Load Video converts on; the same for both thr rows.")


if __name__ == "__main__":
    main()
