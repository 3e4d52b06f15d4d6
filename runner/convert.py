"""UI format (what the canvas saves) to API format (what ``/prompt`` takes).

The canvas stores widget values positionally (``widgets_values``) and wires nodes through a
``links`` table; the API format names every input. The order of the widgets, and the extra
widgets the canvas adds, come from the server's ``/object_info``:

- a widget is an input of type INT, FLOAT, STRING, BOOLEAN or a combo (a list of choices, or
  ``"COMBO"``), required inputs first, then optional ones, in ``input_order``;
  ``forceInput`` inputs are sockets only;
- an INT named ``seed`` or ``noise_seed`` (or any input with ``control_after_generate``) is
  followed by the "control after generate" widget (fixed/increment/decrement/randomize);
- a combo with ``image_upload`` (video/audio likewise) gets an "upload" widget; canvases put it
  right after that combo or after the last input of its section, so both places are tried.

Graph rules: Reroute nodes are followed to their source, a PrimitiveNode hands its value to
every input it feeds, muted nodes (mode 2) are dropped, bypassed nodes (mode 4) pass the
matching-type input through, and Note nodes are ignored.
"""
from __future__ import annotations

from dataclasses import dataclass

from .errors import RunnerError

MODE_MUTED = 2
MODE_BYPASS = 4
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
SEED_WIDGET_NAMES = {"seed", "noise_seed"}
CONTROL_VALUES = {"fixed", "increment", "decrement", "randomize"}
UPLOAD_OPTIONS = {"image_upload": "image", "video_upload": "video", "audio_upload": "audio", "animated_image_upload": "image"}
UPLOAD_VALUES = {"image", "video", "audio"}
NOTE_TYPES = {"Note", "MarkdownNote"}
REROUTE_TYPE = "Reroute"
PRIMITIVE_TYPE = "PrimitiveNode"
VIRTUAL_TYPES = NOTE_TYPES | {REROUTE_TYPE, PRIMITIVE_TYPE}


@dataclass(frozen=True)
class WidgetSlot:
    """One entry of ``widgets_values``: a named input, or an extra value the canvas keeps."""

    name: str | None  # None: the control-after-generate or upload widget (not sent to the server)
    accepts: frozenset | None = None  # for the extra widgets: the values it can hold
    group: str | None = None  # extra widgets of one group take at most one value


def input_spec_options(spec) -> dict:
    if isinstance(spec, (list, tuple)) and len(spec) > 1 and isinstance(spec[1], dict):
        return spec[1]
    return {}


def is_widget_input(spec) -> bool:
    if not isinstance(spec, (list, tuple)) or not spec:
        return False
    kind = spec[0]
    if input_spec_options(spec).get("forceInput"):
        return False
    return isinstance(kind, (list, tuple)) or kind in WIDGET_TYPES


def _section_order(node_info: dict, section: str) -> list:
    inputs = node_info.get("input", {}).get(section) or {}
    order = (node_info.get("input_order") or {}).get(section)
    return [name for name in (order or list(inputs)) if name in inputs]


def widget_slots(node_info: dict) -> list[WidgetSlot]:
    """The ``widgets_values`` layout of a node, from its ``/object_info`` entry."""
    slots: list[WidgetSlot] = []
    for section in ("required", "optional"):
        inputs = node_info.get("input", {}).get(section) or {}
        upload = None
        for name in _section_order(node_info, section):
            spec = inputs[name]
            if not is_widget_input(spec):
                continue
            options = input_spec_options(spec)
            slots.append(WidgetSlot(name))
            if options.get("control_after_generate") or (spec[0] == "INT" and name in SEED_WIDGET_NAMES):
                slots.append(WidgetSlot(None, frozenset(CONTROL_VALUES)))
            if any(options.get(option) for option in UPLOAD_OPTIONS):
                upload = WidgetSlot(None, frozenset(UPLOAD_VALUES), group=f"upload:{section}")
                slots.append(upload)
        if upload is not None:
            slots.append(upload)
    return slots


def widget_inputs(node: dict, node_info: dict) -> dict:
    """Map a UI node's ``widgets_values`` to named inputs."""
    values = node.get("widgets_values")
    if values is None:
        return {}
    known = set()
    for section in ("required", "optional"):
        known.update((node_info.get("input", {}).get(section) or {}).keys())
    if isinstance(values, dict):  # some packs save widgets by name
        return {name: value for name, value in values.items() if name in known}
    if not isinstance(values, list):
        raise RunnerError(f"node {node.get('id')} ({node.get('type')}): widgets_values must be a list, found {type(values).__name__}")
    result = {}
    position = 0
    groups_used = set()
    for slot in widget_slots(node_info):
        if position >= len(values):
            break
        value = values[position]
        if slot.name is None:
            # Optional extras: consumed only when the saved value is one they can hold, so files
            # saved by canvases that do not add them still line up.
            if slot.group in groups_used:
                continue
            if isinstance(value, str) and value in slot.accepts:
                position += 1
                if slot.group:
                    groups_used.add(slot.group)
            continue
        result[slot.name] = value
        position += 1
    return result


