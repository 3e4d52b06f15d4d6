import pytest

from steadyframe.chunking import ChunkPlan


def test_chunks_cover_every_frame_once_as_new_and_reread_the_overlap():
    plan = ChunkPlan(total_frames=23, chunk_frames=8, overlap=3)
    chunks = [plan.chunk(i) for i in range(plan.count)]
    assert plan.count == 3
    new_frames = [f for c in chunks for f in range(c.first_new, c.end)]
    assert new_frames == list(range(23))
    assert [(c.first, c.lead, c.frames) for c in chunks] == [(0, 0, 8), (5, 3, 11), (13, 3, 10)]
    assert chunks[0].is_first and chunks[-1].is_last and not chunks[1].is_last
    assert chunks[1].absolute(0) == 5 and chunks[1].absolute(10) == 15


@pytest.mark.parametrize("kwargs, message", [
    ({"total_frames": 0, "chunk_frames": 8}, "at least one frame"),
    ({"total_frames": 10, "chunk_frames": 0}, "chunk_frames must be at least 1"),
    ({"total_frames": 10, "chunk_frames": 4, "overlap": 4}, "overlap must be 0 .. chunk_frames - 1"),
])
def test_bad_plans_name_what_was_expected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ChunkPlan(**kwargs)


def test_index_and_local_frame_outside_the_chunk_are_refused():
    plan = ChunkPlan(total_frames=10, chunk_frames=4, overlap=1)
    with pytest.raises(ValueError, match="chunk index 3 is outside 0 .. 2"):
        plan.chunk(3)
    with pytest.raises(ValueError, match="frame 5 is outside chunk 1's 0 .. 4"):
        plan.chunk(1).absolute(5)
