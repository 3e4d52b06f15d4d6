"""Load Video Frames and Video Combine (V3) in-process against the real ComfyUI (folders, core VIDEO, UI payload).

The nodes run as ComfyUI runs them: ``execute`` on the class clone that carries the hidden inputs.
"""
import datetime
import os
from fractions import Fraction

import pytest
import torch

from steadyframe.video import encode_video, read_metadata
from support.comfy_dirs import scratch_comfy_folders
from support.video_clips import frame_numbers, numbered_frames, psnr, smooth_frames, tone

pytestmark = pytest.mark.tier2


@pytest.fixture
def comfy_dirs(comfyui_root, tmp_path):
    """Point ComfyUI's input/output/temp folders at a scratch folder (its own setters), then restore them."""
    with scratch_comfy_folders(tmp_path) as dirs:
        yield dirs


def _load(*args, **kwargs):
    """Load Video Frames' outputs: (images, frame_count, fps, audio, video, mask, video_info)."""
    from steadyframe.nodes.video_nodes import SteadyFrameLoadVideo

    return SteadyFrameLoadVideo.PREPARE_CLASS_CLONE(None).execute(*args, **kwargs).args


def _combine(images, prompt=None, extra_pnginfo=None, **kwargs):
    """Video Combine's NodeOutput, with the hidden inputs ComfyUI fills in."""
    from comfy_api.v0_0_2 import io

    from steadyframe.nodes.video_nodes import SteadyFrameVideoCombine

    args = dict(frame_rate=8.0, loop_count=0, filename_prefix="SteadyFrame", format="h264-mp4", pingpong=False,
                save_output=True, crf=10, pix_fmt="auto")
    args.update(kwargs)
    hidden = {io.Hidden.prompt: prompt, io.Hidden.extra_pnginfo: extra_pnginfo, io.Hidden.unique_id: "2"}
    return SteadyFrameVideoCombine.PREPARE_CLASS_CLONE({"hidden_inputs": hidden}).execute(images, **args)


def test_input_list_and_upload_widget(comfy_dirs):
    from steadyframe.nodes.video_nodes import SteadyFrameLoadVideo

    encode_video(numbered_frames(3), str(comfy_dirs["input"] / "a.mp4"), "h264-mp4", 8)
    (comfy_dirs["input"] / "sub").mkdir()
    encode_video(numbered_frames(3), str(comfy_dirs["input"] / "sub" / "b.webm"), "vp9-webm", 8)
    (comfy_dirs["input"] / "notes.txt").write_text("x")
    kind, options = SteadyFrameLoadVideo.INPUT_TYPES()["required"]["video"]
    assert kind == "COMBO" and options["options"] == ["a.mp4", "sub/b.webm"]
    assert options["video_upload"] is True


def test_load_video_outputs_and_core_video(comfy_dirs):
    from comfy_api.latest import InputImpl

    path = comfy_dirs["input"] / "clip.mp4"
    encode_video(numbered_frames(30), str(path), "h264-mp4", 29.97, crf=0, audio=tone(1.0))
    images, count, fps, audio, video, mask, info = _load("clip.mp4", 0.0, 0, 0, 10, 5, 2)
    assert count == 10 and images.shape == (10, 32, 32, 3)
    assert frame_numbers(images, 30) == list(range(5, 25, 2))
    assert fps == pytest.approx(15000 / 1001, abs=1e-9)
    assert audio["waveform"].shape[:2] == (1, 2)
    assert audio["waveform"].shape[2] == round(10 * 2 * 1001 / 30000 * audio["sample_rate"])
    assert isinstance(video, InputImpl.VideoFromFile)
    assert video.get_frame_rate() == Fraction(30000, 1001)  # the whole source file
    assert video.get_frame_count() == 30
    assert mask.shape == (10, 32, 32) and not mask.any()  # no alpha: everything opaque
    assert (info.source_frame_count, info.loaded_frame_count, info.loaded_width) == (30, 10, 32)


