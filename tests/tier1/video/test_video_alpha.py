"""Alpha through Load Video / Video Combine without ComfyUI: masks written per format and read back.

Convention under test (ComfyUI's LoadImage): mask = 1 - alpha, so 1 = transparent.
"""
import logging

import av
import numpy as np
import pytest
import torch

from steadyframe import video
from steadyframe.video import FrameSelection, alpha_to_mask, encode_video, load_video, mask_to_alpha
from support.video_clips import psnr, smooth_frames

FRAMES, HEIGHT, WIDTH = 4, 32, 48


def _alpha(frames=FRAMES, height=HEIGHT, width=WIDTH) -> torch.Tensor:
    """(F, H, W): a left-to-right ramp, a clear block and an opaque block, a different level per frame."""
    ramp = torch.linspace(0, 1, width).expand(frames, height, width).clone()
    ramp[:, :8, :8] = 0.0
    ramp[:, -8:, -8:] = 1.0
    for f in range(frames):
        ramp[f, 8:16, 16:32] = 0.2 + 0.2 * f  # tells the frames apart
    return ramp


def _written(tmp_path, name, images, alpha, **kwargs):
    fmt = video.FORMATS_BY_NAME[name]
    path = str(tmp_path / (name if fmt.kind == "png" else f"clip.{fmt.extension}"))
    result = encode_video(images, path, name, 8, mask=1 - alpha, **kwargs)
    return result.files[0] if result.files else path


@pytest.mark.parametrize("name,tolerance", [
    ("ffv1-mkv", 0.5 / 255),       # lossless: the 8-bit code of every pixel
    ("png-sequence", 0.5 / 255),
    ("png16-sequence", 0.5 / 65535),
    ("webp", 0.5 / 255),           # lossless WebP at crf 0
    ("prores-4444-mov", 2 / 1023),  # ProRes codes alpha losslessly at 16 bits; ours is 10-bit via swscale
])
def test_alpha_round_trip_exact_formats(tmp_path, name, tolerance):
    images, alpha = smooth_frames(FRAMES, HEIGHT, WIDTH), _alpha()
    crf = 0 if name == "webp" else 19
    loaded = load_video(_written(tmp_path, name, images, alpha, crf=crf))
    count = loaded.images.shape[0]
    assert loaded.alpha is not None and loaded.alpha.shape == (count, HEIGHT, WIDTH)
    assert float((loaded.alpha - alpha[:count]).abs().max()) <= tolerance, name
    mask = alpha_to_mask(loaded.alpha.clone(), count, HEIGHT, WIDTH)
    assert float(mask[0, 0, 0]) == pytest.approx(1.0) and float(mask[0, -1, -1]) == pytest.approx(0.0)


def test_vp9_webm_alpha_is_decoded_with_libvpx(tmp_path):
    images, alpha = smooth_frames(FRAMES, HEIGHT, WIDTH), _alpha()
    path = _written(tmp_path, "vp9-webm", images, alpha, crf=4)
    with av.open(path) as container:
        stream = container.streams.video[0]
        assert stream.metadata.get("alpha_mode") == "1"
        assert next(container.decode(stream)).format.name == "yuv420p"  # FFmpeg's own decoder drops it
    loaded = load_video(path)
    assert loaded.alpha is not None
    assert float((loaded.alpha - alpha).abs().mean()) < 0.01
    assert float((loaded.alpha - alpha).abs().max()) < 0.1
    assert psnr(loaded.images, images) >= 38.0  # colour unaffected by the alpha path
    # frames stay paired with their own alpha (a per-frame level in the middle block)
    levels = loaded.alpha[:, 10:14, 20:28].mean(dim=(1, 2))
    assert torch.allclose(levels, torch.tensor([0.2, 0.4, 0.6, 0.8]), atol=0.02)


def _write_vp9_alpha_with_keyframes(path, alpha_levels, rate=10, gop=5):
    """VP9 + alpha WebM (libvpx, a keyframe every ``gop`` frames), frame k's alpha = ``alpha_levels[k]``."""
    with av.open(path, "w", format="webm") as container:
        stream = container.add_stream("libvpx-vp9", rate=rate)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuva420p"
        stream.options = {"g": str(gop), "crf": "10", "b": "0"}
        for k, level in enumerate(alpha_levels):
            rgba = np.full((HEIGHT, WIDTH, 4), [200, 100, 50, round(level * 255)], np.uint8)
            frame = av.VideoFrame.from_ndarray(rgba, format="rgba").reformat(format="yuva420p")
            frame.pts = k
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def test_vp9_alpha_after_a_seek(tmp_path):
    levels = np.linspace(0.05, 0.95, 40)
    path = str(tmp_path / "long.webm")
    _write_vp9_alpha_with_keyframes(path, levels)
    # force_rate with a skip of 1 s or more seeks; libvpx must be flushed with the demuxer
    loaded = load_video(path, FrameSelection(force_rate=10, skip_first_frames=25, frame_load_cap=5))
    assert loaded.alpha is not None and loaded.alpha.shape[0] == 5
    assert loaded.decoded_frames < 25  # it did seek
    got = loaded.alpha.mean(dim=(1, 2))
    assert torch.allclose(got, torch.tensor(levels[25:30], dtype=torch.float32), atol=0.01), got


