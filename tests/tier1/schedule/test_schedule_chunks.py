"""Schedules over a chunked long video: every chunk's frames are those of the unchunked schedule."""
import pytest

from steadyframe.chunking import ChunkPlan
from steadyframe.schedule import parse_prompt_schedule, parse_value_schedule
from steadyframe.schedule.node_inputs import schedule_frames, value_schedule_outputs

PLAN = ChunkPlan(total_frames=47, chunk_frames=10, overlap=3)
VALUES = "0:(1.0), 9:(0.5), 20:(0.5+0.25*sin(t/3)), 31:(2), -1:(max_f/10)"
PROMPTS = '"0": "a cat `t/2`", "12": "a dog --neg blur", "50%": "a fox (red:`pw_a`)", "-1": "a bird"'


@pytest.mark.parametrize("interpolation", ["linear", "ease_in_out", "none"])
def test_value_schedule_chunks_equal_the_whole_schedule(interpolation):
    schedule = parse_value_schedule(VALUES)
    whole = schedule.evaluate(PLAN.total_frames, interpolation).values
    for i in range(PLAN.count):
        chunk = PLAN.chunk(i)
        part = schedule.evaluate(PLAN.total_frames, interpolation, chunk.first, chunk.end).values
        assert part == whole[chunk.first:chunk.end], f"chunk {i}"


def test_value_schedule_outputs_of_a_chunk_read_absolute_frames():
    values, value, int_value = value_schedule_outputs(VALUES, 47, 33, "linear", 27, 37)
    whole, at_33, _ = value_schedule_outputs(VALUES, 47, 33, "linear")
    assert values == whole[27:37] and value == at_33 == whole[33]
    _, wrapped, _ = value_schedule_outputs(VALUES, 47, 47 + 5, "linear", 27, 37)
    assert wrapped == whole[5]  # current_frame wraps around the whole video, not the chunk


@pytest.mark.parametrize("loop", [False, True])
def test_prompt_plan_chunks_equal_the_whole_plan(loop):
    schedule = parse_prompt_schedule(PROMPTS)
    weights = [0.5 + 0.01 * f for f in range(PLAN.total_frames)]
    whole = schedule.plan(PLAN.total_frames, pre_text="best", weights={"pw_a": weights}, loop=loop)
    lines = whole.describe().splitlines()
    for i in range(PLAN.count):
        chunk = PLAN.chunk(i)
        part = schedule.plan(PLAN.total_frames, pre_text="best", weights={"pw_a": weights[chunk.first:chunk.end]},
                             loop=loop, first=chunk.first, end=chunk.end)
        assert part.frames == whole.frames[chunk.first:chunk.end]
        assert part.describe().splitlines() == lines[chunk.first:chunk.end]  # absolute frame numbers
        assert part.keyframes == [k for k in whole.keyframes if chunk.first <= k < chunk.end]


def test_schedule_frames_with_and_without_a_chunk():
    assert schedule_frames(16) == (16, 0, 16)
    chunk = PLAN.chunk(2)
    assert schedule_frames(16, None, chunk) == (47, 17, 30)
    assert schedule_frames(16, {"samples": _Latent(13)}, chunk) == (47, 17, 30)
    with pytest.raises(ValueError, match="latent has 12 frames but chunk 2 loads 13"):
        schedule_frames(16, {"samples": _Latent(12)}, chunk)


def test_a_window_outside_the_frames_is_refused():
    with pytest.raises(ValueError, match="must lie within 0..9"):
        parse_value_schedule("0:(1)").evaluate(10, "linear", 5, 12)


class _Latent:
    """Just the shape a LATENT's samples have (frames, channels, height, width)."""

    ndim = 4

    def __init__(self, frames):
        self.shape = (frames, 4, 8, 8)
