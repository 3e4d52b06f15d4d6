"""PyAV video IO without ComfyUI: round trips, frame math, audio, metadata, atomic writes, paths."""
import math
import os
from fractions import Fraction

import av
import numpy as np
import pytest
import torch

from steadyframe import video
from steadyframe.video import FrameSelection, encode_video, exact_rate, load_audio, load_video
from steadyframe.video.chunks import float_chunk
from steadyframe.video.yuv import YuvConverter
from support.video_clips import frame_numbers, numbered_frames, psnr, smooth_frames, tone, write_vfr_mkv

AV_FORMATS = [f for f in ("h264-mp4", "h265-mp4", "vp9-webm", "av1-webm") if f in video.available_formats()]
META = {"prompt": {"3": {"class_type": "KSampler", "inputs": {"seed": 7}}},
        "workflow": {"nodes": [{"id": 3, "type": "KSampler"}], "links": []}}


def _ext(name):
    return video.FORMATS_BY_NAME[name].extension


# ----------------------------------------------------------------------------- rates and selection

@pytest.mark.parametrize("value,expected", [
    (29.97, Fraction(30000, 1001)), (59.94, Fraction(60000, 1001)), (23.976, Fraction(24000, 1001)),
    (30, Fraction(30)), (8, Fraction(8)), (12.5, Fraction(25, 2)), (29.5, Fraction(59, 2)),
    (Fraction(30000, 1001), Fraction(30000, 1001)),
])
def test_exact_rate(value, expected):
    assert exact_rate(value) == expected


@pytest.mark.parametrize("bad", [0, -1, float("nan")])
def test_exact_rate_refuses_non_positive(bad):
    with pytest.raises(ValueError, match="frame rate"):
        exact_rate(bad)


def test_selection_skip_nth_cap():
    sel = FrameSelection(skip_first_frames=3, select_every_nth=2, frame_load_cap=4)
    assert [i for i in range(30) if sel.keeps(i)] == [3, 5, 7, 9]
    assert sel.last_index() == 9
    assert sel.output_rate(Fraction(30000, 1001)) == Fraction(15000, 1001)
    assert FrameSelection().last_index() is None
    with pytest.raises(ValueError, match="select_every_nth"):
        FrameSelection(select_every_nth=0)


def test_resample_to_rate_vfr_by_hand():
    # Frames at 0, 0.1, 0.15, 0.4 s, the last shown until 0.5 s; a 10 fps clock ticks at
    # 0, .1, .2, .3, .4 -> frames 0, 1, 2 (still shown at .2 and .3), 3.
    times = [Fraction(0), Fraction(1, 10), Fraction(15, 100), Fraction(4, 10)]
    assert video.resample_to_rate(times, Fraction(1, 2), Fraction(10)) == [0, 1, 2, 2, 3]
    # 20 fps: ticks every 0.05 s until 0.5 s.
    assert video.resample_to_rate(times, Fraction(1, 2), Fraction(20)) == [0, 0, 1, 2, 2, 2, 2, 2, 3, 3]


def test_output_size_keeps_aspect_rounded_to_8():
    assert video.output_size(640, 360, 0, 0) == (640, 360)
    assert video.output_size(640, 360, 320, 0) == (320, 184)  # 180 -> nearest multiple of 8
    assert video.output_size(640, 360, 0, 96) == (168, 96)
    assert video.output_size(640, 360, 100, 50) == (100, 50)


def test_frame_order_pingpong_and_repeats():
    assert video.frame_order(4, pingpong=True) == [0, 1, 2, 3, 2, 1]
    assert video.frame_order(3, repeats=2) == [0, 1, 2, 0, 1, 2]
    assert video.frame_order(2, pingpong=True) == [0, 1]


def test_written_order_repeats_for_video_and_png_only():
    for name in ("h264-mp4", "png-sequence"):
        assert video.written_order(video.FORMATS_BY_NAME[name], 3, pingpong=True, loop_count=1) == [0, 1, 2, 1] * 2
    for name in ("gif", "webp"):  # the loop count is stored in the file instead
        assert video.written_order(video.FORMATS_BY_NAME[name], 3, pingpong=True, loop_count=1) == [0, 1, 2, 1]


