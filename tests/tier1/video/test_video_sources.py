"""Files as phones, downloads and music players leave them: rotated, truncated, cover art only."""
import io
import logging
from fractions import Fraction

import av
import numpy as np
import pytest
import torch

from steadyframe import video
from steadyframe.video import FrameSelection, encode_video, load_audio, load_video
from steadyframe.video.orientation import DisplayTransform, transform_from_matrix
from support.video_clips import smooth_frames

# ----------------------------------------------------------------------------- rotation


def _quadrants(height: int, width: int) -> np.ndarray:
    """(H, W, 3) uint8: red, green / blue, white quadrants, so every turn and flip looks different."""
    image = np.zeros((height, width, 3), np.uint8)
    h, w = height // 2, width // 2
    image[:h, :w] = (230, 20, 20)
    image[:h, w:] = (20, 230, 20)
    image[h:, :w] = (20, 20, 230)
    image[h:, w:] = (235, 235, 235)
    return image


def _write_rotated(path: str, stored: np.ndarray, degrees: int, hflip: bool = False, vflip: bool = False,
                   frames: int = 3) -> None:
    """An h264 mp4 of ``stored`` frames whose display matrix turns them ``degrees`` counter-clockwise."""
    height, width = stored.shape[:2]
    with av.open(path, mode="w") as container:
        stream = container.add_stream("libx264", rate=24, options={"crf": "2"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv444p"
        stream.set_display_rotation(degrees, hflip=hflip, vflip=vflip)
        for _ in range(frames):
            for packet in stream.encode(av.VideoFrame.from_ndarray(stored, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def _shown(stored: np.ndarray, degrees: int, hflip: bool, vflip: bool) -> np.ndarray:
    """What a player shows: PyAV's documented meaning (turn counter-clockwise, then mirror)."""
    out = np.rot90(stored, k=degrees // 90)
    if hflip:
        out = out[:, ::-1]
    if vflip:
        out = out[::-1]
    return np.ascontiguousarray(out)


@pytest.mark.parametrize("degrees,hflip,vflip", [
    (90, False, False), (180, False, False), (270, False, False), (0, True, False), (0, False, True),
    (90, True, False), (270, True, False), (180, True, False),
])
def test_display_matrix_is_applied_like_a_player(tmp_path, degrees, hflip, vflip):
    stored = _quadrants(32, 64)
    path = str(tmp_path / f"r{degrees}{hflip:d}{vflip:d}.mp4")
    _write_rotated(path, stored, degrees, hflip, vflip)
    with av.open(path) as container:  # the file really carries the matrix (what ffprobe reads)
        first = next(container.decode(video=0))
        assert first.side_data.get(av.sidedata.sidedata.Type.DISPLAYMATRIX) is not None
        if not (hflip or vflip):  # FFmpeg's angle of a mirrored matrix is ambiguous; plain turns are not
            assert (first.rotation - degrees) % 360 == 0
    expected = _shown(stored, degrees, hflip, vflip)
    loaded = load_video(path)
    assert loaded.images.shape == (3,) + expected.shape
    error = (loaded.images[0] - torch.from_numpy(expected).float() / 255).abs().mean()
    assert error < 0.03, error  # a wrong turn or flip moves whole quadrants (error > 0.3)
    info = video.probe(path)
    assert (info.width, info.height) == (expected.shape[1], expected.shape[0])
    assert (loaded.source.width, loaded.source.height) == (info.width, info.height)


def test_portrait_phone_clip_custom_size_is_of_the_upright_frame(tmp_path):
    path = str(tmp_path / "phone.mp4")
    _write_rotated(path, _quadrants(32, 64), 270)  # 64x32 stored, shown 32x64 (clockwise, as phones write)
    assert (video.probe(path).width, video.probe(path).height) == (32, 64)
    loaded = load_video(path, custom_width=16)
    assert loaded.images.shape == (3, 32, 16, 3)  # height follows the upright aspect ratio
    top_left = loaded.images[0, :12, :6].mean(dim=(0, 1))
    assert top_left[2] > 0.7 and top_left[0] < 0.3  # blue: the bottom-left quadrant turned to the top-left
    exact = load_video(path, custom_width=24, custom_height=40)
    assert exact.images.shape == (3, 40, 24, 3)


def test_phone_matrix_means_a_clockwise_turn_as_ffmpeg_reads_it():
    one = 1 << 16
    # What phones write for portrait video (the old rotate=90 tag): ffmpeg applies transpose=clock.
    phone = transform_from_matrix([0, one, 0, -one, 0, 0, 0, 0, 1 << 30])
    assert phone == DisplayTransform(1) and phone.swaps_size
    image = np.arange(2 * 3 * 1, dtype=np.uint8).reshape(2, 3, 1)
    assert np.array_equal(phone.apply(image), np.rot90(image, k=-1))
    assert transform_from_matrix([one, 0, 0, 0, one, 0, 0, 0, 1 << 30]).identity
    assert transform_from_matrix([0] * 9).identity  # degenerate: nothing to apply, as in ffmpeg
    # A 45 degree matrix is not a right angle: left alone (see the README's Limits).
    c = int(one * 0.7071)
    assert transform_from_matrix([c, -c, 0, c, c, 0, 0, 0, 1 << 30]).identity


def test_unrotated_file_is_unchanged(tmp_path):
    path = str(tmp_path / "plain.mp4")
    encode_video(smooth_frames(2, 32, 48), path, "h264-mp4", 8)
    assert load_video(path).images.shape == (2, 32, 48, 3)
    assert (video.probe(path).width, video.probe(path).height) == (48, 32)


# ----------------------------------------------------------------------------- truncated mp4


def _write_faststart_with_tone(path: str, seconds: float = 2.0, rate: int = 24) -> None:
    """h264 + AAC mp4 with the index in front (as web videos are), a 440 Hz tone throughout."""
    sample_rate, per_frame = 48000, 48000 // rate
    with av.open(path, mode="w", options={"movflags": "faststart"}) as container:
        v = container.add_stream("libx264", rate=rate)
        v.width = v.height = 32
        v.pix_fmt = "yuv420p"
        a = container.add_stream("aac", rate=sample_rate)
        a.layout = "mono"
        for i in range(int(seconds * rate)):
            for packet in v.encode(av.VideoFrame.from_ndarray(np.full((32, 32, 3), 4 * i, np.uint8), format="rgb24")):
                container.mux(packet)
            t = np.arange(i * per_frame, (i + 1) * per_frame)
            samples = (0.5 * np.sin(2 * np.pi * 440 * t / sample_rate)).astype(np.float32)[None]
            frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            frame.sample_rate, frame.pts = sample_rate, i * per_frame
            for packet in a.encode(frame):
                container.mux(packet)
        for stream in (v, a):
            for packet in stream.encode(None):
                container.mux(packet)


@pytest.fixture(scope="module")
def truncated_mp4(tmp_path_factory):
    folder = tmp_path_factory.mktemp("truncated")
    whole = folder / "whole.mp4"
    _write_faststart_with_tone(str(whole))
    data = whole.read_bytes()
    cut = folder / "cut.mp4"
    cut.write_bytes(data[:len(data) * 6 // 10])  # an interrupted download: the index promises more
    return str(cut)


def test_truncated_mp4_keeps_the_audio_under_early_frames(truncated_mp4):
    loaded = load_video(truncated_mp4, FrameSelection(frame_load_cap=12))
    assert loaded.images.shape[0] == 12 and loaded.end_time == Fraction(1, 2)
    clip = load_audio(truncated_mp4, loaded.start_time, loaded.end_time)
    wave = clip["waveform"]
    assert wave.shape == (1, 1, clip["sample_rate"] // 2)
    assert wave[0, 0, 2000:22000].pow(2).mean().sqrt() > 0.25  # the tone (RMS 0.35), not silence


def test_truncated_mp4_whole_load_keeps_what_can_be_read(truncated_mp4, caplog):
    loaded = load_video(truncated_mp4)
    assert 10 < loaded.images.shape[0] < 48  # the frames before the cut
    with caplog.at_level(logging.WARNING):
        clip = load_audio(truncated_mp4, loaded.start_time, loaded.end_time)
    sr = clip["sample_rate"]
    wave = clip["waveform"]
    assert wave.shape[2] == round(float(loaded.end_time - loaded.start_time) * sr)  # padded to the frames
    assert wave[0, 0, 2000:int(0.9 * sr)].pow(2).mean().sqrt() > 0.25  # kept up to the damage
    # The audio breaks before the last returned frame (this cut): said, with the file and the time.
    assert "cut.mp4: the audio stream cannot be decoded after" in caplog.text
    assert wave[0, 0, -sr // 50:].abs().max() == 0  # and the rest is silence, not a failure


def test_truncated_mp4_with_its_index_at_the_end_is_a_clear_error(tmp_path):
    whole = tmp_path / "plain.mp4"
    encode_video(smooth_frames(24, 32, 32), str(whole), "h264-mp4", 8)  # moov written last
    data = whole.read_bytes()
    cut = tmp_path / "cut_plain.mp4"
    cut.write_bytes(data[:len(data) * 6 // 10])
    with pytest.raises(ValueError, match=r"cut_plain\.mp4: not a readable video file"):
        load_video(str(cut))


# ----------------------------------------------------------------------------- truncated WebP


@pytest.mark.parametrize("fraction", [0.3, 0.9])
def test_truncated_webp_error_names_the_file(tmp_path, fraction):
    whole = tmp_path / "anim.webp"
    encode_video(smooth_frames(6, 32, 32), str(whole), "webp", 8, crf=0)
    data = whole.read_bytes()
    cut = tmp_path / "cut_anim.webp"
    cut.write_bytes(data[:int(len(data) * fraction)])
    for read in (video.probe, load_video, video.read_metadata):
        with pytest.raises(ValueError, match=r"cut_anim\.webp: cannot read the WebP file .*truncated or damaged"):
            read(str(cut))
    assert load_video(str(whole)).images.shape == (6, 32, 32, 3)  # the complete file still loads


def test_damaged_webp_frame_is_named(tmp_path):
    whole = tmp_path / "anim.webp"
    encode_video(smooth_frames(4, 32, 32), str(whole), "webp", 8, crf=0)
    data = bytearray(whole.read_bytes())
    last = data.rfind(b"VP8L")  # the last frame's lossless bitstream: scramble its payload
    data[last + 13:last + 60] = bytes(range(47))
    bad = tmp_path / "bad_frame.webp"
    bad.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"bad_frame\.webp: cannot decode WebP frame 3 of 4"):
        load_video(str(bad))


# ----------------------------------------------------------------------------- cover art


def _png_bytes() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 30, 30)).save(buffer, "PNG")
    return buffer.getvalue()


def _write_audio_with_cover(path: str, container_format: str, codec: str, frame_size: int) -> None:
    with av.open(path, mode="w", format=container_format) as container:
        audio = container.add_stream(codec, rate=44100)
        audio.layout = "mono"
        cover = container.add_stream("png")
        cover.width = cover.height = 16
        cover.pix_fmt = "rgb24"
        cover.disposition = av.stream.Disposition.attached_pic
        for i in range(20):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, frame_size), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 44100, i * frame_size
            for packet in audio.encode(frame):
                container.mux(packet)
            if i == 0:
                picture = av.Packet(_png_bytes())
                picture.stream, picture.pts, picture.dts = cover, 0, 0
                container.mux(picture)
        for packet in audio.encode(None):
            container.mux(packet)


@pytest.mark.parametrize("name,container_format,codec,frame_size", [
    ("song.mp3", "mp3", "libmp3lame", 1152), ("song.m4a", "mp4", "aac", 1024),
])
def test_audio_with_cover_art_is_not_a_video(tmp_path, name, container_format, codec, frame_size):
    if codec not in av.codecs_available:
        pytest.skip(f"this PyAV has no {codec} encoder")
    path = str(tmp_path / name)
    _write_audio_with_cover(path, container_format, codec, frame_size)
    with av.open(path) as container:  # the picture is there, as a video stream marked attached_pic
        assert container.streams.video[0].disposition & av.stream.Disposition.attached_pic
    for read in (video.probe, load_video):
        with pytest.raises(ValueError, match=rf"{name}: the file holds audio with cover art, not video"):
            read(path)
