"""Animated Sampling Preview on a real ComfyUI: real KSampler, real server, its WebSocket.

In-process: on a narrow SD1.5-architecture UNet, the wrapper changes nothing in the samples and
sends nothing when there is no server. Through a real server (random-weight SD1.5 checkpoint,
4 frames of 128x96, 2 steps): a WebSocket client that queued the prompt receives one
``steadyframe.preview`` event per step with the chosen frames at the chosen size, frames that are
core's Latent2RGB preview of the batch; core's own single-frame previews still arrive; with the
preview method "none" nothing is sent. Heavy: run under ``flock /tmp/steadyframe-heavy.lock``.
"""
import base64
import io
import json
import struct
import sys
import time
import uuid

import pytest
import requests
import torch
from PIL import Image

from steadyframe.runner.server import ManagedServer
from steadyframe.runner.ws import OP_BINARY, OP_TEXT, WebSocket
from support.comfy_location import skip_module_without_comfyui

skip_module_without_comfyui()

from steadyframe.comfy_glue.sampling_preview import WRAPPER_KEY  # noqa: E402
from steadyframe.nodes.preview_nodes import SteadyFrameAnimatedPreview  # noqa: E402

pytestmark = pytest.mark.tier2

FRAMES, WIDTH, HEIGHT, STEPS = 4, 128, 96, 2
MAX_FRAMES, MAX_SIZE = 3, 8  # latent frames are 16x12 -> previews 8x6; frames 0, 2, 3 of 4
PREVIEW_SIZE = (8, 6)


# -- in-process: the wrapper on a real ModelPatcher and KSampler -------------------------------

@pytest.fixture(scope="module")
def small_model(comfyui_root):
    from support.sd15_factory import make_small_sd15_model_patcher

    return make_small_sd15_model_patcher()


def _ksample(model, steps=2):
    import nodes as comfy_nodes

    gen = torch.Generator().manual_seed(0)
    cond, uncond = torch.randn(1, 77, 768, generator=gen), torch.randn(1, 77, 768, generator=gen)
    latent = {"samples": torch.zeros(FRAMES, 4, 6, 8)}
    (out,) = comfy_nodes.KSampler().sample(model, 3, steps, 2.0, "euler", "simple", [[cond, {}]], [[uncond, {}]], latent)
    return out["samples"]


def test_node_adds_the_wrapper_to_a_clone_only(small_model):
    import comfy.patcher_extension

    patched = SteadyFrameAnimatedPreview.execute(small_model, 16, 256, 8.0, 0.5).result[0]
    kind = comfy.patcher_extension.WrappersMP.SAMPLER_SAMPLE
    assert patched is not small_model
    assert len(patched.get_wrappers(kind, WRAPPER_KEY)) == 1
    assert small_model.get_wrappers(kind, WRAPPER_KEY) == []
    # Applied twice (two preview nodes in a chain): still one preview per step.
    twice = SteadyFrameAnimatedPreview.execute(patched, 4, 64, 8.0, 0.0).result[0]
    assert len(twice.get_wrappers(kind, WRAPPER_KEY)) == 1
    assert twice.get_wrappers(kind, WRAPPER_KEY)[0].settings.frames == 4


def test_samples_are_unchanged_without_a_server(small_model):
    """ComfyUI used as a library (no PromptServer) with previews on: same samples, nothing sent, no error."""
    import latent_preview
    import server

    assert getattr(server.PromptServer, "instance", None) is None, "this test needs a process without a server"
    patched = SteadyFrameAnimatedPreview.execute(small_model, 16, 256, 8.0, 0.0).result[0]
    latent_preview.set_preview_method("latent2rgb")  # what execution does for a prompt asking for previews
    try:
        assert torch.equal(_ksample(patched), _ksample(small_model))
    finally:
        latent_preview.set_preview_method(None)


# -- a real server and its WebSocket -----------------------------------------------------------

@pytest.fixture(scope="module")
def server(comfyui_root, tmp_path_factory):
    from support.sd15_factory import write_sd15_checkpoint

    root = tmp_path_factory.mktemp("sampling_preview")
    write_sd15_checkpoint(root / "models" / "checkpoints" / "sd15_random.safetensors", seed=0)
    (root / "output").mkdir()
    with ManagedServer(comfyui_root, python=sys.executable, models_dirs=[root / "models"],
                       output_dir=root / "output", startup_timeout=600) as running:
        yield running


def _prompt(seed: int, interval: float = 0.0, steps: int = STEPS) -> dict:
    return {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd15_random.safetensors"}},
        "2": {"class_type": "SteadyFrameAnimatedPreview", "inputs": {
            "model": ["1", 0], "max_frames": MAX_FRAMES, "max_size": MAX_SIZE, "frame_rate": 6.0, "interval": interval}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "a lighthouse", "clip": ["1", 1]}},
        "4": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["1", 1]}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": WIDTH, "height": HEIGHT, "batch_size": FRAMES}},
        "6": {"class_type": "KSampler", "inputs": {
            "model": ["2", 0], "seed": seed, "steps": steps, "cfg": 1.0, "sampler_name": "euler",
            "scheduler": "simple", "positive": ["3", 0], "negative": ["4", 0], "latent_image": ["5", 0], "denoise": 1.0}},
        "7": {"class_type": "SaveLatent", "inputs": {"samples": ["6", 0], "filename_prefix": f"sfpreview_{seed}"}},
    }


