"""MotionLoRA: key namings, fitting to a module, factorized forward == merged weights, schedules."""
import pytest
import torch

from steadyframe.motion.formats import build_motion_model, normalize_motion_state_dict
from steadyframe.motion.lora import (
    LoRAStackEntry,
    MotionLoRAError,
    StrengthSchedule,
    fit_to_module,
    load_motion_lora,
    merge_into_state_dict,
    parse_motion_lora,
    parse_strength_schedule,
    projection_shapes,
    sampling_progress,
    stack_factors,
)
from steadyframe.schedule import ScheduleError
from support.motion_files import make_motion_state_dict
from support.motion_lora_files import make_motion_lora_state_dict

SCALE = 0.1  # 32/64/128-channel modules keep tier 1 fast


def tiny_module(version="v2", seed=0):
    normalized, info = normalize_motion_state_dict(make_motion_state_dict(version, channels_scale=SCALE, seed=seed))
    return normalized, info, build_motion_model(normalized, info, dtype=torch.float32).eval()


@pytest.mark.parametrize("naming", ["official", "diffusers", "peft"])
def test_every_naming_maps_to_the_same_projections(naming):
    reference = parse_motion_lora(make_motion_lora_state_dict(naming="official", channels_scale=SCALE))
    lora = parse_motion_lora(make_motion_lora_state_dict(naming=naming, channels_scale=SCALE))
    assert set(lora.factors) == set(reference.factors)
    assert len(lora.factors) == 21 * 2 * 4  # v2: 21 modules, 2 attentions, q/k/v/out
    for target, (down, up, scale) in reference.factors.items():
        assert torch.equal(lora.factors[target][0], down) and torch.equal(lora.factors[target][1], up)
        assert scale == 1.0 == lora.factors[target][2]  # no alpha key: the original merge W + up @ down
    assert any(t.endswith("attention_blocks.1.to_out.0") for t in lora.factors)


def test_alpha_key_scales_by_alpha_over_rank():
    sd = make_motion_lora_state_dict(rank=4, channels_scale=SCALE)
    key = next(k for k in sd if k.endswith("to_q_lora.down.weight"))
    sd[key.replace(".down.weight", ".alpha")] = torch.tensor(2.0)
    lora = parse_motion_lora(sd)
    target = key.split(".processor.")[0] + ".to_q"
    assert lora.factors[target][2] == pytest.approx(0.5)


def test_image_lora_is_refused_with_a_pointer_to_the_core_loader():
    adapter = {"down_blocks.0.attentions.0.transformer_blocks.0.attn1.processor.to_q_lora.down.weight": torch.zeros(4, 8),
               "down_blocks.0.attentions.0.transformer_blocks.0.attn1.processor.to_q_lora.up.weight": torch.zeros(8, 4)}
    with pytest.raises(MotionLoRAError, match=r"v3_adapter.*not a MotionLoRA.*core Load LoRA"):
        parse_motion_lora(adapter, name="v3_adapter.ckpt")


def test_half_a_factor_pair_is_an_error():
    sd = make_motion_lora_state_dict(channels_scale=SCALE)
    key = next(k for k in sd if k.endswith("to_k_lora.up.weight"))
    del sd[key]
    with pytest.raises(MotionLoRAError, match="no 'up' factor"):
        parse_motion_lora(sd, name="broken.safetensors")


def test_mid_block_keys_are_skipped_with_a_note_on_a_v3_module():
    _, _, v3 = tiny_module("v3")
    fitted = fit_to_module(parse_motion_lora(make_motion_lora_state_dict(channels_scale=SCALE)), projection_shapes(v3))
    assert not any(t.startswith("mid_block") for t in fitted.factors)
    assert len(fitted.factors) == 20 * 8
    assert any("mid_block" in note for note in fitted.notes)


def test_lora_for_another_module_size_is_an_error():
    _, _, module = tiny_module("v2")
    lora = parse_motion_lora(make_motion_lora_state_dict(channels_scale=0.2))
    with pytest.raises(MotionLoRAError, match="another motion module size"):
        fit_to_module(lora, projection_shapes(module))


def test_truncated_lora_file_names_the_file(tmp_path):
    path = tmp_path / "camera_pan.safetensors"
    path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":")
    with pytest.raises(MotionLoRAError, match="MotionLoRA file.*camera_pan|camera_pan.*truncated"):
        load_motion_lora(path)


def test_ckpt_file_loads_with_weights_only(tmp_path):
    sd = make_motion_lora_state_dict(channels_scale=SCALE)
    path = tmp_path / "mm_lora_zoom_in.ckpt"
    torch.save(sd, path)
    assert len(load_motion_lora(path).factors) == 168


@pytest.mark.parametrize("strength", [1.0, -0.7, 2.5])
def test_factorized_forward_equals_merged_weights(strength):
    normalized, info, module = tiny_module("v2")
    lora = fit_to_module(parse_motion_lora(make_motion_lora_state_dict(channels_scale=SCALE, std=0.1)),
                         projection_shapes(module))
    merged = build_motion_model(merge_into_state_dict(normalized, lora, strength), info, dtype=torch.float32).eval()
    factors = stack_factors([LoRAStackEntry(lora, StrengthSchedule.constant(strength))], progress=0.3)
    x = torch.randn(2 * 8, 64, 4, 4, generator=torch.Generator().manual_seed(1))
    for key in ("down_blocks.1.motion_modules.0", "mid_block.motion_modules.0"):
        layer, reference = module.get_submodule(key), merged.get_submodule(key)
        channels = layer.channels
        feats = x[:, :channels] if channels <= 64 else torch.randn(16, channels, 4, 4)
        with torch.no_grad():
            ours = layer(feats, 8, lora=factors)
            expected = reference(feats, 8)
            plain = layer(feats, 8)
        assert torch.linalg.norm(ours - expected) / torch.linalg.norm(expected) < 1e-5
        assert torch.linalg.norm(ours - plain) / torch.linalg.norm(plain) > 1e-4  # the LoRA did something


