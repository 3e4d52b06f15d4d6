"""Optional learned flow: a RAFT (Teed and Deng, ECCV 2020) network for user-supplied weights.

The module tree and parameter names follow torchvision's ``raft_large`` so its state dicts (e.g.
``raft_large_C_T_V2-1bb1363a.pth`` or ``..._SKHT_V2...``) load as they are; the original
princeton-vl checkpoints (``raft-things.pth``, ``raft-sintel.pth``, keys ``module.fnet...``) are
renamed on load. Weights are never bundled or downloaded: the user puts a file in
``models/optical_flow``. Files are read with safetensors or ``torch.load(weights_only=True)``, so
no pickled code runs.

Architecture (RAFT-large): shared-weight feature encoder (instance norm) and a context encoder
(batch norm) at 1/8 resolution; an all-pairs correlation volume pooled into 4 levels and sampled
in a radius-4 window around the current estimate; a motion encoder, a separable ConvGRU and a flow
head that refine the flow iteratively; convex upsampling (8x8 blocks, 3x3 neighbourhood weights).
"""
from __future__ import annotations

import os
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F


def _conv_norm_relu(cin: int, cout: int, kernel: int, stride: int = 1, norm: Optional[str] = None, relu: bool = True):
    """Conv (+ norm) (+ ReLU) as an indexed Sequential: keys ``0.weight`` (conv) and ``1.*`` (norm)."""
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, kernel, stride=stride, padding=(kernel - 1) // 2, bias=True)]
    if norm == "instance":
        layers.append(nn.InstanceNorm2d(cout))
    elif norm == "batch":
        layers.append(nn.BatchNorm2d(cout))
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class _ResidualBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, norm: str):
        super().__init__()
        self.convnormrelu1 = _conv_norm_relu(cin, cout, 3, stride, norm)
        self.convnormrelu2 = _conv_norm_relu(cout, cout, 3, 1, norm)
        self.downsample = nn.Identity() if stride == 1 and cin == cout else _conv_norm_relu(cin, cout, 1, stride, norm, relu=False)

    def forward(self, x):
        y = self.convnormrelu2(self.convnormrelu1(x))
        return F.relu(self.downsample(x) + y)


class _Encoder(nn.Module):
    """Image (B, 3, H, W) in [-1, 1] -> features (B, 256, H/8, W/8)."""

    def __init__(self, norm: str, widths=(64, 64, 96, 128, 256)):
        super().__init__()
        self.convnormrelu = _conv_norm_relu(3, widths[0], 7, 2, norm)
        self.layer1 = nn.Sequential(_ResidualBlock(widths[0], widths[1], 1, norm), _ResidualBlock(widths[1], widths[1], 1, norm))
        self.layer2 = nn.Sequential(_ResidualBlock(widths[1], widths[2], 2, norm), _ResidualBlock(widths[2], widths[2], 1, norm))
        self.layer3 = nn.Sequential(_ResidualBlock(widths[2], widths[3], 2, norm), _ResidualBlock(widths[3], widths[3], 1, norm))
        self.conv = nn.Conv2d(widths[3], widths[4], 1)

    def forward(self, x):
        return self.conv(self.layer3(self.layer2(self.layer1(self.convnormrelu(x)))))


class _MotionEncoder(nn.Module):
    def __init__(self, corr_channels: int):
        super().__init__()
        self.convcorr1 = _conv_norm_relu(corr_channels, 256, 1)
        self.convcorr2 = _conv_norm_relu(256, 192, 3)
        self.convflow1 = _conv_norm_relu(2, 128, 7)
        self.convflow2 = _conv_norm_relu(128, 64, 3)
        self.conv = _conv_norm_relu(192 + 64, 128 - 2, 3)

    def forward(self, flow, corr):
        c = self.convcorr2(self.convcorr1(corr))
        f = self.convflow2(self.convflow1(flow))
        return torch.cat((self.conv(torch.cat((c, f), dim=1)), flow), dim=1)


