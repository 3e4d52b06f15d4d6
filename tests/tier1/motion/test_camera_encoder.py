"""CameraCtrl adapter files: key layouts, the pose encoder against an independent reference, injection."""
import math
import pickle

import pytest
import torch
import torch.nn.functional as F

from steadyframe.motion.camera_encoder import (
    CameraCtrlFormatError,
    apply_camera_merge,
    encoder_windows,
    features_for_module,
    load_cameractrl_file,
    pyramid_weights,
    split_cameractrl_state_dict,
)
from steadyframe.motion.camera_poses import plucker_embedding, preset_poses
from steadyframe.motion.formats import build_motion_model, normalize_motion_state_dict
from support.cameractrl_files import make_cameractrl_state_dict, write_random_cameractrl
from support.motion_files import make_motion_state_dict

SCALE = 0.1  # 32/64/128/128 channels


@pytest.fixture(scope="module")
def small_sd():
    return make_cameractrl_state_dict(channels_scale=SCALE, seed=3)


# ------------------------------------------------------------------------------------------------ files

@pytest.mark.parametrize("name,layout", [("cc.safetensors", "flat"), ("cc.ckpt", "flat"), ("cc_release.ckpt", "release")])
def test_published_layouts_load(tmp_path, name, layout):
    path = write_random_cameractrl(tmp_path / name, channels_scale=SCALE, seed=1, layout=layout)
    model, info = load_cameractrl_file(path)
    assert info.channels == (32, 64, 128, 128) and info.blocks_per_level == 2 and info.pe_length == 16
    assert len(info.merge_keys) == 20  # 8 down + 12 up motion modules of v3; none on the mid block
    assert all(k.endswith(".temporal_transformer.transformer_blocks.0.attention_blocks.0") for k in info.merge_keys)
    sd = make_cameractrl_state_dict(channels_scale=SCALE, seed=1)
    key = "down_blocks.1.motion_modules.0.temporal_transformer.transformer_blocks.0.attention_blocks.0"
    assert model.merge_for(key).weight.equal(sd[key + ".processor.qkv_merge.weight"])
    assert model.pose_encoder.encoder_conv_in.weight.equal(sd["encoder_conv_in.weight"])


def test_a_prefixed_flat_layout_is_accepted(small_sd):
    _, merges, info = split_cameractrl_state_dict({f"module.{k}": v for k, v in small_sd.items()})
    assert len(merges) == 20 and info.channels == (32, 64, 128, 128)


def test_a_motion_module_is_not_a_cameractrl_adapter():
    with pytest.raises(CameraCtrlFormatError, match="no camera-pose encoder keys"):
        split_cameractrl_state_dict(make_motion_state_dict("v3", channels_scale=SCALE), source="mm_v3.safetensors")


def test_an_adapter_without_qkv_merge_is_refused(small_sd):
    encoder_only = {k: v for k, v in small_sd.items() if k.startswith("encoder_")}
    with pytest.raises(CameraCtrlFormatError, match="cc.safetensors has pose-encoder keys but no"):
        split_cameractrl_state_dict(encoder_only, source="cc.safetensors")


def test_wrong_shapes_are_named(small_sd):
    bad = dict(small_sd, **{"encoder_conv_in.weight": torch.zeros(32, 6, 3, 3)})
    with pytest.raises(CameraCtrlFormatError, match=r"encoder_conv_in.weight is \(32, 6, 3, 3\)"):
        split_cameractrl_state_dict(bad)
    key = "up_blocks.0.motion_modules.1.temporal_transformer.transformer_blocks.0.attention_blocks.0.processor.qkv_merge.weight"
    bad = dict(small_sd, **{key: torch.zeros(128, 64)})
    with pytest.raises(CameraCtrlFormatError, match="expected a square Linear"):
        split_cameractrl_state_dict(bad)


class _Payload:
    def __reduce__(self):
        return (print, ("pickled code ran",))


def test_a_pickle_with_code_is_refused_without_running_it(tmp_path, capsys):
    path = tmp_path / "evil.ckpt"
    with open(path, "wb") as f:
        pickle.dump({"encoder_conv_in.weight": _Payload()}, f, protocol=2)
    with pytest.raises(CameraCtrlFormatError, match="refusing to load"):
        load_cameractrl_file(path)
    assert "pickled code ran" not in capsys.readouterr().out


# ------------------------------------------------------------------------------------------------ encoder

def _reference_attention_block(sd, prefix, x):
    """One encoder temporal block from its definition: x (F, C, H, W)."""
    f, c, h, w = x.shape
    tokens = x.permute(2, 3, 0, 1).reshape(h * w, f, c)
    normed = F.layer_norm(tokens, (c,), sd[prefix + "norms.0.weight"], sd[prefix + "norms.0.bias"])
    seq = normed + sd[prefix + "attention_blocks.0.pos_encoder.pe"][:, :f]
    q, k, v = (F.linear(seq, sd[prefix + f"attention_blocks.0.{n}.weight"]) for n in ("to_q", "to_k", "to_v"))
    heads, dh = 8, c // 8
    q, k, v = (t.reshape(-1, f, heads, dh).transpose(1, 2) for t in (q, k, v))
    att = (torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dh), -1) @ v).transpose(1, 2).reshape(-1, f, c)
    tokens = tokens + F.linear(att, sd[prefix + "attention_blocks.0.to_out.0.weight"], sd[prefix + "attention_blocks.0.to_out.0.bias"])
    normed = F.layer_norm(tokens, (c,), sd[prefix + "ff_norm.weight"], sd[prefix + "ff_norm.bias"])
    value, gate = F.linear(normed, sd[prefix + "ff.net.0.proj.weight"], sd[prefix + "ff.net.0.proj.bias"]).chunk(2, -1)
    tokens = tokens + F.linear(value * F.gelu(gate), sd[prefix + "ff.net.2.weight"], sd[prefix + "ff.net.2.bias"])
    return tokens.reshape(h, w, f, c).permute(2, 3, 0, 1)