def test_load_refuses_paths_outside_input(comfy_dirs, tmp_path):
    from steadyframe.nodes.video_nodes import SteadyFrameLoadVideo

    encode_video(numbered_frames(2), str(tmp_path / "outside.mp4"), "h264-mp4", 8)
    for bad in ("../outside.mp4", str(tmp_path / "outside.mp4")):
        assert "refused" in SteadyFrameLoadVideo.validate_inputs(bad)
        with pytest.raises(ValueError, match="refused"):
            _load(bad)
    # ComfyUI's own "[output]" annotation reads from the output folder, nowhere else.
    encode_video(numbered_frames(2), str(comfy_dirs["output"] / "made.mp4"), "h264-mp4", 8)
    assert _load("made.mp4 [output]")[1] == 2
    with pytest.raises(ValueError, match="refused"):
        _load("../outside.mp4 [output]")


def test_fingerprint_follows_the_file(comfy_dirs):
    from steadyframe.nodes.video_nodes import SteadyFrameLoadVideo

    path = comfy_dirs["input"] / "c.mp4"
    encode_video(numbered_frames(2), str(path), "h264-mp4", 8)
    first = SteadyFrameLoadVideo.fingerprint_inputs("c.mp4")
    encode_video(numbered_frames(5), str(path), "h264-mp4", 8)
    os.utime(path, ns=(1, 1))
    assert SteadyFrameLoadVideo.fingerprint_inputs("c.mp4") != first


def test_combine_naming_counter_subfolder_and_date(comfy_dirs):
    images = smooth_frames(4, 32, 32)
    first = _combine(images, filename_prefix="shots/%year%-%month%/take")
    second = _combine(images, filename_prefix="shots/%year%-%month%/take")
    now = datetime.date.today()
    sub = f"shots/{now.year}-{now.month:02}"
    assert first.args[1] == str(comfy_dirs["output"] / sub / "take_00001_.mp4")
    assert second.args[1] == str(comfy_dirs["output"] / sub / "take_00002_.mp4")
    assert first.ui.as_dict() == {"images": [{"filename": "take_00001_.mp4", "subfolder": sub, "type": "output"}],
                           "animated": (True,)}
    assert sorted(os.listdir(comfy_dirs["output"] / sub)) == ["take_00001_.mp4", "take_00002_.mp4"]


def test_combine_to_temp_and_refuses_escaping_prefix(comfy_dirs):
    out = _combine(smooth_frames(2, 16, 16), save_output=False, format="webp", crf=0).ui.as_dict()
    assert out["images"][0]["type"] == "temp"
    assert out["animated"] == (True,)
    assert os.path.isfile(comfy_dirs["temp"] / "SteadyFrame_00001_.webp")
    with pytest.raises(Exception, match="outside the output folder"):
        _combine(smooth_frames(2, 16, 16), filename_prefix="../../escape")
    assert not any(p.name.startswith("escape") for p in comfy_dirs["output"].parent.parent.iterdir())


def test_combine_video_is_core_video_with_metadata(comfy_dirs):
    from comfy_api.latest import InputImpl

    images = smooth_frames(6, 32, 48)
    prompt = {"1": {"class_type": "SteadyFrameVideoCombine", "inputs": {}}}
    workflow = {"nodes": [{"id": 1}], "links": []}
    out = _combine(images, frame_rate=29.97, audio=tone(0.1), prompt=prompt, extra_pnginfo={"workflow": workflow})
    video, path = out.args
    assert isinstance(video, InputImpl.VideoFromFile)
    components = video.get_components()  # what core's Get Video Components does
    assert components.images.shape == (6, 32, 48, 3)
    assert components.frame_rate == Fraction(30000, 1001)
    assert psnr(components.images, images) > 35
    assert components.audio is not None and components.audio["waveform"].shape[1] == 2
    import json

    assert json.loads(components.metadata["prompt"]) == prompt
    assert json.loads(components.metadata["workflow"]) == workflow
    # Core's Save Video remuxes our file and keeps the workflow.
    resaved = str(comfy_dirs["output"] / "resaved.mp4")
    video.save_to(resaved, metadata={"prompt": prompt})
    assert read_metadata(resaved)["workflow"] == workflow


@pytest.mark.parametrize("fmt", ["gif", "webp", "png-sequence"])
def test_combine_image_formats(comfy_dirs, fmt):
    images = smooth_frames(3, 16, 24)
    out = _combine(images, format=fmt, crf=0, pingpong=True)
    video, path = out.args
    shown = out.ui.as_dict()
    components = video.get_components()
    assert components.images.shape[0] == 4  # pingpong 0 1 2 1
    if fmt == "png-sequence":
        assert os.path.isdir(path)
        assert [i["filename"] for i in shown["images"]] == [f"frame_{n:05}.png" for n in range(1, 5)]
        assert shown["images"][0]["subfolder"] == "SteadyFrame_00001_"
        assert "animated" not in shown
    elif fmt == "gif":
        assert "animated" not in shown  # browsers animate a GIF in a plain <img>
    else:
        assert shown["animated"] == (True,)


