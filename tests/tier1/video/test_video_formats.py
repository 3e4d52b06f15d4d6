"""Production formats without ComfyUI: ProRes profiles, FFV1 bit-exact, 16-bit PNG, deep decoding,
NVENC listing, and the Video Info numbers."""
from fractions import Fraction

import av
import pytest
import torch

from steadyframe import video
from steadyframe.video import FrameSelection, encode_video, load_video, loaded_video_info, read_metadata
from steadyframe.video.formats import encoder_opens
from support.video_clips import psnr, smooth_frames, tone

PRORES = [("prores-proxy-mov", "apco", "Proxy"), ("prores-lt-mov", "apcs", "LT"),
          ("prores-mov", "apcn", "Standard"), ("prores-hq-mov", "apch", "HQ"), ("prores-4444-mov", "ap4h", "4444")]


@pytest.mark.parametrize("name,tag,profile", PRORES)
def test_prores_profile_is_in_the_stream(tmp_path, name, tag, profile):
    images = smooth_frames(4, 32, 48)
    path = str(tmp_path / "clip.mov")
    encode_video(images, path, name, 24, audio=tone(0.2))
    with av.open(path) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "prores"
        assert stream.codec_context.codec_tag == tag
        assert stream.profile == profile
        assert container.streams.audio[0].codec_context.name == "pcm_s16le"
    loaded = load_video(path)
    assert loaded.images.shape == (4, 32, 48, 3)
    assert psnr(loaded.images, images) >= (30.0 if profile == "Proxy" else 40.0), name


def test_ten_bit_prores_decodes_above_eight_bits(tmp_path):
    # A ramp 16x finer than 8-bit steps: an 8-bit decode could hold at most 9 levels of it.
    ramp = torch.linspace(0.40, 0.43, 256)
    images = ramp.view(1, 1, -1, 1).expand(2, 16, 256, 3).contiguous()
    path = str(tmp_path / "ramp.mov")
    encode_video(images, path, "prores-hq-mov", 24)
    loaded = load_video(path).images
    row = loaded[0, 8, :, 1]
    assert len(torch.unique(row)) > 20  # 26 luma codes at 10 bits; 8 bits would give at most 9
    assert float((loaded - images).abs().mean()) < 0.5 / 1023 * 4  # within a few 10-bit codes
    shift = float((loaded - images).mean())
    assert abs(shift) < 0.5 / 255  # no half-code bias (swscale's 16-bit RGB would give one)


def test_ten_bit_yuv_decode_matches_the_eight_bit_path(tmp_path):
    images = smooth_frames(3, 64, 96)
    path = str(tmp_path / "444.mov")
    encode_video(images, path, "prores-4444-mov", 24)
    loaded = load_video(path).images
    assert psnr(loaded, images) >= 48.0
    shift = (loaded.mean(dim=(0, 1, 2)) - images.mean(dim=(0, 1, 2))).abs()
    assert float(shift.max()) <= 0.25 / 255


def test_ten_bit_resize_on_load(tmp_path):
    images = smooth_frames(2, 64, 96)
    path = str(tmp_path / "hq.mov")
    encode_video(images, path, "prores-hq-mov", 24)
    loaded = load_video(path, custom_width=48)
    assert loaded.images.shape == (2, 32, 48, 3)
    small = torch.nn.functional.interpolate(images.permute(0, 3, 1, 2), size=(32, 48), mode="area").permute(0, 2, 3, 1)
    assert psnr(loaded.images, small) >= 35.0


def test_ffv1_is_bit_exact_at_eight_bits(tmp_path):
    codes = torch.randint(0, 256, (5, 31, 45, 3), generator=torch.Generator().manual_seed(3))
    path = str(tmp_path / "lossless.mkv")
    result = encode_video(codes.float() / 255, path, "ffv1-mkv", 24, audio=tone(0.3))
    assert (result.width, result.height) == (45, 31)  # RGB: odd sizes are not padded
    with av.open(path) as container:
        assert container.streams.video[0].codec_context.pix_fmt == "bgr0"
        assert container.streams.audio[0].codec_context.name == "flac"
    loaded = load_video(path)
    assert torch.equal(torch.round(loaded.images * 255).to(torch.int64), codes)


def test_ffv1_is_bit_exact_at_sixteen_bits(tmp_path):
    codes = torch.randint(0, 65536, (3, 16, 24, 3), generator=torch.Generator().manual_seed(4))
    path = str(tmp_path / "deep.mkv")
    encode_video(codes.double().div(65535).float(), path, "ffv1-mkv", 24, pix_fmt="gbrp16le")
    with av.open(path) as container:
        assert container.streams.video[0].codec_context.pix_fmt == "gbrp16le"
    loaded = load_video(path)
    assert torch.equal(torch.round(loaded.images.double() * 65535).to(torch.int64), codes)


