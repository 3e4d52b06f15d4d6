"""Small synthetic clips for the video tests (smooth content codecs can represent well)."""
import math
from fractions import Fraction

import av
import numpy as np
import torch


def smooth_frames(count: int, height: int = 48, width: int = 64, seed: int = 0) -> torch.Tensor:
    """(F, H, W, 3) float 0..1: slowly moving colour gradients, different per frame."""
    g = torch.Generator().manual_seed(seed)
    phase = torch.rand(3, generator=g) * 6.28
    yy, xx = torch.meshgrid(torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32),
                            indexing="ij")
    frames = []
    for i in range(count):
        r = 0.5 + 0.35 * torch.sin(xx / 11 + i / 4 + phase[0])
        gch = 0.5 + 0.35 * torch.cos(yy / 9 - i / 5 + phase[1])
        b = 0.5 + 0.3 * torch.sin((xx + yy) / 17 + i / 6 + phase[2])
        frames.append(torch.stack([r, gch, b], dim=-1))
    return torch.stack(frames).clamp(0, 1)


def numbered_frames(count: int, height: int = 32, width: int = 32) -> torch.Tensor:
    """(F, H, W, 3) flat grey frames whose level encodes the frame index (see ``frame_numbers``)."""
    levels = torch.linspace(0.1, 0.9, count) if count > 1 else torch.tensor([0.5])
    return levels.view(-1, 1, 1, 1).expand(count, height, width, 3).contiguous()


def frame_numbers(images: torch.Tensor, count: int) -> list[int]:
    """Which of ``numbered_frames(count)`` each decoded frame is (nearest grey level)."""
    levels = torch.linspace(0.1, 0.9, count) if count > 1 else torch.tensor([0.5])
    means = images.mean(dim=(1, 2, 3))
    return [int(torch.argmin((levels - m).abs())) for m in means]


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a.float() - b.float()) ** 2).mean())
    return float("inf") if mse == 0 else 10 * math.log10(1.0 / mse)


def write_vfr_mkv(path: str, times_ms: list[int], end_ms: int, size: int = 32) -> None:
    """An FFV1 Matroska file whose frame i (grey level ``numbered_frames``) starts at ``times_ms[i]``.

    Lossless, so decoded frames can be identified exactly; the last frame lasts
    until ``end_ms``.
    """
    frames = (numbered_frames(len(times_ms), size, size) * 255 + 0.5).to(torch.uint8).numpy()
    with av.open(path, mode="w", format="matroska") as container:
        stream = container.add_stream("ffv1", rate=1000)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv444p"
        stream.time_base = Fraction(1, 1000)
        stream.codec_context.time_base = Fraction(1, 1000)
        ends = list(times_ms[1:]) + [end_ms]
        for array, start, end in zip(frames, times_ms, ends):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(array), format="rgb24").reformat(format="yuv444p")
            frame.pts = start
            frame.time_base = Fraction(1, 1000)
            frame.duration = end - start
            for packet in stream.encode(frame):
                packet.duration = end - start
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def chirp(seconds: float, sample_rate: int = 16000) -> dict:
    """Mono core AUDIO whose pitch rises with time (200 Hz, +600 Hz a second): a cut that is off by
    even a few milliseconds no longer lines up with it, where a steady tone would."""
    t = torch.arange(int(round(seconds * sample_rate)), dtype=torch.float64) / sample_rate
    wave = 0.5 * torch.sin(2 * math.pi * (200 * t + 300 * t ** 2))
    return {"waveform": wave.to(torch.float32).view(1, 1, -1), "sample_rate": sample_rate}


def tone(seconds: float, sample_rate: int = 44100, channels: int = 2, freq: float = 440.0) -> dict:
    """A core AUDIO dict holding a sine tone."""
    n = int(round(seconds * sample_rate))
    t = torch.arange(n, dtype=torch.float32) / sample_rate
    wave = 0.5 * torch.sin(2 * math.pi * freq * t)
    return {"waveform": wave.expand(channels, n).unsqueeze(0).contiguous(), "sample_rate": sample_rate}
