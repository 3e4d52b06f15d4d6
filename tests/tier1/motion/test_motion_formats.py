"""Motion-module files: every key layout is recognised, normalised and loaded; bad files are refused."""
import pathlib

import pytest
import torch

from steadyframe.motion.formats import (
    MotionFormatError,
    build_motion_model,
    load_motion_file,
    normalize_motion_state_dict,
    read_state_dict,
)
from support.motion_files import make_motion_state_dict, write_random_motion_module

SCALE = 0.1  # 32/64/128 channels
EXPECTED = {
    # version: (detected version, family, pe length, has mid, module count)
    "v1": ("v1", "sd15", 24, False, 20),
    "v2": ("v2", "sd15", 32, True, 21),
    "v3": ("v3", "sd15", 32, False, 20),
    "lightning": ("v2", "sd15", 32, True, 21),
    "animatelcm": ("animatelcm", "sd15", 64, True, 21),
    "sdxl": ("sdxl", "sdxl", 32, False, 15),
    "hotshotxl": ("hotshotxl", "sdxl", 24, False, 15),
    "diffusers": ("v2", "sd15", 32, True, 21),
}


@pytest.mark.parametrize("version", sorted(EXPECTED))
def test_every_layout_is_detected_from_the_state_dict(version):
    sd = make_motion_state_dict(version, channels_scale=SCALE)
    normalized, info = normalize_motion_state_dict(sd, source=f"{version}.safetensors")
    want_version, family, pe, mid, count = EXPECTED[version]
    assert (info.version, info.family, info.pe_length, info.has_mid, info.module_count) == (want_version, family, pe, mid, count)
    assert info.max_frames == pe
    assert info.pe_in_file == (version != "animatelcm")
    assert all(".motion_modules." in k and ".temporal_transformer." in k for k in normalized)
    # channels per block follow the UNet: down 32, 64, 128(, 128), up reversed
    down = [block[0] for block in info.layout.down]
    assert down == ([32, 64, 128] if family == "sdxl" else [32, 64, 128, 128])
    assert [block[0] for block in info.layout.up] == down[::-1]
    assert all(len(b) == 2 for b in info.layout.down) and all(len(b) == 3 for b in info.layout.up)
    assert info.layout.mid == (128 if mid else None)


@pytest.mark.parametrize("version", sorted(EXPECTED))
def test_every_layout_builds_a_model_holding_the_file_weights(version):
    normalized, info = normalize_motion_state_dict(make_motion_state_dict(version, channels_scale=SCALE))
    model = build_motion_model(normalized, info)
    state = model.state_dict()
    for key, value in normalized.items():
        assert torch.equal(state[key], value), key
    assert len(model.modules_in_order()) == info.module_count
    x = torch.randn(2 * 4, 32, 3, 3)
    out = model.modules_in_order()[0](x, frames=4)
    assert out.shape == x.shape and torch.isfinite(out).all() and not torch.allclose(out, x)


def test_diffusers_naming_maps_onto_the_original_names():
    original, _ = normalize_motion_state_dict(make_motion_state_dict("v2", channels_scale=SCALE, seed=3))
    converted, info = normalize_motion_state_dict(make_motion_state_dict("diffusers", channels_scale=SCALE, seed=3))
    assert info.source_layout == "diffusers"
    assert converted.keys() == original.keys()
    for key in original:
        assert torch.equal(converted[key], original[key]), key


def test_animatelcm_gets_a_computed_sinusoidal_table_of_64():
    normalized, info = normalize_motion_state_dict(make_motion_state_dict("animatelcm", channels_scale=SCALE))
    model = build_motion_model(normalized, info)
    pe = model.modules_in_order()[0].temporal_transformer.transformer_blocks[0].attention_blocks[0].pos_encoder.pe
    assert pe.shape == (1, 64, 32)
    pos, ch = 5, 6  # even channel: sin(pos / 10000^(ch/C))
    assert pe[0, pos, ch].item() == pytest.approx(torch.sin(torch.tensor(pos / 10000 ** (ch / 32))).item(), abs=1e-6)
    assert pe[0, pos, ch + 1].item() == pytest.approx(torch.cos(torch.tensor(pos / 10000 ** (ch / 32))).item(), abs=1e-6)


@pytest.mark.parametrize("suffix,wrap", [(".safetensors", False), (".ckpt", False), (".ckpt", True), (".pt", False)])
def test_files_round_trip(tmp_path, suffix, wrap):
    path = write_random_motion_module(tmp_path / f"mm{suffix}", version="v3", channels_scale=SCALE, wrap_state_dict=wrap)
    normalized, info = load_motion_file(path)
    assert info.version == "v3"
    direct, _ = normalize_motion_state_dict(make_motion_state_dict("v3", channels_scale=SCALE))
    assert normalized.keys() == direct.keys()
    assert all(torch.equal(normalized[k], direct[k]) for k in direct)


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def test_a_pickle_that_would_run_code_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "code_ran"
    path = tmp_path / "evil_motion.ckpt"
    sd = make_motion_state_dict("v2", channels_scale=SCALE)
    sd["payload"] = _RunsCode(str(marker))
    torch.save(sd, str(path))
    with pytest.raises(MotionFormatError) as err:
        load_motion_file(path)
    assert str(path) in str(err.value) and "refusing" in str(err.value)
    assert not marker.exists()


