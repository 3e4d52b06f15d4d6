"""Prompt and value schedule syntax: FizzNodes, A1111 prompt travel, Deforum values, keys, errors."""
import math
import random

import pytest

from steadyframe.schedule import ScheduleError, parse_prompt_schedule, parse_value_schedule
from steadyframe.schedule.node_inputs import prompt_weights, value_schedule_outputs


def blends(text, frames, **kwargs):
    """[(frame, from, to, weight)] of a prompt schedule."""
    plan = parse_prompt_schedule(text).plan(frames, **kwargs)
    return [(b.frame, b.positive_from, b.positive_to, round(b.weight, 6)) for b in plan.frames]


def keyframe_prompts(text, frames, **kwargs):
    plan = parse_prompt_schedule(text).plan(frames, **kwargs)
    return {f: plan.frames[f].positive_from for f in plan.keyframes}


# -- FizzNodes ---------------------------------------------------------------------------------

FIZZ = '"0": "a cat",\n"4": "a dog",'


@pytest.mark.parametrize("text", [
    FIZZ,
    "{" + FIZZ + "}",
    '{\n  "0": "a cat",\n  "4": "a dog"\n}\n',
    "'0': 'a cat', '4': 'a dog'",
    '0: "a cat", 4: "a dog"',
    '"0": "a cat"\n"4": "a dog"',  # new lines as separators
])
def test_fizznodes_members_with_or_without_braces(text):
    schedule = parse_prompt_schedule(text)
    assert schedule.syntax == "fizznodes"
    assert blends(text, 6) == [
        (0, "a cat", None, 0.0),
        (1, "a cat", "a dog", 0.25),
        (2, "a cat", "a dog", 0.5),
        (3, "a cat", "a dog", 0.75),
        (4, "a dog", None, 0.0),
        (5, "a dog", None, 0.0),
    ]


def test_json_escapes_and_comfy_prompt_escapes():
    prompts = keyframe_prompts(r'"0": "say \"hi\" \u00e9 \(cat\)"', 2)
    assert prompts[0] == 'say "hi" é \\(cat\\)'


def test_neg_parts_and_pre_app_text():
    plan = parse_prompt_schedule('"0": "a cat --neg blurry", "2": "a dog"').plan(
        3, pre_text="masterpiece --neg lowres", app_text="4k")
    first, middle, last = plan.frames
    assert (first.positive_from, first.negative_from) == ("masterpiece, a cat, 4k", "lowres, blurry")
    assert (middle.negative_from, middle.negative_to, middle.weight) == ("lowres, blurry", "lowres", 0.5)
    assert (last.positive_from, last.negative_from) == ("masterpiece, a dog, 4k", "lowres")
    assert [(f.negative_from, f.negative_to) for f in plan.frames] == [
        ("lowres, blurry", None), ("lowres, blurry", "lowres"), ("lowres", None)]


def test_single_prompt_is_kept_verbatim():
    # Without pre/app text the keyframe text must reach CLIP unchanged (trailing comma included).
    assert keyframe_prompts('"0": "  a cat, "', 1) == {0: "a cat,"}


def test_backtick_expressions_per_frame_with_weights():
    text = '"0": "(smile:`0.5+0.5*sin(t/2)`)", "3": "(run:`pw_a`) `max_f`"'
    plan = parse_prompt_schedule(text).plan(4, weights={"pw_a": [0.1, 0.2, 0.3, 0.45]})
    assert plan.frames[0].positive_from == "(smile:0.5)"
    assert plan.frames[2].positive_from == f"(smile:{0.5 + 0.5 * math.sin(1.0):.4f})"
    assert plan.frames[2].positive_to == "(run:0.3) 3"
    assert plan.frames[3].positive_from == "(run:0.45) 3"
    scalar = parse_prompt_schedule(text).plan(4, weights={"pw_a": 2})
    assert scalar.frames[3].positive_from == "(run:2) 3"


def test_weights_too_short_or_unknown_are_errors():
    schedule = parse_prompt_schedule('"0": "`pw_b`"')
    with pytest.raises(ScheduleError, match="pw_b has 2 values but the schedule has 4 frames"):
        schedule.plan(4, weights={"pw_b": [1, 2]})
    with pytest.raises(ScheduleError, match="unknown prompt weight"):
        schedule.plan(4, weights={"pw_z": 1})


# -- A1111 -------------------------------------------------------------------------------------