class _ConvGRU(nn.Module):
    def __init__(self, hidden: int, inputs: int, kernel, padding):
        super().__init__()
        self.convz = nn.Conv2d(hidden + inputs, hidden, kernel, padding=padding)
        self.convr = nn.Conv2d(hidden + inputs, hidden, kernel, padding=padding)
        self.convq = nn.Conv2d(hidden + inputs, hidden, kernel, padding=padding)

    def forward(self, h, x):
        hx = torch.cat((h, x), dim=1)
        z = torch.sigmoid(self.convz(hx))
        r = torch.sigmoid(self.convr(hx))
        q = torch.tanh(self.convq(torch.cat((r * h, x), dim=1)))
        return (1 - z) * h + z * q


class _RecurrentBlock(nn.Module):
    def __init__(self, hidden: int = 128, inputs: int = 256):
        super().__init__()
        self.convgru1 = _ConvGRU(hidden, inputs, (1, 5), (0, 2))  # horizontal, then vertical
        self.convgru2 = _ConvGRU(hidden, inputs, (5, 1), (2, 0))

    def forward(self, h, x):
        return self.convgru2(self.convgru1(h, x), x)


class _FlowHead(nn.Module):
    def __init__(self, hidden: int = 128, width: int = 256):
        super().__init__()
        self.conv1 = nn.Conv2d(hidden, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, 2, 3, padding=1)

    def forward(self, x):
        return self.conv2(F.relu(self.conv1(x)))


class _UpdateBlock(nn.Module):
    def __init__(self, corr_channels: int):
        super().__init__()
        self.motion_encoder = _MotionEncoder(corr_channels)
        self.recurrent_block = _RecurrentBlock()
        self.flow_head = _FlowHead()

    def forward(self, hidden, context, corr, flow):
        x = torch.cat((context, self.motion_encoder(flow, corr)), dim=1)
        hidden = self.recurrent_block(hidden, x)
        return hidden, self.flow_head(hidden)


class _MaskPredictor(nn.Module):
    def __init__(self, hidden: int = 128, width: int = 256):
        super().__init__()
        self.convrelu = _conv_norm_relu(hidden, width, 3)
        self.conv = nn.Conv2d(width, 8 * 8 * 9, 1)

    def forward(self, x):
        # The 0.25 scale is part of the trained model (it balanced gradients during training).
        return 0.25 * self.conv(self.convrelu(x))


class RAFT(nn.Module):
    """RAFT-large. ``forward(image1, image2)``: (B, 3, H, W) in [-1, 1], H and W multiples of 8 and
    at least 128; returns flow (B, 2, H, W) with image1(p) ≈ image2(p + flow(p))."""

    levels = 4
    radius = 4

    def __init__(self):
        super().__init__()
        self.feature_encoder = _Encoder("instance")
        self.context_encoder = _Encoder("batch")
        self.update_block = _UpdateBlock(self.levels * (2 * self.radius + 1) ** 2)
        self.mask_predictor = _MaskPredictor()

    def forward(self, image1: torch.Tensor, image2: torch.Tensor, iterations: int = 12) -> torch.Tensor:
        batch, _, height, width = image1.shape
        if height % 8 or width % 8:
            raise ValueError(f"RAFT needs H and W divisible by 8, got {height}x{width}")
        features = self.feature_encoder(torch.cat((image1, image2), dim=0))
        f1, f2 = features.chunk(2, dim=0)
        pyramid = self._correlation_pyramid(f1, f2)
        hidden, context = self.context_encoder(image1).split((128, 128), dim=1)
        hidden, context = torch.tanh(hidden), F.relu(context)
        h8, w8 = height // 8, width // 8
        ys, xs = torch.meshgrid(torch.arange(h8, device=image1.device), torch.arange(w8, device=image1.device), indexing="ij")
        coords0 = torch.stack((xs, ys)).to(f1.dtype).unsqueeze(0).expand(batch, -1, -1, -1)
        coords1 = coords0.clone()
        for _ in range(iterations):
            corr = self._lookup(pyramid, coords1)
            hidden, delta = self.update_block(hidden, context, corr, coords1 - coords0)
            coords1 = coords1 + delta
        return _convex_upsample(coords1 - coords0, self.mask_predictor(hidden))

    def _correlation_pyramid(self, f1, f2):
        batch, channels, h, w = f1.shape
        corr = torch.matmul(f1.view(batch, channels, h * w).transpose(1, 2), f2.view(batch, channels, h * w))
        corr = (corr / channels ** 0.5).view(batch * h * w, 1, h, w)
        pyramid = [corr]
        for _ in range(self.levels - 1):
            corr = F.avg_pool2d(corr, 2, stride=2)
            pyramid.append(corr)
        return pyramid

    def _lookup(self, pyramid, coords):
        batch, _, h, w = coords.shape
        side = 2 * self.radius + 1
        offsets = torch.linspace(-self.radius, self.radius, side, device=coords.device, dtype=coords.dtype)
        # The trained weights expect the x offset to vary along the first window axis.
        dx, dy = torch.meshgrid(offsets, offsets, indexing="ij")
        window = torch.stack((dx, dy), dim=-1).view(1, side, side, 2)
        centre = coords.permute(0, 2, 3, 1).reshape(batch * h * w, 1, 1, 2)
        sampled = []
        for level, corr in enumerate(pyramid):
            pos = centre / (2 ** level) + window
            lh, lw = corr.shape[-2:]
            grid = torch.stack((2 * pos[..., 0] / max(lw - 1, 1) - 1, 2 * pos[..., 1] / max(lh - 1, 1) - 1), dim=-1)
            values = F.grid_sample(corr, grid, mode="bilinear", align_corners=True)
            sampled.append(values.view(batch, h, w, side * side))
        return torch.cat(sampled, dim=-1).permute(0, 3, 1, 2).contiguous()


