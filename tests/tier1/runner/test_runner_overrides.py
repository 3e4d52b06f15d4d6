"""``--set NODE.INPUT=VALUE`` parsing and application."""
import pytest

from steadyframe.runner.errors import RunnerError
from steadyframe.runner.overrides import apply_overrides, parse_override
from support.workflow_check import sample_object_info

PROMPT = {
    "3": {"class_type": "KSampler", "inputs": {"seed": 1, "steps": 20, "model": ["4", 0]}, "_meta": {"title": "KSampler"}},
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "a.safetensors"}, "_meta": {"title": "Load Checkpoint"}},
    "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "x"}, "_meta": {"title": "Positive prompt"}},
    "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "y"}, "_meta": {"title": "Negative prompt"}},
}


@pytest.mark.parametrize("text, node, name, value", [
    ("3.seed=5", "3", "seed", 5),
    ("3.cfg=7.5", "3", "cfg", 7.5),
    ("9.lossless=false", "9", "lossless", False),
    ("6.text=a red fox, at dusk", "6", "text", "a red fox, at dusk"),
    ('6.text="42"', "6", "text", "42"),
    ("6.text=", "6", "text", ""),
    ("3.model=[\"5\", 0]", "3", "model", ["5", 0]),
    ("Positive prompt.text=hello=world", "Positive prompt", "text", "hello=world"),
    ("5:3.seed=2", "5:3", "seed", 2),
    ("v1.5 loader.ckpt_name=b", "v1.5 loader", "ckpt_name", "b"),
])
def test_parse(text, node, name, value):
    override = parse_override(text)
    assert (override.node, override.input, override.value) == (node, name, value)


@pytest.mark.parametrize("text", ["3seed=5", "3.seed", ".seed=5", "3.=5", "=5"])
def test_parse_errors_say_what_is_expected(text):
    with pytest.raises(RunnerError, match="NODE.INPUT=VALUE"):
        parse_override(text)


def test_apply_by_id_title_and_unique_type():
    overrides = [parse_override(t) for t in ("3.seed=5", "Negative prompt.text=ugly", "CheckpointLoaderSimple.ckpt_name=b.safetensors", "KSampler.model=7")]
    result = apply_overrides(PROMPT, overrides, sample_object_info())
    assert result["3"]["inputs"]["seed"] == 5
    assert result["7"]["inputs"]["text"] == "ugly"
    assert result["4"]["inputs"]["ckpt_name"] == "b.safetensors"
    assert result["3"]["inputs"]["model"] == 7  # a value replaces a link
    assert PROMPT["3"]["inputs"]["seed"] == 1, "the input prompt is not modified"


def test_ambiguous_type_asks_for_the_id():
    with pytest.raises(RunnerError, match=r"matches several nodes \(6, 7\)"):
        apply_overrides(PROMPT, [parse_override("CLIPTextEncode.text=z")])


def test_unknown_node():
    with pytest.raises(RunnerError, match="no node with id, title or type '12'"):
        apply_overrides(PROMPT, [parse_override("12.seed=1")])


def test_unknown_input_lists_the_real_ones():
    with pytest.raises(RunnerError, match=r"node 3 \(KSampler\) has no input 'sead'; its inputs are: model, seed, steps"):
        apply_overrides(PROMPT, [parse_override("3.sead=1")], sample_object_info())
