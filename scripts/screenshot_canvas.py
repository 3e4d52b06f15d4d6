"""Screenshot of Video Combine playing its result in the ComfyUI canvas (the README's picture).

Not part of CI. It starts a private ComfyUI with this pack (runner.server.ManagedServer; its
input, output, temp and user folders are temporary), writes a synthetic clip as
``input/steadyframe_sample.mp4``, opens the real frontend in headless Chromium
(scripts/screenshot_canvas.mjs), loads workflows/video_roundtrip.json into the canvas, queues
it, waits for the run to finish and for the preview video to play, and saves a cropped PNG.

Rerun (Debian; any Chromium works):

    apt-get install -y chromium
    (mkdir -p /tmp/shot && cd /tmp/shot && npm i playwright-core)
    PLAYWRIGHT_CORE=/tmp/shot/node_modules/playwright-core/index.mjs \\
        .venv/bin/python scripts/screenshot_canvas.py --comfyui /path/to/ComfyUI \\
        --python /path/to/ComfyUI/venv/bin/python
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from runner.server import ManagedServer  # noqa: E402  (needs the repository on sys.path)
from video import encode_video  # noqa: E402  (the pure video package; it imports nothing outside itself)


def sample_clip(frames: int = 48, width: int = 640, height: int = 360) -> torch.Tensor:
    """(F, H, W, 3) float: a hue wheel turning behind a ball that bounces across the frame."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = np.arctan2(yy - height / 2, xx - width / 2)
    out = np.empty((frames, height, width, 3), np.float32)
    for i in range(frames):
        t = i / frames
        hue = angle / (2 * math.pi) + t
        for c, shift in enumerate((0.0, 1 / 3, 2 / 3)):
            out[i, ..., c] = 0.55 + 0.35 * np.cos(2 * math.pi * (hue - shift))
        bx = width * (0.15 + 0.7 * t)
        by = height * (0.75 - 0.5 * abs(math.sin(2 * math.pi * t)))
        ball = np.clip(1.5 - np.hypot(xx - bx, yy - by) / 30 * 1.5, 0, 1)[..., None]
        out[i] = out[i] * (1 - ball) + ball
    return torch.from_numpy(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--comfyui", default=os.environ.get("COMFYUI_PATH"), help="ComfyUI checkout")
    parser.add_argument("--python", default=None, help="Python that runs ComfyUI")
    parser.add_argument("--workflow", default=str(REPO / "workflows" / "video_roundtrip.json"))
    parser.add_argument("--out", default=str(REPO / "docs" / "images" / "video_combine_canvas.png"))
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    if not args.comfyui:
        parser.error("--comfyui (or COMFYUI_PATH) is required")

    with tempfile.TemporaryDirectory(prefix="steadyframe-shot-") as tmp:
        input_dir, output_dir, user_dir = Path(tmp, "input"), Path(tmp, "output"), Path(tmp, "user")
        for folder in (input_dir, output_dir, user_dir):
            folder.mkdir()
        encode_video(sample_clip(), str(input_dir / "steadyframe_sample.mp4"), "h264-mp4", 24, crf=16)
        workflow = json.loads(Path(args.workflow).read_text())
        raw = Path(tmp, "canvas.png")
        with ManagedServer(args.comfyui, python=args.python, input_dir=input_dir, output_dir=output_dir,
                           extra_args=["--user-directory", str(user_dir)], log=print) as server:
            env = dict(os.environ, CHROMIUM=args.chromium)
            Path(tmp, "workflow.json").write_text(json.dumps(workflow))
            subprocess.run(["node", str(REPO / "scripts" / "screenshot_canvas.mjs"), f"http://127.0.0.1:{server.port}",
                            str(Path(tmp, "workflow.json")), str(raw)], check=True, env=env)
        written = sorted(p.relative_to(output_dir) for p in output_dir.rglob("*.mp4"))
        print("written by the run:", ", ".join(map(str, written)) or "nothing")
        save_small_png(raw, Path(args.out))


def save_small_png(source: Path, target: Path, max_bytes: int = 300_000) -> None:
    """Save ``source`` as PNG within ``max_bytes``: full colour if it fits, else a dithered
    256-colour palette, scaled down further only if that is still too large."""
    from PIL import Image

    image = Image.open(source).convert("RGB")
    target.parent.mkdir(parents=True, exist_ok=True)
    image.save(target, optimize=True)
    scale = 1.0
    while target.stat().st_size > max_bytes and scale > 0.4:
        size = (round(image.width * scale), round(image.height * scale))
        small = image.resize(size, Image.LANCZOS) if scale < 1 else image
        small.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.FLOYDSTEINBERG).save(target, optimize=True)
        scale *= 0.9
    with Image.open(target) as saved:
        print(f"saved {target} ({saved.width}x{saved.height}, {saved.mode}, {target.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
