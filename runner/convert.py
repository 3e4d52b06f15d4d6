"""UI format (what the canvas saves) to API format (what ``/prompt`` takes), as the frontend does it.

The canvas stores widget values positionally (``widgets_values``) and wires nodes through a
``links`` table; the API format names every input. ``widgets.py`` works out each node's widgets
from the server's ``/object_info``; ``graph.py`` flattens subgraphs and follows links. On top of
that this module does what the frontend does when it loads a file and queues it:

- node types renamed since (``T2IAdapterLoader`` and a few more) get their current name, and
  ``sample_`` is dropped from old KSampler sampler names;
- a "control after generate" saved as true/false (old files) reads as ``randomize``/``fixed``;
- a PrimitiveNode's value goes to every widget it feeds (before anything is sent);
- text widgets marked ``dynamicPrompts`` lose their comments and pick one of each ``{a|b}``;
- list values are wrapped as ``{"__value__": [...]}`` (a bare list would read as a link);
- widgets saved by name (a ``widgets_values`` object, as VideoHelperSuite saves them) keep
  every key, declared input or not.

Where the frontend would silently put a value on a widget of the wrong type, this raises a
RunnerError naming the file, the node, the input, the value and what was expected. Files saved
without the control or upload widget that the frontend now adds still line up: those widgets are
tried as absent before giving up.
"""
from __future__ import annotations

import copy
import random

from . import graph as g
from .dynamic_prompts import expand as expand_dynamic_prompt
from .errors import RunnerError
from .groupnodes import expand_group_nodes
from .widgets import (
    CONTROL_WIDGET,
    DYNAMIC_COMBO,
    Mismatch,
    Widget,
    check_value,
    fill_widgets,
    flatten,
    has_widget,
    migrate_force_input_values,
    node_widgets,
    ordered_inputs,
    spec_options,
    spec_type,
)

MODE_MUTED = g.MODE_MUTED
MODE_BYPASS = g.MODE_BYPASS
NOTE_TYPES = set(g.NOTE_TYPES)
REROUTE_TYPE = g.REROUTE
PRIMITIVE_TYPE = g.PRIMITIVE
VIRTUAL_TYPES = set(g.VIRTUAL_TYPES)
RENAMED_TYPES = {
    "T2IAdapterLoader": "ControlNetLoader",
    "ConditioningAverage ": "ConditioningAverage",
    "SDV_img2vid_Conditioning": "SVD_img2vid_Conditioning",
    "Load3DAnimation": "Load3D",
    "Preview3DAnimation": "Preview3D",
}
CONTROL_FIX_TYPES = ("KSampler", "KSamplerAdvanced", "PrimitiveNode")
AUTOGROW = "COMFY_AUTOGROW_V3"
MATCHTYPE = "COMFY_MATCHTYPE_V3"
NOT_SENT_DICT_KEYS = {"videopreview"}  # VideoHelperSuite's preview widget is never sent


def widget_slots(node_info: dict, node_type: str = "") -> list[Widget]:
    """The node's saved widgets in ``widgets_values`` order (dynamic combos at their default)."""
    return [widget for widget in flatten(node_widgets(node_type, node_info)) if widget.saved]


def widget_inputs(node: dict, node_info: dict, source: str = "workflow") -> dict:
    """A single node's widget values by input name (what the server receives for its widgets)."""
    widgets = node_widgets(node.get("type", ""), node_info)
    values = _fill_node_widgets(node, node_info, widgets, source, node_id=node.get("id"))
    inputs = {w.name: w.value for w in flatten(widgets) if w.sent}
    inputs.update(values)
    return inputs


def _describe(value) -> str:
    text = repr(value) if not isinstance(value, bool) else ("true" if value else "false")
    return text if len(text) <= 80 else text[:77] + "..."


def _mismatch_error(source, node_id, node_type, mismatch: Mismatch, how: str = "") -> RunnerError:
    return RunnerError(
        f"{source}: node {node_id} ({node_type}): input {mismatch.widget.name!r} would get {_describe(mismatch.value)}"
        f"{how}, expected {mismatch.expected}: the file's widgets_values do not line up with this server's inputs "
        "for the node (saved with another version of the node?)"
    )


