"""The schedule expression evaluator: numexpr-style math, and nothing else."""
import math

import pytest

from steadyframe.schedule import ScheduleError, SourceText, compile_expression

VARS = ("t", "max_f", "pw_a")


def value(text, **variables):
    env = {"t": 0.0, "max_f": 15.0, "pw_a": 0.0}
    env.update({k: float(v) for k, v in variables.items()})
    return compile_expression(text, VARS).evaluate(env, frame=int(env["t"]))


@pytest.mark.parametrize("text, t, expected", [
    ("0.5+0.5*sin(t/12)", 6, 0.5 + 0.5 * math.sin(0.5)),
    ("t**2 - 3*t + 1", 4, 5.0),
    ("max_f/2", 0, 7.5),
    ("where(t > 5, 1, 0)", 6, 1.0),
    ("where(t > 5, 1, 0)", 5, 0.0),
    ("(t >= 2) & (t < 4)", 3, 1.0),
    ("(t >= 2) | (t > 100)", 1, 0.0),
    ("~(t > 2)", 1, 1.0),
    ("1 if t % 2 == 0 else -1", 3, -1.0),
    ("2 < t < 5", 3, 1.0),
    ("abs(sin(pi*t/8))", 4, 1.0),
    ("arctan2(1, 1)", 0, math.pi / 4),
    ("clamp(t*10, 0, 1)", 3, 1.0),
    ("min(t, 3, max_f) + max(1, 2)", 9, 5.0),
    ("log(e**2) + log(8, 2)", 0, 5.0),
    ("floor(t/4) + ceil(0.2) + round(2.567, 2)", 9, 3 + 2.57),
    ("sqrt(t) + tan(0)", 16, 4.0),
    ("pw_a * 2", 0, 3.0),
    ("-t + +1", 2, -1.0),
    ("not t", 0, 1.0),
    ("t and 0 or 7", 1, 7.0),
    ("pw_a or 2", 0, 1.5),
    ("0 or t", 3, 3.0),
    ("7 // 2 + 7 % 2", 0, 4.0),
    ("lerp(0, 10, t/10)", 3, 3.0),
])
def test_values(text, t, expected):
    got = value(text, t=t, pw_a=1.5)
    assert got == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_names_tell_constant_from_per_frame():
    assert compile_expression("2*pi", VARS).names == frozenset()
    assert compile_expression("sin(t) + max_f", VARS).names == {"t", "max_f"}


def test_where_only_evaluates_the_chosen_branch():
    # 1/t would divide by zero at t=0; the guard must keep that branch unevaluated.
    assert value("where(t > 0, 1/t, 0)", t=0) == 0.0
    assert value("where(t > 0, 1/t, 0)", t=4) == 0.25


@pytest.mark.parametrize("text, fragment", [
    ("t.__class__", "attribute access"),
    ("(1).real", "attribute access"),
    ("__import__('os')", "unknown function '__import__'"),
    ("import os", "invalid expression"),
    ("open('x')", "unknown function 'open'"),
    ("eval('1')", "unknown function 'eval'"),
    ("x + 1", "unknown name 'x'"),
    ("__builtins__", "unknown name '__builtins__'"),
    ("[1, 2][0]", "indexing"),
    ("(lambda: 1)()", "only math functions can be called"),
    ("[t for t in (1, 2)]", "comprehensions"),
    ("'abc'", "strings are not allowed"),
    ("sin", "sin is a function"),
    ("t(2)", "t is not a function"),
    ("sin(x=1)", "no keyword arguments"),
    ("sin(1, 2)", "takes 1 argument"),
    ("t ^ 2", "write **"),
    ("1, 2", "tuples"),
    ("(y := 3)", "assignment"),
    ("1j", "not a real number"),
    ("True", "not a real number"),
    ("1 +", "invalid expression"),
    ("", "expected an expression"),
    ("sin(*[1])", "not allowed"),
])
def test_refused(text, fragment):
    with pytest.raises(ScheduleError) as info:
        compile_expression(text, VARS)
    assert fragment in str(info.value)