def test_png16_sequence_keeps_sixteen_bits_and_the_workflow(tmp_path):
    codes = torch.randint(0, 65536, (2, 20, 30, 3), generator=torch.Generator().manual_seed(5))
    meta = {"prompt": {"1": {"class_type": "X"}}, "workflow": {"nodes": [], "note": "ü"}}
    result = encode_video(codes.double().div(65535).float(), str(tmp_path / "seq"), "png16-sequence", 8,
                          metadata=meta)
    assert len(result.files) == 2
    with open(result.files[0], "rb") as file:
        head = file.read(64)
    assert head[24] == 16  # IHDR bit depth
    for k, name in enumerate(result.files):
        loaded = load_video(name)
        assert torch.equal(torch.round(loaded.images[0].double() * 65535).to(torch.int64), codes[k])
    assert read_metadata(result.files[0]) == meta  # tEXt (and iTXt for non-Latin-1) as ComfyUI writes them
    assert read_metadata(result.files[1]) == {}


def test_crf_is_not_passed_to_codecs_without_it(tmp_path):
    # ProRes and FFV1 have no crf option; any crf in range is accepted and ignored.
    images = smooth_frames(2, 16, 16)
    for name in ("prores-hq-mov", "ffv1-mkv"):
        a, b = str(tmp_path / f"a.{name}"), str(tmp_path / f"b.{name}")
        encode_video(images, a, name, 8, crf=0)
        encode_video(images, b, name, 8, crf=40)
        assert torch.equal(load_video(a).images, load_video(b).images), name


def test_hardware_formats_are_listed_only_when_an_encoder_opens():
    names = video.available_formats()
    for fmt in video.FORMATS:
        if fmt.hardware:
            assert (fmt.name in names) == encoder_opens(fmt.codec), fmt.name
            if fmt.name not in names:
                with pytest.raises(ValueError, match="no usable GPU or driver"):
                    video.output_format(fmt.name)
    assert encoder_opens("libx264") is True
    assert encoder_opens("no_such_encoder") is False
    before = encoder_opens.cache_info().hits
    encoder_opens("libx264")
    assert encoder_opens.cache_info().hits == before + 1  # probed once per process


def test_nvenc_round_trip_when_this_machine_has_it(tmp_path):
    usable = [f for f in ("h264-nvenc-mp4", "hevc-nvenc-mp4", "av1-nvenc-mp4") if f in video.available_formats()]
    if not usable:
        pytest.skip("no NVENC encoder opens on this machine (no NVIDIA GPU or driver)")
    images = smooth_frames(6, 256, 256)
    for name in usable:
        path = str(tmp_path / f"{name}.mp4")
        encode_video(images, path, name, 24, crf=18)
        assert psnr(load_video(path).images, images) >= 35.0, name


def test_new_formats_and_pixel_formats_are_appended():
    names = [f.name for f in video.FORMATS]
    assert names[:7] == ["h264-mp4", "h265-mp4", "vp9-webm", "av1-webm", "gif", "webp", "png-sequence"]
    assert video.PIX_FMT_CHOICES[:4] == ("auto", "yuv420p", "yuv420p10le", "yuv444p")


# ----------------------------------------------------------------------------- Video Info

def test_video_info_numbers(tmp_path):
    path = str(tmp_path / "ntsc.mp4")
    encode_video(smooth_frames(30, 48, 64), path, "h264-mp4", 29.97)
    loaded = load_video(path, FrameSelection(skip_first_frames=3, select_every_nth=2, frame_load_cap=5),
                        custom_width=32)
    info = loaded_video_info(loaded)
    assert info.source_fps == pytest.approx(30000 / 1001)
    assert info.source_frame_count == 30
    assert info.source_duration == pytest.approx(30 * 1001 / 30000, abs=0.01)
    assert (info.source_width, info.source_height) == (64, 48)
    assert info.loaded_fps == pytest.approx(15000 / 1001)
    assert info.loaded_frame_count == 5
    assert info.loaded_duration == pytest.approx(5 * 1001 / 15000)
    assert (info.loaded_width, info.loaded_height) == (32, 24)
    with pytest.raises(AttributeError):
        info.loaded_fps = 1.0  # frozen: one value shared by every node downstream


def test_video_info_with_force_rate(tmp_path):
    path = str(tmp_path / "ten.mkv")
    encode_video(smooth_frames(20, 16, 16), path, "ffv1-mkv", 10)
    info = loaded_video_info(load_video(path, FrameSelection(force_rate=Fraction(5))))
    assert (info.source_fps, info.source_frame_count) == (10.0, 20)
    assert (info.loaded_fps, info.loaded_frame_count, info.loaded_duration) == (5.0, 10, 2.0)
