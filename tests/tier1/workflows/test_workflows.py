"""Every shipped workflow is a canvas (UI-format) file built from nodes that exist: ours or
ComfyUI v0.8.0 core ones (a fixture taken from a real /object_info), and it converts to a
prompt whose inputs and links ComfyUI's validation would accept structurally."""
from pathlib import Path

import pytest

from steadyframe.runner.convert import MODE_BYPASS, MODE_MUTED, VIRTUAL_TYPES, ui_to_api
from steadyframe.runner.workflow_file import UI_FORMAT, load_workflow, workflow_format
from support.workflow_check import combined_object_info, core_object_info, pack_object_info, structural_problems

WORKFLOWS = Path(__file__).resolve().parents[3] / "workflows"
FILES = sorted(WORKFLOWS.glob("*.json"))


def test_the_main_job_workflow_is_shipped():
    assert (WORKFLOWS / "txt2vid_animatediff.json").is_file(), "the README's run command uses workflows/txt2vid_animatediff.json"


def test_only_json_workflows_in_the_folder():
    strays = [p.name for p in WORKFLOWS.iterdir() if p.suffix != ".json" and not p.name.startswith(".")]
    assert not strays, f"ComfyUI lists every file of workflows/ as a template: {strays}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_workflow_is_ui_format(path):
    data = load_workflow(path)
    assert workflow_format(data, path.name) == UI_FORMAT, f"{path.name}: save it from the canvas (Save), not Export (API)"
    assert isinstance(data.get("links"), list), f"{path.name}: no links list"
    ids = [node["id"] for node in data["nodes"]]
    assert len(ids) == len(set(ids)), f"{path.name}: duplicate node ids"
    for node in data["nodes"]:
        assert isinstance(node.get("pos"), (list, dict)), f"{path.name}: node {node['id']} has no canvas position"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_workflow_uses_only_existing_node_ids(path):
    data = load_workflow(path)
    ours, core = set(pack_object_info()), set(core_object_info())
    unknown = sorted({(n["id"], n["type"]) for n in data["nodes"] if n["type"] not in ours | core | VIRTUAL_TYPES})
    assert not unknown, f"{path.name}: node types that are neither SteadyFrame's nor ComfyUI v0.8.0 core: {unknown}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_workflow_links_are_consistent(path):
    data = load_workflow(path)
    nodes = {node["id"]: node for node in data["nodes"]}
    for link in data["links"]:
        link_id, origin, origin_slot, target, target_slot = (link[:5] if isinstance(link, list) else
            [link[k] for k in ("id", "origin_id", "origin_slot", "target_id", "target_slot")])
        assert origin in nodes and target in nodes, f"{path.name}: link {link_id} joins missing nodes"
        outputs, inputs = nodes[origin].get("outputs") or [], nodes[target].get("inputs") or []
        assert origin_slot < len(outputs), f"{path.name}: link {link_id} leaves node {origin} from slot {origin_slot}"
        assert target_slot < len(inputs), f"{path.name}: link {link_id} enters node {target} at slot {target_slot}"
        assert link_id in (outputs[origin_slot].get("links") or []), f"{path.name}: node {origin} does not list link {link_id}"
        assert inputs[target_slot].get("link") == link_id, f"{path.name}: node {target} input {target_slot} is not link {link_id}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_workflow_converts_to_a_valid_prompt(path):
    data = load_workflow(path)
    info = combined_object_info()
    prompt = ui_to_api(data, info, source=path.name)
    active = [n for n in data["nodes"] if n["type"] not in VIRTUAL_TYPES and n.get("mode", 0) not in (MODE_MUTED, MODE_BYPASS)]
    assert set(prompt) == {str(n["id"]) for n in active}
    assert structural_problems(prompt, info) == []
    assert any(info[node["class_type"]].get("output_node") or not info[node["class_type"]].get("output")
               for node in prompt.values()), f"{path.name}: no output node, ComfyUI would run nothing"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_workflow_choices_of_our_nodes_exist(path):
    """Combo values of SteadyFrame nodes are among today's choices (file lists, empty outside
    ComfyUI, are checked by tier 2)."""
    data = load_workflow(path)
    info = combined_object_info()
    prompt = ui_to_api(data, info, source=path.name)
    stale = []
    for node_id, node in prompt.items():
        if not node["class_type"].startswith("SteadyFrame"):
            continue
        entry = info[node["class_type"]]["input"]
        specs = {**(entry.get("required") or {}), **(entry.get("optional") or {})}
        for name, value in node["inputs"].items():
            choices = specs.get(name, [None])[0]
            if isinstance(choices, (list, tuple)) and choices and not isinstance(value, list) and value not in choices:
                stale.append(f"node {node_id} ({node['class_type']}).{name} = {value!r}, choices {list(choices)}")
    assert not stale, f"{path.name}: {stale}"