def _layouts(widgets: list[Widget]):
    """Widget orders to try: the frontend's, then those of older canvases (upload widget placed
    right after its combo, or after the last required widget)."""
    yield widgets
    uploads = [w for w in widgets if w.kind == "UPLOAD"]
    if not uploads:
        return
    upload = uploads[0]
    rest = [w for w in widgets if w is not upload]
    target = upload.options.get("imageInputName") or "audio"
    names = [w.name for w in rest]
    if target in names:
        index = names.index(target) + 1
        yield rest[:index] + [upload] + rest[index:]


def _soft_misses(widgets: list[Widget]) -> int:
    """Saved combo values that are not among the choices (a sign of a shifted layout)."""
    from .widgets import combo_choices

    misses = 0
    for widget in flatten(widgets):
        if widget.from_file and widget.kind == "COMBO":
            choices = combo_choices(widget.spec)
            if choices and widget.value not in choices:
                misses += 1
    return misses


def _fill_node_widgets(node: dict, node_info: dict, widgets: list[Widget], source, node_id) -> dict:
    """Fill ``widgets`` from the node's saved values; return extra by-name values to send."""
    node_type = node.get("type", "")
    values = node.get("widgets_values")
    if values is None:
        return {}
    if isinstance(values, dict):
        return _fill_by_name(widgets, values, source, node_id, node_type)
    if not isinstance(values, list):
        raise RunnerError(f"{source}: node {node_id} ({node_type}): widgets_values must be a list or an object, found {type(values).__name__}")
    values = migrate_force_input_values(node_info, widgets, values)
    best, first_error = None, None
    for layout in _layouts(widgets):
        for skip in (False, True):
            trial = copy.deepcopy(layout)
            try:
                fill_widgets(trial, values, skip_missing_extras=skip)
            except Mismatch as exc:
                if first_error is None:
                    first_error = exc
                continue
            score = _soft_misses(trial)
            if best is None or score < best[0]:
                best = (score, trial)
            if score == 0:
                break
        if best is not None and best[0] == 0:
            break
    if best is None:
        raise _mismatch_error(source, node_id, node_type, first_error)
    widgets[:] = best[1]
    return {}


def _fill_by_name(widgets: list[Widget], values: dict, source, node_id, node_type) -> dict:
    """Widgets saved as ``{name: value}``: declared ones are checked, the others are sent as they are."""
    extra = {}
    known = {w.name: w for w in flatten(widgets)}
    for name, value in values.items():
        widget = known.get(name)
        if widget is None:
            if name not in NOT_SENT_DICT_KEYS:
                extra[name] = value
            continue
        if not widget.saved:
            continue
        try:
            check_value(widget, value)
        except Mismatch as exc:
            raise _mismatch_error(source, node_id, node_type, exc) from None
        widget.value, widget.from_file = value, True
        if widget.kind == DYNAMIC_COMBO:
            from .widgets import select_dynamic_option

            select_dynamic_option(widget, value)
            for child in flatten(widget.children):
                if child.name in values:
                    child.value, child.from_file = values[child.name], True
    return extra


