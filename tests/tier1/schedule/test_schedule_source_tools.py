"""Syntax borrowed from other tools means what it means there: AnimateDiff-Evolved's
``frame = "prompt"`` text, and keys past the last frame (FizzNodes travels towards them, A1111
prompt travel refuses them, Deforum ignores them)."""
import pytest

from steadyframe.schedule import ScheduleError, parse_prompt_schedule, parse_value_schedule
from steadyframe.schedule.node_inputs import check_prompt_schedule_syntax, check_value_schedule_syntax


def rows(text, frames, **kwargs):
    plan = parse_prompt_schedule(text).plan(frames, **kwargs)
    return [(b.frame, b.positive_from, b.positive_to, round(b.weight, 6)) for b in plan.frames]


def error_of(parse, text):
    with pytest.raises(ScheduleError) as info:
        parse(text)
    return info.value


# -- AnimateDiff-Evolved's pythonic prompt text -------------------------------------------------

PYTHONIC = '0 = "blue rock on mountain",\n16 = "green rock in lake"'


def test_pythonic_text_is_read_as_animatediff_evolved_reads_it():
    schedule = parse_prompt_schedule(PYTHONIC)
    assert schedule.syntax == "pythonic"
    blended = rows(PYTHONIC, 17)
    assert blended == rows('"0": "blue rock on mountain",\n"16": "green rock in lake"', 17)
    assert blended[0] == (0, "blue rock on mountain", None, 0.0)
    assert blended[8] == (8, "blue rock on mountain", "green rock in lake", 0.5)
    assert blended[16][1] == "green rock in lake"
    # Not one literal prompt: the keys do not leak into the text.
    assert all("=" not in row[1] for row in blended)


@pytest.mark.parametrize("text", [
    '0="a", 4="b"',
    '{0 = "a",\n 4 = "b"}',
    '  0 = "a"\n  -2 = "b"',
    '0 = "a --neg ugly",\n4 = "b"',
])
def test_pythonic_spellings(text):
    plan = parse_prompt_schedule(text).plan(6)
    assert plan.keyframes == [0, 4]
    assert (plan.frames[0].positive_from, plan.frames[4].positive_from) == ("a", "b")
    assert plan.frames[2].weight == pytest.approx(0.5)


@pytest.mark.parametrize("text, line, column, fragment", [
    ('0:8 = "a",\n8 = "b"', 1, 1, 'write "0..7"'),
    ('0 = "a",\n16: = "b"', 2, 1, 'write "16!"'),
    ('"0:8": "a"', 1, 2, 'write "0..7"'),
    ('0 = "a",\n:4 = "b"', 2, 1, 'range as "0..7"'),
    ('0 = "a", 0.5 = "b"', 1, 10, 'write "50%"'),
    ('0 = "a",\n4 = b', 2, 5, "expected the prompt in double quotes"),
])
def test_pythonic_keys_animatediff_evolved_reads_differently_are_located_errors(text, line, column, fragment):
    error = error_of(parse_prompt_schedule, text)
    assert (error.line, error.column) == (line, column)
    assert fragment in error.reason
    assert f"line {line}, col {column}" in str(error)


def test_pythonic_text_passes_the_queue_time_check():
    assert check_prompt_schedule_syntax(text=PYTHONIC) is True
    assert "AnimateDiff-Evolved" in check_prompt_schedule_syntax(text='0:8 = "a"')


# -- keys past the last frame: FizzNodes and pythonic text travel towards them ----------------------

def test_fizznodes_frames_travel_towards_a_key_past_the_end():
    blended = rows('"0": "a",\n"8": "b",\n"40": "c"', 16)
    # 8..15 blend from b towards c by (f - 8) / 32, as if the clip ran on to frame 40.
    assert blended[12] == (12, "b", "c", pytest.approx(4 / 32))
    assert blended[15] == (15, "b", "c", pytest.approx(7 / 32))
    assert blended[4] == (4, "a", "b", 0.5)


def test_pythonic_frames_travel_towards_a_key_past_the_end():
    plan = parse_prompt_schedule('0 = "a",\n20 = "b"').plan(10)
    assert [round(b.weight, 6) for b in plan.frames] == [round(f / 20, 6) for f in range(10)]
    assert plan.keyframes == [0]
    assert "line 2, col 1" in plan.warnings[0] and "AnimateDiff-Evolved" in plan.warnings[0]


def test_key_before_the_first_frame_travels_too():
    # "-20" counts from the end: frame -4 of 16 frames, so frame 0 is already 4/9 of the way to 5.
    plan = parse_prompt_schedule('"-20": "a",\n"5": "b"').plan(16)
    assert plan.frames[0].weight == pytest.approx(4 / 9)
    assert "before the first frame" in plan.warnings[0]