def _convex_upsample(flow: torch.Tensor, mask: torch.Tensor, factor: int = 8) -> torch.Tensor:
    """Each full-resolution vector is a softmax-weighted mix of the 3x3 coarse neighbours (x8)."""
    batch, channels, h, w = flow.shape
    weights = torch.softmax(mask.view(batch, 1, 9, factor, factor, h, w), dim=2)
    neighbours = F.unfold(factor * flow, kernel_size=3, padding=1).view(batch, channels, 9, 1, 1, h, w)
    up = (weights * neighbours).sum(dim=2)  # (B, C, f, f, h, w)
    return up.permute(0, 1, 4, 2, 5, 3).reshape(batch, channels, h * factor, w * factor)


# --- loading ---------------------------------------------------------------------------------

_PRINCETON_MOTION = {"convc1": "convcorr1.0", "convc2": "convcorr2.0", "convf1": "convflow1.0", "convf2": "convflow2.0", "conv": "conv.0"}
_PRINCETON_BLOCK = {"conv1": "convnormrelu1.0", "norm1": "convnormrelu1.1", "conv2": "convnormrelu2.0", "norm2": "convnormrelu2.1"}


def _rename_princeton(key: str) -> Optional[str]:
    """princeton-vl RAFT key -> torchvision key (None = drop: duplicated norm3 entries)."""
    if key.startswith("module."):
        key = key[len("module."):]
    for old, new in (("fnet.", "feature_encoder."), ("cnet.", "context_encoder.")):
        if key.startswith(old):
            parts = key[len(old):].split(".")
            prefix = new
            if parts[0] == "conv1":
                return prefix + "convnormrelu.0." + ".".join(parts[1:])
            if parts[0] == "norm1":
                return prefix + "convnormrelu.1." + ".".join(parts[1:])
            if parts[0] == "conv2":
                return prefix + "conv." + ".".join(parts[1:])
            if parts[0].startswith("layer"):
                layer, block, name = parts[0], parts[1], parts[2]
                rest = ".".join(parts[3:])
                if name == "norm3":
                    return None  # the same tensors are saved again as downsample.1
                if name == "downsample":
                    return f"{prefix}{layer}.{block}.downsample.{rest}"
                return f"{prefix}{layer}.{block}.{_PRINCETON_BLOCK.get(name, name)}.{rest}"
            return prefix + ".".join(parts)
    if key.startswith("update_block.encoder."):
        name, rest = key[len("update_block.encoder."):].split(".", 1)
        return f"update_block.motion_encoder.{_PRINCETON_MOTION.get(name, name)}.{rest}"
    if key.startswith("update_block.gru."):
        name, rest = key[len("update_block.gru."):].split(".", 1)
        gate, index = name[:-1], name[-1]  # convz1 -> convz, 1
        return f"update_block.recurrent_block.convgru{index}.{gate}.{rest}"
    if key.startswith("update_block.mask.0."):
        return "mask_predictor.convrelu.0." + key[len("update_block.mask.0."):]
    if key.startswith("update_block.mask.2."):
        return "mask_predictor.conv." + key[len("update_block.mask.2."):]
    return key


