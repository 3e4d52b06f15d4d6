"""The shipped video round-trip workflow through a real ComfyUI server queue.

Starts ComfyUI (``--cpu`` when there is no GPU) with private input/output folders, queues
``workflows/video_roundtrip.json`` (converted to API format against the server's own
``/object_info``) with the workflow as ``extra_pnginfo``, and checks the history entry, the
written file, its embedded metadata and ``--disable-metadata``. Run it under
``flock /tmp/steadyframe-heavy.lock`` on a shared machine.
"""
import json
from fractions import Fraction
from pathlib import Path

import pytest
import requests

from steadyframe.runner.convert import to_api
from steadyframe.runner.server import ManagedServer
from steadyframe.video import encode_video, load_audio, load_video, read_metadata
from support.server_queue import run_prompt
from support.video_clips import frame_numbers, numbered_frames, tone

pytestmark = pytest.mark.tier2

WORKFLOW = Path(__file__).resolve().parents[3] / "workflows" / "video_roundtrip.json"
SAMPLE_FRAMES = 60  # 2 s at 29.97 fps; the workflow caps loading at 48 frames


def _prepare_input(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    encode_video(numbered_frames(SAMPLE_FRAMES, 48, 64), str(folder / "steadyframe_sample.mp4"),
                 "h264-mp4", 29.97, crf=0, audio=tone(2.5))


def _run(server: ManagedServer, prompt: dict, workflow: dict, timeout: float = 300) -> dict:
    return run_prompt(server, prompt, workflow, "steadyframe-video-test", timeout)


def _start(comfyui_root: Path, tmp: Path, *extra_args) -> ManagedServer:
    _prepare_input(tmp / "input")
    (tmp / "output").mkdir(exist_ok=True)
    return ManagedServer(comfyui_root, input_dir=tmp / "input", output_dir=tmp / "output",
                         extra_args=list(extra_args), startup_timeout=600)


@pytest.fixture(scope="module")
def server(comfyui_root, tmp_path_factory):
    with _start(comfyui_root, tmp_path_factory.mktemp("video_server")) as running:
        yield running


def test_nodes_are_registered_with_upload_widget(server):
    info = server.client.object_info()
    load = info["SteadyFrameLoadVideo"]
    kind, options = load["input"]["required"]["video"]
    assert kind == "COMBO" and options["options"] == ["steadyframe_sample.mp4"]
    assert options["video_upload"] is True
    combine = info["SteadyFrameVideoCombine"]
    assert combine["output_node"] is True
    assert "h264-mp4" in combine["input"]["required"]["format"][1]["options"]
    assert combine["output"] == ["VIDEO", "STRING"]


def test_roundtrip_workflow_in_the_queue(server):
    workflow = json.loads(WORKFLOW.read_text())
    prompt = to_api(workflow, server.client.object_info(), str(WORKFLOW))
    entry = _run(server, prompt, workflow)
    assert entry["status"]["status_str"] == "success", entry["status"]
    ui = entry["outputs"]["2"]
    assert ui["animated"] == [True]
    record = ui["images"][0]
    assert record["type"] == "output" and record["subfolder"] == "SteadyFrame"
    assert record["filename"] == "roundtrip_00001_.mp4"
    path = server.output_directory / "SteadyFrame" / record["filename"]
    loaded = load_video(str(path))
    # The workflow loads 48 frames at 512 wide (height keeps 4:3 -> 384) and keeps 29.97 fps.
    assert loaded.images.shape == (48, 384, 512, 3)
    assert loaded.frame_rate == Fraction(30000, 1001)
    assert frame_numbers(loaded.images, SAMPLE_FRAMES) == list(range(48))
    audio = load_audio(str(path), loaded.start_time, loaded.end_time)
    assert audio is not None and audio["waveform"].shape[1] == 2
    meta = read_metadata(str(path))
    assert meta["workflow"] == workflow
    assert meta["prompt"]["2"]["class_type"] == "SteadyFrameVideoCombine"
    # The file is served back the way the canvas fetches previews.
    view = requests.get(server.client.view_url(record["filename"], record["subfolder"], record["type"]), timeout=30)
    assert view.status_code == 200 and view.content == path.read_bytes()


def test_bad_file_is_refused_by_validation(server):
    workflow = json.loads(WORKFLOW.read_text())
    prompt = to_api(workflow, server.client.object_info(), str(WORKFLOW))
    prompt["1"]["inputs"]["video"] = "../../etc/passwd"
    answer = requests.post(f"{server.client.base_url}/prompt", json={"prompt": prompt}, timeout=30)
    assert answer.status_code == 400
    assert "outside the permitted folders" in answer.text and "refused" in answer.text
    # The other inputs keep ComfyUI's own range checks.
    prompt = to_api(workflow, server.client.object_info(), str(WORKFLOW))
    prompt["1"]["inputs"]["select_every_nth"] = 0
    answer = requests.post(f"{server.client.base_url}/prompt", json={"prompt": prompt}, timeout=30)
    assert answer.status_code == 400 and "select_every_nth" in answer.text


def test_disable_metadata_flag(comfyui_root, tmp_path):
    workflow = json.loads(WORKFLOW.read_text())
    with _start(comfyui_root, tmp_path, "--disable-metadata") as running:
        prompt = to_api(workflow, running.client.object_info(), str(WORKFLOW))
        prompt["2"]["inputs"]["format"] = "vp9-webm"
        entry = _run(running, prompt, workflow)
        assert entry["status"]["status_str"] == "success", entry["status"]
        record = entry["outputs"]["2"]["images"][0]
        path = running.output_directory / record["subfolder"] / record["filename"]
        assert path.suffix == ".webm"
        meta = read_metadata(str(path))
        assert "workflow" not in meta and "prompt" not in meta
