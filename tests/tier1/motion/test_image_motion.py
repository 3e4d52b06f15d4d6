"""AnimateLCM-I2V and PIA files: key layouts (.safetensors and .ckpt through weights_only), the
reference-image encoder, PIA's affinity schedule and extra conv_in channels, clear errors."""
import math
import pickle

import pytest
import torch
import torch.nn.functional as F

from steadyframe.motion.formats import MotionFormatError
from steadyframe.motion.image_encoder import RefImageEncoder, blend_input_feature, feature_module_keys
from steadyframe.motion.image_motion_files import ANIMATELCM_I2V, PIA, image_motion_kind, load_image_motion_file
from steadyframe.motion.image_motion_files import normalize_image_motion_state_dict as normalize_image
from steadyframe.motion.pia import AffinityPreset, affinity_channel, affinity_schedule, extra_conv_in, split_conv_in
from support.image_motion_files import make_image_motion_state_dict, write_image_motion_file
from support.motion_files import make_motion_state_dict, write_random_motion_module

SCALE = 0.1  # widths 32/64/128/128


# ------------------------------------------------------------------------------------------------
# file layouts

@pytest.mark.parametrize("suffix,wrapped", [(".safetensors", False), (".ckpt", False), (".ckpt", True)])
def test_animatelcm_i2v_file_loads_with_its_encoder(tmp_path, suffix, wrapped):
    path = write_image_motion_file(tmp_path / f"AnimateLCM-I2V{suffix}", ANIMATELCM_I2V, SCALE, wrap_state_dict=wrapped)
    loaded = load_image_motion_file(path, ANIMATELCM_I2V)
    assert loaded.kind == ANIMATELCM_I2V
    assert loaded.info.version == "animatelcm" and loaded.info.has_mid and loaded.info.pe_length == 64
    assert loaded.encoder_channels == (32, 64, 128, 128)
    assert not any(k.startswith("img_encoder") for k in loaded.motion)
    raw = make_image_motion_state_dict(ANIMATELCM_I2V, SCALE)
    assert torch.equal(loaded.encoder["body.2.in_conv.weight"], raw["img_encoder.body.2.in_conv.weight"])
    assert "body.6.in_conv.weight" not in loaded.encoder  # 128 -> 128: no width change, no in_conv
    encoder = RefImageEncoder(loaded.encoder_channels)
    encoder.load_state_dict(loaded.encoder, strict=True)


@pytest.mark.parametrize("suffix,wrapped", [(".safetensors", False), (".ckpt", False), (".ckpt", True)])
def test_pia_file_loads_with_its_extra_conv_in_channels(tmp_path, suffix, wrapped):
    path = write_image_motion_file(tmp_path / f"pia{suffix}", PIA, SCALE, wrap_state_dict=wrapped)
    loaded = load_image_motion_file(path, PIA)
    assert loaded.kind == PIA
    assert loaded.info.version == "v3" and not loaded.info.has_mid and loaded.info.pe_length == 32
    raw = make_image_motion_state_dict(PIA, SCALE)
    assert torch.equal(loaded.pia_extra_weight, raw["conv_in.weight"][:, 4:])
    assert not any(k.startswith("conv_in") for k in loaded.motion)


def test_prefixed_keys_are_recognised():
    raw = {f"module.{k}": v for k, v in make_image_motion_state_dict(PIA, SCALE).items()}
    assert image_motion_kind(raw) == PIA
    assert normalize_image(raw, PIA, "wrapped.ckpt").pia_extra_weight.shape == (32, 5, 3, 3)


