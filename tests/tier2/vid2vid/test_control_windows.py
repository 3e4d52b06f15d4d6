"""Per-window ControlNet hints under core context windows, on the real SD1.5 UNet (tier 2).

24 latent frames (8x8) are sampled with core "Context Windows (Manual)" (windows of 16, overlap
4, static schedule: windows 0-15 and 8-23) through core SamplerCustomAdvanced. An APPLY_MODEL
wrapper records the control residuals each window's UNet call receives; they must equal the
residuals a fresh core ControlNet computes from that window's own hint frames.

Builds a full SD1.5 UNet and ControlNet (~5 GB): run under ``flock /tmp/steadyframe-heavy.lock``.
"""
import pytest
import torch

pytestmark = pytest.mark.tier2

FRAMES = 24
LENGTH = 16
OVERLAP = 4
LATENT_SIZE = 8
CFG = 2.0


@pytest.fixture(scope="module")
def base_model(comfyui_root):
    from support.sd15_factory import make_sd15_model_patcher

    return make_sd15_model_patcher(0)


@pytest.fixture(scope="module")
def controlnet(comfyui_root):
    """A core ControlNet around a random-weight SD1.5 ControlNet (the layout of control_v11p_sd15_*)."""
    import comfy.cldm.cldm
    import comfy.controlnet
    import comfy.ops

    from support.sd15_factory import SD15_UNET_CONFIG, init_random_weights_

    config = dict(SD15_UNET_CONFIG)
    config.pop("out_channels")
    model = comfy.cldm.cldm.ControlNet(hint_channels=3, dtype=torch.float32, device=torch.device("cpu"),
                                       operations=comfy.ops.disable_weight_init, **config)
    init_random_weights_(model, 1234)
    assert "zero_convs.0.0.weight" in model.state_dict() and "input_hint_block.0.weight" in model.state_dict()
    return comfy.controlnet.ControlNet(model, load_device=torch.device("cpu"))


@pytest.fixture(scope="module")
def t2i_adapter(comfyui_root):
    """A core T2IAdapter around a random-weight SD1.5 full adapter (the layout of t2iadapter_*_sd15v2)."""
    import comfy.controlnet
    import comfy.t2i_adapter.adapter

    from support.sd15_factory import init_random_weights_

    adapter = comfy.t2i_adapter.adapter.Adapter(cin=3 * 64, channels=[320, 640, 1280, 1280], nums_rb=2, ksize=1,
                                                sk=True, use_conv=False, xl=False)
    init_random_weights_(adapter, 99)
    return comfy.controlnet.T2IAdapter(adapter, adapter.input_channels, 8, "nearest-exact", device=torch.device("cpu"))


def hint_frames(frames, seed):
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(frames, LATENT_SIZE * 8, LATENT_SIZE * 8, 3, generator=generator)


def conditioning():
    generator = torch.Generator().manual_seed(5)
    positive = [[torch.randn(1, 77, 768, generator=generator), {}]]
    negative = [[torch.randn(1, 77, 768, generator=generator), {}]]
    return positive, negative


def apply_controls(positive, negative, controls):
    """Core ControlNetApplyAdvanced, once per (control, hint, strength), chaining like a graph does."""
    import nodes as comfy_nodes

    for control, hint, strength in controls:
        positive, negative = comfy_nodes.ControlNetApplyAdvanced().apply_controlnet(
            positive, negative, control, hint, strength, 0.0, 1.0)
    return positive, negative


def windowed_model(base_model, per_window: bool, order: str = "windows_first"):
    from comfy_extras.nodes_context_windows import ContextWindowsManualNode

    from steadyframe.nodes.vid2vid_nodes import SteadyFramePerWindowControl

    model = base_model
    if per_window and order == "per_window_first":
        (model,) = SteadyFramePerWindowControl.execute(model).result
    model = ContextWindowsManualNode.execute(model, LENGTH, OVERLAP, "standard_static", 1, False, "pyramid", 0, False).result[0]
    if per_window and order == "windows_first":
        (model,) = SteadyFramePerWindowControl.execute(model).result
    return model


