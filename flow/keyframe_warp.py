"""Carry stylised keyframes to the frames between them along the source video's optical flow.

Every output frame is sampled once, straight from a keyframe (never from an already-warped frame:
resampling errors would accumulate). Frames between two keyframes blend the two warps, weighted by
temporal distance and by each warp's reliability; pixels that neither keyframe can explain are
reported in a mask for inpainting.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from typing import Optional

import torch
import torch.nn.functional as F

from .occlusion import (
    coverage_confidence,
    flow_confidence,
    forward_backward_confidence,
    in_frame_confidence,
    photometric_confidence,
)
from .provider import DEFAULT_FLOW_OPTIONS, ClipFlow, FlowOptions, ProgressFn, check_clip
from .sequence import FlowSequence
from .warp import warp_backward

_TOKEN = re.compile(r"[^\s,]+")


class Sampling(str, Enum):
    """How keyframes are sampled (``warp_backward`` modes offered for keyframes)."""

    BICUBIC = "bicubic"
    BILINEAR = "bilinear"


class SizeMismatch(str, Enum):
    """What to do with keyframes of another size than the frames."""

    ERROR = "error"
    RESIZE = "resize keyframes"


def parse_keyframe_indices(text: str, frame_count: int, input_name: str = "keyframe_indices") -> list[int]:
    """Parse ``"0, 12, 24"`` into frame indices, in the order written.

    Separators are commas and/or whitespace. Negative indices count from the end (-1 = last frame).
    Raises ValueError naming the column (1-based) of the offending entry for anything that is not a
    whole number, an index outside 0..frame_count-1, or an index given twice.
    """
    indices: list[int] = []
    seen: dict[int, int] = {}
    for match in _TOKEN.finditer(text):
        token = match.group(0)
        column = match.start() + 1
        try:
            value = int(token)
        except ValueError:
            raise ValueError(
                f"{input_name}: {token!r} at column {column} is not a whole frame number; "
                f"expected comma-separated indices like \"0, 12, 24\""
            ) from None
        index = value + frame_count if value < 0 else value
        if not 0 <= index < frame_count:
            raise ValueError(
                f"{input_name}: index {value} at column {column} is out of range; the source has {frame_count} "
                f"frames, so indices run from 0 to {frame_count - 1} (or -1 to -{frame_count} from the end)"
            )
        if index in seen:
            raise ValueError(
                f"{input_name}: frame {index} is given twice (columns {seen[index]} and {column}); each keyframe needs its own frame"
            )
        seen[index] = column
        indices.append(index)
    if not indices:
        raise ValueError(f"{input_name} is empty; give one source frame index per keyframe, e.g. \"0\" or \"0, 12, 24\"")
    return indices


def format_frame_indices(indices) -> str:
    """Frame indices as comma-separated text, e.g. ``"0, 12, 30"``: what :func:`parse_keyframe_indices`
    reads (empty for none)."""
    return ", ".join(str(int(i)) for i in indices)


@dataclass(frozen=True)
class WarpSettings:
    """fb_alpha, fb_beta: forward-backward test (see occlusion.forward_backward_confidence);
    coverage_threshold: range-map test (occlusion.coverage_confidence; None = off);
    photometric_threshold: max channel-mean |source frame - warped source keyframe| in 0..1 that
    still counts as reliable (None = off); mask_dilation: pixels the unreliable mask grows by;
    interpolation: "bicubic" or "bilinear" sampling of the keyframes. How flow is estimated
    (direct mode) is the ``ClipFlow``'s business."""

    fb_alpha: float = 0.01
    fb_beta: float = 0.5
    coverage_threshold: Optional[float] = 0.7
    photometric_threshold: Optional[float] = 0.1
    mask_dilation: int = 4
    interpolation: str = "bicubic"


@dataclass
class Propagation:
    """One warp of keyframe ``key`` onto frame ``target``: flow (1, 2, H, W) from the target's
    pixels into the keyframe, confidence (1, 1, H, W) 1 = reliable."""

    target: int
    key: int
    flow: torch.Tensor
    confidence: torch.Tensor