@pytest.mark.parametrize("kind,hint", [(ANIMATELCM_I2V, "Load AnimateLCM-I2V"), (PIA, "Load PIA")])
def test_the_plain_loader_takes_the_motion_modules_and_points_to_the_image_node(kind, hint):
    from steadyframe.motion.formats import normalize_motion_state_dict

    normalized, info = normalize_motion_state_dict(make_image_motion_state_dict(kind, SCALE), "file")
    assert not any(k.startswith(("img_encoder", "conv_in")) for k in normalized)
    assert info.version == ("animatelcm" if kind == ANIMATELCM_I2V else "v3")
    assert any(hint in note for note in info.notes)
    _, plain = normalize_motion_state_dict(make_motion_state_dict("v3", channels_scale=SCALE), "file")
    assert not any("Load PIA" in note or "I2V" in note for note in plain.notes)


def test_plain_motion_modules_are_neither_kind():
    assert image_motion_kind(make_motion_state_dict("v2", channels_scale=SCALE)) is None
    assert image_motion_kind(make_motion_state_dict("animatelcm", channels_scale=SCALE)) is None


def test_a_pickle_that_runs_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "pia.ckpt"
    with open(path, "wb") as handle:
        pickle.dump({"conv_in.weight": Evil()}, handle)
    with pytest.raises(MotionFormatError, match="refusing to load .*pia.ckpt"):
        load_image_motion_file(path, PIA)


@pytest.mark.parametrize("kind,other,message", [
    (ANIMATELCM_I2V, "v2", r"is AnimateDiff v2 .*not AnimateLCM-I2V: it has no img_encoder"),
    (PIA, "animatelcm", r"is AnimateDiff animatelcm .*not PIA: it has no conv_in.weight and conv_in.bias"),
])
def test_a_plain_motion_module_is_named_in_the_error(tmp_path, kind, other, message):
    path = write_random_motion_module(tmp_path / "plain.safetensors", other, channels_scale=SCALE)
    with pytest.raises(MotionFormatError, match=message) as error:
        load_image_motion_file(path, kind)
    assert "plain.safetensors" in str(error.value) and "Load Motion Module" in str(error.value)


def test_the_other_image_kind_is_named_in_the_error():
    with pytest.raises(MotionFormatError, match=r"pia.ckpt is a PIA file .*not AnimateLCM-I2V"):
        normalize_image(make_image_motion_state_dict(PIA, SCALE), ANIMATELCM_I2V, "pia.ckpt")
    with pytest.raises(MotionFormatError, match=r"is an AnimateLCM-I2V file .*not PIA"):
        normalize_image(make_image_motion_state_dict(ANIMATELCM_I2V, SCALE), PIA, "i2v.ckpt")


def test_missing_encoder_key_and_wrong_shape_are_named():
    sd = make_image_motion_state_dict(ANIMATELCM_I2V, SCALE)
    del sd["img_encoder.body.5.block2.bias"]
    with pytest.raises(MotionFormatError, match=r"i2v.ckpt: the image encoder .*missing \['img_encoder.body.5.block2.bias'\]"):
        normalize_image(sd, ANIMATELCM_I2V, "i2v.ckpt")
    sd = make_image_motion_state_dict(ANIMATELCM_I2V, SCALE)
    sd["img_encoder.conv_in.weight"] = torch.zeros(32, 4, 1, 1)
    with pytest.raises(MotionFormatError, match=r"img_encoder.conv_in.weight has shape \(32, 4, 1, 1\), expected \(32, 4, 3, 3\)"):
        normalize_image(sd, ANIMATELCM_I2V, "i2v.ckpt")


def test_an_encoder_on_modules_with_positional_encodings_is_refused():
    sd = make_motion_state_dict("v2", channels_scale=SCALE)
    sd.update({k: v for k, v in make_image_motion_state_dict(ANIMATELCM_I2V, SCALE).items() if k.startswith("img_encoder.")})
    with pytest.raises(MotionFormatError, match="img_encoder.* keys but its motion modules are AnimateDiff v2"):
        normalize_image(sd, ANIMATELCM_I2V, "odd.ckpt")