def test_a1111_lines_with_head_and_tail():
    text = "masterpiece, best quality,\n0: closed mouth\n\n8: open mouth\nsmile\n"
    schedule = parse_prompt_schedule(text)
    assert schedule.syntax == "a1111"
    prompts = keyframe_prompts(text, 9)
    assert prompts == {0: "masterpiece, best quality, closed mouth, smile",
                       8: "masterpiece, best quality, open mouth, smile"}
    assert blends(text, 9)[4][3] == 0.5


def test_plain_text_is_one_prompt_for_every_frame():
    plan = parse_prompt_schedule("a cat on a sofa\nsunny").plan(3, pre_text="photo")
    assert [b.positive_from for b in plan.frames] == ["photo, a cat on a sofa, sunny"] * 3
    assert parse_prompt_schedule("").plan(2).frames[1].positive_from == ""


# -- keys --------------------------------------------------------------------------------------

def test_negative_relative_percent_and_expression_keys():
    text = '"0": "a", "+4": "b", "50%": "c", "-1": "d", "max_f - 2": "e"'
    # 17 frames: max_f = 16; 50% -> 8; -1 -> 16; max_f - 2 -> 14
    assert keyframe_prompts(text, 17) == {0: "a", 4: "b", 8: "c", 14: "e", 16: "d"}


def test_keys_may_be_written_out_of_order():
    assert blends('"4": "b", "0": "a"', 5)[2] == (2, "a", "b", 0.5)


def test_range_holds_then_travels():
    rows = blends('"0..3": "a", "7": "b"', 8)
    assert [r[1] for r in rows[:4]] == ["a"] * 4
    assert all(r[3] == 0 for r in rows[:4])
    assert rows[5] == (5, "a", "b", 0.5)  # travel from frame 3 to 7


def test_hold_marker_cuts_at_next_key():
    rows = blends('"0!": "a", "4": "b", "8": "c"', 9)
    assert [(r[1], r[3]) for r in rows[:5]] == [("a", 0.0)] * 4 + [("b", 0.0)]
    assert rows[6] == (6, "b", "c", 0.5)
    a1111 = blends("0!: a\n4: b", 5)
    assert a1111[3] == (3, "a", None, 0.0)


def test_interpolation_none_holds_everything():
    assert all(r[3] == 0.0 for r in blends(FIZZ, 6, interpolation="none"))


@pytest.mark.parametrize("method, expected", [
    ("linear", 0.25), ("slerp", 0.25), ("ease_in", 0.0625), ("ease_out", 0.4375), ("ease_in_out", 0.15625),
])
def test_eased_weights(method, expected):
    assert blends(FIZZ, 6, interpolation=method)[1][3] == pytest.approx(expected)


def test_loop_travels_back_to_the_first_key():
    rows = blends('"0": "a", "4": "b"', 8, loop=True)
    assert rows[6] == (6, "b", "a", 0.5)
    assert blends('"2": "a", "4": "b"', 6, loop=True)[0] == (0, "b", "a", 0.5)


def test_key_beyond_the_last_frame_is_travelled_towards_with_a_warning():
    # FizzNodes blends frame f by f/24 towards a key at 24, even when only 16 frames are made.
    plan = parse_prompt_schedule('"0": "a",\n"24": "b"').plan(16)
    assert plan.keyframes == [0]
    assert (plan.frames[15].positive_from, plan.frames[15].positive_to) == ("a", "b")
    assert plan.frames[15].weight == pytest.approx(15 / 24)
    assert len(plan.warnings) == 1
    assert "line 2, col 2" in plan.warnings[0] and "travel towards it" in plan.warnings[0]


def test_two_keys_on_one_frame():
    with pytest.raises(ScheduleError) as info:
        parse_prompt_schedule('"0": "a",\n"-4": "b",\n"12": "c"').plan(16)
    assert (info.value.line, info.value.column) == (3, 2)
    assert "already has a keyframe" in str(info.value)
    # Keys past the end keep their own frames, so they never share one.
    beyond = parse_prompt_schedule('"15": "a", "30": "b", "40": "c"').plan(16)
    assert beyond.frames[15].positive_from == "a" and beyond.frames[15].weight == 0
    assert len(beyond.warnings) == 2


