"""Deflicker and temporal-consistency metric nodes.

Thin adapters over ``postprocess/deflicker.py`` and ``postprocess/metrics.py``; flow comes from the pack's shared
flow module (``flow/sequence.py``) or from an ``SF_FLOW`` input.
"""
from __future__ import annotations

import logging
import math

from ..comfy_glue.common import category, comfy_progress_bar, throw_if_interrupted
from ..postprocess.deflicker import COLOR_SPACES, GlobalSettings, deflicker_global, detect_scene_cuts, stabilize_texture
from ..postprocess.metrics import PairFlows, check_clip, luminance_flicker, psnr, warping_errors

FLOW_TYPE = "SF_FLOW"
FLOW_PRESETS = ("fast", "balanced", "quality")
MODES = ("global", "global + texture", "histogram", "histogram + texture")
FLOW_SOURCES = ("reference", "images")
NO_VALUE = -1.0

log = logging.getLogger(__name__)


class _StagedProgress:
    """One ComfyUI progress bar over several stages; every update also checks for Cancel."""

    def __init__(self, total: int):
        self.total = max(1, int(total))
        self.offset = 0
        self.bar = comfy_progress_bar(self.total)

    def stage(self, size: int):
        offset = self.offset
        self.offset += int(size)

        def report(done, _total):
            throw_if_interrupted()
            self.bar.update_absolute(min(offset + int(done), self.total), self.total)

        return report


def _cut_list(cuts) -> str:
    return ", ".join(str(c) for c in cuts)


class SteadyFrameDeflicker:
    DESCRIPTION = (
        "Removes frame-to-frame brightness and colour flicker: every frame's colour statistics are matched "
        "to a Gaussian average of its neighbours (scene cuts are detected and never averaged across). The "
        "optional texture stage also calms 'boiling' texture by blending each frame with its flow-warped "
        "neighbours where the flow is trusted; it trades fine detail for stability."
    )
    CATEGORY = category("postprocess")
    FUNCTION = "deflicker"
    RETURN_TYPES = ("IMAGE", "STRING")
    RETURN_NAMES = ("images", "scene_cuts")
    OUTPUT_TOOLTIPS = (
        "The deflickered frames.",
        "Comma-separated indices of the frames that start a new scene (empty when there is none).",
    )

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "images": ("IMAGE", {"tooltip": "The clip to deflicker, in frame order."}),
                "strength": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 1.0, "step": 0.01,
                                       "tooltip": "0 leaves the clip unchanged; 1 matches every frame fully to the "
                                                  "temporal average of its neighbours."}),
                "window": ("INT", {"default": 49, "min": 1, "max": 301, "step": 2,
                                   "tooltip": "Frames in the temporal average (Gaussian, sigma = (window-1)/6). Larger "
                                              "removes slower flicker; smaller follows real lighting changes more "
                                              "closely. 1 disables the global stage."}),
                "mode": (list(MODES), {"default": "global",
                                       "tooltip": "global: match colour mean and contrast per channel. histogram: "
                                                  "match whole per-channel histograms (slower, also fixes curve-shaped "
                                                  "flicker). '+ texture' adds the flow-guided texture stage."}),
                "color_space": (list(COLOR_SPACES), {"default": "ycbcr",
                                                     "tooltip": "Space the statistics are matched in. ycbcr is fast; "
                                                                "lab is perceptual and several times slower."}),
                "texture_strength": ("FLOAT", {"default": 0.6, "min": 0.0, "max": 0.95, "step": 0.05,
                                               "tooltip": "Texture stage only: how much of the flow-warped neighbour "
                                                          "output is blended in where the flow is trusted."}),
                "detect_cuts": ("BOOLEAN", {"default": True,
                                            "tooltip": "Split the clip at scene cuts so colours are never averaged "
                                                       "across them."}),
                "cut_threshold": ("FLOAT", {"default": 0.5, "min": 0.05, "max": 2.0, "step": 0.05,
                                            "tooltip": "Scene-cut sensitivity: a cut is 1 - correlation of consecutive "
                                                       "frames' structure above this, or a lasting colour jump above "
                                                       "40x this in Lab units. Lower finds more cuts."}),
                "flow_preset": (list(FLOW_PRESETS), {"default": "balanced",
                                                     "tooltip": "Texture stage only, when no flow is connected: the "
                                                                "optical-flow preset used on the frames."}),
            },
            "optional": {
                "flow": (FLOW_TYPE, {"tooltip": "Optional precomputed flow of these frames (or of the source video "
                                                "they were made from); otherwise the texture stage computes it once."}),
            },
        }

    def deflicker(self, images, strength, window, mode, color_space, texture_strength, detect_cuts,
                  cut_threshold, flow_preset, flow=None):
        check_clip(images)
        if mode not in MODES:
            raise ValueError(f"mode {mode!r} is not one of {', '.join(MODES)}")
        count, height, width, _ = images.shape
        texture = mode.endswith("+ texture") and texture_strength > 0 and strength > 0 and count > 1
        if texture and flow is not None and hasattr(flow, "check_frames"):
            flow.check_frames(count, height, width, "images")
        settings = GlobalSettings(
            strength=float(strength), window=int(window),
            method="quantiles" if mode.startswith("histogram") else "moments",
            color_space=color_space, detect_cuts=bool(detect_cuts), cut_threshold=float(cut_threshold),
        )
        settings.validate()
        if strength == 0:
            return (images, "")
        steps = 2 * count + ((0 if flow is not None else count - 1) + 2 * count if texture else 0)
        progress = _StagedProgress(steps)
        result = deflicker_global(images, settings, progress=progress.stage(2 * count))
        out = result.images
        if texture:
            if flow is None:
                from ..flow.sequence import compute_flow_sequence

                # Flow on the globally corrected frames: brightness constancy holds better there.
                flow = compute_flow_sequence(out, preset=flow_preset, progress=progress.stage(count - 1))
            out = stabilize_texture(out, flow, strength=float(texture_strength) * float(strength),
                                    cuts=result.cuts, progress=progress.stage(2 * count))
        return (out, _cut_list(result.cuts))