def test_pia_conv_in_with_the_wrong_channel_count_is_refused():
    sd = make_image_motion_state_dict(PIA, SCALE)
    sd["conv_in.weight"] = sd["conv_in.weight"][:, :8]
    with pytest.raises(MotionFormatError, match=r"conv_in.weight has shape \(32, 8, 3, 3\), expected \(320, 9, 3, 3\)"):
        normalize_image(sd, PIA, "pia.ckpt")
    sd = make_image_motion_state_dict(PIA, SCALE)
    sd["conv_in.weight"] = torch.zeros(64, 9, 3, 3)
    with pytest.raises(MotionFormatError, match="conv_in has 64 output channels"):
        normalize_image(sd, PIA, "pia.ckpt")


# ------------------------------------------------------------------------------------------------
# the reference-image encoder

def _reference_features(sd, latent, frames, drift, channels):
    """The published encoder, written with functional ops on the file's state dict."""
    def conv(x, name, padding):
        return F.conv2d(x, sd[f"img_encoder.{name}.weight"], sd[f"img_encoder.{name}.bias"], 1, padding)

    x = conv(latent, "conv_in", 1)
    c0 = channels[0]
    pos = torch.zeros(frames, c0)
    position = torch.arange(frames, dtype=torch.float32)[:, None]
    div = torch.exp(torch.arange(0, c0, 2).float() * (-math.log(10000.0) / c0))
    pos[:, 0::2], pos[:, 1::2] = torch.sin(position * div), torch.cos(position * div)
    x = x + pos[:, :, None, None] * drift
    out = []
    for n in range(8):
        if n in (2, 4, 6):
            x = F.avg_pool2d(F.pad(x, (0, x.shape[-1] % 2, 0, x.shape[-2] % 2), mode="replicate"), 2)
        if f"img_encoder.body.{n}.in_conv.weight" in sd:
            x = conv(x, f"body.{n}.in_conv", 0)
        x = conv(F.relu(conv(x, f"body.{n}.block1", 1)), f"body.{n}.block2", 0) + x
        if n % 2:
            out.append(x)
    return out


@pytest.mark.parametrize("drift", [0.0, 0.7])
def test_encoder_equals_the_published_definition_on_odd_sizes(drift):
    sd = make_image_motion_state_dict(ANIMATELCM_I2V, SCALE, seed=3)
    loaded = normalize_image(sd, ANIMATELCM_I2V, "i2v")
    encoder = RefImageEncoder(loaded.encoder_channels)
    encoder.load_state_dict(loaded.encoder)
    latent = torch.randn(1, 4, 9, 7, generator=torch.Generator().manual_seed(0))
    ours = encoder(latent, 5, drift)
    theirs = _reference_features(sd, latent, 5, drift, loaded.encoder_channels)
    assert [tuple(f.shape) for f in ours] == [(5, 32, 9, 7), (5, 64, 5, 4), (5, 128, 3, 2), (5, 128, 2, 1)]
    for a, b in zip(ours, theirs):
        assert torch.allclose(a, b, atol=1e-5, rtol=1e-4)
    frames_differ = not torch.allclose(ours[0][0], ours[0][4])
    assert frames_differ == (drift > 0)  # no drift: every frame gets the start image's features


def test_features_go_to_the_second_module_of_each_down_block():
    assert feature_module_keys(4) == [f"down_blocks.{i}.motion_modules.1" for i in range(4)]


def test_encoder_rejects_a_non_latent():
    encoder = RefImageEncoder((32, 64, 128, 128))
    with pytest.raises(ValueError, match=r"expected a \(frames, 4, h, w\) latent, got \(1, 3, 8, 8\)"):
        encoder(torch.zeros(1, 3, 8, 8), 4)


