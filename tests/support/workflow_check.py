"""Object-info for tier-1 workflow checks: ComfyUI v0.8.0's core nodes (a committed fixture made
from a real /object_info) plus this pack's nodes described the way ComfyUI's server describes
a V1 node class."""
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


def v1_node_info(node_id: str, cls, display_name=None) -> dict:
    """What ComfyUI's /object_info reports for a classic (V1) node class."""
    inputs = cls.INPUT_TYPES()
    return {
        "input": inputs,
        "input_order": {section: list(values) for section, values in inputs.items()},
        "output": list(cls.RETURN_TYPES),
        "output_is_list": list(getattr(cls, "OUTPUT_IS_LIST", [False] * len(cls.RETURN_TYPES))),
        "output_name": list(getattr(cls, "RETURN_NAMES", cls.RETURN_TYPES)),
        "name": node_id,
        "display_name": display_name or node_id,
        "description": getattr(cls, "DESCRIPTION", ""),
        "category": getattr(cls, "CATEGORY", "sd"),
        "output_node": bool(getattr(cls, "OUTPUT_NODE", False)),
    }


def pack_object_info() -> tuple[dict, dict]:
    """``(info, unavailable)``: our nodes' entries, and ``{node_id: reason}`` for nodes whose
    INPUT_TYPES needs ComfyUI itself (e.g. model lists from folder_paths) in this process."""
    import steadyframe

    info, unavailable = {}, {}
    for node_id, cls in steadyframe.NODE_CLASS_MAPPINGS.items():
        try:
            info[node_id] = v1_node_info(node_id, cls, steadyframe.NODE_DISPLAY_NAME_MAPPINGS.get(node_id))
        except ImportError as exc:
            unavailable[node_id] = f"{type(exc).__name__}: {exc}"
    return info, unavailable


def combined_object_info() -> tuple[dict, dict]:
    """Core and pack entries together, plus the pack nodes that could not be described here."""
    pack, unavailable = pack_object_info()
    info = dict(core_object_info())
    info.update(pack)
    return info, unavailable


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
