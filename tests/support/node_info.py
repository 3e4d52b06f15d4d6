"""Node definitions as saved workflows see them, comparable across ComfyUI's V1 and V3 node APIs.

A saved workflow keeps loading when every node keeps its id, input names and order, input types,
defaults and limits, combo choices, and output types and names. V3 nodes describe the same thing in
a slightly different shape (combos as ``["COMBO", {"options": [...]}]``, ``multiselect: false``,
extra flags), so both shapes are brought to one here before comparing.
"""
from __future__ import annotations

import json
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
BEFORE_V3 = FIXTURES / "saved_before_v3" / "object_info_v2.json"

ENTRY_KEYS = ("name", "display_name", "description", "category", "output_node",
              "output", "output_name", "output_is_list", "input_order")
"""What a saved workflow (and the canvas showing it) depends on; ``input`` is compared spec by spec."""


def before_v3_entries() -> dict:
    """The /object_info entries of the pack's nodes as the V1 nodes reported them before V3."""
    return json.loads(BEFORE_V3.read_text())


def comparable_spec(spec, keep_choices: bool = True):
    """``(type, options)`` of one input spec; combos become ``("COMBO", {..., "options": choices})``."""
    if isinstance(spec, str):  # a hidden input: ("PROMPT", ...) is saved as the bare type name
        return spec, {}
    kind = spec[0]
    options = dict(spec[1]) if len(spec) > 1 and isinstance(spec[1], dict) else {}
    if isinstance(kind, list):
        options["options"], kind = list(kind), "COMBO"
    if options.get("multiselect") is False:
        del options["multiselect"]
    options = {k: v for k, v in options.items() if v is not None}
    if not keep_choices:
        options.pop("options", None)
    return kind, options


def comparable_entry(entry: dict, folder_combos: tuple[str, ...] = ()) -> dict:
    """One node's entry reduced to what workflows depend on.

    ``folder_combos``: combo inputs whose choices come from the user's folders (model files,
    input videos); their choices depend on the machine, so only their other options are kept.
    """
    result = {key: entry.get(key) for key in ENTRY_KEYS}
    tooltips = entry.get("output_tooltips")
    result["output_tooltips"] = list(tooltips) if tooltips and any(t is not None for t in tooltips) else None
    result["input"] = {
        section: {name: comparable_spec(spec, keep_choices=name not in folder_combos) for name, spec in specs.items()}
        for section, specs in (entry.get("input") or {}).items() if section != "hidden"
    }
    result["hidden"] = sorted((entry.get("input") or {}).get("hidden", {}))
    result["input_order"] = {section: names for section, names in (entry.get("input_order") or {}).items()
                             if section != "hidden"}
    return result


def node_info_differences(node_id: str, new_entry: dict, folder_combos: tuple[str, ...] = ()) -> list[str]:
    """Where a node's current entry differs from its pre-V3 entry (empty when workflows see no change)."""
    old = comparable_entry(before_v3_entries()[node_id], folder_combos)
    new = comparable_entry(new_entry, folder_combos)
    differences = []
    for key in old:
        if key == "input":
            for section in sorted(set(old["input"]) | set(new["input"])):
                a, b = old["input"].get(section, {}), new["input"].get(section, {})
                for name in sorted(set(a) | set(b)):
                    if a.get(name) != b.get(name):
                        differences.append(f"{node_id} input {section}.{name}: before {a.get(name)!r}, now {b.get(name)!r}")
        elif old[key] != new[key]:
            differences.append(f"{node_id} {key}: before {old[key]!r}, now {new[key]!r}")
    return differences


FOLDER_COMBOS = {
    "SteadyFrameApplyMotionLoRA": ("lora_name",),
    "SteadyFrameLoadFlowModel": ("model_name",),
    "SteadyFrameLoadMotionModule": ("motion_module",),
    "SteadyFrameLoadVideo": ("video",),
}
"""Combo inputs that list the user's files (model folders, input videos): machine-dependent choices."""
