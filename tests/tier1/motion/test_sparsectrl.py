"""SparseCtrl: both encoders' key layouts are recognised from .safetensors and .ckpt (weights only),
bad files are refused with the file named, frame indices parse with columns in errors, and the
sparse hint carries the chosen frames and a mask of exactly those frames."""
import pytest
import torch

from steadyframe.motion.sparsectrl import (
    FrameIndexError,
    SparseCtrlFormatError,
    build_sparse_motion_model,
    hinted_frames,
    load_sparsectrl_file,
    parse_frame_indices,
    sparse_hint_frames,
    split_sparsectrl_state_dict,
)
from steadyframe.motion.temporal import sdpa_attention
from support.motion_files import make_motion_state_dict
from support.sparsectrl_files import make_sparsectrl_state_dict, write_random_sparsectrl

SCALE = 0.1  # 32/64/128/128 channels


@pytest.mark.parametrize("kind, hint_channels", [("rgb", 5), ("scribble", 4)])
@pytest.mark.parametrize("suffix, wrap", [(".safetensors", None), (".ckpt", None), (".ckpt", "state_dict"), (".ckpt", "controlnet")])
def test_both_encoders_are_recognised_in_every_container(tmp_path, kind, hint_channels, suffix, wrap):
    path = write_random_sparsectrl(tmp_path / f"v3_sd15_sparsectrl_{kind}{suffix}", kind=kind, channels_scale=SCALE, wrap=wrap)
    control_sd, motion_sd, info = load_sparsectrl_file(path)
    assert info.kind == kind
    assert info.hint_channels == hint_channels
    assert info.pe_length == 32 and info.pe_in_file
    assert info.layout.down == ((32, 32), (64, 64), (128, 128), (128, 128))
    assert info.layout.up == () and info.layout.mid is None
    assert len(motion_sd) == 8 * 20  # 8 modules of 20 tensors: one attention block, its norm and positional table
    assert not any("temporal" in k for k in control_sd)
    assert "controlnet_mid_block.weight" in control_sd and "conv_in.weight" in control_sd
    assert ("controlnet_cond_embedding.weight" in control_sd) == (kind == "rgb")


def test_missing_positional_tables_are_computed():
    sd = {k: v for k, v in make_sparsectrl_state_dict("scribble", channels_scale=SCALE).items() if not k.endswith("pos_encoder.pe")}
    _, motion_sd, info = split_sparsectrl_state_dict(sd, "no_pe.safetensors")
    assert not info.pe_in_file and info.pe_length == 32
    pe = motion_sd["down_blocks.1.motion_modules.0.temporal_transformer.transformer_blocks.0.attention_blocks.0.pos_encoder.pe"]
    assert pe.shape == (1, 32, 64)


def test_motion_model_has_one_attention_per_module_and_runs():
    _, motion_sd, info = split_sparsectrl_state_dict(make_sparsectrl_state_dict("rgb", channels_scale=SCALE, seed=3))
    reference = dict(motion_sd)
    model = build_sparse_motion_model(motion_sd, info)
    assert not motion_sd  # the tensors moved into the model
    assert set(model.state_dict()) == set(reference)
    module = model.modules_in_order()[0]
    assert len(module.temporal_transformer.transformer_blocks[0].attention_blocks) == 1
    x = torch.randn(2 * 6, 32, 4, 4, generator=torch.Generator().manual_seed(0))
    out = module(x, 6, attention=sdpa_attention)
    assert out.shape == x.shape and torch.isfinite(out).all()
    delta = out - x
    assert float(delta.abs().max()) > 1e-3
    # frames mix: changing frame 0 changes what the module adds to frame 5 (same chunk), not chunk 2's
    x2 = x.clone()
    x2[0] = torch.randn(32, 4, 4, generator=torch.Generator().manual_seed(1))  # not a constant shift: GroupNorm removes those
    delta2 = module(x2, 6) - x2
    assert float((delta2[5] - delta[5]).abs().max()) > 1e-3 * float(delta[5].abs().max())
    assert torch.allclose(delta2[6:], delta[6:], atol=1e-6)


@pytest.mark.parametrize("what, sd, expected", [
    ("motion module", make_motion_state_dict("v3", channels_scale=SCALE), "motion module"),
    ("plain controlnet", {k: v for k, v in make_sparsectrl_state_dict("scribble", channels_scale=SCALE).items()
                          if "temporal" not in k}, "ordinary ControlNet"),
    ("checkpoint", {"model.diffusion_model.input_blocks.0.0.weight": torch.zeros(1)}, "Stable Diffusion checkpoint"),
])
def test_other_files_are_refused_with_what_they_are(what, sd, expected):
    with pytest.raises(SparseCtrlFormatError) as err:
        split_sparsectrl_state_dict(sd, f"models/controlnet/{what}.safetensors")
    assert f"models/controlnet/{what}.safetensors" in str(err.value)
    assert expected in str(err.value)