class _UIGraph:
    def __init__(self, workflow: dict, source: str):
        self.source = source
        self.nodes = {}
        for node in workflow.get("nodes", []):
            if not isinstance(node, dict) or "id" not in node or "type" not in node:
                raise RunnerError(f"{source}: every entry of \"nodes\" needs an \"id\" and a \"type\"")
            self.nodes[str(node["id"])] = node
        self.links = {}
        for link in workflow.get("links", []) or []:
            if isinstance(link, dict):
                link_id = link.get("id")
                entry = (link.get("origin_id"), link.get("origin_slot"), link.get("target_id"), link.get("target_slot"), link.get("type"))
            elif isinstance(link, (list, tuple)) and len(link) >= 5:
                link_id = link[0]
                entry = tuple(link[1:6]) if len(link) >= 6 else tuple(link[1:5]) + ("*",)
            else:
                raise RunnerError(f"{source}: malformed link {link!r}: expected [id, origin_id, origin_slot, target_id, target_slot, type]")
            self.links[link_id] = entry
        subgraphs = (workflow.get("definitions") or {}).get("subgraphs") or []
        self.subgraph_ids = {sub.get("id") for sub in subgraphs if isinstance(sub, dict)}

    def resolve(self, link_id, seen=None):
        """Follow a link to ``("link", [node_id, slot])``, ``("value", v)`` or None (nothing)."""
        seen = set() if seen is None else seen
        if link_id is None or link_id in seen:
            return None
        seen.add(link_id)
        link = self.links.get(link_id)
        if link is None:
            return None
        origin_id, origin_slot = str(link[0]), link[1]
        origin = self.nodes.get(origin_id)
        if origin is None:
            return None
        mode = origin.get("mode", 0)
        if mode == MODE_MUTED:
            return None
        if origin["type"] == REROUTE_TYPE:
            inputs = origin.get("inputs") or []
            return self.resolve(inputs[0].get("link"), seen) if inputs else None
        if origin["type"] == PRIMITIVE_TYPE:
            values = origin.get("widgets_values") or []
            return ("value", values[0]) if values else None
        if mode == MODE_BYPASS:
            return self._through_bypassed(origin, origin_slot, link[4], seen)
        return ("link", [origin_id, origin_slot])

    def _through_bypassed(self, node, slot, link_type, seen):
        outputs = node.get("outputs") or []
        wanted = outputs[slot].get("type") if slot < len(outputs) else link_type
        inputs = node.get("inputs") or []

        def matches(entry):
            kind = entry.get("type")
            return entry.get("link") is not None and (kind == wanted or "*" in (kind, wanted))

        candidates = ([inputs[slot]] if slot < len(inputs) else []) + list(inputs)
        for entry in candidates:
            if matches(entry):
                return self.resolve(entry["link"], seen)
        return None


def ui_to_api(workflow: dict, object_info: dict, source: str = "workflow") -> dict:
    """Convert a UI-format workflow to the API format, using the server's ``/object_info``."""
    graph = _UIGraph(workflow, source)
    prompt = {}
    for node_id, node in graph.nodes.items():
        node_type = node["type"]
        mode = node.get("mode", 0)
        if node_type in VIRTUAL_TYPES or mode in (MODE_MUTED, MODE_BYPASS):
            continue
        if node_type in graph.subgraph_ids:
            raise RunnerError(
                f"{source}: node {node_id} is a subgraph; the runner converts flat graphs only "
                "(unpack the subgraph in the canvas, or export with \"Export (API)\")"
            )
        node_info = object_info.get(node_type)
        if node_info is None:
            raise unknown_node_error(source, node_id, node_type)
        inputs = widget_inputs(node, node_info)
        for entry in node.get("inputs") or []:
            link_id = entry.get("link")
            if link_id is None:
                continue
            name = (entry.get("widget") or {}).get("name") or entry.get("name")
            resolved = graph.resolve(link_id)
            if resolved is None:
                continue
            inputs[name] = resolved[1]  # a [node_id, slot] link or a PrimitiveNode's value
        title = node.get("title") or node_info.get("display_name") or node_type
        prompt[node_id] = {"class_type": node_type, "inputs": inputs, "_meta": {"title": title}}
    if not prompt:
        raise RunnerError(f"{source}: the workflow has no nodes to run (all are notes, muted or bypassed)")
    return prompt


def unknown_node_error(source: str, node_id, node_type: str) -> RunnerError:
    return RunnerError(
        f"{source}: node {node_id} has unknown type {node_type!r}: the server has no such node "
        "(is the custom node pack that provides it installed and did it import without errors?)"
    )


def check_api_node_types(prompt: dict, object_info: dict, source: str = "workflow") -> None:
    """Every node of an API-format graph must exist on the server."""
    for node_id, node in prompt.items():
        if not isinstance(node, dict) or "class_type" not in node:
            raise RunnerError(f"{source}: node {node_id} has no \"class_type\"")
        if node["class_type"] not in object_info:
            raise unknown_node_error(source, node_id, node["class_type"])
        if not isinstance(node.get("inputs", {}), dict):
            raise RunnerError(f"{source}: node {node_id} ({node['class_type']}): \"inputs\" must be an object")


def to_api(workflow: dict, object_info: dict, source: str = "workflow") -> dict:
    """Either format in, API format out (node types checked against ``object_info``)."""
    from .workflow_file import API_FORMAT, unwrap_api, workflow_format

    data = unwrap_api(workflow)
    if workflow_format(data, source) == API_FORMAT:
        prompt = {str(k): dict(v, inputs=dict(v.get("inputs") or {})) for k, v in data.items()}
        check_api_node_types(prompt, object_info, source)
        return prompt
    return ui_to_api(data, object_info, source)
