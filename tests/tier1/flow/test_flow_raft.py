"""flow/raft.py: RAFT-large for user-supplied weights (random weights here; nothing downloaded)."""
import pytest
import torch

from steadyframe.flow.estimate import estimate_flow
from steadyframe.flow.raft import RAFT, RaftEstimator, load_raft


def _randomised_raft(seed=0):
    torch.manual_seed(seed)
    model = RAFT().eval()
    # Give the batch norms non-trivial statistics so that a wrong norm mapping would show.
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 1.5)
    return model


def test_parameter_count_and_names_match_raft_large():
    model = RAFT()
    assert sum(p.numel() for p in model.parameters()) == 5_257_536  # torchvision raft_large
    names = model.state_dict()
    assert "update_block.recurrent_block.convgru1.convz.weight" in names
    assert names["update_block.motion_encoder.convcorr1.0.weight"].shape == (256, 324, 1, 1)
    assert names["mask_predictor.conv.weight"].shape == (576, 256, 1, 1)


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_round_trip_through_a_weights_file(tmp_path, suffix):
    model = _randomised_raft()
    path = tmp_path / f"raft{suffix}"
    if suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    else:
        torch.save({"state_dict": model.state_dict()}, path)
    loaded = load_raft(str(path))
    a, b = torch.rand(1, 3, 128, 136) * 2 - 1, torch.rand(1, 3, 128, 136) * 2 - 1
    with torch.no_grad():
        expected = model(a, b, iterations=2)
        got = loaded(a, b, iterations=2)
    assert got.shape == (1, 2, 128, 136)
    assert torch.equal(got, expected)


def test_estimator_handles_any_frame_size_and_plugs_into_estimate_flow():
    estimator = RaftEstimator(_randomised_raft(), iterations=1)
    flow = estimate_flow(torch.rand(1, 3, 90, 100), torch.rand(1, 3, 90, 100), estimator=estimator)
    assert flow.shape == (1, 2, 90, 100) and flow.dtype == torch.float32 and torch.isfinite(flow).all()


def test_wrong_files_are_refused_with_the_file_name(tmp_path):
    bad = tmp_path / "not_raft.safetensors"
    from safetensors.torch import save_file

    save_file({"conv.weight": torch.zeros(3, 3)}, str(bad))
    with pytest.raises(ValueError, match=r"not_raft.safetensors is not a RAFT-large checkpoint: 169 missing keys"):
        load_raft(str(bad))
    state = RAFT().state_dict()
    state["update_block.flow_head.conv2.weight"] = torch.zeros(2, 128, 3, 3)
    shaped = tmp_path / "shape.pth"
    torch.save(state, shaped)
    with pytest.raises(ValueError, match=r"shape.pth: 1 tensors have the wrong shape .*flow_head.conv2.weight \(2, 128, 3, 3\)"):
        load_raft(str(shaped))


class _Payload:
    """Not a tensor: torch.load(weights_only=True) must refuse to unpickle it."""


def test_pickled_objects_are_never_executed(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": _Payload()}, path)
    with pytest.raises(ValueError, match=r"evil.pth: cannot read it as plain tensors"):
        load_raft(str(path))
    with pytest.raises(FileNotFoundError, match="missing.pth do not exist"):
        load_raft(str(tmp_path / "missing.pth"))


def _to_princeton(state):
    """torchvision raft_large names -> the original princeton-vl checkpoint names."""
    out = {}
    block = {"convnormrelu1.0": "conv1", "convnormrelu1.1": "norm1", "convnormrelu2.0": "conv2", "convnormrelu2.1": "norm2"}
    motion = {"convcorr1.0": "convc1", "convcorr2.0": "convc2", "convflow1.0": "convf1", "convflow2.0": "convf2", "conv.0": "conv"}
    for key, value in state.items():
        parts = key.split(".")
        if parts[0] in ("feature_encoder", "context_encoder"):
            enc = "fnet" if parts[0] == "feature_encoder" else "cnet"
            if parts[1] == "convnormrelu":
                new = f"{enc}.{'conv1' if parts[2] == '0' else 'norm1'}.{parts[3]}"
            elif parts[1] == "conv":
                new = f"{enc}.conv2.{parts[2]}"
            elif parts[3] == "downsample":
                new = f"{enc}.{parts[1]}.{parts[2]}.downsample.{'.'.join(parts[4:])}"
                if parts[4] == "1":
                    out[f"module.{enc}.{parts[1]}.{parts[2]}.norm3.{parts[5]}"] = value
            else:
                new = f"{enc}.{parts[1]}.{parts[2]}.{block[parts[3] + '.' + parts[4]]}.{parts[5]}"
        elif parts[1] == "motion_encoder":
            name = ".".join(parts[2:-1])
            new = f"update_block.encoder.{motion[name]}.{parts[-1]}"
        elif parts[1] == "recurrent_block":
            new = f"update_block.gru.{parts[3]}{parts[2][-1]}.{parts[4]}"
        elif parts[0] == "mask_predictor":
            new = f"update_block.mask.{'0' if parts[1] == 'convrelu' else '2'}.{parts[-1]}"
        else:
            new = key
        out["module." + new] = value
    return out


def test_princeton_checkpoints_are_renamed_on_load(tmp_path):
    model = _randomised_raft(1)
    path = tmp_path / "raft-things.pth"
    torch.save(_to_princeton(model.state_dict()), path)
    loaded = load_raft(str(path))
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


def test_matches_torchvision_raft_large_when_available(tmp_path):
    try:
        from torchvision.models import optical_flow
    except Exception as exc:  # absent in CI, or built for another torch (its C ops then fail to load)
        pytest.skip(f"torchvision's RAFT is not importable here ({type(exc).__name__}); CI has no torchvision")
    torch.manual_seed(3)
    reference = optical_flow.raft_large(weights=None).eval()
    for module in reference.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 1.5)
    path = tmp_path / "raft_large_random.pth"
    torch.save(reference.state_dict(), path)
    ours = load_raft(str(path))
    a, b = torch.rand(1, 3, 128, 144) * 2 - 1, torch.rand(1, 3, 128, 144) * 2 - 1
    with torch.no_grad():
        expected = reference(a, b, num_flow_updates=3)[-1]
        got = ours(a, b, iterations=3)
    assert torch.allclose(got, expected, atol=1e-4, rtol=1e-4), (got - expected).abs().max()