def check_keyframes(frames: torch.Tensor, keyframes: torch.Tensor, indices: list[int], resize: bool = False) -> torch.Tensor:
    """Validate counts and sizes; returns keyframes (K, H, W, C) at the frames' size.

    frames: (F, H, W, 3); keyframes: (K, h, w, C). With ``resize`` keyframes of another size are
    resized (bicubic, antialiased) to the frames' size, otherwise that is an error.
    """
    if not isinstance(keyframes, torch.Tensor) or keyframes.dim() != 4:
        shape = tuple(keyframes.shape) if isinstance(keyframes, torch.Tensor) else type(keyframes).__name__
        raise ValueError(f"keyframes must be an image batch (K, H, W, C), got {shape}")
    if keyframes.shape[0] != len(indices):
        raise ValueError(
            f"got {keyframes.shape[0]} keyframe image(s) but {len(indices)} keyframe index(es) ({', '.join(map(str, indices))}); "
            "give exactly one source frame index per keyframe image, in the same order"
        )
    height, width = frames.shape[1:3]
    if tuple(keyframes.shape[1:3]) != (height, width):
        if not resize:
            raise ValueError(
                f"keyframes are {keyframes.shape[2]}x{keyframes.shape[1]} but the source frames are {width}x{height}; "
                "resize the keyframes to the source size or set on_size_mismatch to \"resize keyframes\""
            )
        moved = keyframes.permute(0, 3, 1, 2).float()
        moved = F.interpolate(moved, size=(height, width), mode="bicubic", align_corners=False, antialias=True)
        keyframes = moved.clamp(0, 1).permute(0, 2, 3, 1)
    return keyframes


def neighbouring_keys(frame_count: int, indices: list[int]) -> list[tuple[Optional[int], Optional[int]]]:
    """For every frame, (previous keyframe index, next keyframe index), None where there is none.
    A keyframe is its own previous and next."""
    keys = sorted(indices)
    result = []
    for t in range(frame_count):
        prev = max((k for k in keys if k <= t), default=None)
        nxt = min((k for k in keys if k >= t), default=None)
        result.append((prev, nxt))
    return result


@dataclass
class OutsideKey:
    """A keyframe before the frames (a chunk's previous keyframe, from the chunk before).

    index: its frame number relative to frames[0] (negative); source: its source frame (1, H, W, 3);
    chain: composed mode only, (flow (1, 2, H, W) from frames[0] into the keyframe, confidence
    (1, 1, H, W) before the photometric check).
    """

    index: int
    source: torch.Tensor
    chain: Optional[tuple[torch.Tensor, torch.Tensor]] = None


def _source(frames: torch.Tensor, key: int, outside: Optional[OutsideKey]) -> torch.Tensor:
    """Source frame of keyframe ``key`` (1, H, W, 3): from the frames, or the outside key's."""
    if outside is not None and key == outside.index:
        return outside.source
    return frames[key:key + 1]


def direct_propagations(frames: torch.Tensor, indices: list[int], settings: WarpSettings,
                        options: FlowOptions = DEFAULT_FLOW_OPTIONS,
                        outside: Optional[OutsideKey] = None) -> Iterator[list[Propagation]]:
    """Per frame, the propagations from its previous and next keyframe, with flow estimated
    (``options``) directly between the source frame and the keyframe's source frame (no chaining).

    frames: (F, H, W, 3) float 0..1. Yields one list per frame in order (empty for keyframes);
    only one frame's flows are alive at a time. outside: a keyframe before frames[0] (its index
    is then one of ``indices``).
    """
    device = frames.device if options.device is None else torch.device(options.device)
    for t, (prev, nxt) in enumerate(neighbouring_keys(frames.shape[0], indices)):
        if prev == t:
            yield []
            continue
        keys = [k for k in (prev, nxt) if k is not None]
        target = frames[t:t + 1].to(device=device, dtype=torch.float32).permute(0, 3, 1, 2)
        sources = torch.cat([_source(frames, k, outside) for k in keys]).to(device=device, dtype=torch.float32)
        sources = sources.permute(0, 3, 1, 2)
        targets = target.expand(len(keys), -1, -1, -1)
        # One batch: target->key for every key, then key->target for the forward-backward test.
        flows = options.estimate(torch.cat((targets, sources)), torch.cat((sources, targets)))
        to_key, from_key = flows[:len(keys)], flows[len(keys):]
        confidence = flow_confidence(targets, sources, to_key, from_key, settings.fb_alpha, settings.fb_beta,
                                     settings.photometric_threshold, settings.coverage_threshold)
        yield [Propagation(t, k, to_key[i:i + 1], confidence[i:i + 1]) for i, k in enumerate(keys)]