def _live_inputs(node: dict, node_type: str, node_info: dict, widgets: list[Widget]) -> list:
    """The node's input slots in the frontend's order: sockets, then widget inputs, then the
    file's other inputs; each with the file's link."""
    saved = [dict(entry) for entry in node.get("inputs") or [] if isinstance(entry, dict)]
    by_name = {entry.get("name"): entry for entry in saved}
    live, used = [], set()

    def add(name, kind, widget_name=None):
        entry = dict(by_name.get(name) or {"name": name, "link": None})
        entry["name"], entry["type"] = name, kind
        if widget_name:
            entry["widget"] = {"name": widget_name}
        live.append(entry)
        used.add(name)

    ordered = ordered_inputs(node_type, node_info)
    for name, spec, _optional in ordered:
        if has_widget(spec):
            continue
        kind = spec_type(spec)
        if kind == AUTOGROW:
            grown = [entry["name"] for entry in saved if str(entry.get("name", "")).startswith(name + ".")]
            template = spec_options(spec).get("template") or {}
            if not grown:
                names = template.get("names")
                count = int(template.get("min", 1) or 0)
                grown = [f"{name}.{names[i] if names else str(template.get('prefix', '')) + str(i)}" for i in range(count)]
            inner = next(iter(((template.get("input") or {}).get("required") or {}).values()), ["*"])
            for grown_name in grown:
                add(grown_name, spec_type(inner))
        elif kind == MATCHTYPE:
            add(name, (spec_options(spec).get("template") or {}).get("allowed_types", "*"))
        else:
            add(name, kind)
    for widget in widgets:
        if widget.spec is None or widget.kind in ("CONTROL", "FILTER"):
            continue
        add(widget.name, "COMBO" if widget.kind == DYNAMIC_COMBO else spec_type(widget.spec), widget.name)
        for child in flatten(widget.children):
            if child.spec is not None and child.kind not in ("CONTROL", "FILTER"):
                add(child.name, spec_type(child.spec), child.name)
    for entry in saved:
        if entry.get("name") not in used:
            live.append(entry)
    return live


def _instance_inputs(node: dict, subgraph: g.Scope) -> list:
    """A subgraph instance's input slots: the subgraph's inputs in order, each with the file's
    link for the input of that name, then any other inputs the file lists."""
    saved = [dict(entry) for entry in node.get("inputs") or [] if isinstance(entry, dict)]
    by_name = {entry.get("name"): entry for entry in saved}
    live = []
    for slot in subgraph.inputs:
        if not isinstance(slot, dict):
            continue
        entry = dict(by_name.get(slot.get("name")) or {"link": None})
        entry["name"], entry["type"] = slot.get("name"), slot.get("type")
        live.append(entry)
    names = {entry["name"] for entry in live}
    return live + [entry for entry in saved if entry.get("name") not in names]


