"""The shipped ``workflows/retime_interpolate.json`` through a real ComfyUI server queue (tier 2).

Starts ComfyUI (``--cpu`` when there is no GPU): on a shared machine run it under
``flock /tmp/steadyframe-heavy.lock``.
"""
import json
from fractions import Fraction
from pathlib import Path

import pytest

from steadyframe.runner.convert import to_api
from steadyframe.runner.server import ManagedServer
from steadyframe.video import encode_video, load_video
from support.moving_scene import MovingSquareScene
from support.server_queue import run_prompt

pytestmark = pytest.mark.tier2

WORKFLOW = Path(__file__).resolve().parents[3] / "workflows" / "retime_interpolate.json"
SOURCE_FRAMES = 24  # at 24 fps


def _run(server: ManagedServer, prompt: dict, workflow: dict, timeout: float = 900) -> dict:
    return run_prompt(server, prompt, workflow, "steadyframe-timing-test", timeout)


def test_retime_interpolate_workflow_in_the_queue(comfyui_root, tmp_path):
    scene = MovingSquareScene(height=48, width=64, square_size=16, square_origin=(4.0, 12.0),
                              square_velocity=(1.0, 0.5), background_velocity=(0.0, 0.0))
    (tmp_path / "input").mkdir()
    (tmp_path / "output").mkdir()
    encode_video(scene.frames(range(SOURCE_FRAMES)), str(tmp_path / "input" / "steadyframe_sample.mp4"),
                 "h264-mp4", 24.0, crf=0)
    with ManagedServer(comfyui_root, input_dir=tmp_path / "input", output_dir=tmp_path / "output",
                       startup_timeout=600) as server:
        workflow = json.loads(WORKFLOW.read_text())
        prompt = to_api(workflow, server.client.object_info(), str(WORKFLOW))
        prompt["1"]["inputs"]["custom_width"] = 0  # keep the small test clip small
        prompt["3"]["inputs"]["preset"] = "fast"
        entry = _run(server, prompt, workflow)
        assert entry["status"]["status_str"] == "success", entry["status"]

        def written(node_id):
            record = entry["outputs"][node_id]["images"][0]
            folder = server.output_directory / record.get("subfolder", "")
            return load_video(str(folder / record["filename"]))

        # 24 fps -> 12 fps (12 frames) -> x2 interpolation: 23 frames written at 24 fps.
        interpolated = written("4")
        assert interpolated.images.shape[0] == 2 * (SOURCE_FRAMES // 2) - 1
        assert interpolated.frame_rate == Fraction(24)
        # On twos at the source rate: 24 frames at 24 fps, pairs of identical frames.
        on_twos = written("6")
        assert on_twos.images.shape[0] == SOURCE_FRAMES
        assert on_twos.frame_rate == Fraction(24)
        held = (on_twos.images[1] - on_twos.images[0]).abs().mean()
        moved = (on_twos.images[2] - on_twos.images[1]).abs().mean()
        assert held < 0.25 * moved
