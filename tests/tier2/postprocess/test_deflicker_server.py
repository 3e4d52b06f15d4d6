"""Deflicker in a real ComfyUI: ComfyUI's own progress/interrupt in-process, and the shipped
``workflows/deflicker.json`` through a real server queue (``--cpu`` when there is no GPU).

The server test starts ComfyUI: run it under ``flock /tmp/steadyframe-heavy.lock`` on a shared
machine.
"""
import json
import re
from pathlib import Path

import pytest

from steadyframe.nodes.deflicker_nodes import SteadyFrameDeflicker, SteadyFrameTemporalConsistency
from steadyframe.postprocess.metrics import luminance_flicker
from steadyframe.runner.convert import to_api
from steadyframe.runner.server import ManagedServer
from steadyframe.video import video_io
from support.deflicker_synthetic import inject_flicker, moving_clip
from support.server_queue import run_prompt

pytestmark = pytest.mark.tier2

WORKFLOW = Path(__file__).resolve().parents[2] / "workflows" / "deflicker.json"


def _flickering_clip():
    clip = moving_clip(24, 64, 96, motion=(2, 1), seed=30)
    return inject_flicker(clip.clean, gain=0.1, offset=0.03, tint=0.02, seed=31)


def test_nodes_stop_when_comfyui_is_interrupted(comfyui_root):
    import comfy.model_management as mm

    clip = _flickering_clip()
    deflicker = SteadyFrameDeflicker()
    settings = dict(strength=1.0, window=49, mode="global", color_space="ycbcr", texture_strength=0.6,
                    detect_cuts=True, cut_threshold=0.5, flow_preset="fast")
    images, _ = deflicker.deflicker(clip, **settings)  # runs normally with ComfyUI's progress bar
    assert luminance_flicker(images) < 0.2 * luminance_flicker(clip)
    mm.interrupt_current_processing(True)
    try:
        with pytest.raises(mm.InterruptProcessingException):
            deflicker.deflicker(clip, **settings)
        mm.interrupt_current_processing(True)  # raising consumed the flag, as a real Cancel does
        with pytest.raises(mm.InterruptProcessingException):
            SteadyFrameTemporalConsistency().measure(clip, "fast", True)
    finally:
        mm.interrupt_current_processing(False)


def _run(server: ManagedServer, prompt: dict, workflow: dict, timeout: float = 600) -> dict:
    return run_prompt(server, prompt, workflow, "steadyframe-deflicker-test", timeout)


def test_deflicker_workflow_in_the_queue(comfyui_root, tmp_path):
    source = _flickering_clip()
    (tmp_path / "input").mkdir()
    (tmp_path / "output").mkdir()
    video_io.encode_video(source, str(tmp_path / "input" / "steadyframe_sample.mp4"), "h264-mp4", 24.0, crf=0)
    with ManagedServer(comfyui_root, input_dir=tmp_path / "input", output_dir=tmp_path / "output",
                       startup_timeout=600) as server:
        workflow = json.loads(WORKFLOW.read_text())
        prompt = to_api(workflow, server.client.object_info(), str(WORKFLOW))
        prompt["1"]["inputs"]["custom_width"] = 0  # keep the small test clip small
        entry = _run(server, prompt, workflow)
        assert entry["status"]["status_str"] == "success", entry["status"]

        report = entry["outputs"]["3"]["text"][0]
        assert report == entry["outputs"]["5"]["text"][0]  # Preview Any shows the same report
        values = {row: float(fy) for row, fy in re.findall(r"^(images|reference): F_Y ([0-9.]+)/255", report, re.M)}
        assert values["images"] < 0.2 * values["reference"], report
        # The workflow scores E_warp with the flow of the deflickered images (flow_from "images").
        assert "flow of the images" in report
        warp = dict(re.findall(r"^(images|reference): .*E_warp ([0-9.]+)e-3", report, re.M))
        assert float(warp["images"]) < 0.2 * float(warp["reference"]), report

        record = entry["outputs"]["4"]["images"][0]
        written = video_io.load_video(str(server.output_directory / "SteadyFrame" / record["filename"]))
        assert written.images.shape == source.shape
        assert luminance_flicker(written.images) < 0.2 * luminance_flicker(source)
