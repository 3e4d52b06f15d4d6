import pytest
import torch

from steadyframe.chunking import ChunkPlan, load_state, save_state


def test_state_saved_after_a_chunk_is_what_the_next_chunk_loads(tmp_path):
    plan = ChunkPlan(total_frames=30, chunk_frames=10, overlap=2)
    first, second = plan.chunk(0, "job", str(tmp_path)), plan.chunk(1, "job", str(tmp_path))
    assert load_state(first, "deflicker.7") is None
    mean = torch.tensor([0.25, 0.5, 0.75])
    save_state(first, "deflicker.7", {"mean": mean}, {"frames_seen": 10})
    tensors, meta = load_state(second, "deflicker.7")
    assert torch.equal(tensors["mean"], mean) and meta == {"frames_seen": 10}
    assert [p.name for p in (tmp_path / "deflicker.7").iterdir()] == ["after-0.safetensors"]


def test_running_a_chunk_again_reads_the_same_state(tmp_path):
    plan = ChunkPlan(total_frames=30, chunk_frames=10)
    chunks = [plan.chunk(i, "job", str(tmp_path)) for i in range(3)]
    save_state(chunks[0], "n", {"x": torch.zeros(1)})
    save_state(chunks[1], "n", {"x": torch.ones(1)})
    assert load_state(chunks[1], "n")[0]["x"].item() == 0.0  # chunk 1 again still sees chunk 0's state
    assert load_state(chunks[2], "n")[0]["x"].item() == 1.0


def test_missing_state_names_the_chunk_to_run_again(tmp_path):
    chunk = ChunkPlan(total_frames=30, chunk_frames=10).chunk(2, "job", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="run the chain again from chunk 1"):
        load_state(chunk, "noise.3")


@pytest.mark.parametrize("owner", ["../escape", "a/b", ""])
def test_owner_names_cannot_leave_the_state_folder(tmp_path, owner):
    chunk = ChunkPlan(total_frames=3, chunk_frames=1).chunk(0, "job", str(tmp_path))
    with pytest.raises(ValueError, match="names a folder"):
        save_state(chunk, owner, {})
