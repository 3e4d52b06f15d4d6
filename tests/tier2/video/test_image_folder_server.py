"""The allow-list through a real ComfyUI server: an extra_model_paths.yaml with a ``steadyframe_media``
key, passed with ``--extra-model-paths-config``, lets Load Images (Folder) and Load Video Frames (Path)
read that folder and nothing else; Video Combine's file_path feeds Load Video Frames (Path).

Starts ComfyUI (``--cpu`` when there is no GPU) on a free port; run it under
``flock /tmp/steadyframe-heavy.lock`` on a shared machine.
"""
import json
import os

import pytest
import requests

from steadyframe.runner.server import ManagedServer
from steadyframe.video import encode_video
from support.image_files import level_image
from support.server_queue import run_prompt
from support.video_clips import numbered_frames

pytestmark = pytest.mark.tier2


@pytest.fixture(scope="module")
def setup(comfyui_root, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("image_folder_server")
    for name in ("input", "output", "footage/shot", "elsewhere/shot"):
        (tmp / name).mkdir(parents=True)
    for n in range(1, 6):
        level_image(40 * n, (16, 8)).save(tmp / "footage" / "shot" / f"f{n}.png")
        level_image(40 * n, (16, 8)).save(tmp / "elsewhere" / "shot" / f"f{n}.png")
    encode_video(numbered_frames(4, 16, 16), str(tmp / "footage" / "clip.mp4"), "h264-mp4", 8, crf=0)
    # The README's example, with a relative entry: ComfyUI resolves it against the yaml's folder.
    config = tmp / "steadyframe_media.yaml"
    config.write_text("steadyframe:\n    steadyframe_media: |\n        footage\n", encoding="utf-8")
    with ManagedServer(comfyui_root, input_dir=tmp / "input", output_dir=tmp / "output",
                       extra_args=["--extra-model-paths-config", str(config)], startup_timeout=600) as server:
        yield server, tmp


def _post(server, prompt):
    return requests.post(f"{server.client.base_url}/prompt", timeout=30,
                         json={"prompt": prompt, "client_id": "steadyframe-image-folder-test"})


def _images_prompt(folder):
    return {
        "1": {"class_type": "SteadyFrameLoadImages",
              "inputs": {"folder": folder, "pattern": "f*.png", "image_load_cap": 3, "skip_first_images": 1,
                         "select_every_nth": 1}},
        "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}},
        "3": {"class_type": "MaskToImage", "inputs": {"mask": ["1", 1]}},
        "4": {"class_type": "PreviewImage", "inputs": {"images": ["3", 0]}},
    }


def test_listed_folder_loads_through_the_queue(setup):
    server, tmp = setup
    entry = run_prompt(server, _images_prompt(str(tmp / "footage" / "shot")), {}, "steadyframe-image-folder-test")
    assert entry["status"]["status_str"] == "success", entry["status"]
    assert len(entry["outputs"]["2"]["images"]) == 3
    assert len(entry["outputs"]["4"]["images"]) == 3


def test_unlisted_folder_is_refused_at_validation(setup):
    server, tmp = setup
    answer = _post(server, _images_prompt(str(tmp / "elsewhere" / "shot")))
    assert answer.status_code == 400
    text = json.dumps(answer.json())
    assert "refused" in text and "steadyframe_media" in text
    # a link inside the listed folder does not open the way out
    os.symlink(tmp / "elsewhere", tmp / "footage" / "escape")
    answer = _post(server, _images_prompt(str(tmp / "footage" / "escape" / "shot")))
    assert answer.status_code == 400 and "refused" in json.dumps(answer.json())


def test_video_path_from_listed_folder_and_from_video_combine(setup):
    server, tmp = setup
    prompt = {
        "1": {"class_type": "SteadyFrameLoadVideoPath",
              "inputs": {"path": str(tmp / "footage" / "clip.mp4"), "force_rate": 0.0, "custom_width": 0,
                         "custom_height": 0, "frame_load_cap": 0, "skip_first_frames": 0, "select_every_nth": 1}},
        "2": {"class_type": "SteadyFrameVideoCombine",
              "inputs": {"images": ["1", 0], "frame_rate": 8.0, "loop_count": 0, "filename_prefix": "relay",
                         "format": "h264-mp4", "pingpong": True, "save_output": True, "crf": 10, "pix_fmt": "auto"}},
        # linked path: validated when it runs (the file does not exist yet at validation)
        "3": {"class_type": "SteadyFrameLoadVideoPath",
              "inputs": {"path": ["2", 1], "force_rate": 0.0, "custom_width": 0, "custom_height": 0,
                         "frame_load_cap": 0, "skip_first_frames": 0, "select_every_nth": 1}},
        "4": {"class_type": "PreviewImage", "inputs": {"images": ["3", 0]}},
    }
    entry = run_prompt(server, prompt, {}, "steadyframe-image-folder-test")
    assert entry["status"]["status_str"] == "success", entry["status"]
    assert len(entry["outputs"]["4"]["images"]) == 6  # 4 frames pingponged: 0 1 2 3 2 1
    prompt["1"]["inputs"]["path"] = str(tmp / "elsewhere" / "clip.mp4")
    answer = _post(server, prompt)
    assert answer.status_code == 400 and "refused" in json.dumps(answer.json())