def test_a_two_attention_motion_module_is_refused():
    sd = make_sparsectrl_state_dict("scribble", channels_scale=SCALE)
    key = "down_blocks.0.motion_modules.0.temporal_transformer.transformer_blocks.0.attention_blocks.1.to_q.weight"
    sd[key] = torch.zeros(32, 32)
    with pytest.raises(SparseCtrlFormatError, match="one"):
        split_sparsectrl_state_dict(sd, "odd.safetensors")


def test_a_hint_embedding_without_mask_channel_is_refused():
    sd = make_sparsectrl_state_dict("scribble", channels_scale=SCALE)
    sd["controlnet_cond_embedding.conv_in.weight"] = sd["controlnet_cond_embedding.conv_in.weight"][:, :3]
    with pytest.raises(SparseCtrlFormatError, match="reads 3 hint channels, expected 4"):
        split_sparsectrl_state_dict(sd, "nomask.safetensors")


def test_a_pickle_with_code_is_refused_without_running_it(tmp_path):
    import pickle

    class Boom:
        def __reduce__(self):
            return (print, ("this must not run",))

    path = tmp_path / "evil.ckpt"
    with open(path, "wb") as f:
        pickle.dump({"controlnet_cond_embedding.weight": Boom()}, f)
    with pytest.raises(SparseCtrlFormatError) as err:
        load_sparsectrl_file(path)
    assert "evil.ckpt" in str(err.value)


# ------------------------------------------------------------------------------------------------
# frame indices

@pytest.mark.parametrize("text, frames, expected", [
    ("0,8,15", 16, [0, 8, 15]),
    (" 0 , 8 ,15 ", 16, [0, 8, 15]),
    ("-1", 16, [15]),
    ("15,0", 16, [15, 0]),
    ("3", 4, [3]),
])
def test_frame_indices_parse(text, frames, expected):
    assert parse_frame_indices(text, frames) == expected


@pytest.mark.parametrize("text, frames, message", [
    ("0,x,15", 16, "'x' at column 3 is not a whole number"),
    ("0, 8.5", 16, "'8.5' at column 4 is not a whole number"),
    ("0,16", 16, "16 at column 3 is outside the clip of 16 frames"),
    ("-17", 16, "-17 at column 1 is outside"),
    ("0,8,-16", 16, "-16 at column 5 is frame 0 again (first at column 1)"),
    ("0,,8", 16, "empty entry at column 3"),
    ("   ", 16, "the list is empty"),
])
def test_frame_index_errors_name_entry_and_column(text, frames, message):
    with pytest.raises(FrameIndexError) as err:
        parse_frame_indices(text, frames)
    assert message in str(err.value)


# ------------------------------------------------------------------------------------------------
# sparse hints

def test_one_image_per_index_goes_on_its_frame_with_the_mask_set():
    images = torch.rand(3, 8, 8, 3)
    hint = sparse_hint_frames(images, [0, 8, 15], 16)
    assert hint.shape == (16, 8, 8, 4)
    for i, frame in enumerate([0, 8, 15]):
        assert torch.equal(hint[frame, ..., :3], images[i])
    mask = hint[..., 3].amax(dim=(1, 2))
    assert [int(i) for i in torch.nonzero(mask).flatten()] == [0, 8, 15]
    others = [f for f in range(16) if f not in (0, 8, 15)]
    assert hint[others].abs().sum() == 0
    assert hinted_frames(hint.movedim(-1, 1)) == [0, 8, 15]


def test_a_whole_clip_gives_the_listed_frames_of_itself():
    clip = torch.rand(10, 4, 4, 3)
    hint = sparse_hint_frames(clip, [2, 7], 10)
    assert torch.equal(hint[2, ..., :3], clip[2]) and torch.equal(hint[7, ..., :3], clip[7])
    assert hint[[0, 1, 3, 4, 5, 6, 8, 9]].abs().sum() == 0


def test_a_black_hint_frame_is_still_a_hinted_frame():
    hint = sparse_hint_frames(torch.zeros(1, 4, 4, 3), [5], 8)
    assert hinted_frames(hint.movedim(-1, 1)) == [5]


def test_image_count_that_fits_neither_rule_is_refused():
    with pytest.raises(ValueError, match="2 hint image.*3 frame index.*10 frames"):
        sparse_hint_frames(torch.rand(2, 4, 4, 3), [0, 4, 9], 10)


def test_a_plain_image_is_not_taken_for_a_sparse_hint():
    with pytest.raises(ValueError, match="SparseCtrl Hint node"):
        hinted_frames(torch.rand(4, 3, 8, 8))


@pytest.mark.parametrize("name, content, message", [
    ("empty.ckpt", b"", "is empty"),
    ("cut.safetensors", b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":", "cannot read"),
    ("cut.ckpt", b"PK\x03\x04 not really a zip", "cannot read"),
])
def test_unreadable_files_are_refused_with_the_file_named(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(SparseCtrlFormatError) as err:
        load_sparsectrl_file(path)
    assert str(path) in str(err.value) and message in str(err.value)
    assert "motion module" not in str(err.value)
