"""Load Images (Folder) and Load Video Frames (Path) in-process against the real ComfyUI: its folders,
the steadyframe_media allow-list as folder_paths holds it, chunks, Cancel and the node declarations."""
import os

import numpy as np
import pytest
from PIL import Image

from steadyframe.chunking.plan import ChunkPlan
from steadyframe.video import encode_video
from support.comfy_dirs import scratch_comfy_folders
from support.comfy_location import skip_module_without_comfyui
from support.image_files import level_image, write_16bit
from support.video_clips import frame_numbers, numbered_frames

skip_module_without_comfyui()

pytestmark = pytest.mark.tier2

KEY = "steadyframe_media"


@pytest.fixture
def comfy_dirs(comfyui_root, tmp_path):
    """ComfyUI's input/output/temp folders in a scratch folder (its own setters), and an outside folder."""
    with scratch_comfy_folders(tmp_path, ("footage", "elsewhere")) as dirs:
        yield dirs


@pytest.fixture
def listed_root(comfy_dirs):
    """``footage/`` listed under steadyframe_media, as an extra_model_paths.yaml entry registers it."""
    import folder_paths

    assert KEY not in folder_paths.folder_names_and_paths
    folder_paths.add_model_folder_path(KEY, str(comfy_dirs["footage"]))
    yield comfy_dirs["footage"]
    folder_paths.folder_names_and_paths.pop(KEY, None)


def _frames(folder, count, size=(8, 6)):
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(1, count + 1):
        level_image(10 * n, size).save(folder / f"frame{n}.png")


def _load_images(*args, **kwargs):
    from steadyframe.nodes.image_folder_nodes import SteadyFrameLoadImages

    return SteadyFrameLoadImages.PREPARE_CLASS_CLONE(None).execute(*args, **kwargs).args


def _load_video_path(*args, **kwargs):
    from steadyframe.nodes.video_path_nodes import SteadyFrameLoadVideoPath

    return SteadyFrameLoadVideoPath.PREPARE_CLASS_CLONE(None).execute(*args, **kwargs).args


def test_declarations():
    from steadyframe.nodes.image_folder_nodes import SteadyFrameLoadImages
    from steadyframe.nodes.video_path_nodes import SteadyFrameLoadVideoPath

    images = SteadyFrameLoadImages.INPUT_TYPES()
    assert list(images["required"]) == ["folder", "pattern", "image_load_cap", "skip_first_images",
                                        "select_every_nth"]
    assert images["optional"]["chunk"][0] == "SF_CHUNK"
    assert list(SteadyFrameLoadImages.RETURN_TYPES) == ["IMAGE", "MASK", "INT", "STRING"]
    video = SteadyFrameLoadVideoPath.INPUT_TYPES()
    assert list(video["required"]) == ["path", "force_rate", "custom_width", "custom_height", "frame_load_cap",
                                       "skip_first_frames", "select_every_nth"]
    assert list(SteadyFrameLoadVideoPath.RETURN_TYPES) == ["IMAGE", "INT", "FLOAT", "AUDIO", "VIDEO", "MASK",
                                                     "SF_VIDEO_INFO"]


def test_load_images_from_input_with_alpha_and_names(comfy_dirs):
    folder = comfy_dirs["input"] / "shot"
    _frames(folder, 11)
    rgba = np.zeros((6, 8, 4), dtype=np.uint8)
    rgba[..., 3] = 51
    Image.fromarray(rgba, "RGBA").save(folder / "frame12.png")
    images, mask, count, names = _load_images("shot", "frame1*", 0, 1, 1)
    # frame1*: frame1, frame10, frame11, frame12 in natural order; skip 1
    assert names == "frame10.png\nframe11.png\nframe12.png"
    assert count == 3 and images.shape == (3, 6, 8, 3) and mask.shape == (3, 6, 8)
    assert float(mask[2].mean()) == pytest.approx(1 - 51 / 255) and not mask[:2].any()


def test_sixteen_bit_frames_in_the_node(comfy_dirs):
    folder = comfy_dirs["input"] / "deep"
    folder.mkdir()
    pixels = np.full((4, 4, 3), 1000, dtype=np.uint16)
    write_16bit(str(folder / "a.png"), pixels)
    images = _load_images("deep", "*", 0, 0, 1)[0]
    assert float(images.mean()) == pytest.approx(1000 / 65535, abs=1e-7)  # 8 bits would give 4/255 or 3/255


def test_chunk_input_loads_its_frames(comfy_dirs):
    _frames(comfy_dirs["input"] / "long", 10)
    chunk = ChunkPlan(total_frames=10, chunk_frames=4, overlap=2).chunk(2)  # frames 6..9
    images, _mask, count, names = _load_images("long", "*", 0, 0, 1, chunk)
    assert count == 4 and names.split("\n") == [f"frame{n}.png" for n in range(7, 11)]