def composed_propagations(frames: torch.Tensor, indices: list[int], flow: FlowSequence, settings: WarpSettings,
                          device=None, outside: Optional[OutsideKey] = None,
                          capture: Optional[dict] = None) -> Iterator[list[Propagation]]:
    """Like ``direct_propagations`` but from precomputed consecutive-frame flows: the flow from
    frame t to a keyframe is the composition of the steps in between (the flow *fields* are chained;
    the keyframe image is still sampled only once). A pixel stays reliable only if every step it
    passes through was forward-backward consistent and inside the frame.

    Walks each stretch between keyframes once from each end, so the cost is O(F) compositions.
    ``flow`` must belong to ``frames`` (``ClipFlow`` checks that). outside: a keyframe before
    frames[0] with its chain at frames[0] (continued from there). capture: {"frame": t} asks for
    frame t's chain from its previous keyframe, stored as capture["chain"] = (flow, confidence).
    """
    count = frames.shape[0]
    device = frames.device if device is None else torch.device(device)
    neighbours = neighbouring_keys(count, indices)
    from_prev: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
    from_next: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
    # Chains are built once per stretch between keyframes and consumed frame by frame.
    for t in range(count):
        prev, nxt = neighbours[t]
        if prev == t:
            yield []
            from_prev.clear()
            from_next.clear()
            continue
        if nxt is not None and t not in from_next:
            from_next.update(_chain_towards(flow, nxt, step=-1, stop=prev if prev is not None else -1,
                                            settings=settings, device=device))
        if prev is not None and t not in from_prev:
            initial = outside.chain if outside is not None and prev == outside.index else None
            from_prev.update(_chain_towards(flow, prev, step=1, stop=nxt if nxt is not None else count,
                                            settings=settings, device=device, initial=initial))
        props = []
        for key, table in ((prev, from_prev), (nxt, from_next)):
            if key is None:
                continue
            total, confidence = table.pop(t)
            if capture is not None and key == prev and t == capture.get("frame"):
                capture["chain"] = (total, confidence)
            if settings.photometric_threshold is not None:
                target = frames[t:t + 1].to(device=device, dtype=torch.float32).permute(0, 3, 1, 2)
                source = _source(frames, key, outside).to(device=device, dtype=torch.float32).permute(0, 3, 1, 2)
                confidence = confidence * photometric_confidence(target, source, total, settings.photometric_threshold)
            props.append(Propagation(t, key, total, confidence))
        yield props


def _chain_towards(flow: FlowSequence, key: int, step: int, stop: int, settings: WarpSettings, device,
                   initial: Optional[tuple[torch.Tensor, torch.Tensor]] = None):
    """Flows from every frame between ``key`` and ``stop`` (exclusive) into ``key``.

    step = +1 walks forward from key (frames key+1, key+2, ...), each one using the backward flow of
    its pair; step = -1 walks backward using the forward flows. Returns {frame: (flow, confidence)}.
    Holds the whole stretch (one flow per frame) until it is consumed. initial: for a key before
    frame 0 (step +1), the chain at frame 0, continued from there.
    """
    result = {}
    total = None
    confidence = None
    t = key + step
    if initial is not None:
        total, confidence = (x.to(device) for x in initial)
        result[0] = (total, confidence)
        t = 1
    while t != stop and 0 <= t < flow.frame_count:
        if step == 1:
            step_flow = flow.backward[t - 1:t].to(device)   # frames[t] -> frames[t-1]
            step_back = flow.forward[t - 1:t].to(device)
        else:
            step_flow = flow.forward[t:t + 1].to(device)    # frames[t] -> frames[t+1]
            step_back = flow.backward[t:t + 1].to(device)
        step_conf = forward_backward_confidence(step_flow, step_back, settings.fb_alpha, settings.fb_beta)
        step_conf = step_conf * in_frame_confidence(step_flow)
        if settings.coverage_threshold is not None:
            step_conf = step_conf * coverage_confidence(step_back, settings.coverage_threshold)
        if total is None or confidence is None:  # both set together, on the first step
            total, confidence = step_flow, step_conf
        else:
            # Follow the step into the neighbour frame, then the neighbour's chain from there.
            total = step_flow + warp_backward(total, step_flow, mode="bilinear")
            confidence = step_conf * (warp_backward(confidence, step_flow, mode="bilinear") > 0.999).to(step_conf.dtype)
            confidence = confidence * in_frame_confidence(total)
        result[t] = (total, confidence)
        t += step
    return result


def blend_propagations(keyframes_by_index: dict[int, torch.Tensor], props: list[Propagation], settings: WarpSettings):
    """Warp each keyframe once and blend. keyframes_by_index: {frame index: (1, C, H, W)}.

    Weights: temporal (closer keyframe counts more) times reliability. Where no keyframe is
    reliable the temporal blend is kept and the pixel is marked unreliable.
    Returns (image (1, C, H, W) clamped to 0..1, unreliable (1, 1, H, W) float 0/1, not dilated).
    """
    if len(props) == 1:
        p = props[0]
        image = warp_backward(keyframes_by_index[p.key], p.flow, mode=settings.interpolation)
        return image.clamp(0, 1), 1.0 - p.confidence
    a, b = props
    span = abs(b.key - a.key)
    weight_a = abs(b.key - a.target) / span
    weight_b = abs(a.target - a.key) / span
    image_a = warp_backward(keyframes_by_index[a.key], a.flow, mode=settings.interpolation)
    image_b = warp_backward(keyframes_by_index[b.key], b.flow, mode=settings.interpolation)
    wa = weight_a * a.confidence
    wb = weight_b * b.confidence
    total = wa + wb
    unreliable = (total <= 0).to(image_a.dtype)
    # Nothing reliable: fall back to the plain temporal blend (the mask asks for inpainting there).
    wa = torch.where(total > 0, wa, torch.full_like(wa, weight_a))
    wb = torch.where(total > 0, wb, torch.full_like(wb, weight_b))
    image = (wa * image_a + wb * image_b) / (wa + wb)
    return image.clamp(0, 1), unreliable