def test_gif_alpha_is_one_bit(tmp_path):
    images, alpha = smooth_frames(FRAMES, HEIGHT, WIDTH), _alpha()
    loaded = load_video(_written(tmp_path, "gif", images, alpha))
    expected = (alpha >= 0.5).float()
    assert loaded.alpha is not None
    assert torch.equal(loaded.alpha, expected)


def test_png16_alpha_keeps_sixteen_bits(tmp_path):
    images = smooth_frames(1, HEIGHT, WIDTH)
    alpha = torch.full((1, HEIGHT, WIDTH), 30000.0 / 65535)
    loaded = load_video(_written(tmp_path, "png16-sequence", images, alpha))
    assert float(loaded.alpha.max() - 30000.0 / 65535) == pytest.approx(0.0, abs=1e-7)


def test_opaque_files_have_no_alpha_and_a_zero_mask(tmp_path):
    path = str(tmp_path / "opaque.mp4")
    encode_video(smooth_frames(3, HEIGHT, WIDTH), path, "h264-mp4", 8)
    loaded = load_video(path)
    assert loaded.alpha is None
    mask = alpha_to_mask(loaded.alpha, 3, HEIGHT, WIDTH)
    assert mask.shape == (3, HEIGHT, WIDTH) and not mask.any()


def test_one_mask_serves_every_frame(tmp_path):
    images = smooth_frames(FRAMES, HEIGHT, WIDTH)
    single = 1 - _alpha(1)[0]  # (H, W)
    path = str(tmp_path / "one.mkv")
    encode_video(images, path, "ffv1-mkv", 8, mask=single)
    loaded = load_video(path)
    assert torch.allclose(loaded.alpha, (1 - single).expand(FRAMES, -1, -1), atol=0.5 / 255)


def test_mask_of_the_wrong_shape_is_named():
    with pytest.raises(ValueError, match=r"mask must be .*\(4, 32, 48\).*got \(3, 32, 48\)"):
        mask_to_alpha(torch.zeros(3, HEIGHT, WIDTH), FRAMES, HEIGHT, WIDTH)
    with pytest.raises(ValueError, match=r"got \(32, 40\)"):
        mask_to_alpha(torch.zeros(HEIGHT, 40), FRAMES, HEIGHT, WIDTH)


@pytest.mark.parametrize("name,pix,reason", [
    ("h264-mp4", "auto", "h264-mp4 cannot store alpha"),
    ("prores-hq-mov", "auto", "prores-hq-mov cannot store alpha"),
    ("vp9-webm", "yuv444p", "only with pix_fmt yuv420p"),
])
def test_formats_without_alpha_warn_and_ignore_the_mask(tmp_path, caplog, name, pix, reason):
    images = smooth_frames(2, HEIGHT, WIDTH)
    path = str(tmp_path / f"x.{video.FORMATS_BY_NAME[name].extension}")
    with caplog.at_level(logging.WARNING):
        encode_video(images, path, name, 8, pix_fmt=pix, mask=torch.ones(2, HEIGHT, WIDTH))
    assert reason in caplog.text and "the mask is ignored" in caplog.text
    assert load_video(path).alpha is None


def test_rgba_layout_of_a_frame():
    from steadyframe.video.pixels import read_layout

    assert read_layout(av.VideoFrame(16, 16, "yuv420p")).out_format == "rgb24"
    assert read_layout(av.VideoFrame(16, 16, "yuva420p")).out_format == "rgba"
    assert read_layout(av.VideoFrame(16, 16, "yuv422p10le")).out_format == "rgb48le"
    assert read_layout(av.VideoFrame(16, 16, "yuva444p12le")).out_format == "rgba64le"
    assert read_layout(av.VideoFrame(16, 16, "pal8")).alpha  # palette entries carry alpha (GIF, PNG tRNS)


def test_alpha_chunks_round_and_clip():
    from steadyframe.video.alpha import alpha_chunks

    alpha = torch.tensor([[[-0.5, 0.0, 0.5, 1.0, 2.0]]])
    assert np.array_equal(next(alpha_chunks(alpha, [0], 255)), [[0, 0, 128, 255, 255]])
    assert np.array_equal(next(alpha_chunks(alpha, [0], 65535)), [[0, 0, 32768, 65535, 65535]])