def sample_and_record(model, positive, negative, steps=1, controls_seen=None):
    """Run core SamplerCustomAdvanced with our NOISE; return one record per UNet call.

    ``controls_seen``: optional list that receives, per calc_cond_batch call, the control objects
    the positive conds carry after the per-window wrapper (an inner CALC_COND_BATCH wrapper).
    """
    import comfy.patcher_extension
    import comfy.samplers
    from comfy_extras.nodes_custom_sampler import SamplerCustomAdvanced

    from steadyframe.nodes.vid2vid_nodes import SteadyFrameNoise

    records = []

    def record(executor, x, t, c_concat, c_crossattn, control, transformer_options, **kwargs):
        window = transformer_options.get("context_window")
        records.append({
            "index_list": list(window.index_list) if window is not None else None,
            "x": x.clone(), "t": t.clone(), "c_crossattn": c_crossattn.clone(),
            "batched_number": len(transformer_options["cond_or_uncond"]),
            "control": None if control is None else {
                k: [None if v is None else v.clone() for v in values] for k, values in control.items()},
        })
        return executor(x, t, c_concat, c_crossattn, control, transformer_options, **kwargs)

    def see_controls(executor, model_, conds, x_in, timestep, model_options):
        if controls_seen is not None:
            controls_seen.append([cond.get("control") for cond in conds[0]])
        return executor(model_, conds, x_in, timestep, model_options)

    model = model.clone()
    model.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.APPLY_MODEL, "test_record", record)
    model.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.CALC_COND_BATCH, "test_see_controls", see_controls)
    guider = comfy.samplers.CFGGuider(model)
    guider.set_conds(positive, negative)
    guider.set_cfg(CFG)
    sampler = comfy.samplers.sampler_object("euler")
    sigmas = comfy.samplers.calculate_sigmas(model.get_model_object("model_sampling"), "normal", steps)
    (noise,) = SteadyFrameNoise.execute(7, "per-frame", 0.5, LENGTH, OVERLAP, 8).result
    latent = {"samples": torch.zeros(FRAMES, 4, LATENT_SIZE, LATENT_SIZE)}
    out = SamplerCustomAdvanced.execute(noise, guider, sampler, sigmas, latent).result[0]
    assert torch.isfinite(out["samples"]).all()
    return records


def reference_control(model, controls, record):
    """Residuals a fresh core control chain computes from the window's own hint frames."""
    index = record["index_list"]
    previous = None
    for control, hint, strength in controls:
        window_hint = hint if hint.shape[0] == 1 else hint[index]
        fresh = control.copy().set_cond_hint(window_hint.movedim(-1, 1), strength, (0.0, 1.0))
        fresh.set_previous_controlnet(previous)
        previous = fresh
    model_sampling = model.get_model_object("model_sampling")
    previous.pre_run(model.model, lambda percent: model_sampling.percent_to_sigma(percent))
    try:
        return previous.get_control(record["x"], record["t"], {"c_crossattn": record["c_crossattn"]},
                                    record["batched_number"], {})
    finally:
        previous.cleanup()


def assert_same_residuals(got, expected, what):
    assert got is not None, f"{what}: the UNet received no control"
    for key in ("input", "middle", "output"):
        assert len(got[key]) == len(expected[key]), f"{what} {key}"
        for i, (a, b) in enumerate(zip(got[key], expected[key])):
            assert (a is None) == (b is None), f"{what} {key}[{i}]"
            if a is not None:
                assert a.shape == b.shape, f"{what} {key}[{i}]"
                assert torch.allclose(a, b, atol=1e-5, rtol=0), f"{what} {key}[{i}]: max diff {(a - b).abs().max()}"


def differs(a, b):
    return any(x is not None and not torch.allclose(x, y, atol=1e-5, rtol=0) for x, y in zip(a["output"], b["output"]))


def test_each_window_gets_its_own_hint_frames(base_model, controlnet):
    hint = hint_frames(FRAMES, 1)
    controls = [(controlnet, hint, 0.9)]
    positive, negative = apply_controls(*conditioning(), controls)
    model = windowed_model(base_model, per_window=True)

    records = sample_and_record(model, positive, negative)

    windows = [r["index_list"] for r in records]
    assert windows == [list(range(0, 16)), list(range(8, 24))], windows
    for record in records:
        assert record["batched_number"] == 2, "cond and uncond still share one batch"
        assert record["x"].shape[0] == 2 * LENGTH
        expected = reference_control(base_model, controls, record)
        assert_same_residuals(record["control"], expected, f"window {record['index_list'][0]}-{record['index_list'][-1]}")
    # the test can fail: the second window's residuals from the first window's frames differ
    second = records[1]
    first_frames = reference_control(base_model, controls, dict(second, index_list=list(range(0, 16))))
    assert differs(second["control"], first_frames)