def test_stacked_loras_add_up_and_strength_zero_is_exactly_no_lora():
    normalized, info, module = tiny_module("v2")
    shapes = projection_shapes(module)
    a = fit_to_module(parse_motion_lora(make_motion_lora_state_dict(channels_scale=SCALE, seed=1, std=0.1)), shapes)
    b = fit_to_module(parse_motion_lora(make_motion_lora_state_dict(channels_scale=SCALE, seed=2, std=0.1)), shapes)
    both = merge_into_state_dict(merge_into_state_dict(normalized, a, 0.5), b, 1.5)
    reference = build_motion_model(both, info, dtype=torch.float32).eval().get_submodule("up_blocks.3.motion_modules.2")
    layer = module.get_submodule("up_blocks.3.motion_modules.2")
    stack = [LoRAStackEntry(a, StrengthSchedule.constant(0.5)), LoRAStackEntry(b, StrengthSchedule.constant(1.5))]
    x = torch.randn(8, layer.channels, 2, 2)
    with torch.no_grad():
        ours = layer(x, 8, lora=stack_factors(stack, 0.0))
        assert torch.linalg.norm(ours - reference(x, 8)) / torch.linalg.norm(ours) < 1e-5
        off = stack_factors([LoRAStackEntry(a, StrengthSchedule.constant(0.0))], 0.0)
        assert off == {}
        assert torch.equal(layer(x, 8, lora=off), layer(x, 8))


def test_strength_schedule_fades_over_progress():
    schedule = parse_strength_schedule("0:(1.0), 0.5:(0.2)")
    assert schedule.points == ((0.0, 1.0), (0.5, 0.2))
    assert schedule.at(0.0) == 1.0
    assert schedule.at(0.25) == pytest.approx(0.6)
    assert schedule.at(0.5) == pytest.approx(0.2)
    assert schedule.at(0.9) == pytest.approx(0.2)
    assert schedule.scaled(2.0).at(0.25) == pytest.approx(1.2)


@pytest.mark.parametrize("text", [
    "0:(1.0), 0.5:(0.2)", "0: 1.0\n0.5: 0.2", '"0": "1", ".5": "0.2"', "  0:(1.0),0.5:(1/5),", "0:((1.0)), 5e-1:(0.4-0.2)",
])
def test_strength_schedule_takes_the_value_schedule_forms(text):
    points = parse_strength_schedule(text).points
    assert [p for p, _ in points] == [0.0, 0.5]
    assert [s for _, s in points] == pytest.approx([1.0, 0.2])


@pytest.mark.parametrize("text, line, column, what", [
    ("0:(1.0), x:(2)", 1, 10, "expected a sampling progress from 0 to 1"),
    ("0:(1.0), 50%:(2)", 1, 10, "expected a sampling progress from 0 to 1"),
    ("0:(1.0), 1.5:(2)", 1, 10, "outside 0..1"),
    ("0:(1.0),\n -0.5:(2)", 2, 2, "outside 0..1"),
    ("0:(abc)", 1, 4, "expected a number for the strength; in `abc`: unknown name 'abc'"),
    ("0:(t)", 1, 4, "expected a number for the strength; in `t`: unknown name 't'"),
    ("0:(1/0)", 1, 4, "division by zero"),
    ("0.5:(1), 0.2:(0)", 1, 10, "must be after 0.5"),
    ("0.5:(1), 0.5:(0)", 1, 10, "must be after 0.5"),
    ("0:(1.0) 0.5:(2)", 1, 12, 'found ":" inside a value'),
    ("0:(1.0), 0.5", 1, 13, 'expected "progress: (strength)", found'),
    ("0:", 1, 3, "expected a value after the colon"),
    ("   ", 1, 1, "the schedule is empty"),
])
def test_strength_schedule_errors_name_line_and_column(text, line, column, what):
    with pytest.raises(ScheduleError) as info:
        parse_strength_schedule(text)
    error = info.value
    assert isinstance(error, ValueError)  # what the Apply MotionLoRA node shows
    assert (error.line, error.column) == (line, column), str(error)
    assert str(error).startswith(f"strength_schedule, line {line}, col {column}: ")
    assert what in str(error)


def test_sampling_progress_maps_steps_to_0_1():
    sigmas = [14.6, 7.0, 3.0, 1.0, 0.0]  # 4 steps
    assert [sampling_progress(s, sigmas) for s in sigmas[:-1]] == pytest.approx([0.0, 1 / 3, 2 / 3, 1.0])


def test_missing_and_empty_lora_files_are_named_as_motion_loras(tmp_path):
    with pytest.raises(MotionLoRAError, match="MotionLoRA file .*zoom.safetensors does not exist"):
        load_motion_lora(tmp_path / "zoom.safetensors")
    empty = tmp_path / "empty.ckpt"
    empty.write_bytes(b"")
    with pytest.raises(MotionLoRAError, match="MotionLoRA file .*empty.ckpt is empty"):
        load_motion_lora(empty)