def test_expected_count_for_the_progress_bar():
    assert FrameSelection().expected_count(30, 1.0) == 30
    assert FrameSelection(force_rate=Fraction(60), skip_first_frames=10, select_every_nth=4).expected_count(30, 1.0) == 13
    assert FrameSelection(frame_load_cap=5).expected_count(30, 1.0) == 5
    assert FrameSelection(skip_first_frames=50).expected_count(30, 1.0) == 1  # never an empty bar


def test_only_available_encoders_are_listed():
    names = video.available_formats()
    assert {"h264-mp4", "gif", "webp", "png-sequence"} <= set(names)
    for name in names:
        codec = video.FORMATS_BY_NAME[name].codec
        if codec:
            av.codec.Codec(codec, "w")  # raises if the listed encoder were missing


# ----------------------------------------------------------------------------- round trips

@pytest.mark.parametrize("name", AV_FORMATS)
def test_video_round_trip_quality_and_ntsc_rate(tmp_path, name):
    images = smooth_frames(12, 48, 64)
    path = str(tmp_path / f"clip.{_ext(name)}")
    result = encode_video(images, path, name, 29.97, crf=4)
    assert result.frame_count == 12 and os.path.isfile(path)
    loaded = load_video(path)
    assert loaded.frame_rate == Fraction(30000, 1001)
    assert loaded.images.shape == (12, 48, 64, 3)
    assert loaded.images.dtype == torch.float32
    assert psnr(loaded.images, images) >= 40.0, name
    shift = (loaded.images.mean(dim=(0, 1, 2)) - images.mean(dim=(0, 1, 2))).abs()
    assert float(shift.max()) <= 1 / 255, f"{name}: mean colour shift {shift.tolist()}"
    with av.open(path) as container:  # tagged BT.709 limited range, so players convert it right
        ctx = container.streams.video[0].codec_context
        assert (ctx.colorspace, ctx.color_range) == (1, 1)
        if name == "h265-mp4":
            assert ctx.codec_tag == "hvc1"  # what Apple players need to play HEVC in mp4


def _write_tagged(path, images, colorspace, full_range, tag):
    """h264 written by plain PyAV with a chosen matrix and range, tagged or not."""
    from av.video.reformatter import ColorRange, Colorspace, Interpolation

    arrays = (images * 255 + 0.5).clamp(0, 255).to(torch.uint8).numpy()
    flags = Interpolation.BICUBIC | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INT | Interpolation.FULL_CHR_H_INP
    with av.open(path, mode="w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.height, stream.width = images.shape[1:3]
        stream.pix_fmt = "yuv444p"
        stream.options = {"crf": "0"}
        if tag:
            stream.codec_context.colorspace = 5 if colorspace == "601" else 1
            stream.codec_context.color_range = 2 if full_range else 1
        for array in arrays:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(array), format="rgb24").reformat(
                format="yuv444p", dst_colorspace=Colorspace.ITU601 if colorspace == "601" else Colorspace.ITU709,
                dst_color_range=ColorRange.JPEG if full_range else ColorRange.MPEG, interpolation=flags)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


@pytest.mark.parametrize("colorspace,full_range,tag", [
    ("601", False, True), ("601", True, True), ("709", True, True),
    ("601", False, False),  # untagged below 720 lines: BT.601, as players assume
])
def test_decoding_follows_the_colour_tags(tmp_path, colorspace, full_range, tag):
    images = smooth_frames(3, 32, 48)
    path = str(tmp_path / "tagged.mp4")
    _write_tagged(path, images, colorspace, full_range, tag)
    loaded = load_video(path)
    assert psnr(loaded.images, images) >= 40.0
    shift = (loaded.images.mean(dim=(0, 1, 2)) - images.mean(dim=(0, 1, 2))).abs()
    assert float(shift.max()) <= 1 / 255


