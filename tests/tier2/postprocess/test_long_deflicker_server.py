"""``workflows/long_deflicker.json`` end to end: the real server queue runs it chunk after chunk (the
chunk source re-queues each next chunk), the headless runner follows the chain, and the joined video
is the unchunked deflicker's result except near chunk ends (see README, Deflicker, Long videos).

Needs the chunk source (Load Video Frames (Chunked), ``nodes/chunk_nodes.py``); skipped with a reason
in a tree without it. Starts ComfyUI: run it under ``flock /tmp/steadyframe-heavy.lock`` on a shared
machine.
"""
import subprocess
import sys
from pathlib import Path

import pytest

from support.comfy_location import skip_module_without_comfyui

skip_module_without_comfyui()

from steadyframe.nodes import NODE_MODULES
from steadyframe.postprocess.deflicker import GlobalSettings, deflicker_clip
from steadyframe.postprocess.metrics import psnr
from steadyframe.runner.server import ManagedServer
from steadyframe.video import encode_video, load_video
from support.deflicker_synthetic import inject_flicker, moving_clip

pytestmark = [
    pytest.mark.tier2,
    pytest.mark.skipif("chunk_nodes" not in NODE_MODULES,
                       reason="the chunk source (Load Video Frames (Chunked), nodes/chunk_nodes.py) is not in this tree"),
]

REPO = Path(__file__).resolve().parents[3]
FRAMES = 40


def test_long_deflicker_workflow_runs_every_chunk(comfyui_root, tmp_path):
    clip = moving_clip(FRAMES, 48, 64, motion=(2, 1), seed=30)
    flickering = inject_flicker(clip.clean, gain=0.1, offset=0.03, seed=31)
    (tmp_path / "input").mkdir()
    (tmp_path / "output").mkdir()
    source = tmp_path / "input" / "flicker.mp4"
    encode_video(flickering, str(source), "h264-mp4", 8.0, crf=0, pix_fmt="yuv444p")
    loaded = load_video(str(source)).images  # what the loader gives the graph (lossless up to YUV rounding)
    with ManagedServer(comfyui_root, input_dir=tmp_path / "input", output_dir=tmp_path / "output",
                       startup_timeout=600) as server:
        done = subprocess.run(
            [sys.executable, str(REPO / "run_workflow.py"), str(REPO / "workflows" / "long_deflicker.json"),
             "--server", server.client.base_url, "--output-dir", str(server.output_directory),
             "--set", "1.video=flicker.mp4", "--set", "1.chunk_frames=16", "--set", "1.overlap=4",
             "--set", "1.custom_width=0", "--set", "2.window=9", "--set", "4.crf=0", "--set", "4.pix_fmt=yuv444p"],
            capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    assert [line for line in done.stderr.splitlines() if " done: " in line] == [
        "run_workflow: chunk 1/3 done: 16/40 frames", "run_workflow: chunk 2/3 done: 32/40 frames",
        "run_workflow: chunk 3/3 done: 40/40 frames"]
    written = load_video(done.stdout.strip().splitlines()[-1]).images
    whole = deflicker_clip(loaded, GlobalSettings(window=9)).images
    assert written.shape == whole.shape == (FRAMES, 48, 64, 3)
    assert psnr(written, whole) > 38.0  # YUV rounding of the written file, and the chunk-end frames
    assert psnr(written[:10], whole[:10]) > psnr(written[10:16], whole[10:16])  # far from the first chunk's end
