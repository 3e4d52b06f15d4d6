"""Deflicker in a real ComfyUI: ComfyUI's own progress/interrupt in-process, and the shipped
``workflows/deflicker.json`` through a real server queue (``--cpu`` when there is no GPU).

The server test starts ComfyUI: run it under ``flock /tmp/steadyframe-heavy.lock`` on a shared
machine.
"""
import json
import re
from pathlib import Path

import pytest
import torch

from support.comfy_location import skip_module_without_comfyui

skip_module_without_comfyui()

from steadyframe.nodes.deflicker_nodes import SteadyFrameDeflicker, SteadyFrameTemporalConsistency
from steadyframe.postprocess.metrics import luminance_flicker
from steadyframe.runner.convert import to_api
from steadyframe.runner.server import ManagedServer
from steadyframe.video import encode_video, load_video
from support.deflicker_synthetic import inject_flicker, moving_clip
from support.server_queue import run_prompt

pytestmark = pytest.mark.tier2

WORKFLOW = Path(__file__).resolve().parents[3] / "workflows" / "deflicker.json"


SETTINGS = dict(strength=1.0, window=49, mode="global", color_space="ycbcr", texture_strength=0.6, detect_cuts=True,
                cut_threshold=0.5, flow_preset="fast")


def _flickering_clip():
    clip = moving_clip(24, 64, 96, motion=(2, 1), seed=30)
    return inject_flicker(clip.clean, gain=0.1, offset=0.03, tint=0.02, seed=31)


def test_nodes_stop_when_comfyui_is_interrupted(comfyui_root):
    import comfy.model_management as mm

    clip = _flickering_clip()
    images, _ = SteadyFrameDeflicker.execute(clip, **SETTINGS).args  # runs normally with ComfyUI's progress bar
    assert luminance_flicker(images) < 0.2 * luminance_flicker(clip)
    mm.interrupt_current_processing(True)
    try:
        with pytest.raises(mm.InterruptProcessingException):
            SteadyFrameDeflicker.execute(clip, **SETTINGS)
        mm.interrupt_current_processing(True)  # raising consumed the flag, as a real Cancel does
        with pytest.raises(mm.InterruptProcessingException):
            SteadyFrameTemporalConsistency.execute(clip, "fast", True)
    finally:
        mm.interrupt_current_processing(False)


def test_deflicker_node_outputs_scene_cuts_as_text(comfyui_root):
    first = moving_clip(8, 40, 48, seed=23).clean
    second = (moving_clip(8, 40, 48, seed=24).clean * torch.tensor([1.4, 0.8, 0.5])).clamp(0, 1)
    images, cuts = SteadyFrameDeflicker.execute(torch.cat([first, second]), **SETTINGS).args
    assert images.shape == (16, 40, 48, 3) and cuts == "8"
    images, cuts = SteadyFrameDeflicker.execute(first, **{**SETTINGS, "strength": 0.0}).args
    assert images is first and cuts == ""


def test_metrics_node_shows_its_report_as_text(comfyui_root):
    clip = moving_clip(6, 48, 64, motion=(1, 1), seed=20)
    flickering = inject_flicker(clip.clean, seed=26)
    out = SteadyFrameTemporalConsistency.execute(flickering, "fast", True, reference=clip.clean,
                                                 flow=clip.flow_sequence())
    report, fy, ew, value = out.args
    assert out.ui.as_dict() == {"text": (report,)}
    assert fy == pytest.approx(luminance_flicker(flickering)) and ew > 0.1 and value > 0
    assert "E_warp uses the connected flow" in report and "reference: F_Y" in report


def _run(server: ManagedServer, prompt: dict, workflow: dict, timeout: float = 600) -> dict:
    return run_prompt(server, prompt, workflow, "steadyframe-deflicker-test", timeout)


def test_deflicker_workflow_in_the_queue(comfyui_root, tmp_path):
    source = _flickering_clip()
    (tmp_path / "input").mkdir()
    (tmp_path / "output").mkdir()
    encode_video(source, str(tmp_path / "input" / "steadyframe_sample.mp4"), "h264-mp4", 24.0, crf=0)
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
        written = load_video(str(server.output_directory / "SteadyFrame" / record["filename"]))
        assert written.images.shape == source.shape
        assert luminance_flicker(written.images) < 0.2 * luminance_flicker(source)
