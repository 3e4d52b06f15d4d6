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

V3_OUTPUT_NODE_HIDDEN = {"prompt", "extra_pnginfo"}

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
    hidden = set((entry.get("input") or {}).get("hidden", {}))
    if entry.get("output_node"):
        # V3 gives every output node these two (comfy_api Schema.finalize); workflows never hold hidden inputs
        hidden |= V3_OUTPUT_NODE_HIDDEN
    result["hidden"] = sorted(hidden)
    result["input_order"] = {section: names for section, names in (entry.get("input_order") or {}).items()
                             if section != "hidden"}
    return result


def added_choices_only(old_spec, new_spec) -> bool:
    """True when a combo only gained choices: every saved value is still offered, the rest is equal."""
    if old_spec is None or new_spec is None or old_spec[0] != "COMBO" or new_spec[0] != "COMBO":
        return False
    old_options, new_options = dict(old_spec[1]), dict(new_spec[1])
    old_choices, new_choices = old_options.pop("options", []), new_options.pop("options", [])
    return old_options == new_options and set(old_choices) <= set(new_choices)


OUTPUT_KEYS = ("output", "output_name", "output_is_list", "output_tooltips")


def appended_optional_inputs(old: dict, new: dict) -> set[str]:
    """Optional inputs the new entry adds after every input the old one had.

    Saved workflows keep loading with these: widget values and links are matched by position,
    and a value missing at the end takes the input's default.
    """
    old_names = [name for names in old["input_order"].values() for name in names]
    new_order = new["input_order"]
    added = [name for names in new_order.values() for name in names if name not in old_names]
    optional = new_order.get("optional", [])
    kept = [name for name in optional if name in old_names]
    if not all(name in optional for name in added) or optional[:len(kept)] != kept:
        return set()  # something moved in front of an old input: report every difference
    return set(added)


def node_info_differences(node_id: str, new_entry: dict, folder_combos: tuple[str, ...] = ()) -> list[str]:
    """Where a node's current entry differs from its pre-V3 entry (empty when workflows see no change).

    Additions that old workflows cannot see are allowed: optional inputs appended after every old
    input, and outputs appended after every old output.
    """
    old = comparable_entry(before_v3_entries()[node_id], folder_combos)
    new = comparable_entry(new_entry, folder_combos)
    appended = appended_optional_inputs(old, new)
    if appended:
        new["input"]["optional"] = {k: v for k, v in new["input"]["optional"].items() if k not in appended}
        new["input_order"] = {section: [name for name in names if name not in appended]
                              for section, names in new["input_order"].items()}
        new["input_order"] = {section: names for section, names in new["input_order"].items()
                              if names or section in old["input_order"]}
        if not new["input"]["optional"] and "optional" not in old["input"]:
            del new["input"]["optional"]
    old_outputs = len(old["output"] or [])
    if list(new["output"] or [])[:old_outputs] == list(old["output"] or []):
        for key in OUTPUT_KEYS:
            if new[key] is not None and old[key] is not None:
                new[key] = list(new[key])[:old_outputs]
    differences = []
    for key in old:
        if key == "input":
            for section in sorted(set(old["input"]) | set(new["input"])):
                a, b = old["input"].get(section, {}), new["input"].get(section, {})
                for name in sorted(set(a) | set(b)):
                    if a.get(name) != b.get(name) and not added_choices_only(a.get(name), b.get(name)):
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
