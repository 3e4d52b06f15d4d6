"""Backward warping along a dense flow field.

Convention shared by the whole pack: ``flow`` is ``(B, 2, H, W)`` float pixels, channel 0 = dx,
channel 1 = dy, and ``warp_backward(image, flow)`` reads ``image`` at ``p + flow(p)``. With
``flow = estimate_flow(frame_a, frame_b)`` this gives ``warp_backward(frame_b, flow) ≈ frame_a``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

try:  # kornia >= 0.8.3 moved it; the old location still exists but warns
    from kornia.geometry import create_meshgrid
except ImportError:  # pragma: no cover - older kornia
    from kornia.utils import create_meshgrid

WARP_MODES = ("bicubic", "bilinear", "nearest")


def sample_positions(flow: torch.Tensor) -> torch.Tensor:
    """Absolute sample positions ``p + flow(p)``.

    flow: (B, 2, H, W) float pixels -> (B, 2, H, W), channel 0 = x, channel 1 = y.
    """
    _check_flow(flow)
    _, _, height, width = flow.shape
    grid = create_meshgrid(height, width, normalized_coordinates=False, device=flow.device, dtype=flow.dtype)
    return flow + grid.permute(0, 3, 1, 2)


def warp_backward(image: torch.Tensor, flow: torch.Tensor, mode: str = "bicubic") -> torch.Tensor:
    """Sample ``image`` at ``p + flow(p)``; samples outside the image are border-clamped.

    image: (B, C, H, W) float; flow: (B, 2, H, W) float pixels (dx, dy). Returns (B, C, H, W) in
    the dtype of ``image``. Bicubic sampling can overshoot the input range by a few percent at
    sharp edges; callers that need 0..1 clamp the result themselves.

    Integer flows (every vector a whole number of pixels) are gathered exactly, whatever ``mode``:
    interpolating at integer positions would only add float round-off.
    """
    if mode not in WARP_MODES:
        raise ValueError(f"warp mode {mode!r} is not one of {', '.join(WARP_MODES)}")
    if image.dim() != 4:
        raise ValueError(f"image must be (B, C, H, W), got shape {tuple(image.shape)}")
    _check_flow(flow)
    if image.shape[0] != flow.shape[0] or image.shape[-2:] != flow.shape[-2:]:
        raise ValueError(
            f"image {tuple(image.shape)} and flow {tuple(flow.shape)} must share batch size, height and width"
        )
    flow = flow.to(device=image.device, dtype=torch.float32 if not image.is_floating_point() else image.dtype)
    if mode == "nearest" or bool((flow == flow.round()).all()):
        return _gather_integer(image, flow.round())
    return _grid_sample(image, flow, mode)


def out_of_frame_mask(flow: torch.Tensor) -> torch.Tensor:
    """1 where ``p + flow(p)`` falls outside the image, else 0.

    flow: (B, 2, H, W) float pixels -> (B, 1, H, W) float. Pixel centres are at integer
    coordinates, so the valid range is ``[-0.5, W - 0.5)`` by ``[-0.5, H - 0.5)``.
    """
    pos = sample_positions(flow)
    _, _, height, width = flow.shape
    x, y = pos[:, 0:1], pos[:, 1:2]
    outside = (x < -0.5) | (x >= width - 0.5) | (y < -0.5) | (y >= height - 0.5)
    return outside.to(flow.dtype)


def _check_flow(flow: torch.Tensor) -> None:
    if flow.dim() != 4 or flow.shape[1] != 2:
        raise ValueError(f"flow must be (B, 2, H, W) with channels (dx, dy), got shape {tuple(flow.shape)}")


def _gather_integer(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    batch, channels, height, width = image.shape
    pos = sample_positions(flow)
    x = pos[:, 0].round().clamp(0, width - 1).long()
    y = pos[:, 1].round().clamp(0, height - 1).long()
    index = (y * width + x).view(batch, 1, height * width).expand(batch, channels, height * width)
    return image.reshape(batch, channels, height * width).gather(2, index).view(batch, channels, height, width)


def _grid_sample(image: torch.Tensor, flow: torch.Tensor, mode: str) -> torch.Tensor:
    _, _, height, width = image.shape
    pos = sample_positions(flow)
    # Clamp to the pixel-centre range first: this is border padding for every backend (the
    # "border" padding mode of grid_sample is broken on MPS, pytorch#125098).
    x = pos[:, 0].clamp(0, width - 1)
    y = pos[:, 1].clamp(0, height - 1)
    # align_corners=True maps -1/+1 to the centres of the first/last pixels.
    gx = x * (2.0 / max(width - 1, 1)) - 1.0
    gy = y * (2.0 / max(height - 1, 1)) - 1.0
    grid = torch.stack((gx, gy), dim=-1)
    padding = "zeros" if image.device.type == "mps" else "border"
    return F.grid_sample(image, grid, mode=mode, padding_mode=padding, align_corners=True)