def test_blend_input_feature_leaves_the_features_out_where_effect_is_below_one():
    x, feature, delta = (torch.randn(8, 3, 2, 2, generator=torch.Generator().manual_seed(i)) for i in range(3))
    for effect in (1.0, 0.3, 0.0):
        module_out = x + feature + effect * delta  # what a motion module gives on x + feature
        expected = (1 - effect) * x + effect * (x + feature + delta)
        assert torch.allclose(blend_input_feature(module_out, feature, effect, 4), expected, atol=1e-6)
    per_frame = [1.0, 0.5, 0.0, 0.25]
    e = torch.tensor(per_frame).repeat(2)[:, None, None, None]
    module_out = x + feature + e * delta
    assert torch.allclose(blend_input_feature(module_out, feature, per_frame, 4), (1 - e) * x + e * (x + feature + delta), atol=1e-6)


# ------------------------------------------------------------------------------------------------
# PIA affinity and conv_in

def test_constant_affinity_and_multipliers():
    assert affinity_schedule(3) == [1.0, 1.0, 1.0]
    assert affinity_schedule(3, AffinityPreset.CONSTANT, 0, 0.4) == [0.4, 0.4, 0.4]
    assert affinity_schedule(4, AffinityPreset.CONSTANT, 0, [0.5, 1.0]) == [0.5, 1.0, 1.0, 1.0]


def test_animation_preset_moves_outward_from_the_start_frame():
    medium = AffinityPreset.ANIMATION_MEDIUM
    assert affinity_schedule(4, medium) == [1.0, 0.8, 0.8, 0.8]
    assert affinity_schedule(4, medium, -1) == [0.8, 0.8, 0.8, 1.0]
    assert affinity_schedule(5, medium, 2) == [0.8, 0.8, 1.0, 0.8, 0.8]
    # longer than the list: the last value repeats
    assert affinity_schedule(10, AffinityPreset.STYLE_TRANSFER_LARGE) == [0.5] + [0.2] * 9
    # the start frame is clamped into the clip
    assert affinity_schedule(3, medium, 99) == affinity_schedule(3, medium, 2)
    assert affinity_schedule(3, medium, 0, 0.5) == [0.5, 0.4, 0.4]


def test_loop_presets_go_and_come_back():
    large = AffinityPreset.LOOP_LARGE
    assert affinity_schedule(8, large) == [1.0, 0.8, 0.7, 0.7, 0.7, 0.7, 0.8, 1.0]
    assert affinity_schedule(7, large) == [1.0, 0.8, 0.7, 0.7, 0.7, 0.8, 1.0]
    assert affinity_schedule(1, large) == [1.0]


def test_affinity_errors_are_clear():
    with pytest.raises(ValueError, match="at least 1 frame"):
        affinity_schedule(0)
    with pytest.raises(ValueError, match="preset 'Wobble' is not one of: constant"):
        affinity_schedule(4, "Wobble")
    with pytest.raises(ValueError, match="empty per-frame list"):
        affinity_schedule(4, AffinityPreset.CONSTANT, 0, [])


def test_affinity_channel_picks_the_window_frames():
    values = [1.0, 0.8, 0.6, 0.4]
    channel = affinity_channel(values, [2, 3], 2, 3)
    assert channel.shape == (2, 1, 2, 3)
    assert torch.equal(channel[:, 0, 0, 0], torch.tensor([0.6, 0.4]))
    assert torch.equal(affinity_channel(values, None, 1, 1).flatten(), torch.tensor(values))


def test_extra_channels_add_up_to_the_nine_channel_convolution():
    gen = torch.Generator().manual_seed(4)
    weight, bias = torch.randn(32, 9, 3, 3, generator=gen), torch.randn(32, generator=gen)
    x = torch.randn(2, 9, 6, 5, generator=gen)
    full = F.conv2d(x, weight, bias, 1, 1)
    extra = split_conv_in(weight)
    assert extra.shape == (32, 5, 3, 3)
    split = F.conv2d(x[:, :4], weight[:, :4], bias, 1, 1) + extra_conv_in(x[:, 4:], extra)
    assert torch.allclose(split, full, atol=1e-5)