def test_folder_path_rule_and_allow_list(comfy_dirs):
    from steadyframe.nodes.image_folder_nodes import SteadyFrameLoadImages

    _frames(comfy_dirs["footage"] / "shot", 2)
    _frames(comfy_dirs["elsewhere"] / "shot", 2)
    _frames(comfy_dirs["output"] / "made", 3)
    os.symlink(comfy_dirs["elsewhere"] / "shot", comfy_dirs["input"] / "linked")
    outside = str(comfy_dirs["footage"] / "shot")
    for bad in (outside, "../elsewhere/shot", "linked"):
        answer = SteadyFrameLoadImages.validate_inputs(bad)
        assert "refused" in answer and KEY in answer, answer
        with pytest.raises(ValueError, match="refused"):
            _load_images(bad, "*", 0, 0, 1)
    assert SteadyFrameLoadImages.validate_inputs(None) is True  # linked: checked when it runs
    # ComfyUI's own folders are permitted: "[output]" and an absolute path into output/
    assert _load_images("made [output]", "*", 0, 0, 1)[2] == 3
    assert _load_images(str(comfy_dirs["output"] / "made"), "*", 0, 0, 1)[2] == 3


def test_listed_root_is_read_from_folder_paths(comfy_dirs, listed_root):
    from steadyframe.nodes.image_folder_nodes import SteadyFrameLoadImages
    from steadyframe.nodes.video_path_nodes import SteadyFrameLoadVideoPath

    _frames(listed_root / "shot", 2)
    encode_video(numbered_frames(4), str(listed_root / "clip.mp4"), "h264-mp4", 8, crf=0)
    assert SteadyFrameLoadImages.validate_inputs(str(listed_root / "shot")) is True
    assert _load_images(str(listed_root / "shot"), "*", 0, 0, 1)[2] == 2
    assert SteadyFrameLoadVideoPath.validate_inputs(str(listed_root / "clip.mp4")) is True
    images, count = _load_video_path(str(listed_root / "clip.mp4"), 0.0, 0, 0, 0, 1, 1)[:2]
    assert count == 3 and frame_numbers(images, 4) == [1, 2, 3]
    # still nothing outside it, even through a link placed inside it
    _frames(comfy_dirs["elsewhere"] / "shot", 2)
    os.symlink(comfy_dirs["elsewhere"], listed_root / "escape")
    assert "refused" in SteadyFrameLoadImages.validate_inputs(str(listed_root / "escape" / "shot"))


def test_load_video_path_relative_output_and_refusals(comfy_dirs):
    from steadyframe.nodes.video_path_nodes import SteadyFrameLoadVideoPath

    encode_video(numbered_frames(3), str(comfy_dirs["input"] / "a.mp4"), "h264-mp4", 8, crf=0)
    encode_video(numbered_frames(5), str(comfy_dirs["output"] / "b.mp4"), "h264-mp4", 8, crf=0)
    encode_video(numbered_frames(2), str(comfy_dirs["elsewhere"] / "c.mp4"), "h264-mp4", 8, crf=0)
    assert _load_video_path("a.mp4")[1] == 3
    assert _load_video_path(str(comfy_dirs["output"] / "b.mp4"))[1] == 5  # Video Combine's file_path
    assert _load_video_path("b.mp4 [output]")[1] == 5
    answer = SteadyFrameLoadVideoPath.validate_inputs(str(comfy_dirs["elsewhere"] / "c.mp4"))
    assert "refused" in answer and KEY in answer
    with pytest.raises(ValueError, match="refused"):
        _load_video_path("../elsewhere/c.mp4")
    first = SteadyFrameLoadVideoPath.fingerprint_inputs("a.mp4")
    encode_video(numbered_frames(4), str(comfy_dirs["input"] / "a.mp4"), "h264-mp4", 8, crf=0)
    os.utime(comfy_dirs["input"] / "a.mp4", ns=(1, 1))
    assert SteadyFrameLoadVideoPath.fingerprint_inputs("a.mp4") != first


def test_load_images_fingerprint_and_cancel(comfy_dirs):
    import comfy.model_management

    from steadyframe.nodes.image_folder_nodes import SteadyFrameLoadImages

    _frames(comfy_dirs["input"] / "shot", 3)
    first = SteadyFrameLoadImages.fingerprint_inputs("shot", "*")
    level_image(200).save(comfy_dirs["input"] / "shot" / "frame4.png")
    assert SteadyFrameLoadImages.fingerprint_inputs("shot", "*") != first
    assert SteadyFrameLoadImages.fingerprint_inputs("shot", "frame[123].png") != \
        SteadyFrameLoadImages.fingerprint_inputs("shot", "*")
    comfy.model_management.interrupt_current_processing(True)
    try:
        with pytest.raises(comfy.model_management.InterruptProcessingException):
            _load_images("shot", "*", 0, 0, 1)
    finally:
        comfy.model_management.interrupt_current_processing(False)
