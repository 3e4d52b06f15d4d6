"""Pure parts of the animated sampling preview: frame choice, size, pacing, the event body."""
import base64
import io
import json

import pytest
from PIL import Image

from steadyframe.video.preview_frames import (
    PREVIEW_MIME,
    PreviewPacer,
    encode_frame,
    fit_within,
    pick_frames,
    preview_message,
)


@pytest.mark.parametrize(("total", "limit", "expected"), [
    (0, 4, []),
    (3, 16, [0, 1, 2]),
    (16, 16, list(range(16))),
    (48, 1, [0]),
    (48, 2, [0, 47]),
    (4, 3, [0, 2, 3]),  # 1.5 rounds half up
    (10, 4, [0, 3, 6, 9]),
])
def test_pick_frames(total, limit, expected):
    assert pick_frames(total, limit) == expected


def test_pick_frames_spreads_long_batches_without_repeats():
    for total in range(2, 200, 7):
        for limit in (2, 5, 16, 64):
            picked = pick_frames(total, limit)
            assert len(picked) == min(total, limit)
            assert picked[0] == 0 and picked[-1] == total - 1
            assert picked == sorted(set(picked))
            gaps = [b - a for a, b in zip(picked, picked[1:])]
            assert max(gaps) - min(gaps) <= 1  # evenly spread


def test_pick_frames_refuses_a_zero_limit():
    with pytest.raises(ValueError, match="limit >= 1"):
        pick_frames(8, 0)


@pytest.mark.parametrize(("size", "longest", "expected"), [
    ((64, 64), 256, (64, 64)),      # never enlarged
    ((512, 384), 256, (256, 192)),
    ((384, 512), 256, (192, 256)),
    ((8, 6), 4, (4, 3)),
    ((1000, 3), 10, (10, 1)),       # at least one pixel
])
def test_fit_within(size, longest, expected):
    assert fit_within(*size, longest) == expected


def _decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_encode_frame_scales_down_and_keeps_colour():
    image = Image.new("RGB", (96, 64), (200, 40, 90))
    out = _decode(encode_frame(image, 48, quality=90))
    assert out.format == "JPEG" and out.size == (48, 32)
    r, g, b = out.getpixel((24, 16))
    assert abs(r - 200) <= 4 and abs(g - 40) <= 4 and abs(b - 90) <= 4
    small = _decode(encode_frame(image, 512))
    assert small.size == (96, 64)


def test_encode_frame_converts_rgba():
    out = _decode(encode_frame(Image.new("RGBA", (8, 8), (10, 20, 30, 128)), 8))
    assert out.mode == "RGB" and out.size == (8, 8)


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_pacer_sends_first_last_and_spaced_steps():
    clock = Clock()
    pacer = PreviewPacer(0.5, clock)
    sent = []
    for step in range(10):
        if pacer.due(step, 10):
            sent.append(step)
        clock.now += 0.2  # each step takes 0.2 s
    # 0 (first), then every third step (0.6 s >= 0.5 s), and 9 (last) though only 0.4 s after 6
    assert sent == [0, 3, 6, 9]


def test_pacer_zero_interval_sends_every_step():
    clock = Clock()
    pacer = PreviewPacer(0.0, clock)
    assert all(pacer.due(step, 4) for step in range(4))


def test_pacer_refuses_negative_interval():
    with pytest.raises(ValueError, match=">= 0 seconds"):
        PreviewPacer(-1)


def test_preview_message_is_json_with_base64_frames():
    frames = [encode_frame(Image.new("RGB", (8, 6), (i * 50, 0, 0)), 8) for i in range(3)]
    body = preview_message(node="3", display_node=None, prompt_id="p", step=2, total_steps=20,
                           total_frames=48, indices=[0, 23, 47], frames=frames, frame_rate=8)
    text = json.dumps(body)
    back = json.loads(text)
    assert back["node"] == "3" and back["display_node"] == "3"
    assert back["step"] == 2 and back["steps"] == 20 and back["total_frames"] == 48
    assert back["indices"] == [0, 23, 47] and back["frame_rate"] == 8.0
    assert back["mime"] == PREVIEW_MIME == "image/jpeg"
    assert [base64.b64decode(f) for f in back["frames"]] == frames
    with pytest.raises(ValueError, match="2 indices for 3 frames"):
        preview_message(node="3", display_node=None, prompt_id=None, step=1, total_steps=1, total_frames=3,
                        indices=[0, 1], frames=frames, frame_rate=8)
