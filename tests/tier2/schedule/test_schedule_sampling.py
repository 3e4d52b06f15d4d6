"""Scheduled conditionings through real sampling with context windows (random-weight SD1.5).

Heavy (a full SD1.5 UNet on CPU): run under ``flock /tmp/steadyframe-heavy.lock``.
"""
import pytest
import torch

pytestmark = [pytest.mark.tier2, pytest.mark.slow]

LATENT = 8  # 8x8 latents = 64x64 pixels


@pytest.fixture(scope="module")
def parts(comfyui_root):
    from support.sd15_factory import make_sd15_clip, make_sd15_model_patcher

    return make_sd15_model_patcher(0), make_sd15_clip(0)


def ksample(model, positive, negative, frames, seed=11, steps=2, cfg=3.0):
    import nodes as comfy_nodes

    latent = {"samples": torch.zeros(frames, 4, LATENT, LATENT)}
    (out,) = comfy_nodes.KSampler().sample(model, seed, steps, cfg, "euler", "simple", positive, negative, latent)
    return out["samples"]


def encode(clip, text):
    import nodes as comfy_nodes

    return comfy_nodes.CLIPTextEncode().encode(clip, text)[0]


def test_each_window_gets_the_conditionings_of_its_own_frames(parts):
    """Core context windows of 4 frames, no motion module: frames do not interact, so every
    frame of a scheduled run must equal the same frame of a run with its keyframe prompt."""
    from comfy_extras.nodes_context_windows import ContextWindowsManualNode

    from steadyframe.nodes.schedule_nodes import SteadyFramePromptSchedule

    model, clip = parts
    windowed = ContextWindowsManualNode.execute(model, 4, 0, "standard_static", 1, False, "pyramid", 0, False).result[0]
    # Frames 0..3 "a cat" (held), then a cut to "a dog" for 4..7: the cut sits on the window boundary.
    positive, negative, _ = SteadyFramePromptSchedule.execute(clip, '"0..3": "a cat", "4": "a dog"', 8).args
    assert positive[0][0].shape[0] == 8
    scheduled = ksample(windowed, positive, negative, 8)
    empty = encode(clip, "")
    cat = ksample(windowed, encode(clip, "a cat"), empty, 8)
    dog = ksample(windowed, encode(clip, "a dog"), empty, 8)
    assert not torch.allclose(cat[4:], dog[4:], atol=1e-3), "the two prompts must lead to different frames"
    torch.testing.assert_close(scheduled[:4], cat[:4], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(scheduled[4:], dog[4:], rtol=1e-4, atol=1e-4)


def test_animatediff_sampling_with_a_schedule_across_a_window_boundary(parts, tmp_path_factory):
    """A motion module with windows of 4 (overlap 1) over 7 frames and a prompt travelling across them."""
    import folder_paths

    from steadyframe.comfy_glue.motion_patch import register_motion_folder
    from steadyframe.nodes.motion_nodes import SteadyFrameLoadMotionModule
    from steadyframe.nodes.schedule_nodes import SteadyFramePromptSchedule
    from support.motion_files import write_random_motion_module

    model, clip = parts
    folder = tmp_path_factory.mktemp("schedule_motion_models")
    register_motion_folder()
    folder_paths.add_model_folder_path("animatediff_models", str(folder))
    write_random_motion_module(folder / "mm_schedule_v2.safetensors", version="v2", channels_scale=1.0, seed=3,
                               dtype=torch.float16)
    (animated,) = SteadyFrameLoadMotionModule.execute(model, "mm_schedule_v2.safetensors", context_length=4,
                                                      context_overlap=1).args
    travel, negative, _ = SteadyFramePromptSchedule.execute(clip, '"0": "a cat", "-1": "a dog"', 7).args
    out = ksample(animated, travel, negative, 7, steps=1)
    assert out.shape == (7, 4, LATENT, LATENT) and torch.isfinite(out).all()

    # The same prompt on every frame, batched per frame, samples like one CLIPTextEncode.
    constant, negative_c, _ = SteadyFramePromptSchedule.execute(clip, '"0": "a cat", "-1": "a cat"', 7).args
    batched = ksample(animated, constant, negative_c, 7, steps=1)
    single = ksample(animated, encode(clip, "a cat"), encode(clip, ""), 7, steps=1)
    torch.testing.assert_close(batched, single, rtol=1e-4, atol=1e-4)
    # And travelling towards "a dog" changes the animation, most at the last frames.
    change = (out - single).abs().flatten(1).mean(dim=1)
    assert change[-1] > change[0]
