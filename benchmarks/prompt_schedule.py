"""Prompt travel cost: SteadyFrame's Prompt Schedule against per-frame encoding, same CLIP, same run.

Baseline: what a schedule node without a cache does (FizzNodes' batch schedule does this): for
every frame, encode the current and the next keyframe prompt with CLIPTextEncode and lerp them.
Ours: the Prompt Schedule node (``SteadyFramePromptSchedule.execute``, V3), which encodes each
distinct prompt once and batches the blend.
Both produce the same per-frame conditionings (checked below, max abs difference printed).

Needs ComfyUI: ``COMFYUI_PATH=/path/to/ComfyUI /path/to/comfy/python benchmarks/prompt_schedule.py``.
The CLIP is ComfyUI's SD1.5 CLIP-L with seeded random weights (``--clip sdxl-small`` for a tiny
SDXL CLIP). ``--frames 16,48`` sets the clip lengths, ``--keys`` the keyframe count.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from _pack import import_comfyui, import_pack, machine_line, print_table  # noqa: E402


def schedule_text(frames: int, keys: int) -> tuple[str, list[tuple[int, str]]]:
    subjects = ["a cat", "a dog", "a fox", "a bird", "a horse", "an owl", "a deer", "a whale"]
    frames_at = [round(i * (frames - 1) / max(keys - 1, 1)) for i in range(keys)]
    pairs = [(f, f"{subjects[i % len(subjects)]} in a garden, photo") for i, f in enumerate(frames_at)]
    return ",\n".join(f'"{f}": "{p}"' for f, p in pairs), pairs


def baseline(clip, pairs, frames):
    """Per frame: CLIPTextEncode the keyframe prompts around it, lerp cond and pooled."""
    import nodes as comfy_nodes

    encoder = comfy_nodes.CLIPTextEncode()
    conds, pooled, encodes = [], [], 0
    for frame in range(frames):
        before = max((p for p in pairs if p[0] <= frame), key=lambda p: p[0])
        after = min((p for p in pairs if p[0] > frame), key=lambda p: p[0], default=None)
        (a,) = encoder.encode(clip, before[1])
        encodes += 1
        if after is None:
            conds.append(a[0][0])
            pooled.append(a[0][1]["pooled_output"])
            continue
        (b,) = encoder.encode(clip, after[1])
        encodes += 1
        w = (frame - before[0]) / (after[0] - before[0])
        conds.append(torch.lerp(a[0][0], b[0][0], w))
        pooled.append(torch.lerp(a[0][1]["pooled_output"], b[0][1]["pooled_output"], w))
    return torch.cat(conds), torch.cat(pooled), encodes


class CountingClip:
    def __init__(self, clip):
        self.clip, self.encodes = clip, 0

    def tokenize(self, *args, **kwargs):
        return self.clip.tokenize(*args, **kwargs)

    def encode_from_tokens_scheduled(self, *args, **kwargs):
        self.encodes += 1
        return self.clip.encode_from_tokens_scheduled(*args, **kwargs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", default="16,48", help="comma-separated frame counts")
    parser.add_argument("--keys", type=int, default=3, help="keyframes per schedule")
    parser.add_argument("--clip", choices=("sd15", "sdxl-small"), default="sd15")
    args = parser.parse_args()
    if not import_comfyui():
        print("ComfyUI is not importable: set COMFYUI_PATH and run with ComfyUI's Python")
        return 2
    import_pack()
    from steadyframe.nodes.schedule_nodes import SteadyFramePromptSchedule
    from steadyframe.schedule import parse_prompt_schedule

    if args.clip == "sd15":
        from support.sd15_factory import make_sd15_clip

        clip = make_sd15_clip(0)
    else:
        from support.small_sdxl_clip import make_small_sdxl_clip

        clip = make_small_sdxl_clip(0)

    print(machine_line())
    print(f"CLIP: {args.clip} (random weights); {args.keys} keyframes; positive conditioning only for the baseline, "
          "ours also builds the negative output")
    rows = []
    for frames in (int(f) for f in args.frames.split(",")):
        text, pairs = schedule_text(frames, args.keys)
        start = time.perf_counter()
        base_cond, base_pooled, base_encodes = baseline(clip, pairs, frames)
        base_seconds = time.perf_counter() - start

        counting = CountingClip(clip)
        start = time.perf_counter()
        positive, _negative, _ = SteadyFramePromptSchedule.execute(counting, text, frames).args
        ours_seconds = time.perf_counter() - start
        cond, extras = positive[0]
        difference = max((cond - base_cond).abs().max().item(),
                         (extras["pooled_output"] - base_pooled).abs().max().item())

        start = time.perf_counter()
        parse_prompt_schedule(text).plan(frames)
        plan_ms = (time.perf_counter() - start) * 1000
        rows.append((frames, "per-frame encode (baseline)", base_encodes, f"{base_seconds:.2f}", "1.00x", "", ""))
        rows.append((frames, "SteadyFrame Prompt Schedule", counting.encodes, f"{ours_seconds:.2f}",
                     f"{base_seconds / ours_seconds:.2f}x", f"{plan_ms:.1f}", f"{difference:.1e}"))
    print_table(("frames", "method", "CLIP encodes", "seconds", "speed-up", "parse+plan ms", "max |diff|"), rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