def _reference_encoder(sd, rays):
    x = F.conv2d(F.pixel_unshuffle(rays, 8), sd["encoder_conv_in.weight"], sd["encoder_conv_in.bias"], padding=1)
    features = []
    for level in range(4):
        for block in range(2):
            p = f"encoder_down_conv_blocks.{level}.{block}."
            if level and not block:
                x = F.avg_pool2d(x, 2)
            if p + "in_conv.weight" in sd:
                x = F.conv2d(x, sd[p + "in_conv.weight"], sd[p + "in_conv.bias"])
            x = x + F.conv2d(F.relu(F.conv2d(x, sd[p + "block1.weight"], sd[p + "block1.bias"], padding=1)),
                             sd[p + "block2.weight"], sd[p + "block2.bias"])
            x = _reference_attention_block(sd, f"encoder_down_attention_blocks.{level}.{block}.", x)
        features.append(x)
    return features


def test_pose_encoder_matches_its_definition(tmp_path, small_sd):
    path = tmp_path / "cc.safetensors"
    import safetensors.torch

    safetensors.torch.save_file(small_sd, str(path))
    model, _ = load_cameractrl_file(path)
    rays = plucker_embedding(preset_poses("orbit right", 12, 2.0), 128, 96)
    with torch.no_grad():
        ours = model.pose_encoder(rays)
    expected = _reference_encoder(small_sd, rays)
    assert [tuple(f.shape) for f in ours] == [(12, 32, 12, 16), (12, 64, 6, 8), (12, 128, 3, 4), (12, 128, 1, 2)]
    for a, b in zip(ours, expected):
        assert float((a - b).norm() / b.norm()) < 1e-5


def test_encoder_windows_cover_every_frame_with_pyramid_weights():
    assert encoder_windows(16, 16) == [list(range(16))]
    windows = encoder_windows(30, 16)
    assert windows == [list(range(0, 16)), list(range(8, 24)), list(range(14, 30))]
    assert pyramid_weights(4).tolist() == [1, 2, 2, 1] and pyramid_weights(5).tolist() == [1, 2, 3, 2, 1]


def test_longer_clips_than_the_encoder_attention_go_through_windows(tmp_path, small_sd):
    import safetensors.torch

    path = tmp_path / "cc.safetensors"
    safetensors.torch.save_file(small_sd, str(path))
    model, _ = load_cameractrl_file(path)
    rays = plucker_embedding(preset_poses("pan right", 24), 128, 128)
    with torch.no_grad():
        features = model.pose_encoder(rays)  # 24 frames > the 16-frame positional table: no error
        first_window = model.pose_encoder(rays[:16])
    assert features[0].shape[0] == 24 and torch.isfinite(features[-1]).all()
    # frames 0..7 are only in the first window, so the first attention sees exactly what a 16-frame clip sees
    block = model.pose_encoder.encoder_down_attention_blocks[0][0]
    x = model.pose_encoder.encoder_down_conv_blocks[0][0](model.pose_encoder.encoder_conv_in(F.pixel_unshuffle(rays, 8)))
    with torch.no_grad():
        assert torch.allclose(block(x)[:8], block(x[:16])[:8], atol=1e-5)
    assert not torch.allclose(features[0][:16], first_window[0])  # later blocks mix the windows


# ------------------------------------------------------------------------------------------------ injection

def test_features_go_to_the_matching_unet_level():
    features = ["L0", "L1", "L2", "L3"]
    assert features_for_module(features, "down_blocks.2.motion_modules.1") == "L2"
    assert features_for_module(features, "up_blocks.0.motion_modules.2") == "L3"
    assert features_for_module(features, "up_blocks.3.motion_modules.0") == "L0"
    assert features_for_module(features, "mid_block.motion_modules.0") is None


def test_camera_merge_blends_with_the_effect():
    merge = torch.nn.Linear(8, 8)
    hidden, feature = torch.randn(5, 3, 8), torch.randn(5, 3, 8)
    with torch.no_grad():
        full = apply_camera_merge(hidden, merge, feature, 1.0)
        assert torch.allclose(full, merge(hidden + feature) + hidden)
        assert torch.allclose(apply_camera_merge(hidden, merge, feature, 0.0), hidden)
        assert torch.allclose(apply_camera_merge(hidden, merge, feature, 0.25), 0.25 * full + 0.75 * hidden)


def test_motion_module_attention_takes_the_camera_conditioning():
    normalized, info = normalize_motion_state_dict(make_motion_state_dict("v3", channels_scale=SCALE, seed=2))
    module = build_motion_model(normalized, info).modules_in_order()[0]
    x = torch.randn(2 * 4, 32, 4, 4)
    key = module.key + ".temporal_transformer.transformer_blocks.0.attention_blocks.0"
    seen = []

    def condition(hidden):
        seen.append(hidden.shape)
        return hidden * 0.5

    with torch.no_grad():
        plain = module(x, 4)
        conditioned = module(x, 4, camera={key: condition})
        # another module's conditioning is not this module's business
        other = module(x, 4, camera={key.replace("motion_modules.0", "motion_modules.1"): lambda h: h * 0.5})
    assert seen == [(2 * 16, 4, 32)]  # (chunks * pixels, frames, channels), once: only attention block 0
    assert not torch.allclose(plain, conditioned)
    assert torch.allclose(plain, other)
