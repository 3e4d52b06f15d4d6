"""What the schedule nodes do around the parsers: frame count, weights, queue-time checks, errors,
the Value Schedule's outputs."""
import pytest
import torch

from steadyframe.schedule import PROMPT_INTERPOLATIONS, VALUE_INTERPOLATIONS, PromptInterpolation, ScheduleError
from steadyframe.schedule.node_inputs import (
    check_prompt_schedule_syntax,
    check_value_schedule_syntax,
    frame_count_from,
    prompt_weights,
    reported_as,
    value_schedule_outputs,
)


def test_value_schedule_outputs():
    values, value, int_value = value_schedule_outputs("0:(0), 10:(5)", 11, 4)
    assert values == pytest.approx([0.5 * i for i in range(11)])
    assert (value, int_value) == (pytest.approx(2.0), 2)
    _, value, int_value = value_schedule_outputs("0:(0), 10:(5)", 11, 16)  # wraps around: frame 5
    assert (value, int_value) == (pytest.approx(2.5), 3)
    _, value, int_value = value_schedule_outputs("0:(-0.5)", 1, 0)  # rounds half up
    assert (value, int_value) == (-0.5, 0)


def test_frame_count_comes_from_a_connected_latent():
    latent = {"samples": torch.zeros(6, 4, 8, 8)}
    assert frame_count_from(100, latent) == 6
    assert frame_count_from(100) == 100
    values, _, _ = value_schedule_outputs("0:(1), -1:(2)", frame_count_from(100, latent), 0)
    assert len(values) == 6 and values[-1] == 2.0
    with pytest.raises(ValueError, match=r"latent: expected an image latent batch .* got shape \(1, 4, 6, 8, 8\)"):
        frame_count_from(16, {"samples": torch.zeros(1, 4, 6, 8, 8)})
    with pytest.raises(ValueError, match="got shape None"):
        frame_count_from(16, {"noise_mask": torch.zeros(1, 1, 8, 8)})


def test_value_schedule_error_is_a_value_error_with_position():
    with pytest.raises(ValueError, match=r"^Value schedule: text, line 2, col 4: .*attribute access") as info:
        value_schedule_outputs("0:(1),\n5:(t.real)", 8, 0)
    assert not isinstance(info.value, ScheduleError)  # ComfyUI shows the message, not our type


def test_reported_as_names_the_node_and_lets_other_errors_through():
    with pytest.raises(ValueError, match=r"^Prompt schedule: text, line 1, col 2: bad$"):
        with reported_as("Prompt schedule"):
            raise ScheduleError("bad", source="text", line=1, column=2)
    with pytest.raises(KeyError):
        with reported_as("Prompt schedule"):
            raise KeyError("not a schedule error")


def test_prompt_weights_keeps_connected_inputs_as_numbers_or_lists():
    weights = prompt_weights({"pw_a": 0.5, "pw_b": None, "pw_c": torch.tensor([1.0, 2.0]), "pw_d": torch.tensor(3.0),
                              "loop": True})
    assert weights == {"pw_a": 0.5, "pw_c": [1.0, 2.0], "pw_d": 3.0}
    assert prompt_weights({}) == {}


def test_syntax_errors_are_reported_when_the_prompt_is_queued():
    assert check_prompt_schedule_syntax(text='"0": "a", "8": "b"', text_l="") is True
    assert check_prompt_schedule_syntax(text=None, text_l=None) is True  # linked inputs: checked when they run
    message = check_prompt_schedule_syntax(text='"0": "a"', text_l='"0" "b"')
    assert message.startswith("Prompt schedule: text_l, line 1, col 5: expected")
    assert check_prompt_schedule_syntax(text='"0": "a" "1": "b"', text_l='"0" "b"').startswith("Prompt schedule: text, ")
    assert check_value_schedule_syntax("0:(1), 8:(0.5)") is True
    assert check_value_schedule_syntax(None) is True
    assert check_value_schedule_syntax("0:(t.real)").startswith("Value schedule: text, line 1, col 4")


def test_interpolation_choices_keep_the_saved_strings():
    assert PROMPT_INTERPOLATIONS == ("linear", "slerp", "ease_in", "ease_out", "ease_in_out", "none")
    assert VALUE_INTERPOLATIONS == ("linear", "ease_in", "ease_out", "ease_in_out", "none")
    assert PromptInterpolation("slerp") == "slerp"
