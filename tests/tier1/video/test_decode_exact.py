"""The fast decode path returns exactly the frames of the plain one.

Load Video converts frames on worker threads that keep one swscale context each, writes
them straight into the result tensor, and runs the decoder with frame threads. None of
that may change a single value: every frame must equal the plain per-frame conversion
(a fresh swscale context, ``code * float32(1/255)``), which in turn equals what FFmpeg's
own ``scale`` filter (what the ffmpeg command line runs) gives with the same flags
(bilinear + accurate_rnd + full_chroma_int, limited -> full range, BT.601, MPEG-2 chroma siting).
"""
import math
import mmap
import os
import re
import sys
from fractions import Fraction

import av
import numpy as np
import pytest
import torch

from steadyframe.video import FrameSelection, load_video
from steadyframe.video.frame_store import FrameStore
from steadyframe.video.pixels import ReadLayout, frame_to_array, read_layout


def _write(path, width, height, frames, pix, codec="libx264", rate=24):
    """A clip of moving gradients plus noise (fine detail in luma and chroma), encoded with PyAV."""
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, pix
        stream.options = {"crf": "18", "preset": "ultrafast"} if codec == "libx264" else {}
        for i in range(frames):
            rgb = np.stack([0.5 + 0.4 * np.sin(xx / 7 + i), 0.5 + 0.4 * np.cos(yy / 5 - i / 2),
                            0.5 + 0.3 * np.sin((xx + yy) / 9 + i / 3)], axis=-1)
            rgb += rng.random(rgb.shape, dtype=np.float32) * 0.2
            codes = (np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(codes, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return str(path)


def _plain_frames(path, size=None):
    """(H, W, C) codes of every frame, each converted on its own (a fresh swscale context)."""
    out = []
    with av.open(path) as container:
        for frame in container.decode(video=0):
            layout = read_layout(frame)
            out.append(frame_to_array(frame, size or (frame.width, frame.height), layout).copy())
    return out


@pytest.fixture(scope="module")
def h264_420(tmp_path_factory):
    return _write(tmp_path_factory.mktemp("clips") / "yuv420p.mp4", 96, 64, 12, "yuv420p")


@pytest.fixture(scope="module")
def h264_444_10bit(tmp_path_factory):
    return _write(tmp_path_factory.mktemp("clips") / "yuv444p10.mp4", 64, 48, 6, "yuv444p10le")


@pytest.mark.parametrize("threads", [0, 1, 3])
def test_8bit_frames_equal_the_plain_conversion(h264_420, threads):
    plain = _plain_frames(h264_420)
    loaded = load_video(h264_420, threads=threads)
    codes = load_video(h264_420, threads=threads, integer=True)
    assert loaded.images.shape == (len(plain), 64, 96, 3) and loaded.images.dtype == torch.float32
    assert codes.images.dtype == torch.uint8
    expected = np.stack(plain)
    assert np.array_equal(codes.images.numpy(), expected)
    # one rounding, the same in every loader path: code * float32(1/255)
    assert torch.equal(loaded.images, torch.from_numpy(expected * np.float32(1 / 255)))


def test_8bit_frames_equal_ffmpeg_scale_filter_with_the_same_flags(h264_420):
    """What ``ffmpeg -i f -vf scale=...accurate_rnd+full_chroma_int... -pix_fmt rgb24`` writes."""
    reference = []
    with av.open(h264_420) as container:
        stream = container.streams.video[0]
        graph = av.filter.Graph()
        source = graph.add_buffer(template=stream)
        scale = graph.add("scale", "flags=bilinear+accurate_rnd+full_chroma_int:in_color_matrix=bt601:"
                                   "in_range=tv:out_range=pc:in_chroma_loc=left")
        rgb24 = graph.add("format", "rgb24")
        sink = graph.add("buffersink")
        source.link_to(scale)
        scale.link_to(rgb24)
        rgb24.link_to(sink)
        graph.configure()
        for frame in container.decode(stream):
            graph.push(frame)
            reference.append(graph.pull().to_ndarray().copy())
    codes = load_video(h264_420, integer=True).images.numpy()
    assert len(reference) == len(codes)
    assert np.array_equal(codes, np.stack(reference))


def test_deep_444_frames_equal_the_plain_conversion(h264_444_10bit):
    plain = np.stack(_plain_frames(h264_444_10bit))
    assert plain.dtype == np.uint16
    codes = load_video(h264_444_10bit, threads=1, integer=True).images
    loaded = load_video(h264_444_10bit)
    assert codes.dtype == torch.uint16
    assert np.array_equal(codes.numpy(), plain)
    assert torch.equal(loaded.images, torch.from_numpy(plain * np.float32(1 / 65535)))


def test_resized_and_selected_frames_equal_the_plain_conversion(h264_420):
    plain = _plain_frames(h264_420, size=(48, 40))
    selection = FrameSelection(skip_first_frames=2, select_every_nth=3, frame_load_cap=3)
    loaded = load_video(h264_420, selection, custom_width=48, custom_height=40)
    expected = np.stack([plain[2], plain[5], plain[8]]) * np.float32(1 / 255)
    assert torch.equal(loaded.images, torch.from_numpy(expected))


def test_forced_rate_repeats_frames_exactly(h264_420):
    plain = _plain_frames(h264_420)
    loaded = load_video(h264_420, FrameSelection(force_rate=Fraction(48)), integer=True)
    assert len(loaded.images) == 2 * len(plain)
    for i, frame in enumerate(loaded.images.numpy()):
        assert np.array_equal(frame, plain[i // 2])


def _codes(count, height=6, width=5, channels=3, dtype=np.uint8):
    rng = np.random.default_rng(count)
    top = 255 if dtype == np.uint8 else 65535
    return [rng.integers(0, top + 1, (height, width, channels)).astype(dtype) for _ in range(count)]


@pytest.mark.parametrize("expected", [0, 2, 7, 8, 40])
@pytest.mark.parametrize("layout", [ReadLayout("rgb24", False, False), ReadLayout("rgba64le", True, True)])
def test_frame_store_gives_the_same_result_whatever_count_it_expected(expected, layout):
    """The container's frame count is only a hint: too low, too high or unknown changes nothing."""
    frames = _codes(7, channels=4 if layout.alpha else 3, dtype=np.uint16 if layout.deep else np.uint8)
    store = FrameStore((6, 5), layout, expected)
    for i in reversed(range(7)):  # workers may finish out of order
        store.put(i, frames[i])
    images, alpha = store.result(7)
    scale = np.float32(1 / (65535 if layout.deep else 255))
    stacked = np.stack(frames)
    assert images.shape == (7, 6, 5, 3) and images.is_contiguous()
    assert torch.equal(images, torch.from_numpy(stacked[..., :3] * scale))
    if layout.alpha:
        assert torch.equal(alpha, torch.from_numpy(stacked[..., 3] * scale))
    else:
        assert alpha is None
    # a result much smaller than the expectation does not keep the larger allocation
    assert images.untyped_storage().nbytes() <= images.numel() * 4 / 0.875


def test_frame_store_integer_codes():
    frames = _codes(3)
    store = FrameStore((6, 5), ReadLayout("rgb24", False, False), 3, integer=True)
    for i, f in enumerate(frames):
        store.put(i, f)
    images, _ = store.result(3)
    assert images.dtype == torch.uint8
    assert np.array_equal(images.numpy(), np.stack(frames))


def test_huge_page_advice_is_only_a_hint():
    """Marking a result for 2 MB pages keeps its values and never fails, large or small."""
    from steadyframe.video.frame_store import advise_huge_pages

    for shape in [(3, 2), (4, 512, 512, 3)]:
        tensor = torch.empty(shape)
        advise_huge_pages(tensor)
        tensor.fill_(0.25)
        assert torch.all(tensor == 0.25)


def _resident_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _linux_at_least(major: int, minor: int) -> bool:
    found = re.match(r"(\d+)\.(\d+)", os.uname().release) if sys.platform.startswith("linux") else None
    return found is not None and (int(found[1]), int(found[2])) >= (major, minor)


@pytest.mark.skipif(not _linux_at_least(5, 14), reason="MADV_POPULATE_WRITE needs Linux 5.14 or newer")
def test_populating_a_slot_faults_in_exactly_that_slot():
    """A frame's slot is made resident in one call before it is written; its neighbours are not touched."""
    from steadyframe.video.frame_store import populate

    # An anonymous mapping of its own: fresh pages for certain. torch.empty may reuse a freed,
    # already resident heap region late in a long test run (CI saw 0 bytes grow that way).
    shape = (4, 1024, 1024, 3)
    mapping = mmap.mmap(-1, math.prod(shape) * 4)
    frames = torch.frombuffer(mapping, dtype=torch.float32).view(shape)
    before = _resident_bytes()
    populate(frames[1])
    grown = _resident_bytes() - before
    assert 0.9 * frames[1].nbytes <= grown <= frames[1].nbytes + 4 * (2 << 20)  # at most the huge pages at its ends
    frames[1].fill_(0.5)
    assert torch.all(frames[1] == 0.5)
    populate(torch.empty(3))  # smaller than a page: nothing to do, no error


@pytest.mark.parametrize("size", [(96, 64), (47, 33), (130, 90)])
def test_planar_conversion_equals_the_packed_one(h264_420, size):
    """The loader's gbrp route gives rgb24's values, scaled or not, rows padded or not."""
    from steadyframe.video.rgb import frame_to_rgb, frame_to_rgb_planes

    with av.open(h264_420) as container:
        for frame in container.decode(video=0):
            planes = np.stack(frame_to_rgb_planes(frame, size), axis=-1)
            assert planes.shape == (size[1], size[0], 3)
            assert np.array_equal(planes, frame_to_rgb(frame, size))


@pytest.mark.parametrize("expected", [0, 3, 9])
def test_frame_store_planes_in_and_past_the_expected_count(expected):
    frames = _codes(6)
    store = FrameStore((6, 5), ReadLayout("rgb24", False, False), expected)
    for i, f in enumerate(frames):
        store.put_planes(i, (f[..., 0], f[..., 1], f[..., 2]))
    images, _ = store.result(6)
    assert torch.equal(images, torch.from_numpy(np.stack(frames) * np.float32(1 / 255)))


def test_frame_store_survives_an_absurd_expected_count():
    """A broken container count (more than any machine could allocate) falls back to growing at the end."""
    frames = _codes(3)
    store = FrameStore((6, 5), ReadLayout("rgb24", False, False), 10**13)
    assert store.capacity == 0
    for i, f in enumerate(frames):
        store.put(i, f)
    images, _ = store.result(3)
    assert torch.equal(images, torch.from_numpy(np.stack(frames) * np.float32(1 / 255)))