# -- errors ------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, line, column, fragment", [
    ('"0": "a cat",\n"12": "a dog",\n"24" "a bird"', 3, 6, 'expected "frame": "prompt"'),
    ('"0": "a cat",\n"12": a dog', 2, 7, "expected the prompt in double quotes"),
    ('"0": "a cat" "12": "b"', 1, 14, 'expected "," or a new line'),
    ('{"0": "a cat"', 1, 1, "expected a closing }"),
    ('"0": "a cat}', 1, 6, 'expected a closing "'),
    ('"0": "a"}', 1, 9, "without an opening"),
    ('{"0": "a"} x', 1, 12, "expected the end of the schedule"),
    ('"0": "a", "1.5": "b"', 1, 12, "whole frame number"),
    ('"0": "a", "cat": "b"', 1, 12, "unknown name 'cat'"),
    ('"0": "a", "": "b"', 1, 11, "the frame is empty"),
    ('"0": "a", "5..2": "b"', 1, 12, "ends (frame 2) before it starts"),
    ('"0": "a `t+` b"', 1, 10, "invalid expression"),
    ('"0": "a `t.real`"', 1, 10, "attribute access"),
    ('"0": "a `t"', 1, 9, "expected a closing `"),
    ('"0": "a ``"', 1, 9, "expected an expression"),
    ('"0": "a --neg b --neg c"', 1, 17, 'at most one "--neg"'),
    ("0: a\nmiddle line\n4: b", 2, 1, 'expected "frame: prompt"'),
    ("0: a `foo`", 1, 7, "unknown name 'foo'"),
])
def test_prompt_errors_have_line_and_column(text, line, column, fragment):
    with pytest.raises(ScheduleError) as info:
        parse_prompt_schedule(text).plan(16)
    error = info.value
    assert isinstance(error, ValueError)
    assert (error.line, error.column) == (line, column), str(error)
    assert fragment in str(error)
    assert str(error).startswith(f"text, line {line}, col {column}: ")


def test_runtime_expression_error_names_frame_and_position():
    with pytest.raises(ScheduleError) as info:
        parse_prompt_schedule('"0": "a",\n"4": "b `1/(t-2)`"').plan(5)
    assert (info.value.line, info.value.column) == (2, 10)
    assert "at frame 2" in str(info.value) and "division by zero" in str(info.value)


# -- value schedules ---------------------------------------------------------------------------

def values(text, frames, interpolation="linear"):
    return parse_value_schedule(text).evaluate(frames, interpolation).values


def test_deforum_numbers_interpolate_linearly():
    assert values("0:(1.0), 4:(0.5), 6:(0.5)", 8) == pytest.approx([1, 0.875, 0.75, 0.625, 0.5, 0.5, 0.5, 0.5])


def test_expression_key_is_evaluated_until_the_next_key():
    got = values("0:(0), 2:(10*t), 5:(1)", 7)
    assert got == pytest.approx([0, 10, 20, 30, 40, 1, 1])


def test_number_before_expression_interpolates_to_its_first_value():
    got = values("0:(0), 4:(sin(2*pi*t/8)+t)", 6)
    assert got[4] == pytest.approx(4.0) and got[2] == pytest.approx(2.0)
    assert got[5] == pytest.approx(math.sin(2 * math.pi * 5 / 8) + 5)


@pytest.mark.parametrize("text", [
    "0:(1), 3:(2)", "0: 1, 3: 2", '"0": "1", "3": "2"', "0:(1)\n3:(2)", "0:1,3:2,",
    "0:((1)), 3:(4-2)",
])
def test_value_forms(text):
    assert values(text, 5) == pytest.approx([1, 4 / 3, 5 / 3, 2, 2])


def test_before_first_and_after_last_key_hold():
    assert values("2:(5), 3:(7)", 6) == pytest.approx([5, 5, 5, 7, 7, 7])


def test_value_holds_ranges_and_none():
    assert values("0!:(1), 3:(2), 5:(0)", 6) == pytest.approx([1, 1, 1, 2, 1, 0])
    assert values("0..2:(1), 4:(3)", 5) == pytest.approx([1, 1, 1, 2, 3])
    assert values("0:(1), 3:(2)", 5, "none") == pytest.approx([1, 1, 1, 2, 2])
    assert values("0:(0), 4:(1)", 5, "ease_in_out")[1] == pytest.approx(0.15625)


def test_single_expression_and_commas_inside_calls():
    assert values("where(t > 1, 1, 0)", 4) == [0, 0, 1, 1]
    assert values("0:(where(t > 1, 1, 0)), 3:(max(2, 5))", 4) == [0, 0, 1, 5]
    assert values("0:(max_f)", 3) == [2, 2, 2]


def test_value_keys_relative_negative_and_beyond():
    result = parse_value_schedule("0:(0), +2:(2), -1:(4), 20:(9)").evaluate(5)
    # -1 is frame 4; 20 is past the last frame and ignored, as Deforum does.
    assert result.values == pytest.approx([0, 1, 2, 3, 4])
    assert result.keyframes == [0, 2, 4]
    assert len(result.warnings) == 1 and "ignored" in result.warnings[0]