def test_odd_size_padding_in_node(comfy_dirs):
    out = _combine(smooth_frames(2, 33, 35), format="h264-mp4")
    assert out.args[0].get_dimensions() == (36, 34)


def test_interrupt_leaves_no_file(comfy_dirs):
    import comfy.model_management

    # What the Cancel button does: the next check between frames raises, the partial file goes.
    comfy.model_management.interrupt_current_processing(True)
    try:
        with pytest.raises(comfy.model_management.InterruptProcessingException):
            _combine(smooth_frames(5, 16, 16))
    finally:
        comfy.model_management.interrupt_current_processing(False)
    assert os.listdir(comfy_dirs["output"]) == []


def test_alpha_mask_round_trip_through_both_nodes(comfy_dirs):
    images = smooth_frames(3, 24, 32)
    mask = torch.zeros(3, 24, 32)
    mask[:, :, :16] = 1.0  # left half transparent (LoadImage's convention)
    out = _combine(images, format="ffv1-mkv", mask=mask, filename_prefix="alpha")
    path = out.args[1]
    os.replace(path, comfy_dirs["input"] / "alpha.mkv")
    loaded, count, _fps, _audio, _video, read_mask, info = _load("alpha.mkv")
    assert count == 3 and torch.equal(read_mask, mask)
    assert torch.equal(torch.round(loaded * 255), torch.round(images * 255))  # FFV1 is lossless
    assert (info.source_width, info.source_height, info.loaded_fps) == (32, 24, 8.0)


def test_mask_on_a_format_without_alpha_warns(comfy_dirs, caplog):
    import logging

    with caplog.at_level(logging.WARNING):
        out = _combine(smooth_frames(2, 16, 16), format="h264-mp4", mask=torch.ones(2, 16, 16))
    assert os.path.isfile(out.args[1])
    assert "h264-mp4 cannot store alpha" in caplog.text


def test_video_info_node_splits_the_numbers(comfy_dirs):
    from steadyframe.nodes.video_nodes import SteadyFrameVideoInfo

    encode_video(smooth_frames(20, 32, 48), str(comfy_dirs["input"] / "info.mp4"), "h264-mp4", 10)
    info = _load("info.mp4", 5.0, 24, 0, 0, 0, 1)[6]
    numbers = SteadyFrameVideoInfo.PREPARE_CLASS_CLONE(None).execute(info).args
    assert numbers[:5] == (10.0, 20, pytest.approx(2.0, abs=0.01), 48, 32)
    assert numbers[5:] == (5.0, 10, 2.0, 24, 16)
    schema = SteadyFrameVideoInfo.GET_SCHEMA()
    assert [o.id for o in schema.outputs] == [
        "source_fps", "source_frame_count", "source_duration", "source_width", "source_height",
        "loaded_fps", "loaded_frame_count", "loaded_duration", "loaded_width", "loaded_height"]
    assert schema.inputs[0].get_io_type() == "SF_VIDEO_INFO"


def test_new_sockets_are_appended_and_optional():
    from steadyframe.nodes.video_nodes import SteadyFrameLoadVideo, SteadyFrameVideoCombine

    load = SteadyFrameLoadVideo.GET_SCHEMA()
    assert [o.id for o in load.outputs] == ["images", "frame_count", "fps", "audio", "video", "mask", "video_info"]
    combine = SteadyFrameVideoCombine.INPUT_TYPES()
    assert list(combine["optional"]) == ["audio", "mask", "chunk"]
    assert combine["optional"]["chunk"][0] == "SF_CHUNK"
    assert combine["optional"]["mask"][0] == "MASK"
    formats = combine["required"]["format"][1]["options"]
    assert formats[:3] == ["h264-mp4", "h265-mp4", "vp9-webm"]  # older choices first, in their order
    assert {"prores-hq-mov", "prores-4444-mov", "ffv1-mkv", "png16-sequence"} <= set(formats)