class SteadyFrameTemporalConsistency:
    DESCRIPTION = (
        "Measures flicker so settings can be compared inside ComfyUI: F_Y (mean-luminance flicker, 0..255), "
        "E_warp (warping error: per-channel MSE between each frame and the flow-warped next frame, on pixels "
        "the forward-backward check trusts; flow from the reference video when connected) and PSNR to the "
        "reference. Pairs across scene cuts are left out. Lower F_Y and E_warp are steadier; read E_warp "
        "next to PSNR, because blur lowers it too."
    )
    CATEGORY = category("postprocess")
    FUNCTION = "measure"
    OUTPUT_NODE = True
    RETURN_TYPES = ("STRING", "FLOAT", "FLOAT", "FLOAT")
    RETURN_NAMES = ("report", "flicker_fy", "warp_error", "psnr")
    OUTPUT_TOOLTIPS = (
        "A plain-text report of all metrics (for the reference too when connected).",
        "F_Y: mean absolute change of mean luma between consecutive frames, 0..255.",
        "E_warp x 1e-3 (per-channel MSE in 0..1 units, times 1000); -1 when no pair could be scored.",
        "PSNR in dB to the reference; -1 without a reference, 1000 when identical.",
    )

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "images": ("IMAGE", {"tooltip": "The clip to measure."}),
                "flow_preset": (list(FLOW_PRESETS), {"default": "fast",
                                                     "tooltip": "Optical-flow preset for E_warp when no flow is "
                                                                "connected."}),
                "measure_warp_error": ("BOOLEAN", {"default": True,
                                                   "tooltip": "E_warp needs optical flow (the slow part); turn off "
                                                              "for F_Y and PSNR only."}),
                "flow_from": (list(FLOW_SOURCES), {"default": "reference",
                                                   "tooltip": "Clip whose optical flow scores E_warp (both rows use the "
                                                              "same flow). 'reference' suits a clean source video; when "
                                                              "the reference is the flickering input itself, choose "
                                                              "'images': flow estimated on flickering frames is unreliable."}),
            },
            "optional": {
                "reference": ("IMAGE", {"tooltip": "The source video (same frame count and size). Its flow scores "
                                                   "E_warp, and PSNR is measured against it."}),
                "flow": (FLOW_TYPE, {"tooltip": "Precomputed flow (of the clip flow_from names): reused instead of "
                                                "estimating flow again."}),
            },
        }

    def measure(self, images, flow_preset, measure_warp_error, reference=None, flow=None, flow_from="reference"):
        check_clip(images)
        count, height, width, _ = images.shape
        if reference is not None:
            check_clip(reference, "reference")
            if tuple(reference.shape) != tuple(images.shape):
                raise ValueError(
                    f"reference has {reference.shape[0]} frames of {reference.shape[2]}x{reference.shape[1]} but "
                    f"images has {count} frames of {width}x{height}; connect the source clip the images were made from"
                )
        if flow_from not in FLOW_SOURCES:
            raise ValueError(f"flow_from {flow_from!r} is not one of {', '.join(FLOW_SOURCES)}")
        source = reference if reference is not None and flow_from == "reference" else images
        pairs = max(count - 1, 0)
        clips = [("images", images)] + ([("reference", reference)] if reference is not None else [])
        progress = _StagedProgress(count + (pairs if measure_warp_error else 0))

        cuts = detect_scene_cuts(source) if count > 1 else []
        progress.stage(count)(count, count)
        skip = [c - 1 for c in cuts]
        errors = [None] * len(clips)
        if measure_warp_error and pairs:
            flows = PairFlows(frames=source, flow=flow, preset=flow_preset)
            # Each pair's flow is estimated once and scores every clip.
            errors = warping_errors([clip for _, clip in clips], flows, skip_pairs=skip,
                                    progress=progress.stage(pairs))
        rows = {name: (luminance_flicker(clip, skip_pairs=skip), error)
                for (name, clip), error in zip(clips, errors)}
        psnr_value = psnr(images, reference) if reference is not None else None

        fy, ew = rows["images"]
        report = self._report(count, width, height, cuts, rows, psnr_value, reference is not None,
                              flow is not None, flow_preset, measure_warp_error,
                              "reference" if source is reference else "images")
        log.info("SteadyFrame temporal consistency:\n%s", report)
        ew_out = NO_VALUE if ew is None or math.isnan(ew.value) else ew.value * 1e3
        if psnr_value is None:
            psnr_out = NO_VALUE
        else:
            psnr_out = 1000.0 if math.isinf(psnr_value) else psnr_value
        return {"ui": {"text": [report]}, "result": (report, float(fy), float(ew_out), float(psnr_out))}

    @staticmethod
    def _report(count, width, height, cuts, rows, psnr_value, has_reference, has_flow, preset, warp, source):
        lines = [f"{count} frames, {width}x{height}"]
        if cuts:
            lines.append(f"scene cuts before frames {_cut_list(cuts)} (pairs across them are not scored)")
        if warp:
            origin = "connected flow" if has_flow else f"'{preset}' flow of the {source}"
            lines.append(f"E_warp uses the {origin}")
        for name, (fy, ew) in rows.items():
            parts = [f"F_Y {fy:.3f}/255"]
            if ew is not None:
                if math.isnan(ew.value):
                    parts.append("E_warp n/a (no trusted pixels)")
                else:
                    parts.append(f"E_warp {ew.value * 1e3:.4f}e-3 ({ew.trusted_fraction * 100:.1f}% of pixels trusted)")
            lines.append(f"{name}: " + ", ".join(parts))
        if has_reference:
            lines.append("PSNR to reference: " + ("identical" if math.isinf(psnr_value) else f"{psnr_value:.2f} dB"))
        if count < 2:
            lines.append("a single frame has no flicker to measure")
        return "\n".join(lines)


NODE_CLASS_MAPPINGS = {
    "SteadyFrameDeflicker": SteadyFrameDeflicker,
    "SteadyFrameTemporalConsistency": SteadyFrameTemporalConsistency,
}
NODE_DISPLAY_NAME_MAPPINGS = {
    "SteadyFrameDeflicker": "Deflicker",
    "SteadyFrameTemporalConsistency": "Temporal Consistency Metrics",
}