def test_h264_default_crf_is_reasonable(tmp_path):
    images = smooth_frames(8, 64, 64)
    path = str(tmp_path / "default.mp4")
    encode_video(images, path, "h264-mp4", 8)
    assert psnr(load_video(path).images, images) >= 35.0


def test_ten_bit_and_444_pixel_formats(tmp_path):
    images = smooth_frames(6, 32, 48)
    for pix in ("yuv420p10le", "yuv444p"):
        path = str(tmp_path / f"{pix}.mp4")
        encode_video(images, path, "h264-mp4", 24, crf=4, pix_fmt=pix)
        with av.open(path) as container:
            assert container.streams.video[0].codec_context.pix_fmt == pix
        assert psnr(load_video(path).images, images) >= 40.0
    if "av1-webm" in AV_FORMATS:  # SVT-AV1 encodes 4:2:0 only
        with pytest.raises(ValueError, match="pix_fmt 'yuv444p' is not supported by av1-webm"):
            encode_video(images, str(tmp_path / "x.webm"), "av1-webm", 24, pix_fmt="yuv444p")


def test_odd_size_is_padded_to_even(tmp_path):
    images = smooth_frames(4, 31, 33)
    path = str(tmp_path / "odd.mp4")
    result = encode_video(images, path, "h264-mp4", 12, crf=2)
    assert (result.width, result.height) == (34, 32)
    loaded = load_video(path)
    assert loaded.images.shape == (4, 32, 34, 3)
    assert psnr(loaded.images[:, :31, :33], images) >= 40.0
    # The padding repeats the edge pixels (no black bar).
    assert torch.allclose(loaded.images[:, :31, 33], loaded.images[:, :31, 32], atol=0.05)


# Published BT.709 limited-range codes (Y, Cb, Cr) of the primaries, 8 and 10 bits.
BT709_CODES = {
    "black": ((0, 0, 0), (16, 128, 128), (64, 512, 512)),
    "white": ((1, 1, 1), (235, 128, 128), (940, 512, 512)),
    "red": ((1, 0, 0), (63, 102, 240), (250, 409, 960)),
    "green": ((0, 1, 0), (173, 42, 26), (691, 167, 105)),
    "blue": ((0, 0, 1), (32, 240, 118), (127, 960, 471)),
}