def dilate_mask(mask: torch.Tensor, radius: int) -> torch.Tensor:
    """Grow 1-regions of mask (N, 1, H, W) by ``radius`` pixels (square neighbourhood)."""
    if radius <= 0:
        return mask
    return F.max_pool2d(mask, kernel_size=2 * radius + 1, stride=1, padding=radius)


def warp_keyframes(flows: ClipFlow, keyframes: torch.Tensor, indices: list[int], settings: WarpSettings = WarpSettings(),
                   progress: ProgressFn = None, outside: Optional[OutsideKey] = None, capture: Optional[dict] = None):
    """FlowWarp on whole clips.

    flows: the source video (``flows.frames``, (F, H, W, 3) float 0..1) and its flow: with a given
    FlowSequence the flows to the keyframes are composed from it (composed mode), without one they
    are estimated directly between each frame and its keyframes (direct mode).
    keyframes: (K, H, W, C) float 0..1 already at the frames' size and one per index
    (``check_keyframes``); indices: K frame indices (``parse_keyframe_indices``).
    progress: optional callable(done, total) after each frame; it may raise to cancel.
    outside, capture: for chunks (see ``composed_propagations``); the outside keyframe's image is
    the one at its index in ``indices``.
    Returns (images (F, H, W, C) float32 CPU, masks (F, H, W) float32 CPU, 1 = inpaint here).
    """
    frames = flows.frames
    count = frames.shape[0]
    device = flows.device
    keyed = {k: keyframes[i:i + 1].to(device=device, dtype=torch.float32).permute(0, 3, 1, 2) for i, k in enumerate(indices)}
    height, width, channels = frames.shape[1], frames.shape[2], keyframes.shape[3]
    images = torch.empty((count, height, width, channels), dtype=torch.float32)
    masks = torch.zeros((count, height, width), dtype=torch.float32)
    if flows.given is None:
        propagations = direct_propagations(frames, indices, settings, flows.options, outside)
    else:
        propagations = composed_propagations(frames, indices, flows.given, settings, device=device, outside=outside,
                                             capture=capture)
    for t, props in enumerate(propagations):
        if t in keyed:
            images[t] = keyframes[indices.index(t)].float().cpu()
        else:
            image, unreliable = blend_propagations(keyed, props, settings)
            images[t] = image[0].permute(1, 2, 0).cpu()
            masks[t] = dilate_mask(unreliable, settings.mask_dilation)[0, 0].cpu()
        if progress is not None:
            progress(t + 1, count)
    return images, masks


def flow_warp(frames: torch.Tensor, keyframes: torch.Tensor, keyframe_indices: str, *, consistency_tolerance: float = 0.5,
              color_tolerance: float = 0.1, mask_dilation: int = 4, interpolation: str = Sampling.BICUBIC,
              on_size_mismatch: str = SizeMismatch.ERROR, flow: Optional[FlowSequence] = None,
              options: FlowOptions = DEFAULT_FLOW_OPTIONS, progress: ProgressFn = None):
    """The Flow Warp Keyframes node: every input checked here, once, then :func:`warp_keyframes`.

    frames: (F, H, W, 3) source video; keyframes: (K, h, w, C); keyframe_indices: text such as
    ``"0, 12, -1"``; consistency_tolerance: forward-backward tolerance in px (``fb_beta``);
    color_tolerance: photometric threshold in 0..1, 1 = off; flow: optional FlowSequence of
    ``frames`` (composed mode). Returns (images (F, H, W, C), masks (F, H, W)).
    """
    check_clip(frames, "frames")
    indices = parse_keyframe_indices(keyframe_indices, frames.shape[0])
    keyframes = check_keyframes(frames, keyframes, indices, resize=SizeMismatch(on_size_mismatch) is SizeMismatch.RESIZE)
    flows = ClipFlow(frames, flow, options, what="frames")
    settings = WarpSettings(fb_beta=float(consistency_tolerance), mask_dilation=int(mask_dilation),
                            photometric_threshold=None if color_tolerance >= 1.0 else float(color_tolerance),
                            interpolation=Sampling(interpolation).value)
    return warp_keyframes(flows, keyframes, indices, settings, progress)