def read_state_dict(path: str) -> dict:
    """Tensors of a weights file, without executing pickled code."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"RAFT weights {path} do not exist")
    if path.lower().endswith((".safetensors", ".sft")):
        from safetensors.torch import load_file

        return load_file(path, device="cpu")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickled objects beyond plain tensors are refused
        raise ValueError(f"{path}: cannot read it as plain tensors with torch.load(weights_only=True) ({exc})") from exc
    for wrapper in ("state_dict", "model", "params"):
        if isinstance(data, dict) and wrapper in data and isinstance(data[wrapper], dict):
            data = data[wrapper]
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a state dict (name -> tensor), got {type(data).__name__}")
    return data


def load_raft(path: str, device: torch.device | str = "cpu") -> RAFT:
    """Build RAFT-large and load ``path`` (torchvision or princeton-vl layout); eval mode.

    Raises ValueError naming the file and the first missing / unexpected / mis-shaped keys when
    the file is not a RAFT-large checkpoint (RAFT-small and other models are refused).
    """
    state = read_state_dict(path)
    if any(k.startswith(("module.fnet.", "fnet.")) for k in state):
        renamed = {}
        for key, value in state.items():
            new = _rename_princeton(key)
            if new is not None:
                renamed[new] = value
        state = renamed
    model = RAFT()
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        raise ValueError(
            f"{path} is not a RAFT-large checkpoint: {len(missing)} missing keys (e.g. {', '.join(missing[:3]) or '-'}), "
            f"{len(unexpected)} unexpected keys (e.g. {', '.join(unexpected[:3]) or '-'}). Expected torchvision raft_large "
            "or princeton-vl raft-things/raft-sintel weights."
        )
    wrong = [f"{k} {tuple(state[k].shape)} (expected {tuple(v.shape)})" for k, v in expected.items() if state[k].shape != v.shape]
    if wrong:
        raise ValueError(f"{path}: {len(wrong)} tensors have the wrong shape for RAFT-large, e.g. {wrong[0]}")
    model.load_state_dict({k: v.float() for k, v in state.items()})
    return model.eval().to(device)


class RaftEstimator:
    """Callable ``(frame_a, frame_b) -> flow`` for ``estimate_flow(..., estimator=...)``.

    frame_a, frame_b: (B, 3, H, W) float 0..1 of any size: frames are padded (replicated edge) to a
    multiple of 8, and upscaled first when smaller than RAFT's 128 px minimum.
    """

    def __init__(self, model: RAFT, iterations: int = 12, name: str = "RAFT"):
        self.model = model
        self.iterations = int(iterations)
        self.name = name

    def __repr__(self) -> str:
        return f"RaftEstimator({self.name}, iterations={self.iterations})"

    @torch.no_grad()
    def __call__(self, frame_a: torch.Tensor, frame_b: torch.Tensor) -> torch.Tensor:
        if frame_a.shape[1] != 3:
            raise ValueError(f"RAFT needs RGB frames (B, 3, H, W), got {tuple(frame_a.shape)}")
        device = next(self.model.parameters()).device
        height, width = frame_a.shape[-2:]
        scale = max(1.0, 128.0 / min(height, width))
        a = frame_a.to(device=device, dtype=torch.float32) * 2 - 1
        b = frame_b.to(device=device, dtype=torch.float32) * 2 - 1
        if scale > 1.0:
            size = (round(height * scale), round(width * scale))
            a = F.interpolate(a, size=size, mode="bilinear", align_corners=False)
            b = F.interpolate(b, size=size, mode="bilinear", align_corners=False)
        h, w = a.shape[-2:]
        pad_h, pad_w = (-h) % 8, (-w) % 8
        if pad_h or pad_w:
            a = F.pad(a, (0, pad_w, 0, pad_h), mode="replicate")
            b = F.pad(b, (0, pad_w, 0, pad_h), mode="replicate")
        flow = self.model(a, b, self.iterations)[..., :h, :w]
        if scale > 1.0:
            flow = F.interpolate(flow, size=(height, width), mode="bilinear", align_corners=False)
            flow = flow * torch.tensor([width / w, height / h], device=flow.device).view(1, 2, 1, 1)
        return flow.to(frame_a.device)