def _run_listening(server, prompt: dict, preview_method: str, timeout: float = 600):
    """Queue ``prompt`` from a connected client; returns (history entry, JSON messages, binary messages)."""
    client_id = uuid.uuid4().hex
    base = server.client.base_url
    socket_ = WebSocket(base.replace("http://", "ws://") + f"/ws?clientId={client_id}", timeout=30)
    try:
        answer = requests.post(f"{base}/prompt", timeout=30, json={
            "prompt": prompt, "client_id": client_id, "extra_data": {"preview_method": preview_method}})
        assert answer.status_code == 200, answer.text
        prompt_id = answer.json()["prompt_id"]
        texts, binaries = [], []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            frame = socket_.recv(timeout=5)
            if frame is None:
                continue
            opcode, payload = frame
            if opcode == OP_BINARY:
                binaries.append(payload)
            elif opcode == OP_TEXT:
                message = json.loads(payload)
                texts.append(message)
                data = message.get("data") or {}
                if message["type"] in ("execution_success", "execution_error") and data.get("prompt_id") == prompt_id:
                    break
        else:
            raise AssertionError(f"prompt {prompt_id} did not finish within {timeout} s")
    finally:
        socket_.close()
    for _ in range(60):
        entry = server.client.history(prompt_id)
        if entry:
            return prompt_id, entry, texts, binaries
        time.sleep(0.5)
    raise AssertionError(f"no history for {prompt_id}")


def _image(data: str) -> Image.Image:
    image = Image.open(io.BytesIO(base64.b64decode(data)))
    image.load()
    return image


def _core_latent2rgb_frames(server, entry) -> list:
    """Core's Latent2RGB preview of each frame of the saved result, at the preview size."""
    import latent_preview
    from comfy.latent_formats import SD15
    from safetensors.torch import load_file

    record = entry["outputs"]["7"]["latents"][0]
    samples = load_file(str(server.output_directory / record["subfolder"] / record["filename"]))["latent_tensor"]
    fmt = SD15()
    previewer = latent_preview.Latent2RGBPreviewer(fmt.latent_rgb_factors, fmt.latent_rgb_factors_bias)
    x0 = fmt.process_in(samples.float())  # the sampler's callback sees latents in the model's space
    return [previewer.decode_latent_to_preview(x0[i:i + 1]).resize(PREVIEW_SIZE, Image.Resampling.BILINEAR)
            for i in range(x0.shape[0])]


def _luma_distance(a: Image.Image, b: Image.Image) -> float:
    pa, pb = a.convert("L").tobytes(), b.convert("L").tobytes()
    return sum(abs(x - y) for x, y in zip(pa, pb)) / len(pa)


def test_previews_reach_the_client_that_queued(server):
    prompt_id, entry, texts, binaries = _run_listening(server, _prompt(seed=1), "latent2rgb")
    assert entry["status"]["status_str"] == "success", entry["status"]
    events = [m["data"] for m in texts if m["type"] == "steadyframe.preview"]
    assert [e["step"] for e in events] == list(range(1, STEPS + 1))  # interval 0: every step
    for event in events:
        assert event["node"] == "6" and event["display_node"] == "6" and event["prompt_id"] == prompt_id
        assert event["steps"] == STEPS and event["total_frames"] == FRAMES
        assert event["indices"] == [0, 2, 3] and event["frame_rate"] == 6.0
        assert event["mime"] == "image/jpeg"
        sizes = [_image(f).size for f in event["frames"]]
        assert sizes == [PREVIEW_SIZE] * MAX_FRAMES, sizes
    # The last step's x0 is the result (euler ends at sigma 0): each sent frame is core's
    # Latent2RGB preview of that frame of the result, far closer to it than to any other frame.
    expected = _core_latent2rgb_frames(server, entry)
    sent = [_image(f) for f in events[-1]["frames"]]
    for index, image in zip(events[-1]["indices"], sent):
        distances = [_luma_distance(image, other) for other in expected]
        assert distances[index] < 12, distances
        others = distances[:index] + distances[index + 1:]
        assert min(others) > 2 * distances[index], (index, distances)  # measured: ~6 vs 36..54
    # Core's own single-frame preview still arrives (binary PREVIEW_IMAGE, type 1), once per step.
    kinds = [struct.unpack(">I", payload[:4])[0] for payload in binaries]
    assert kinds.count(1) == STEPS, kinds


def test_preview_method_none_sends_nothing(server):
    _, entry, texts, binaries = _run_listening(server, _prompt(seed=2), "none")
    assert entry["status"]["status_str"] == "success", entry["status"]
    assert [m for m in texts if m["type"] == "steadyframe.preview"] == []
    assert binaries == []  # nor does core


def test_interval_limits_the_previews(server):
    """A long interval leaves only the first and the last step of a 4-step run."""
    _, entry, texts, _ = _run_listening(server, _prompt(seed=3, interval=60.0, steps=4), "latent2rgb")
    assert entry["status"]["status_str"] == "success", entry["status"]
    assert [m["data"]["step"] for m in texts if m["type"] == "steadyframe.preview"] == [1, 4]


def test_headless_run_without_a_listener_succeeds(server):
    """Queued by a client that never connected (an API script): sampling finishes normally."""
    answer = requests.post(f"{server.client.base_url}/prompt", timeout=30, json={
        "prompt": _prompt(seed=4), "client_id": "nobody-listens", "extra_data": {"preview_method": "latent2rgb"}})
    assert answer.status_code == 200, answer.text
    prompt_id = answer.json()["prompt_id"]
    deadline = time.monotonic() + 600
    entry = None
    while time.monotonic() < deadline:
        entry = server.client.history(prompt_id)
        if entry and entry.get("status", {}).get("completed") is not None:
            break
        time.sleep(0.5)
    assert entry, f"prompt {prompt_id} did not finish"
    assert entry["status"]["status_str"] == "success", entry["status"]
