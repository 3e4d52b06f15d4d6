"""Prompt Schedule and Value Schedule as ComfyUI runs them: V3 ``execute`` and ``validate_inputs``."""
import pytest
import torch

pytestmark = pytest.mark.tier2


@pytest.fixture(scope="module")
def schedule_nodes(comfyui_root):
    from steadyframe.nodes import schedule_nodes

    return schedule_nodes


def test_value_schedule_node_outputs(schedule_nodes):
    node = schedule_nodes.SteadyFrameValueSchedule
    values, value, int_value = node.execute("0:(0), 10:(5)", 11, 4).args
    assert values == pytest.approx([0.5 * i for i in range(11)])
    assert (value, int_value) == (pytest.approx(2.0), 2)
    _, value, int_value = node.execute("0:(0), 10:(5)", 11, 16, "linear").args  # wraps around: frame 5
    assert (value, int_value) == (pytest.approx(2.5), 3)


def test_value_schedule_node_takes_the_frame_count_from_a_latent(schedule_nodes):
    latent = {"samples": torch.zeros(6, 4, 8, 8)}
    values, _, _ = schedule_nodes.SteadyFrameValueSchedule.execute("0:(1), -1:(2)", 100, 0, "linear", latent=latent).args
    assert len(values) == 6 and values[-1] == 2.0
    with pytest.raises(ValueError, match="expected an image latent batch"):
        schedule_nodes.SteadyFrameValueSchedule.execute("0:(1)", 16, 0, latent={"samples": torch.zeros(1, 4, 6, 8, 8)})


def test_value_schedule_node_error_is_a_value_error_with_position(schedule_nodes):
    with pytest.raises(ValueError, match=r"Value schedule: text, line 2, col 4: .*attribute access"):
        schedule_nodes.SteadyFrameValueSchedule.execute("0:(1),\n5:(t.real)", 8, 0)


def test_syntax_errors_are_reported_when_the_prompt_is_queued(schedule_nodes):
    prompt, value = schedule_nodes.SteadyFramePromptSchedule, schedule_nodes.SteadyFrameValueSchedule
    assert prompt.validate_inputs(text='"0": "a", "8": "b"') is True
    assert prompt.validate_inputs() is True  # text comes from a link: checked when it runs
    message = prompt.validate_inputs(text='"0": "a"', text_l='"0" "b"')
    assert message.startswith("Prompt schedule: text_l, line 1, col 5: expected")
    assert value.validate_inputs(text="0:(1), 8:(0.5)") is True
    assert value.validate_inputs(text="0:(t.real)").startswith("Value schedule: text, line 1, col 4")


def test_value_schedule_values_drive_prompt_weights(schedule_nodes):
    """Value Schedule's FLOATS output wired into pw_a: each frame's prompt carries its own weight."""
    from support.small_sdxl_clip import make_small_sdxl_clip

    floats = schedule_nodes.SteadyFrameValueSchedule.execute("0:(0.5), 2:(1.5)", 3, 0).args[0]
    positive, negative, frame_prompts = schedule_nodes.SteadyFramePromptSchedule.execute(
        make_small_sdxl_clip(0), '"0": "a (cat:`pw_a`)"', 3, pw_a=floats, pw_b=0.25).args
    assert frame_prompts.splitlines() == ["0: a (cat:0.5)", "1: a (cat:1)", "2: a (cat:1.5)"]
    assert positive[0][0].shape[0] == negative[0][0].shape[0] == 3
    assert not torch.allclose(positive[0][0][0], positive[0][0][2])