def test_hold_and_range_past_the_end():
    assert rows('"0": "a", "4!": "b", "30": "c"', 8)[6] == (6, "b", None, 0.0)
    assert rows('"0": "a", "4..30": "b"', 8)[7] == (7, "b", None, 0.0)


def test_loop_refuses_keys_outside_the_frames():
    assert len(parse_prompt_schedule('"0": "a",\n"24": "b"').plan(16).frames) == 16
    with pytest.raises(ScheduleError) as info:
        parse_prompt_schedule('"0": "a",\n"24": "b"').plan(16, loop=True)
    assert (info.value.line, info.value.column) == (2, 2)
    assert "loop" in info.value.reason


# -- keys past the last frame: A1111 prompt travel refuses them -----------------------------------

@pytest.mark.parametrize("text, line, column, frame", [
    ("masterpiece\n0: closed eyes\n16: open eyes", 3, 1, 16),
    ("0: closed eyes\n8..20: open eyes", 2, 4, 20),
    ("0: closed eyes\n-20: open eyes", 2, 1, -4),
])
def test_a1111_key_outside_the_frames_is_refused(text, line, column, frame):
    with pytest.raises(ScheduleError) as info:
        parse_prompt_schedule(text).plan(16)
    error = info.value
    assert (error.line, error.column) == (line, column)
    assert f"is frame {frame}" in error.reason and "A1111 prompt travel refuses" in error.reason
    assert "from 0 to 15" in error.reason


def test_a1111_last_frame_key_is_fine():
    plan = parse_prompt_schedule("0: closed eyes\n15: open eyes").plan(16)
    assert plan.keyframes == [0, 15] and plan.warnings == []


# -- keys past the last frame: Deforum value schedules ignore them ----------------------------------

def test_deforum_value_key_past_the_end_is_ignored():
    result = parse_value_schedule("0:(0), 10:(10), 30:(30)").evaluate(16)
    # Not 0..10 then a climb towards 30: frames after 10 hold 10, as Deforum's get_inbetweens gives.
    assert result.values == pytest.approx(list(range(11)) + [10] * 5)
    assert result.keyframes == [0, 10]
    assert "line 1, col 17" in result.warnings[0] and "ignored" in result.warnings[0]


def test_value_expression_before_an_ignored_key_runs_to_the_end():
    result = parse_value_schedule("0:(t*2), 99:(0)").evaluate(4)
    assert result.values == pytest.approx([0, 2, 4, 6])


def test_value_range_past_the_end_is_cut_to_the_frames():
    result = parse_value_schedule("0:(1), 4..20:(5)").evaluate(8)
    assert result.values == pytest.approx([1, 2, 3, 4, 5, 5, 5, 5])
    assert "cut to frames 4..7" in result.warnings[0]


def test_value_schedule_with_every_key_outside_is_an_error():
    with pytest.raises(ScheduleError) as info:
        parse_value_schedule("20:(1), 30:(2)").evaluate(8)
    assert "no frame has a value" in str(info.value)


# -- frame = value in a value schedule ---------------------------------------------------------------

@pytest.mark.parametrize("text, line, column", [
    ("0 = 1.0", 1, 3),
    ("0 = 1.0,\n16 = 1.3", 1, 3),
    ("  0=1.0", 1, 4),
])
def test_value_schedule_equals_sign_names_the_expected_form(text, line, column):
    error = error_of(parse_value_schedule, text)
    assert (error.line, error.column) == (line, column)
    assert 'expected "frame: (value)"' in error.reason and 'found "="' in error.reason
    assert check_value_schedule_syntax(text).startswith("Value schedule: text, line")


def test_value_schedule_pair_after_a_good_one_names_the_expected_form():
    error = error_of(parse_value_schedule, "0: (1), 16 = 1.3")
    assert (error.line, error.column) == (1, 12)
    assert 'expected "frame: (value)"' in error.reason and 'found "="' in error.reason


@pytest.mark.parametrize("text, expected", [
    ("where(t == 1, 1, 0)", [0, 1, 0]),
    ("where(t >= 1, 1, 0)", [0, 1, 1]),
    ("where(t <= 1, 1, 0)", [1, 1, 0]),
    ("where(t != 1, 1, 0)", [1, 0, 1]),
])
def test_comparisons_are_not_taken_for_an_equals_sign(text, expected):
    assert parse_value_schedule(text).evaluate(3).values == pytest.approx(expected)