@pytest.mark.parametrize("text, fragment", [
    ("9**9**9", "too large"),
    ("10**400", "too large"),
    ("2.0**100000", "too large"),
    ("exp(1000)", "too large"),
    ("pow(10, 1000)", "too large"),
    ("1/t", "division by zero"),
    ("t % 0", "division by zero"),
    ("log(t)", "domain"),
    ("(-8)**(1/3)", "domain"),
    ("sqrt(-1)", "domain"),
    ("1e308*10", "not a finite number"),
    ("round(t, 1000)", "between -12 and 12"),
])
def test_math_errors_name_the_frame(text, fragment):
    expression = compile_expression(text, VARS)
    with pytest.raises(ScheduleError) as info:
        expression.evaluate({"t": 0.0, "max_f": 15.0, "pw_a": 0.0}, frame=0)
    message = str(info.value)
    assert fragment in message
    assert "at frame 0" in message


def test_size_and_depth_are_bounded():
    with pytest.raises(ScheduleError, match="longer than"):
        compile_expression("1+" * 600 + "1", VARS)
    with pytest.raises(ScheduleError, match="nested"):
        compile_expression("-" * 300 + "1", VARS)
    with pytest.raises(ScheduleError, match="nested|invalid expression"):
        compile_expression("(" * 300 + "1" + ")" * 300, VARS)
    with pytest.raises(ScheduleError, match="too large"):
        compile_expression("<".join(["t"] * 450), VARS)


def test_error_column_points_into_the_schedule_line():
    source = SourceText('first line\n0:(1 + foo)', "text")
    start = source.text.index("1 + foo")
    with pytest.raises(ScheduleError) as info:
        compile_expression("1 + foo", ("t",), source=source, index_map=range(start, start + 7))
    error = info.value
    assert (error.source, error.line) == ("text", 2)
    assert error.column == 8  # the "f" of foo
    assert str(error).startswith("text, line 2, col 8:")


@pytest.mark.parametrize("text, column, fragment", [
    ("\x00", 1, "null bytes"),
    ("t\x00", 1, "null bytes"),
    ("é + 1", 1, "unknown name 'é'"),
    ("t ;", 3, "invalid expression"),
    ("\u2028", 1, "expected an expression"),
])
def test_null_bytes_and_odd_characters_are_schedule_errors(text, column, fragment):
    with pytest.raises(ScheduleError) as info:
        compile_expression(text, VARS)
    assert (info.value.line, info.value.column) == (1, column)
    assert fragment in str(info.value)


def test_line_breaks_inside_an_expression_are_blanks():
    # a quoted or parenthesised value may span lines: "t\n+\n1" is t + 1
    assert value("t\n+\n1", t=2) == 3.0


def test_fuzz_token_soup_only_raises_schedule_errors():
    """Random token sequences: compile and evaluate succeed or raise ScheduleError, nothing else."""
    import random

    from steadyframe.schedule import FUNCTIONS

    tokens = ["t", "max_f", "pw_a", "pi", "1", "0", "2.5", "1e308", "-", "+", "*", "/", "//", "%", "**", "(", ")",
              ",", "<", "==", "and", "or", "not", "if", "else", "&", "|", "~", "^", ".", "[", "]", "'", "lambda",
              ":", "x", "__import__", "9**9**9", "\\", "`"] + [name + "(" for name in FUNCTIONS]
    rng = random.Random(7)
    evaluated = 0
    for _ in range(6000):
        text = " ".join(rng.choice(tokens) for _ in range(rng.randint(1, 12)))
        try:
            expression = compile_expression(text, VARS)
        except ScheduleError:
            continue
        for t in (0.0, 1.0, 7.0):
            try:
                result = expression.evaluate({"t": t, "max_f": 15.0, "pw_a": 0.5}, frame=int(t))
            except ScheduleError:
                continue
            assert math.isfinite(result)
            evaluated += 1
    assert evaluated > 50
