"""Consistent Noise for one chunk of a long video: exactly the frames the unchunked noise has there.

Chunk k of a video of ``total`` latent frames asks for frames ``[first, end)`` (absolute numbers)
and hands the next chunk a small carry (a generator state, a noise frame). Per mode:

- ``per-frame`` / ``mixed``: the unchunked noise is one ``torch.randn`` call over all
  ``total * n`` values (n = C*H*W). CPU ``randn`` of 16 or more values fills them from one uniform
  draw each and turns every aligned block of 16 into normals on its own; when the count is not a
  multiple of 16, the last 16 values are drawn again after all the others. So the values of an
  aligned block depend only on the generator state at the block's start: chunk k generates from
  the block holding its first value, and carries the generator state at the block where chunk
  k+1 starts (the tests check the result is bit-identical to the whole call, dtypes included).
- ``shared``: one image on every frame; nothing to carry.
- ``FreeNoise``: every frame after the first window is a copy of an earlier frame; the map of
  copies depends only on the seed, the total length and the window (cheap to recompute), and every
  copied frame comes from the first ``context_length`` frames. Nothing to carry.
- ``flow-warped``: frame i+1 is frame i carried along the flow by a generator that runs through
  the whole video. Chunk k carries the noise of the first frame chunk k+1 loads and the generator
  state right after it; chunk k+1 then warps on from there along its own frames' flow. This needs
  an overlap of at least one frame: a chunk sees only the motion between its own frames.

Shapes: ``frame_shape`` is (C, H, W); results are (end - first, C, H, W).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

import torch

from .noise import (
    NoiseMode,
    flow_to_latent,
    per_frame_noise,
    seeded_generator,
    shared_noise,
    transport_noise,
)

_BLOCK = 16  # CPU randn turns uniform draws into normals 16 at a time
_SKIP_PIECE = 1 << 22  # values drawn per call while skipping ahead (bounded memory)


@dataclass
class NoiseCarry:
    """What one chunk hands the next: tensors (a generator state, a noise frame) and plain facts."""

    tensors: dict[str, torch.Tensor] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)


def _skip(generator: torch.Generator, draws: int, dtype: torch.dtype) -> None:
    """Advance ``generator`` by ``draws`` uniform draws (a multiple of 16), as randn would."""
    while draws > 0:
        piece = min(draws, _SKIP_PIECE)
        torch.randn(piece, dtype=dtype, generator=generator)
        draws -= piece


def per_frame_noise_range(frame_shape: Sequence[int], total: int, seed: int, first: int, end: int,
                          dtype: torch.dtype = torch.float32, start: Optional[tuple[int, torch.Tensor]] = None,
                          snapshot_frame: Optional[int] = None) -> tuple[torch.Tensor, Optional[tuple[int, torch.Tensor]]]:
    """Frames ``[first, end)`` of ``per_frame_noise((total, *frame_shape), seed, dtype)``.

    start: ``(position, generator state)`` at a block-aligned draw position at or before this
    chunk's first block (what an earlier chunk returned); None starts from the seed and skips
    ahead (memory stays bounded, time grows with ``first``). snapshot_frame: an absolute frame
    (the next chunk's first); the returned ``(position, state)`` lets a later call start at that
    frame's block without skipping. Returns ``(noise (end-first, C, H, W), snapshot or None)``.
    """
    channels, height, width = (int(s) for s in frame_shape)
    n = channels * height * width
    count = total * n
    if not 0 <= first < end <= total:
        raise ValueError(f"noise frames {first}..{end - 1} must lie within 0..{total - 1}")
    if count < _BLOCK:
        # randn of fewer than 16 values draws them one by one: small enough to make whole.
        whole = per_frame_noise((total, channels, height, width), seed, dtype)
        return whole[first:end].clone(), None
    generator = seeded_generator(seed)
    position = 0
    if start is not None:
        position, state = int(start[0]), start[1]
        generator.set_state(state)
    latest = (position, generator.get_state())
    a, b = first * n, end * n
    tail_start = count - _BLOCK if count % _BLOCK else count
    full_end = count // _BLOCK * _BLOCK
    snap = None if snapshot_frame is None else int(snapshot_frame) * n // _BLOCK * _BLOCK
    pieces = []
    block_stop = min(b, tail_start)
    if a < block_stop:
        aligned = a // _BLOCK * _BLOCK
        if aligned < position:
            raise ValueError(f"the carried noise generator is at value {position}, past this chunk's first value {aligned}")
        _skip(generator, aligned - position, dtype)
        stop = -(-block_stop // _BLOCK) * _BLOCK
        parts = []
        if snap is None:
            parts.append(torch.randn(stop - aligned, dtype=dtype, generator=generator))
        else:
            # Split the call where the next chunk starts: two calls of whole blocks draw what one does.
            cut = min(max(snap, aligned), stop)
            if cut > aligned:
                parts.append(torch.randn(cut - aligned, dtype=dtype, generator=generator))
            latest = (cut, generator.get_state())
            if stop > cut:
                parts.append(torch.randn(stop - cut, dtype=dtype, generator=generator))
        position = stop
        pieces.append(torch.cat(parts)[a - aligned:block_stop - aligned])
    if b > tail_start:
        # The last 16 values: drawn again after all the others (count is not a multiple of 16).
        if full_end < position:
            raise ValueError("the carried noise generator is past the end of the noise")
        _skip(generator, full_end - position, dtype)
        if _tail_follows_every_value(dtype):
            torch.rand(count - full_end, dtype=dtype, generator=generator)  # one uniform draw each
        tail = torch.randn(_BLOCK, dtype=dtype, generator=generator)
        low = max(a, tail_start)
        pieces.append(tail[low - tail_start:b - tail_start])
    noise = torch.cat(pieces).view(end - first, channels, height, width)
    return noise, (latest if snapshot_frame is not None else None)


def _tail_follows_every_value(dtype: torch.dtype) -> bool:
    """Whether randn draws the ragged last 16 values after one draw for every value (float32 and
    float64 do) or right after the whole blocks (float16 and bfloat16 in torch 2.x); asked of
    torch itself with a 20-value probe, so another torch version cannot silently change the noise."""
    probe = torch.randn(20, dtype=dtype, generator=seeded_generator(0))
    for skip, follows in ((4, True), (0, False)):
        generator = seeded_generator(0)
        torch.randn(_BLOCK, dtype=dtype, generator=generator)
        if skip:
            torch.rand(skip, dtype=dtype, generator=generator)
        if torch.equal(torch.randn(_BLOCK, dtype=dtype, generator=generator), probe[4:]):
            return follows
    raise RuntimeError(f"this torch draws {dtype} noise in an order Consistent Noise cannot split into chunks; "
                       "use float32 latents")


def freenoise_sources(total: int, context_length: int, context_overlap: int, seed: int) -> list[int]:
    """For every frame of a ``total``-frame FreeNoise clip, the per-frame noise frame it holds.

    The same permutations, drawn in the same order, as ``noise.freenoise_shuffle``: frame i of
    the shuffled noise is frame ``sources[i]`` of the per-frame noise.
    """
    if context_length < 1 or not 0 <= context_overlap < context_length:
        raise ValueError(f"FreeNoise needs context_length >= 1 and 0 <= context_overlap < context_length, "
                         f"got {context_length} and {context_overlap}")
    sources = list(range(total))
    step = context_length - context_overlap
    generator = seeded_generator(seed)
    for begin in range(0, total - context_length, step):
        target = begin + context_length
        count = min(step, total - target)
        if count <= 0:
            break
        picks = (torch.randperm(count, generator=generator, device="cpu") + begin).tolist()
        for j, source in enumerate(picks):
            sources[target + j] = sources[source]
    return sources


def _carry_key(mode: NoiseMode, seed: int, frame_shape: Sequence[int], total: int, dtype: torch.dtype) -> dict:
    return {"mode": mode.value, "seed": str(int(seed)), "frame_shape": [int(s) for s in frame_shape],
            "total": int(total), "dtype": str(dtype)}


def _check_carry(carry: NoiseCarry, expected: dict) -> None:
    got = {key: carry.meta.get(key) for key in expected}
    if got != expected:
        changed = ", ".join(f"{key} {got[key]!r} -> {expected[key]!r}" for key in expected if got[key] != expected[key])
        raise ValueError(f"Consistent Noise: the noise settings changed between chunks ({changed}); "
                         f"run the whole chain again from its first chunk with one setting")


def chunk_noise(mode: str, frame_shape: Sequence[int], total: int, first: int, end: int, seed: int,
                dtype: torch.dtype = torch.float32, *, carried: Optional[NoiseCarry] = None,
                next_first: Optional[int] = None, strength: float = 0.5, context_length: int = 16,
                context_overlap: int = 4, forward_flow: Optional[torch.Tensor] = None, subdivisions: int = 8,
                progress=None) -> tuple[torch.Tensor, Optional[NoiseCarry]]:
    """Frames ``[first, end)`` of the noise ``noise.make_noise`` makes for ``total`` frames.

    carried: what the previous chunk returned (None on the first chunk). next_first: the first
    frame the next chunk loads (None on the last chunk: nothing is carried). forward_flow:
    ``(end - first - 1, 2, Hi, Wi)`` flows between this chunk's frames (flow-warped only).
    Returns ``(noise (end - first, C, H, W) in dtype, carry for the next chunk or None)``.
    """
    parsed = NoiseMode.parse(mode, "noise mode")
    return _chunk_noise(parsed, frame_shape, total, first, end, seed, dtype, carried, next_first, strength,
                        context_length, context_overlap, forward_flow, subdivisions, progress)


def _chunk_noise(mode: NoiseMode, frame_shape, total, first, end, seed, dtype, carried, next_first, strength,
                 context_length, context_overlap, forward_flow, subdivisions, progress):
    channels, height, width = (int(s) for s in frame_shape)
    key = _carry_key(mode, seed, frame_shape, total, dtype)
    if carried is not None:
        _check_carry(carried, key)
    frames = end - first
    # Stateless modes still hand their settings on, so a chain whose settings change is refused.
    settings_only = None if next_first is None else NoiseCarry({}, key)
    if mode is NoiseMode.SHARED:
        return shared_noise((frames, channels, height, width), seed, dtype), settings_only
    if mode is NoiseMode.FREENOISE:
        sources = freenoise_sources(total, context_length, context_overlap, seed)[first:end]
        low, high = min(sources), max(sources) + 1
        base, _ = per_frame_noise_range(frame_shape, total, seed, low, high, dtype)
        return base[torch.tensor(sources) - low], settings_only
    if mode in (NoiseMode.PER_FRAME, NoiseMode.MIXED):
        working = dtype if mode is NoiseMode.PER_FRAME else torch.float32
        start = None
        if carried is not None and "generator" in carried.tensors:
            start = (int(carried.meta["position"]), carried.tensors["generator"])
        own, snapshot = per_frame_noise_range(frame_shape, total, seed, first, end, working, start, next_first)
        carry = None
        if snapshot is not None:
            carry = NoiseCarry({"generator": snapshot[1]}, {**key, "position": snapshot[0]})
        if mode is NoiseMode.PER_FRAME:
            return own, carry
        s = float(strength)
        if not 0.0 <= s <= 1.0:
            raise ValueError(f"mixed noise strength must be between 0 and 1, got {strength}")
        common = shared_noise((frames, channels, height, width), seed, torch.float32)
        mixed = (s * common + (1.0 - s) * own) / math.sqrt(s * s + (1.0 - s) * (1.0 - s))
        return mixed.to(dtype), carry
    return _flow_warped_chunk(key, frame_shape, first, end, seed, dtype, carried, next_first, forward_flow,
                              subdivisions, progress)


def _flow_warped_chunk(key, frame_shape, first, end, seed, dtype, carried, next_first, forward_flow,
                       subdivisions, progress):
    channels, height, width = (int(s) for s in frame_shape)
    frames = end - first
    if forward_flow is None:
        raise ValueError("flow-warped noise needs the source video's optical flow (connect flow or source_images)")
    if forward_flow.shape[0] != frames - 1:
        raise ValueError(f"the flow covers {forward_flow.shape[0] + 1} frames but this chunk has {frames} "
                         "latent frames; compute the flow from the same source frames")
    out = torch.empty((frames, channels, height, width), dtype=torch.float32)
    if carried is None:
        if first != 0:
            raise ValueError("flow-warped noise of a later chunk needs what the previous chunk carried")
        generator = seeded_generator(seed)
        out[0] = torch.randn((1, channels, height, width), dtype=torch.float32, generator=generator)[0]
    else:
        if int(carried.meta.get("frame", -1)) != first:
            raise ValueError(
                f"flow-warped noise across chunks needs an overlap of at least one frame: chunk starting at frame "
                f"{first} sees no motion from frame {first - 1}; set the chunk overlap to 1 or more")
        generator = torch.Generator(device="cpu")
        generator.set_state(carried.tensors["generator"])
        out[0] = carried.tensors["noise"].to(torch.float32)
    carry = None
    keep = None if next_first is None else next_first - first

    def remember(local: int) -> None:
        nonlocal carry
        if keep == local:
            carry = NoiseCarry({"noise": out[local].clone(), "generator": generator.get_state()},
                               {**key, "frame": first + local})

    remember(0)
    for i in range(frames - 1):
        latent_flow = flow_to_latent(forward_flow[i:i + 1].cpu(), height, width)[0]
        out[i + 1] = transport_noise(out[i], latent_flow, subdivisions, generator)
        remember(i + 1)
        if progress is not None:
            progress(i + 1, frames - 1)
    if keep is not None and carry is None:
        raise ValueError(
            f"flow-warped noise across chunks needs an overlap of at least one frame: the next chunk starts at frame "
            f"{next_first}, after this chunk's last frame {end - 1}; set the chunk overlap to 1 or more")
    return out.to(dtype), carry