@pytest.mark.parametrize("kind,expect", [
    ("sd_checkpoint", "Stable Diffusion checkpoint"),
    ("lora", "LoRA for the image model"),
    ("motion_lora", "MotionLoRA"),
    ("random", "no AnimateDiff motion-module keys"),
])
def test_non_motion_files_are_named_and_explained(tmp_path, kind, expect):
    t = torch.zeros(4, 4)
    sd = {
        "sd_checkpoint": {"model.diffusion_model.input_blocks.0.0.weight": t, "first_stage_model.encoder.conv_in.weight": t},
        "lora": {"lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight": t, "lora_unet_x.lora_down.weight": t},
        "motion_lora": {
            "down_blocks.0.motion_modules.0.temporal_transformer.transformer_blocks.0.attention_blocks.0.processor.to_q_lora.down.weight": t},
        "random": {"foo.weight": t},
    }[kind]
    import safetensors.torch

    path = tmp_path / f"{kind}.safetensors"
    safetensors.torch.save_file({k: v.clone() for k, v in sd.items()}, str(path))
    with pytest.raises(MotionFormatError) as err:
        load_motion_file(path)
    assert str(path) in str(err.value) and expect in str(err.value)


@pytest.mark.parametrize("suffix", [".safetensors", ".ckpt"])
def test_truncated_and_empty_files(tmp_path, suffix):
    path = write_random_motion_module(tmp_path / f"mm{suffix}", version="v2", channels_scale=SCALE)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(MotionFormatError) as err:
        read_state_dict(path)
    assert str(path) in str(err.value) and "truncated" in str(err.value)
    path.write_bytes(b"")
    with pytest.raises(MotionFormatError, match="empty"):
        read_state_dict(path)


def test_incomplete_module_names_the_missing_key():
    sd = make_motion_state_dict("v2", channels_scale=SCALE)
    del sd["up_blocks.1.motion_modules.2.temporal_transformer.proj_out.weight"]
    with pytest.raises(MotionFormatError, match=r"up_blocks\.1\.motion_modules\.2 is incomplete, missing proj_out\.weight"):
        normalize_motion_state_dict(sd, source="broken.ckpt")


def test_auto_defaults_per_format():
    cases = {"v1": ("sqrt_linear (AnimateDiff)", True, 16), "v2": ("sqrt_linear (AnimateDiff)", False, 16),
             "v3": ("sqrt_linear (AnimateDiff)", False, 16), "animatelcm": ("lcm (AnimateLCM)", False, 16),
             "sdxl": ("linear (AnimateDiff-SDXL)", False, 16), "hotshotxl": ("linear (HotshotXL/default)", True, 8)}
    for version, (beta, groupnorm, sweet) in cases.items():
        _, info = normalize_motion_state_dict(make_motion_state_dict(version, channels_scale=SCALE))
        assert (info.auto_beta_schedule, info.cross_frame_groupnorm, info.sweet_spot) == (beta, groupnorm, sweet), version


def test_half_precision_files_build_in_the_requested_dtype():
    sd16 = make_motion_state_dict("v3", channels_scale=SCALE, dtype=torch.float16)
    normalized, info = normalize_motion_state_dict(sd16)
    model = build_motion_model(normalized, info, dtype=torch.float32)
    key = "up_blocks.3.motion_modules.2.temporal_transformer.proj_out.weight"
    assert model.state_dict()[key].dtype == torch.float32
    assert torch.equal(model.state_dict()[key], sd16[key].float())


@pytest.mark.parametrize("version", ["v2", "animatelcm"])
def test_consuming_build_empties_the_dict_and_equals_a_copying_build(version):
    normalized, info = normalize_motion_state_dict(make_motion_state_dict(version, channels_scale=SCALE, dtype=torch.float16))
    kept = dict(normalized)
    copied = build_motion_model(normalized, info, dtype=torch.float32)
    assert normalized.keys() == kept.keys()  # a copying build leaves the caller's dict alone...
    key = next(iter(kept))
    copied.state_dict()[key].add_(1.0)
    assert not torch.equal(copied.state_dict()[key], kept[key].float())  # ...and shares no storage with it
    consumed = build_motion_model(normalized, info, dtype=torch.float32, consume=True)
    assert normalized == {}
    for name, tensor in consumed.state_dict().items():
        assert tensor.device.type == "cpu" and tensor.dtype == torch.float32, name
        if name in kept:
            assert torch.equal(tensor, kept[name].float()), name
    x = torch.randn(8, 32, 2, 2)
    module = consumed.get_submodule("down_blocks.0.motion_modules.0")
    assert torch.isfinite(module(x, 4)).all()
