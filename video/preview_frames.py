"""Frames of an animated sampling preview: which ones, how small, how often, and the message.

The sampler hands its preview callback the predicted clean latent of the whole batch at each
step; an animated preview shows a few of those frames, small, every so often. Everything here is
pure (Pillow and the clock), so it is tested without ComfyUI; ``comfy_glue/sampling_preview.py``
decodes the latents and sends the messages.
"""
from __future__ import annotations

import base64
import io
import math
import time
from collections.abc import Callable, Sequence

from PIL import Image

PREVIEW_MIME = "image/jpeg"


def pick_frames(total: int, limit: int) -> list[int]:
    """Indices of at most ``limit`` frames out of ``total``, evenly spread, first and last kept.

    A preview of a long batch plays a sparser clip at the same speed instead of a truncated one.
    """
    if total < 0 or limit < 1:
        raise ValueError(f"pick_frames: expected total >= 0 and limit >= 1, got total={total}, limit={limit}")
    if total <= limit:
        return list(range(total))
    if limit == 1:
        return [0]
    # Rounded positions along the clip; distinct because the spacing (total-1)/(limit-1) exceeds 1.
    return [int(math.floor(i * (total - 1) / (limit - 1) + 0.5)) for i in range(limit)]


def fit_within(width: int, height: int, longest: int) -> tuple[int, int]:
    """(width, height) scaled down so the longer side is at most ``longest``; never scaled up.

    Aspect ratio kept (rounded), each side at least 1 pixel.
    """
    if width < 1 or height < 1 or longest < 1:
        raise ValueError(f"fit_within: expected positive sizes, got {width}x{height} within {longest}")
    scale = longest / max(width, height)
    if scale >= 1:
        return width, height
    return max(1, round(width * scale)), max(1, round(height * scale))


def encode_frame(image: Image.Image, longest: int, quality: int = 80) -> bytes:
    """One preview frame as JPEG bytes, its longer side at most ``longest`` pixels.

    image: an RGB (or L) Pillow image, e.g. what ComfyUI's latent previewers return.
    """
    size = fit_within(image.width, image.height, longest)
    if size != (image.width, image.height):
        image = image.resize(size, Image.Resampling.BILINEAR)
    if image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=int(quality))
    return buffer.getvalue()


class PreviewPacer:
    """Decides which sampling steps send a preview: the last step always, others ``interval`` s apart.

    One pacer per sampling run (it remembers when it last said yes). ``interval`` 0 sends every
    step; the first step is always due.
    """

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic):
        if not interval >= 0:
            raise ValueError(f"preview interval must be >= 0 seconds, got {interval}")
        self.interval = float(interval)
        self.clock = clock
        self.last_sent: float | None = None

    def due(self, step: int, total_steps: int) -> bool:
        """``step``: 0-based index of the finished step; ``total_steps``: the run's step count."""
        now = self.clock()
        is_last = step >= total_steps - 1
        if not is_last and self.last_sent is not None and now - self.last_sent < self.interval:
            return False
        self.last_sent = now
        return True


def preview_message(*, node: str | None, display_node: str | None, prompt_id: str | None, step: int,
                    total_steps: int, total_frames: int, indices: Sequence[int], frames: Sequence[bytes],
                    frame_rate: float) -> dict:
    """The JSON-ready body of one preview event (frames as base64 JPEG).

    step: 1-based number of the finished step. indices: which frames of the batch ``frames`` are.
    """
    if len(indices) != len(frames):
        raise ValueError(f"preview_message: {len(indices)} indices for {len(frames)} frames")
    return {
        "node": node,
        "display_node": display_node if display_node is not None else node,
        "prompt_id": prompt_id,
        "step": int(step),
        "steps": int(total_steps),
        "total_frames": int(total_frames),
        "indices": [int(i) for i in indices],
        "frame_rate": float(frame_rate),
        "mime": PREVIEW_MIME,
        "frames": [base64.b64encode(data).decode("ascii") for data in frames],
    }