def test_core_alone_gives_every_window_the_first_frames(base_model, controlnet):
    """What this issue fixes: without the per-window wrapper, window 8-23 sees hint frames 0-15."""
    hint = hint_frames(FRAMES, 1)
    controls = [(controlnet, hint, 0.9)]
    positive, negative = apply_controls(*conditioning(), controls)

    records = sample_and_record(windowed_model(base_model, per_window=False), positive, negative)

    second = records[1]
    assert second["index_list"] == list(range(8, 24))
    own = reference_control(base_model, controls, second)
    assert differs(second["control"], own)
    first_frames = dict(second, index_list=list(range(0, 16)))
    assert_same_residuals(second["control"], reference_control(base_model, controls, first_frames), "core window 8-23")


def test_chained_controlnet_and_t2i_adapter_per_window(base_model, controlnet, t2i_adapter):
    """A per-frame ControlNet chained with a per-frame T2I-adapter and a single-frame ControlNet.

    The per-window node is placed before Context Windows (Manual) here; the order must not matter.
    """
    controls = [
        (controlnet, hint_frames(FRAMES, 2), 0.7),
        (t2i_adapter, hint_frames(FRAMES, 3), 1.2),
        (controlnet, hint_frames(1, 4), 0.5),
    ]
    positive, negative = apply_controls(*conditioning(), controls)
    model = windowed_model(base_model, per_window=True, order="per_window_first")

    records = sample_and_record(model, positive, negative)

    assert [r["index_list"][0] for r in records] == [0, 8]
    for record in records:
        expected = reference_control(base_model, controls, record)
        assert_same_residuals(record["control"], expected, f"chained window {record['index_list'][0]}")
    # the original control objects were not altered: still the full hints, no window state
    top = positive[0][1]["control"]
    assert top.cond_hint_original.shape[0] == 1
    assert top.previous_controlnet.cond_hint_original.shape[0] == FRAMES
    assert top.previous_controlnet.previous_controlnet.cond_hint_original.shape[0] == FRAMES


def test_window_copies_are_reused_across_steps(base_model, controlnet):
    """Static windows come back every step: their upscaled hints are computed once."""
    hint = hint_frames(FRAMES, 6)
    controls = [(controlnet, hint, 1.0)]
    positive, negative = apply_controls(*conditioning(), controls)
    model = windowed_model(base_model, per_window=True)

    seen = []
    records = sample_and_record(model, positive, negative, steps=2, controls_seen=seen)

    assert [r["index_list"][0] for r in records] == [0, 8, 0, 8]
    original = positive[0][1]["control"]
    (first_a,), (first_b,), (second_a,), (second_b,) = seen
    assert first_a is not original and first_b is not original and first_a is not first_b
    assert second_a is first_a and second_b is first_b, "step 2 reuses the window copies of step 1"
    assert first_a.cond_hint is not None and first_a.cond_hint_original.shape[0] == LENGTH
    for record in records:
        assert_same_residuals(record["control"], reference_control(base_model, controls, record),
                              f"step window {record['index_list'][0]}")


def test_hint_with_wrong_frame_count_is_a_clear_error(base_model, controlnet):
    controls = [(controlnet, hint_frames(5, 7), 1.0)]
    positive, negative = apply_controls(*conditioning(), controls)
    model = windowed_model(base_model, per_window=True)
    with pytest.raises(ValueError, match=r"ControlNet hint has 5 frames but the latent batch has 24 frames.*exactly 1 frame"):
        sample_and_record(model, positive, negative)


def test_enable_is_idempotent_and_survives_clone(base_model):
    import comfy.patcher_extension

    from steadyframe.comfy_glue.control_windows import WRAPPER_KEY, enable_per_window_control

    def has_per_window_control(patcher):
        return bool(patcher.wrappers.get(comfy.patcher_extension.WrappersMP.CALC_COND_BATCH, {}).get(WRAPPER_KEY))

    model = base_model.clone()
    assert not has_per_window_control(model)
    enable_per_window_control(enable_per_window_control(model))
    wrappers = model.wrappers[comfy.patcher_extension.WrappersMP.CALC_COND_BATCH][WRAPPER_KEY]
    assert len(wrappers) == 1
    assert has_per_window_control(model.clone())
    assert not has_per_window_control(base_model), "the source model is left alone"