@pytest.mark.parametrize("text, line, column, fragment", [
    ("", 1, 1, "the schedule is empty"),
    ("0:(1), 5:(", 1, 10, "expected a closing )"),
    ("0:(1),\n5: 1 2", 2, 6, "invalid expression"),
    ("0:(1) 5:(2)", 1, 8, 'found ":" inside a value'),
    ("0:(t.real)", 1, 4, "attribute access"),
    ("0:(__import__('os'))", 1, 4, "unknown function"),
    ("0:(1),\nfoo:(2)", 2, 1, "unknown name 'foo'"),
    ("0:(1), 3:", 1, 10, "expected a value after the colon"),
    ("0:(1), 4:(2))", 1, 13, "without a matching ("),
    ("0:(1)\n0:(2)", 2, 1, "already has a keyframe"),
    ("0:(1/(t-3))", 1, 4, "at frame 3"),
])
def test_value_errors_have_line_and_column(text, line, column, fragment):
    with pytest.raises(ScheduleError) as info:
        parse_value_schedule(text).evaluate(8)
    assert (info.value.line, info.value.column) == (line, column), str(info.value)
    assert fragment in str(info.value)


# -- fuzz --------------------------------------------------------------------------------------

_ALPHABET = list('0123456789::,,"""\'{}()``-+.%!\n\n tabc_xyz*/<>=&|~^[]') + ["--neg", "t", "max_f", "pw_a", "sin(", "..", "é", "\x00", "\\", "\\u00"]


def _random_text(rng: random.Random) -> str:
    return "".join(rng.choice(_ALPHABET) for _ in range(rng.randint(0, 40)))


def _mutations(rng: random.Random, seed_text: str) -> str:
    chars = list(seed_text)
    for _ in range(rng.randint(1, 4)):
        op = rng.random()
        pos = rng.randint(0, len(chars))
        if op < 0.4 and chars:
            del chars[min(pos, len(chars) - 1)]
        else:
            chars.insert(pos, rng.choice(_ALPHABET))
    return "".join(chars)


SEEDS = [FIZZ, "{" + FIZZ + "}", "head\n0: a `t/2`\n4!: b --neg c\ntail", '"0..3": "a", "-1": "b", "50%": "c"',
         "0:(1), 4:(sin(t)), -1:(where(t>2,1,0))", "0: 1, +2: 2", '"0": "1", "max_f": "t**2"']


def test_fuzz_only_schedule_errors_escape():
    """Random and mutated texts: every outcome is a plan/values or a ScheduleError, never a crash."""
    rng = random.Random(20261121)
    texts = [_random_text(rng) for _ in range(1500)]
    texts += [_mutations(rng, rng.choice(SEEDS)) for _ in range(1500)]
    outcomes = {"ok": 0, "error": 0}
    for text in texts:
        for run in (lambda: parse_prompt_schedule(text).plan(rng.randint(1, 12), interpolation="slerp",
                                                            loop=rng.random() < 0.3, weights={"pw_a": 0.5}),
                    lambda: parse_value_schedule(text).evaluate(rng.randint(1, 12))):
            try:
                result = run()
            except ScheduleError as error:
                assert error.reason
                outcomes["error"] += 1
                continue
            outcomes["ok"] += 1
            frames = getattr(result, "frames", None) or getattr(result, "values", None)
            assert frames is not None and len(frames) >= 1
    # Both outcomes occur: the fuzzer reaches the parsers' success and error paths.
    assert outcomes["ok"] > 100 and outcomes["error"] > 100, outcomes


def test_value_schedule_drives_prompt_weights_per_frame():
    """The Value Schedule's FLOATS output feeds pw_a: each frame's prompt carries its own value."""
    floats, _, _ = value_schedule_outputs("0:(0.5), 4:(1.5)", 5, 0)
    weights = prompt_weights({"pw_a": floats, "pw_b": None})
    assert weights == {"pw_a": [0.5, 0.75, 1.0, 1.25, 1.5]}
    plan = parse_prompt_schedule('"0": "a (cat:`pw_a`)"').plan(5, weights=weights)
    assert [b.positive_from for b in plan.frames] == [f"a (cat:{w})" for w in ("0.5", "0.75", "1", "1.25", "1.5")]


def test_describe_lists_every_frame():
    plan = parse_prompt_schedule('"0": "a --neg x", "2": "b"').plan(3)
    assert plan.describe().splitlines() == [
        "0: a --neg x",
        '1: a (0.500) -> b (0.500) --neg x -> ""',
        "2: b",
    ]
