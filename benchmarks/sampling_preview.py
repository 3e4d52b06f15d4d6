"""Animated Sampling Preview: what one preview costs per sampling step, beside core's own preview.

    COMFYUI_PATH=/path/to/ComfyUI python benchmarks/sampling_preview.py            # 48 frames, 512x512
    COMFYUI_PATH=/path/to/ComfyUI python benchmarks/sampling_preview.py --frames 96 --size 768x512

Rows (core's Latent2RGB previewer, x0 of the given size in SD1.5's latent space):
- baseline in the same run: core's single-frame preview, ``Latent2RGBPreviewer.decode_latent_to_preview_image``
  plus the JPEG encode the server then does (quality 95, as ``PromptServer.send_image``);
- our message for 16 frames (the node's default) and for every frame, at the default 256 px;
- a step that is not due (the pacer says no: what the other steps of a run cost);
- a run with previews off (``--preview-method none``): the wrapper's whole per-run cost.

Columns: median milliseconds per step and the ratio to core's single-frame preview, and the
message size in KB (what crosses the WebSocket per preview).
"""
from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import time
from types import SimpleNamespace

import torch
from _pack import import_comfyui, import_pack, machine_line, print_table


def median_ms(function, repeats: int) -> float:
    function()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--size", default="512x512", help="image size WxH (the latent is 1/8)")
    parser.add_argument("--repeats", type=int, default=10)
    options = parser.parse_args()
    if not import_comfyui():
        sys.exit("set COMFYUI_PATH to a ComfyUI checkout and run with ComfyUI's Python")
    import_pack()
    import latent_preview
    from comfy.latent_formats import SD15

    from steadyframe.comfy_glue.sampling_preview import PreviewSender, PreviewSettings

    width, height = (int(v) for v in options.size.lower().split("x"))
    x0 = torch.randn(options.frames, 4, height // 8, width // 8, generator=torch.Generator().manual_seed(0))
    fmt = SD15()
    model = SimpleNamespace(load_device=torch.device("cpu"), model=SimpleNamespace(latent_format=fmt))
    latent_preview.set_preview_method("latent2rgb")

    core = latent_preview.Latent2RGBPreviewer(fmt.latent_rgb_factors, fmt.latent_rgb_factors_bias)

    def core_preview():
        kind, image, _ = core.decode_latent_to_preview_image("JPEG", x0)
        buffer = io.BytesIO()
        image.save(buffer, format=kind, quality=95)
        return buffer.getvalue()

    def sender(frames):
        return PreviewSender(None, model, PreviewSettings(frames=frames, interval=3600.0), "3", "3", "p", None)

    rows = []
    baseline = median_ms(core_preview, options.repeats)
    rows.append(["core single-frame preview (baseline)", f"{baseline:.2f}", "1.00", f"{len(core_preview()) / 1024:.1f}"])
    for frames in (16, options.frames):
        ours = sender(frames)
        ms = median_ms(lambda: ours.message(0, x0, 20), options.repeats)
        size = len(json.dumps(ours.message(0, x0, 20))) / 1024
        rows.append([f"animated preview, {min(frames, options.frames)} frames", f"{ms:.2f}", f"{ms / baseline:.2f}", f"{size:.1f}"])
    idle = sender(16)
    idle.pacer.due(0, 20)  # the run's first preview was just sent
    ms = median_ms(lambda: idle.step_done(1, x0, 20), options.repeats)
    rows.append(["step not due (interval not over)", f"{ms:.4f}", f"{ms / baseline:.4f}", "0"])
    latent_preview.set_preview_method("none")  # as a prompt with previews off
    ms = median_ms(lambda: PreviewSender.for_this_run(model, PreviewSettings()), options.repeats)
    rows.append(["previews off: wrapper per run", f"{ms:.4f}", f"{ms / baseline:.4f}", "0"])
    print(machine_line())
    print(f"x0: {options.frames} frames of {width}x{height} (latent {width // 8}x{height // 8}), Latent2RGB, "
          f"median of {options.repeats}")
    print_table(["case", "ms per step", "ratio", "KB sent"], rows)


if __name__ == "__main__":
    main()
