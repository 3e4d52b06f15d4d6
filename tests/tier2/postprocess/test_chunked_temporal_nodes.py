"""Temporal nodes with a ``chunk`` under the real ComfyUI: each node run inside ComfyUI's execution context
(which names the running node, as when a prompt runs), chunk after chunk, with state through a real
chunking state folder; the chunked outputs equal (or, for Deflicker, match within its documented tail)
the unchunked run."""
import pytest
import torch

from support.comfy_location import skip_module_without_comfyui

skip_module_without_comfyui()

from steadyframe.chunking import ChunkPlan
from steadyframe.nodes.deflicker_nodes import SteadyFrameDeflicker, SteadyFrameTemporalConsistency
from steadyframe.nodes.schedule_nodes import SteadyFramePromptSchedule, SteadyFrameValueSchedule
from steadyframe.nodes.timing_nodes import SteadyFrameSelectKeyframes
from steadyframe.nodes.vid2vid_nodes import SteadyFrameNoise
from steadyframe.postprocess.metrics import psnr
from support.deflicker_synthetic import inject_flicker, moving_clip
from support.moving_scene import scene_cut_clip

pytestmark = pytest.mark.tier2

DEFLICKER = dict(strength=1.0, window=9, mode="global", color_space="ycbcr", texture_strength=0.6, detect_cuts=True,
                 cut_threshold=0.5, flow_preset="fast")


class _as_run:
    """``node.execute`` as it runs in a prompt: inside ComfyUI's execution context for node ``unique_id``."""

    def __init__(self, node, unique_id):
        self.node, self.unique_id = node, unique_id

    def execute(self, *args, **kwargs):
        from comfy_execution.utils import CurrentNodeContext

        with CurrentNodeContext("prompt-1", self.unique_id):
            return self.node.execute(*args, **kwargs)


def _chunks(plan, state_dir):
    return [plan.chunk(i, "job", str(state_dir)) for i in range(plan.count)]


def test_deflicker_and_metrics_nodes_over_chunks(comfyui_root, tmp_path):
    clip = moving_clip(30, 32, 48, motion=(2, 1), seed=30)
    flickering = inject_flicker(clip.clean, gain=0.1, offset=0.03, seed=31)
    whole_images, whole_cuts = SteadyFrameDeflicker.execute(flickering, **DEFLICKER).args
    whole_report = SteadyFrameTemporalConsistency.execute(whole_images, "fast", False, "reference", clip.clean).args
    deflicker, metrics = _as_run(SteadyFrameDeflicker, "7"), _as_run(SteadyFrameTemporalConsistency, "8")
    written, reports = [], []
    for chunk in _chunks(ChunkPlan(30, 12, 3), tmp_path):
        images, cuts = deflicker.execute(flickering[chunk.first:chunk.end], **DEFLICKER, chunk=chunk).args
        assert images.shape[0] == chunk.frames and cuts == ""
        out = metrics.execute(images, "fast", False, "reference", clip.clean[chunk.first:chunk.end], chunk=chunk)
        reports.append(out.args)
        written.append(images[chunk.lead:])
    chunked = torch.cat(written)
    assert whole_cuts == "" and psnr(chunked, whole_images) > 40.0
    assert torch.allclose(chunked[:8], whole_images[:8], atol=5e-4)  # far from the first chunk's end
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deflicker.7", "metrics.8"]
    # Metrics of the chunked output, one report on the last chunk: as measured on the whole chunked output.
    direct = SteadyFrameTemporalConsistency.execute(chunked, "fast", False, "reference", clip.clean).args
    assert reports[-1][0] == direct[0] and reports[-1][1] == pytest.approx(direct[1], rel=1e-12)
    assert reports[0][0].startswith("frames 0..11 of 30 so far")
    assert abs(reports[-1][3] - whole_report[3]) < 0.5  # PSNR to the clean truth, chunked vs unchunked


def test_noise_node_over_chunks_equals_the_whole_noise(comfyui_root, tmp_path):
    node = _as_run(SteadyFrameNoise, "3")
    args = (12345, "mixed", 0.4, 16, 4, 4)
    whole = SteadyFrameNoise.execute(*args).args[0].generate_noise({"samples": torch.zeros(20, 4, 6, 10)})
    for chunk in _chunks(ChunkPlan(20, 8, 2), tmp_path):
        noise = node.execute(*args, chunk=chunk).args[0]
        out = noise.generate_noise({"samples": torch.zeros(chunk.frames, 4, 6, 10)})
        assert torch.equal(out, whole[chunk.first:chunk.end])
    assert (tmp_path / "noise.3" / "after-1.safetensors").is_file()


def test_select_keyframes_node_over_chunks(comfyui_root, tmp_path):
    clip = scene_cut_clip((10, 12, 9), motion=0.5)
    settings = ("edge change", 60.0, 15.0, 3, 40, True, "fast", 48)
    whole = SteadyFrameSelectKeyframes.execute(clip, *settings).args[0]
    node = _as_run(SteadyFrameSelectKeyframes, "9")
    found = []
    for chunk in _chunks(ChunkPlan(31, 11, 2), tmp_path):
        indices, keyframes, count = node.execute(clip[chunk.first:chunk.end], *settings, chunk=chunk).args
        listed = [int(i) for i in indices.split(", ")] if indices else []
        assert count == len(listed) == keyframes.shape[0]
        found.extend(i for i in listed if i not in found)
    assert ", ".join(map(str, found)) == whole == "0, 10, 22, 30"


def test_schedule_nodes_over_chunks(comfyui_root, tmp_path):
    from support.small_sdxl_clip import make_small_sdxl_clip

    text = "0:(0.5), 20:(1.5), -1:(t/10)"
    whole = SteadyFrameValueSchedule.execute(text, 30, 25).args
    clip = make_small_sdxl_clip(0)
    prompt = '"0": "a (cat:`pw_a`)", "50%": "a dog", "-1": "a fox"'
    whole_prompt = SteadyFramePromptSchedule.execute(clip, prompt, 30, pw_a=whole[0]).args
    for chunk in _chunks(ChunkPlan(30, 12, 4), tmp_path):
        values, value, _ = SteadyFrameValueSchedule.execute(text, 16, 25, chunk=chunk).args
        assert values == whole[0][chunk.first:chunk.end] and value == whole[1]
        positive, negative, lines = SteadyFramePromptSchedule.execute(clip, prompt, 16, pw_a=values, chunk=chunk).args
        assert lines.splitlines() == whole_prompt[2].splitlines()[chunk.first:chunk.end]
        assert positive[0][0].shape[0] == negative[0][0].shape[0] == chunk.frames
        assert torch.allclose(positive[0][1]["pooled_output"], whole_prompt[0][0][1]["pooled_output"][chunk.first:chunk.end])