def _planes(frame, height, width):
    """(Y, Cb, Cr) integer arrays of a yuv420p/yuv420p10le/yuv444p frame."""
    if frame.format.name == "yuv444p":
        yuv = frame.to_ndarray(channel_last=True).astype(int)
        return yuv[..., 0], yuv[..., 1], yuv[..., 2]
    flat = frame.to_ndarray().astype(int).reshape(-1)
    q = (height // 2) * (width // 2)
    y = flat[:height * width].reshape(height, width)
    return y, flat[height * width:height * width + q].reshape(height // 2, width // 2), flat[height * width + q:].reshape(height // 2, width // 2)


@pytest.mark.parametrize("pix", ["yuv420p", "yuv420p10le", "yuv444p"])
def test_float_rgb_to_yuv_gives_the_bt709_limited_range_codes(pix):
    # One 2x2 block per colour, side by side.
    colours = list(BT709_CODES.values())
    rgb = torch.zeros(1, 2, 2 * len(colours), 3)
    for k, (value, _, _) in enumerate(colours):
        rgb[0, :, 2 * k:2 * k + 2] = torch.tensor(value, dtype=torch.float32)
    [frame] = YuvConverter(pix)(rgb.numpy())
    y, cb, cr = _planes(frame, 2, 2 * len(colours))
    for k, (name, (_, codes8, codes10)) in enumerate(BT709_CODES.items()):
        expected = codes10 if pix.endswith("10le") else codes8
        cx = 2 * k if pix == "yuv444p" else k
        assert (y[0, 2 * k], cb[0, cx], cr[0, cx]) == expected, name


def test_subsampled_chroma_is_the_block_mean_and_rgb_is_clipped_first():
    # Left column red, right column blue: Cb/Cr of the block are the means (rounded) of the two.
    rgb = np.zeros((1, 2, 4, 3), np.float32)
    rgb[0, :, 0, 0] = 1.0
    rgb[0, :, 1, 2] = 1.0
    # Second block: values outside 0..1 (an upscaler's overshoot) count as 0 and 1.
    rgb[0, :, 2:] = (1.5, -0.3, 1.2)
    [frame] = YuvConverter("yuv420p")(rgb)
    y, cb, cr = _planes(frame, 2, 4)
    kr, kb = 0.2126, 0.0722
    cb_red, cr_red = 128 - 224 * kr / (2 * (1 - kb)), 240
    cb_blue, cr_blue = 240, 128 - 224 * kb / (2 * (1 - kr))
    assert cb[0, 0] == math.floor((cb_red + cb_blue) / 2 + 0.5)
    assert cr[0, 0] == math.floor((cr_red + cr_blue) / 2 + 0.5)
    magenta = (round(16 + 219 * (kr + kb)), round(128 + 224 * (1 - kb - kr) / (2 * (1 - kb))),
               round(128 + 224 * (1 - kr - kb) / (2 * (1 - kr))))
    assert (y[0, 2], cb[0, 1], cr[0, 1]) == magenta


def test_ten_bit_output_keeps_the_float_precision():
    # A grey ramp of 1024 levels: 10-bit luma follows the float values, not an 8-bit copy of them.
    ramp = torch.linspace(0, 1, 1024).reshape(1, 1, 1024, 1).expand(1, 2, 1024, 3).contiguous()
    [frame] = YuvConverter("yuv420p10le")(ramp.numpy())
    y, _, _ = _planes(frame, 2, 1024)
    expected = np.floor(64 + 876 * ramp[0, 0, :, 0].double().numpy() + 0.5).astype(int)
    assert np.abs(y[0] - expected).max() <= 1
    assert len(np.unique(y[0])) > 800  # an 8-bit path would give at most 220 levels


def test_frame_runs_are_views_and_every_order_gives_the_right_frames():
    images = torch.rand(6, 4, 4, 3)
    whole = images.numpy()
    for order in ([1, 2, 3], [4, 3, 2, 1], [5, 0, 1], [2]):
        chunk = float_chunk(images, whole, order)
        assert np.array_equal(chunk, whole[order]), order
    assert np.shares_memory(float_chunk(images, whole, [1, 2, 3]), whole)
    assert np.shares_memory(float_chunk(images, whole, [3, 2, 1]), whole)


@pytest.mark.parametrize("channels", [1, 4])
def test_grey_and_alpha_input_is_written_as_rgb(tmp_path, channels):
    rgb = smooth_frames(4, 32, 32)
    images = rgb[..., :1] if channels == 1 else torch.cat([rgb, torch.rand(4, 32, 32, 1)], dim=-1)
    expected = rgb[..., :1].expand(-1, -1, -1, 3) if channels == 1 else rgb
    path = str(tmp_path / f"c{channels}.mp4")
    encode_video(images, path, "h264-mp4", 8, crf=2)
    assert psnr(load_video(path).images, expected) >= 40.0


def test_gif_round_trip(tmp_path):
    images = smooth_frames(6, 32, 40)
    path = str(tmp_path / "a.gif")
    encode_video(images, path, "gif", 10, loop_count=0)
    loaded = load_video(path)
    assert loaded.images.shape == (6, 32, 40, 3)
    assert loaded.frame_rate == 10
    assert psnr(loaded.images, images) >= 28.0  # 256-colour palette per frame, dithered


def test_gif_rate_keeps_average_for_rates_not_on_centiseconds(tmp_path):
    path = str(tmp_path / "eight.gif")
    encode_video(numbered_frames(8), path, "gif", 8)
    from PIL import Image

    with Image.open(path) as image:
        delays = []
        for i in range(image.n_frames):
            image.seek(i)
            delays.append(image.info["duration"])
    assert sum(delays) == 1000  # 8 frames at 8 fps last exactly one second
    assert set(delays) <= {120, 130}
    assert load_video(path).frame_rate == 8  # from the delays, not FFmpeg's 25/3 guess


def test_webp_lossless_round_trip(tmp_path):
    images = smooth_frames(5, 24, 32)
    path = str(tmp_path / "a.webp")
    encode_video(images, path, "webp", 20, crf=0, loop_count=3)
    loaded = load_video(path)
    assert loaded.images.shape == (5, 24, 32, 3)
    assert loaded.frame_rate == 20
    assert psnr(loaded.images, images) >= 50.0
    from PIL import Image

    with Image.open(path) as image:
        assert image.info["loop"] == 3


def test_png_sequence(tmp_path):
    images = smooth_frames(3, 16, 24)
    path = str(tmp_path / "seq")
    result = encode_video(images, path, "png-sequence", 8, metadata=META)
    assert sorted(os.listdir(path)) == ["frame_00001.png", "frame_00002.png", "frame_00003.png"]
    assert result.files[0] == os.path.join(path, "frame_00001.png")
    from PIL import Image

    for i, name in enumerate(result.files):
        with Image.open(name) as image:
            got = torch.from_numpy(np.array(image.convert("RGB"))).float() / 255
        assert torch.allclose(got, images[i], atol=0.5 / 255 + 1e-6)
    assert video.read_metadata(result.files[0]) == META
    with pytest.raises(ValueError, match="already exists"):
        encode_video(images, path, "png-sequence", 8)


def test_pingpong_and_loop_count_frame_counts(tmp_path):
    frames = numbered_frames(4)
    path = str(tmp_path / "pp.mp4")
    result = encode_video(frames, path, "h264-mp4", 10, crf=0, pingpong=True, loop_count=1)
    assert result.frame_count == 12
    assert frame_numbers(load_video(path).images, 4) == [0, 1, 2, 3, 2, 1] * 2


# ----------------------------------------------------------------------------- frame math on load

@pytest.fixture(scope="module")
def ntsc_mp4(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("ntsc") / "ntsc.mp4")
    encode_video(numbered_frames(30), path, "h264-mp4", 29.97, crf=0)
    return path


@pytest.fixture(scope="module")
def ntsc_webm(tmp_path_factory):
    # Matroska stores timestamps in whole milliseconds: 29.97 fps times are rounded.
    path = str(tmp_path_factory.mktemp("ntsc") / "ntsc.webm")
    encode_video(numbered_frames(30), path, "vp9-webm", 29.97, crf=0)
    return path


@pytest.mark.parametrize("clip", ["ntsc_mp4", "ntsc_webm"])
def test_ntsc_keep_rate_and_force_same_rate_are_identity(clip, request):
    path = request.getfixturevalue(clip)
    plain = load_video(path)
    assert plain.frame_rate == Fraction(30000, 1001)
    assert frame_numbers(plain.images, 30) == list(range(30))
    forced = load_video(path, FrameSelection(force_rate=exact_rate(29.97)))
    assert frame_numbers(forced.images, 30) == list(range(30))
    assert forced.frame_rate == Fraction(30000, 1001)
    assert forced.end_time == Fraction(30 * 1001, 30000)


@pytest.mark.parametrize("clip", ["ntsc_mp4", "ntsc_webm"])
def test_ntsc_double_rate_repeats_each_frame(clip, request):
    forced = load_video(request.getfixturevalue(clip), FrameSelection(force_rate=exact_rate(59.94)))
    assert frame_numbers(forced.images, 30) == [i // 2 for i in range(60)]
    assert forced.frame_rate == Fraction(60000, 1001)


def test_ntsc_to_integer_rate(ntsc_mp4):
    # 30 frames at 29.97 last 1.001 s; a 15 fps clock ticks 16 times before that
    # (tick 15 is at 1.0 s) and tick k shows source frame floor(k * 1.998).
    forced = load_video(ntsc_mp4, FrameSelection(force_rate=Fraction(15)))
    expected = [int(Fraction(k, 15) * Fraction(30000, 1001)) for k in range(16)]
    assert frame_numbers(forced.images, 30) == expected
    assert forced.images.shape[0] == 16


def test_skip_nth_cap_and_decode_stops_early(ntsc_mp4):
    loaded = load_video(ntsc_mp4, FrameSelection(skip_first_frames=4, select_every_nth=3, frame_load_cap=5))
    assert frame_numbers(loaded.images, 30) == [4, 7, 10, 13, 16]
    assert loaded.frame_rate == Fraction(10000, 1001)
    assert loaded.decoded_frames == 17  # nothing after the last returned frame (source 16) was decoded
    assert loaded.start_time == Fraction(4 * 1001, 30000)


def test_decode_callback_runs_for_skipped_frames_and_can_stop(ntsc_mp4):
    seen = []
    load_video(ntsc_mp4, FrameSelection(skip_first_frames=20, frame_load_cap=1), on_decode=lambda: seen.append(1))
    assert len(seen) == 21

    def stop():
        if len(seen) == 30:
            raise _Boom("cancelled while skipping")
        seen.append(1)

    with pytest.raises(_Boom):
        load_video(ntsc_mp4, FrameSelection(skip_first_frames=25), on_decode=stop)


def test_skip_past_the_end_is_a_clear_error(ntsc_mp4):
    with pytest.raises(ValueError, match="no frame selected.*skip_first_frames=40"):
        load_video(ntsc_mp4, FrameSelection(skip_first_frames=40))


def test_custom_size_on_load(ntsc_mp4):
    loaded = load_video(ntsc_mp4, FrameSelection(frame_load_cap=2), custom_width=16)
    assert loaded.images.shape == (2, 16, 16, 3)


def test_vfr_file_resampled_by_timestamps(tmp_path):
    path = str(tmp_path / "vfr.mkv")
    times = [0, 100, 150, 400, 420, 700]
    write_vfr_mkv(path, times, end_ms=800)
    plain = load_video(path)
    assert frame_numbers(plain.images, 6) == [0, 1, 2, 3, 4, 5]
    forced = load_video(path, FrameSelection(force_rate=Fraction(10)))
    # Ticks at 0, .1, ..., .7 s (the last frame ends at .8 s).
    assert frame_numbers(forced.images, 6) == [0, 1, 2, 2, 3, 4, 4, 5]
    assert forced.end_time == Fraction(8, 10)
    capped = load_video(path, FrameSelection(force_rate=Fraction(10), skip_first_frames=2, frame_load_cap=2))
    assert frame_numbers(capped.images, 6) == [2, 2]
    assert capped.decoded_frames == 4  # frame 3 (at .4 s) was needed to know frame 2 lasts past .3 s


def test_long_skip_with_force_rate_seeks_instead_of_decoding(tmp_path):
    path = str(tmp_path / "intra.mkv")  # FFV1: every frame is a keyframe
    write_vfr_mkv(path, [100 * i for i in range(60)], end_ms=6000)
    loaded = load_video(path, FrameSelection(force_rate=Fraction(10), skip_first_frames=40, frame_load_cap=5))
    assert frame_numbers(loaded.images, 60) == [40, 41, 42, 43, 44]
    assert loaded.start_time == 4
    # The first frame (time origin), then from a keyframe near 4 s: far fewer than the 45 a
    # straight decode needs (decoder threads and the index granularity add a few).
    assert loaded.decoded_frames <= 15
    # 20 fps: every source frame twice, starting at output frame 81 (second half of source frame 40).
    doubled = load_video(path, FrameSelection(force_rate=Fraction(20), skip_first_frames=81, frame_load_cap=4))
    assert frame_numbers(doubled.images, 60) == [40, 41, 41, 42]


def test_seek_to_a_far_keyframe_gives_the_same_frames(tmp_path):
    path = str(tmp_path / "gop.mp4")  # one keyframe at the start: the seek lands at 0
    encode_video(numbered_frames(90), path, "h264-mp4", 30, crf=0)
    loaded = load_video(path, FrameSelection(force_rate=Fraction(30), skip_first_frames=60, frame_load_cap=6))
    everything = load_video(path, FrameSelection(force_rate=Fraction(30)))
    assert torch.equal(loaded.images, everything.images[60:66])
    assert frame_numbers(loaded.images, 90)[0] == 60


# ----------------------------------------------------------------------------- audio

@pytest.mark.parametrize("name,seconds", [("h264-mp4", 0.4), ("h264-mp4", 3.0), ("vp9-webm", 0.4), ("vp9-webm", 3.0)])
def test_audio_is_cut_or_padded_to_video_length(tmp_path, name, seconds):
    frames = numbered_frames(24)  # 1 s at 24 fps
    path = str(tmp_path / f"a.{_ext(name)}")
    result = encode_video(frames, path, name, 24, crf=10, audio=tone(seconds))
    assert result.frame_count == 24
    with av.open(path) as container:
        audio = container.streams.audio[0]
        rate = audio.codec_context.sample_rate
        samples = sum(f.samples for f in container.decode(audio))
    with av.open(path) as container:
        assert sum(1 for _ in container.decode(video=0)) == 24  # audio never changes the frame count
    # Encoders add a little priming/padding, never a whole extra 0.1 s or a missing one.
    assert abs(samples / rate - 1.0) < 0.06, samples / rate
    loaded = load_video(path)
    clip = load_audio(path, loaded.start_time, loaded.end_time)
    wave = clip["waveform"]
    assert wave.shape[:2] == (1, 2) and wave.shape[2] == clip["sample_rate"]  # exactly 1 s
    sr = clip["sample_rate"]
    loud = wave[0, 0, int(0.05 * sr):int(0.3 * sr)].pow(2).mean().sqrt()
    assert loud > 0.2  # the tone (RMS 0.35) is there
    if seconds < 1:
        tail = wave[0, 0, int(0.6 * sr):].pow(2).mean().sqrt()
        assert tail < 0.02  # padded with silence after the given audio
    else:
        assert wave[0, 0, int(0.6 * sr):].pow(2).mean().sqrt() > 0.2


def test_load_audio_follows_selected_frames(tmp_path):
    path = str(tmp_path / "a.mp4")
    n = 48  # 2 s at 24 fps; the tone is on only during the second half
    audio = tone(2.0, sample_rate=48000, channels=1)
    audio["waveform"][..., :48000] = 0
    encode_video(numbered_frames(n), path, "h264-mp4", 24, audio=audio)
    loaded = load_video(path, FrameSelection(skip_first_frames=24, frame_load_cap=12))
    clip = load_audio(path, loaded.start_time, loaded.end_time)
    assert clip["waveform"].shape == (1, 1, 24000)
    assert clip["waveform"][0, 0, 2000:22000].pow(2).mean().sqrt() > 0.2
    early = load_video(path, FrameSelection(frame_load_cap=12))
    quiet = load_audio(path, early.start_time, early.end_time)
    assert quiet["waveform"][0, 0, :20000].pow(2).mean().sqrt() < 0.02


def test_no_audio_stream_gives_none(ntsc_mp4):
    assert load_audio(ntsc_mp4, Fraction(0), Fraction(1)) is None


# ----------------------------------------------------------------------------- metadata

@pytest.mark.parametrize("name", AV_FORMATS + ["gif", "webp"])
def test_metadata_round_trip(tmp_path, name):
    path = str(tmp_path / f"m.{_ext(name)}")
    encode_video(smooth_frames(3, 16, 16), path, name, 8, metadata=META)
    meta = video.read_metadata(path)
    assert meta["prompt"] == META["prompt"]
    assert meta["workflow"] == META["workflow"]


def test_metadata_survives_audio_mux(tmp_path):
    path = str(tmp_path / "ma.mp4")
    encode_video(smooth_frames(3, 16, 16), path, "h264-mp4", 8, metadata=META, audio=tone(0.1))
    assert video.read_metadata(path)["workflow"] == META["workflow"]


def test_no_metadata_when_none_given(tmp_path):
    path = str(tmp_path / "n.mp4")
    encode_video(smooth_frames(2, 16, 16), path, "h264-mp4", 8)
    meta = video.read_metadata(path)
    assert "prompt" not in meta and "workflow" not in meta


# ----------------------------------------------------------------------------- atomic writes and paths

class _Boom(RuntimeError):
    pass


@pytest.mark.parametrize("name", ["h264-mp4", "gif", "webp", "png-sequence"])
def test_failed_encode_leaves_no_file(tmp_path, name):
    final = str(tmp_path / ("out" if name == "png-sequence" else f"out.{_ext(name)}"))

    def fail_at_third(count):
        if count == 3:
            raise _Boom("interrupted")

    with pytest.raises(_Boom):
        encode_video(smooth_frames(6, 16, 16), final, name, 8, on_frame=fail_at_third)
    assert os.listdir(tmp_path) == []


def test_failed_encode_keeps_previous_file(tmp_path):
    final = str(tmp_path / "keep.mp4")
    encode_video(smooth_frames(2, 16, 16), final, "h264-mp4", 8)
    before = open(final, "rb").read()

    def fail(count):
        raise _Boom("stop")

    with pytest.raises(_Boom):
        encode_video(smooth_frames(4, 16, 16), final, "h264-mp4", 8, on_frame=fail)
    assert open(final, "rb").read() == before
    assert os.listdir(tmp_path) == ["keep.mp4"]


def test_bad_arguments_are_named(tmp_path):
    images = smooth_frames(2, 16, 16)
    with pytest.raises(ValueError, match="unknown video format 'mpeg1'"):
        encode_video(images, str(tmp_path / "x"), "mpeg1", 8)
    with pytest.raises(ValueError, match="crf 70 is outside 0..51 for h264-mp4"):
        encode_video(images, str(tmp_path / "x.mp4"), "h264-mp4", 8, crf=70)
    with pytest.raises(ValueError, match=r"images must be \(frames, height, width, 3\)"):
        encode_video(images[0], str(tmp_path / "x.mp4"), "h264-mp4", 8)


def test_paths_outside_the_folder_are_refused(tmp_path):
    inside = tmp_path / "input"
    inside.mkdir()
    (inside / "ok.mp4").write_bytes(b"x")
    (tmp_path / "secret.mp4").write_bytes(b"x")
    os.symlink(tmp_path / "secret.mp4", inside / "link.mp4")
    assert video.resolve_inside("ok.mp4", str(inside)) == str((inside / "ok.mp4").resolve())
    for bad in ("../secret.mp4", str(tmp_path / "secret.mp4"), "link.mp4", "sub/../../secret.mp4"):
        with pytest.raises(ValueError, match="refused"):
            video.resolve_inside(bad, str(inside))
    with pytest.raises(ValueError, match="not found"):
        video.resolve_inside("missing.mp4", str(inside))


def test_listed_videos_are_relative_sorted_and_skip_other_files(tmp_path):
    (tmp_path / "sub").mkdir()
    for name in ("b.MP4", "a.webm", "sub/c.gif", "notes.txt", ".hidden.mp4", "sub/d.png"):
        (tmp_path / name).write_bytes(b"x")
    assert video.list_videos(str(tmp_path)) == ["a.webm", "b.MP4", "sub/c.gif"]


def test_not_a_video_is_a_clear_error(tmp_path):
    path = tmp_path / "junk.mp4"
    path.write_bytes(b"not a video at all" * 10)
    with pytest.raises(ValueError, match="junk.mp4"):
        load_video(str(path))
