"""Object-info for tier-1 workflow checks: ComfyUI v0.8.0's core nodes and this pack's nodes, both
committed fixtures made from a real /object_info."""
from __future__ import annotations

import functools
import json
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
CORE_FIXTURE = FIXTURES / "comfyui_v0.8.0_core_nodes.json"
SAMPLE_FIXTURE = FIXTURES / "object_info_sample.json"


@functools.lru_cache(maxsize=1)
def core_object_info() -> dict:
    return json.loads(CORE_FIXTURE.read_text())["nodes"]


@functools.lru_cache(maxsize=1)
def sample_object_info() -> dict:
    return json.loads(SAMPLE_FIXTURE.read_text())


PACK_FIXTURE = FIXTURES / "steadyframe_object_info.json"


def _v1_spec(spec):
    """V3 describes a combo as ``["COMBO", {"options": [...]}]``; V1 (and this module's checks) as
    ``[[...], {...}]``. Both reach the frontend; one shape keeps the checks simple."""
    if isinstance(spec, list) and spec and spec[0] == "COMBO" and len(spec) > 1 and "options" in spec[1]:
        options = {k: v for k, v in spec[1].items() if k not in ("options", "multiselect")}
        return [list(spec[1]["options"]), options]
    return spec


@functools.lru_cache(maxsize=1)
def pack_object_info() -> dict:
    """The /object_info entries of this pack's nodes, as ComfyUI's server reported them.

    The node declarations need ComfyUI's ``comfy_api``, absent in tier 1; this committed snapshot
    stands in for them there. Tier 2 (tests/tier2/test_pack_object_info.py) checks that it equals
    what the real server reports, and ``tests/fixtures/make_pack_nodes.py`` regenerates it.
    """
    entries = json.loads(PACK_FIXTURE.read_text())
    for entry in entries.values():
        order = entry.get("input_order") or {}
        for section, specs in (entry.get("input") or {}).items():
            if section != "hidden":  # widgets_values follow input_order, whatever order the file keeps keys in
                names = order.get(section, list(specs))
                entry["input"][section] = {name: _v1_spec(specs[name]) for name in names}
    return entries


def pack_input_types(node_id: str) -> dict:
    """``{"required": {...}, "optional": {...}}`` of one of our nodes, V1-shaped (what INPUT_TYPES gave)."""
    inputs = pack_object_info()[node_id]["input"]
    return {section: dict(specs) for section, specs in inputs.items() if section in ("required", "optional")}


def combined_object_info() -> dict:
    """Core and pack entries together."""
    info = dict(core_object_info())
    info.update(pack_object_info())
    return info


def structural_problems(prompt: dict, object_info: dict) -> list[str]:
    """What ComfyUI's validation would reject for structural reasons (not file names or ranges):
    unknown types, missing required inputs, links to missing nodes or output slots, and links
    whose output type does not fit the input type."""
    problems = []
    for node_id, node in prompt.items():
        info = object_info.get(node["class_type"])
        if info is None:
            problems.append(f"node {node_id}: unknown type {node['class_type']}")
            continue
        required = info.get("input", {}).get("required") or {}
        optional = info.get("input", {}).get("optional") or {}
        for name in required:
            if name not in node["inputs"]:
                problems.append(f"node {node_id} ({node['class_type']}): required input {name!r} missing")
        for name, value in node["inputs"].items():
            spec = required.get(name) or optional.get(name)
            if spec is None:
                problems.append(f"node {node_id} ({node['class_type']}): no input named {name!r}")
                continue
            if not (isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)):
                continue
            source = prompt.get(value[0])
            if source is None:
                problems.append(f"node {node_id} input {name!r}: links to missing node {value[0]}")
                continue
            outputs = object_info.get(source["class_type"], {}).get("output", [])
            if not 0 <= value[1] < len(outputs):
                problems.append(f"node {node_id} input {name!r}: node {value[0]} has no output slot {value[1]}")
                continue
            wanted, given = spec[0], outputs[value[1]]
            if isinstance(wanted, list) or wanted == "COMBO":
                wanted = "COMBO"
            if not _types_fit(given, wanted):
                problems.append(f"node {node_id} input {name!r}: gets {given} from node {value[0]}, expects {wanted}")
    return problems


def _types_fit(given, wanted) -> bool:
    if "*" in (given, wanted) or given == wanted:
        return True
    if isinstance(given, list):  # a combo output
        return wanted == "COMBO"
    given_set, wanted_set = set(str(given).split(",")), set(str(wanted).split(","))
    return bool(given_set & wanted_set)