class _Converter:
    def __init__(self, workflow: dict, object_info: dict, source: str, rng):
        self.object_info = object_info
        self.source = source
        self.rng = rng or random.Random()
        self.workflow = expand_group_nodes(workflow, object_info, source)
        self.subgraphs = g.collect_subgraphs(self.workflow, source)
        self.nodes: dict[str, g.ExecNode] = {}

    def where(self, node: g.ExecNode) -> str:
        inside = f" in subgraph {node.scope.name!r}" if node.path else ""
        return f"node {node.exec_id}{inside}"

    def build(self, scope: g.Scope, path: tuple, instance, stack: tuple = ()):
        for node_id, node in scope.nodes.items():
            node_type = RENAMED_TYPES.get(node["type"], node["type"])
            if node_type != node["type"]:
                node = dict(node, type=node_type)
            exec_id = ":".join(path + (node_id,))
            if node_type in self.subgraphs:
                if node_type in stack:
                    raise RunnerError(f"{self.source}: subgraph {self.subgraphs[node_type].name!r} contains itself (node {exec_id})")
                inner = self.subgraphs[node_type]
                exec_node = g.ExecNode(exec_id, node, scope, path, instance, _instance_inputs(node, inner), subgraph=inner)
                self.nodes[exec_id] = exec_node
                self.build(inner, path + (node_id,), exec_node, stack + (node_type,))
                self._promote_widgets(exec_node)
                continue
            info = self.object_info.get(node_type)
            if info is None or node_type in VIRTUAL_TYPES:
                exec_node = g.ExecNode(exec_id, node, scope, path, instance, [dict(e) for e in node.get("inputs") or []])
                if node_type not in VIRTUAL_TYPES:
                    exec_node.node = dict(node, _unknown=True)
                self.nodes[exec_id] = exec_node
                continue
            widgets = node_widgets(node_type, info)
            extra = _fill_node_widgets(node, info, widgets, self.source, self._label(exec_id, scope, path))
            for name, value in extra.items():
                widgets.append(Widget(name, "EXTRA", None, value, from_file=True))
            self._fix_loaded_values(node_type, widgets)
            exec_node = g.ExecNode(exec_id, node, scope, path, instance, _live_inputs(node, node_type, info, widgets), info, widgets)
            self.nodes[exec_id] = exec_node

    def _label(self, exec_id, scope, path) -> str:
        return f"{exec_id} (in subgraph {scope.name!r})" if path else exec_id

    @staticmethod
    def _fix_loaded_values(node_type: str, widgets: list[Widget]) -> None:
        for widget in flatten(widgets):
            if node_type in CONTROL_FIX_TYPES and widget.name == CONTROL_WIDGET and isinstance(widget.value, bool):
                widget.value = "randomize" if widget.value else "fixed"
            if node_type in ("KSampler", "KSamplerAdvanced") and widget.name == "sampler_name" and isinstance(widget.value, str) \
                    and widget.value.startswith("sample_"):
                widget.value = widget.value[len("sample_"):]

    def _promote_widgets(self, instance: g.ExecNode) -> None:
        """The subgraph instance's widgets: one per input that feeds a widget inside."""
        subgraph = instance.subgraph
        slots = {slot.get("name"): slot for slot in subgraph.inputs if isinstance(slot, dict)}
        widgets = []
        connected: dict = {}  # promoted widget -> the inner widgets it sets when the graph is saved
        for entry in instance.inputs:
            slot = slots.get(entry.get("name"))
            if slot is None:
                continue
            link_ids = slot.get("linkIds") or [lid for lid, link in subgraph.links.items()
                                               if g._as_int(link.origin_id) == g.SUBGRAPH_INPUT_NODE and link.origin_slot == subgraph.inputs.index(slot)]
            for link_id in link_ids:
                link = subgraph.link(link_id)
                if link is None:
                    continue
                target = self.nodes.get(":".join(instance.path + (str(instance.node["id"]), str(link.target_id))))
                if target is None:
                    continue
                target_input = next((e for e in target.inputs if e.get("link") is not None and g._as_int(e.get("link")) == g._as_int(link_id)), None)
                widget_name = ((target_input or {}).get("widget") or {}).get("name")
                inner = target.widget(widget_name) if widget_name else None
                if inner is None:
                    continue
                if not any(w.name == slot["name"] for w in widgets):
                    widgets.append(Widget(slot["name"], inner.kind, inner.spec, copy.deepcopy(inner.value)))
                    entry["widget"] = {"name": slot["name"]}
                connected.setdefault(slot["name"], []).append((target.exec_id, widget_name))
        values = instance.node.get("widgets_values")
        if isinstance(values, list):
            for widget, value in zip(widgets, values):
                widget.value, widget.from_file = value, True
            proxies = (instance.node.get("properties") or {}).get("proxyWidgets")
            if isinstance(proxies, list):
                by_name = {w.name: w for w in widgets}
                for index, proxy in enumerate(proxies):
                    if isinstance(proxy, (list, tuple)) and len(proxy) == 2 and str(proxy[0]) == "-1" and index < len(values):
                        widget = by_name.get(proxy[1])
                        if widget is not None and values[index] is not None:
                            widget.value = values[index]
        for widget in widgets:
            if widget.from_file:
                try:
                    check_value(widget, widget.value)
                except Mismatch as exc:
                    raise _mismatch_error(self.source, instance.exec_id, f"subgraph {subgraph.name!r}", exc) from None
        instance.widgets = widgets
        instance.node = dict(instance.node, _connected_widgets=connected)

    def copy_promoted_values(self) -> None:
        """Saving the graph (which queueing does) writes each promoted widget's value into the
        inner widgets it stands for; an inner input fed from outside by a PrimitiveNode keeps it."""
        instances = sorted((n for n in self.nodes.values() if n.subgraph is not None), key=lambda n: len(n.path))
        for instance in instances:
            for widget in instance.widgets:
                for exec_id, name in instance.node.get("_connected_widgets", {}).get(widget.name, []):
                    target = self.nodes.get(exec_id)
                    inner = target.widget(name) if target is not None else None
                    if inner is not None:
                        inner.value = copy.deepcopy(widget.value)

    def apply_primitives(self) -> None:
        """Each PrimitiveNode's value replaces the widget value of every input it feeds."""
        for node in list(self.nodes.values()):
            if node.type != PRIMITIVE_TYPE or node.info is not None:
                continue
            values = node.node.get("widgets_values")
            if not isinstance(values, list) or not values:
                continue
            value = values[0]
            outputs = node.node.get("outputs") or []
            for link_id in (outputs[0].get("links") or []) if outputs else []:
                link = node.scope.link(link_id)
                if link is None:
                    continue
                target = self.nodes.get(":".join(node.path + (str(link.target_id),)))
                if target is None:
                    continue
                entry = next((e for e in target.inputs if e.get("link") is not None and g._as_int(e.get("link")) == g._as_int(link_id)), None)
                widget_name = ((entry or {}).get("widget") or {}).get("name")
                widget = target.widget(widget_name) if widget_name else None
                if widget is None:
                    continue
                try:
                    check_value(widget, value)
                except Mismatch as exc:
                    raise _mismatch_error(self.source, target.exec_id, target.type, exc,
                                          f" from PrimitiveNode {node.exec_id}") from None
                widget.value = value

    def sendable(self, node: g.ExecNode) -> bool:
        return not node.is_virtual and node.mode not in (MODE_MUTED, MODE_BYPASS)

    def widget_value(self, widget: Widget):
        value = widget.value
        if widget.kind == "STRING" and widget.options.get("dynamicPrompts") is True and isinstance(value, str):
            value = expand_dynamic_prompt(value, self.rng)
        return value

    def convert(self) -> dict:
        root = g.parse_scope(self.workflow, self.source)
        self.build(root, (), None)
        self.apply_primitives()
        self.copy_promoted_values()
        resolver = g.Resolver(self.nodes, self.source)
        prompt = {}
        for exec_id, node in self.nodes.items():
            if not self.sendable(node):
                continue
            if node.node.get("_unknown"):
                raise unknown_node_error(self.source, self._label(exec_id, node.scope, node.path), node.type)
            inputs = {}
            declared = _declared_inputs(node.info)
            for widget in flatten(node.widgets):
                if widget.kind == "UI" and widget.name not in declared:
                    continue  # the frontend's own display widgets (audio player, 3D view, ...): the server ignores them
                if widget.sent and widget.name:
                    inputs[widget.name] = _wrap(self.widget_value(widget))
            for slot, entry in enumerate(node.inputs):
                resolved = resolver.resolve_input(node, slot)
                if resolved is None:
                    continue
                if resolved[0] == "value":
                    inputs[entry.get("name")] = _wrap(resolved[1])
                else:
                    inputs[entry.get("name")] = [resolved[1], resolved[2]]
            title = node.node.get("title") or (node.info or {}).get("display_name") or node.type
            prompt[exec_id] = {"inputs": inputs, "class_type": node.type, "_meta": {"title": title}}
        for entry in prompt.values():
            inputs = entry["inputs"]
            for name, value in list(inputs.items()):
                if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str) and value[0] not in prompt:
                    del inputs[name]
        if not prompt:
            raise RunnerError(f"{self.source}: the workflow has no nodes to run (all are notes, muted or bypassed)")
        return prompt


def _declared_inputs(info) -> set:
    sections = (info or {}).get("input") or {}
    return set(sections.get("required") or {}) | set(sections.get("optional") or {})


def _wrap(value):
    return {"__value__": value} if isinstance(value, list) else value


def ui_to_api(workflow: dict, object_info: dict, source: str = "workflow", rng: random.Random | None = None) -> dict:
    """Convert a UI-format workflow to the API format, using the server's ``/object_info``.

    ``rng`` picks the choices of dynamic prompts (``{a|b}``); a fresh one by default.
    """
    return _Converter(workflow, object_info, source, rng).convert()


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
