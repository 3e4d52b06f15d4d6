"""Legacy group nodes, rewritten as subgraphs so ``graph.py`` flattens them.

A group node has the type ``workflow>NAME`` (``workflow/NAME`` in older files) and its
definition in ``extra.groupNodes[NAME]``: the inner ``nodes`` (each with an ``index``), the
``links`` between them (``[origin index or null, origin slot, target index, target slot, id,
type]``, a null origin being one of the group's inputs), ``external`` (outputs used outside) and
``config`` (renamed inputs). The frontend gives the inner nodes the ids ``group id:index``, which
is what a subgraph instance's inner nodes get here too.

The group's inputs are the inner nodes' inputs not fed from inside the group, in node order; its
outputs are the inner outputs not used inside the group, or also used outside; its widgets are
the inner nodes' widgets in node order (each instance keeps its own values).
"""
from __future__ import annotations

import copy

from .errors import RunnerError

PREFIXES = ("workflow>", "workflow/")
INPUT_NODE = -10
OUTPUT_NODE = -20


def group_name(node_type: str) -> str | None:
    for prefix in PREFIXES:
        if isinstance(node_type, str) and node_type.startswith(prefix):
            return node_type[len(prefix):]
    return None


def expand_group_nodes(workflow: dict, object_info: dict, source: str) -> dict:
    """``workflow`` with every group node instance turned into a subgraph instance."""
    groups = (workflow.get("extra") or {}).get("groupNodes") or {}
    instances = [n for n in workflow.get("nodes") or [] if isinstance(n, dict) and group_name(n.get("type")) is not None]
    if not instances:
        return workflow
    workflow = copy.copy(workflow)
    definitions = dict(workflow.get("definitions") or {})
    subgraphs = list(definitions.get("subgraphs") or [])
    nodes = []
    for node in workflow.get("nodes") or []:
        name = group_name(node.get("type")) if isinstance(node, dict) else None
        if name is None:
            nodes.append(node)
            continue
        group = groups.get(name)
        if not isinstance(group, dict):
            raise RunnerError(f"{source}: node {node.get('id')} is the group node {name!r}, but extra.groupNodes has no definition for it")
        subgraph = _as_subgraph(node, name, group, object_info, source)
        subgraphs.append(subgraph)
        nodes.append(dict(node, type=subgraph["id"], widgets_values=None))
    definitions["subgraphs"] = subgraphs
    workflow["definitions"] = definitions
    workflow["nodes"] = nodes
    return workflow


def _index(entry) -> int:
    return entry.get("index") if isinstance(entry, dict) else entry


def _as_subgraph(instance: dict, name: str, group: dict, object_info: dict, source: str) -> dict:
    from .convert import widget_slots

    inner = sorted((copy.deepcopy(n) for n in group.get("nodes") or []), key=lambda n: n.get("index", 0))
    by_index = {n.get("index"): n for n in inner}
    config = group.get("config") or {}
    raw_links = [link for link in group.get("links") or [] if isinstance(link, (list, tuple)) and len(link) >= 4]
    internal_to = {(link[2], link[3]) for link in raw_links if link[0] is not None}
    internal_from = {(link[0], link[1]) for link in raw_links if link[0] is not None}
    fed_from_outside = {(link[2], link[3]) for link in raw_links if link[0] is None}
    external = {(_index(e[0]), e[1]) for e in group.get("external") or [] if isinstance(e, (list, tuple)) and len(e) >= 2}
    links, next_id = [], 1

    def add_link(origin, origin_slot, target, target_slot, kind):
        nonlocal next_id
        links.append({"id": next_id, "origin_id": origin, "origin_slot": origin_slot, "target_id": target,
                      "target_slot": target_slot, "type": kind})
        next_id += 1
        return next_id - 1

    for node in inner:
        node["id"] = node.get("index")
        for entry in node.get("inputs") or []:
            entry["link"] = None
        for entry in node.get("outputs") or []:
            entry["links"] = []
    for link in raw_links:
        if link[0] is None or link[0] not in by_index or link[2] not in by_index:
            continue
        link_id = add_link(link[0], link[1], link[2], link[3], link[5] if len(link) > 5 else "*")
        _set_input_link(by_index[link[2]], link[3], link_id)
    inputs = []
    for node in inner:
        renames = (config.get(str(node.get("index"))) or {}).get("input") or {}
        for slot, entry in enumerate(node.get("inputs") or []):
            if (node.get("index"), slot) in internal_to:
                continue
            if entry.get("widget") and (node.get("index"), slot) not in fed_from_outside:
                continue  # a widget shown as a socket, fed by nothing: it stays a widget
            key = entry.get("name") or entry.get("type")
            label = (renames.get(key) or renames.get(entry.get("type")) or {}).get("name") or entry.get("name") or entry.get("type")
            link_id = add_link(INPUT_NODE, len(inputs), node.get("index"), slot, entry.get("type"))
            entry["link"] = link_id
            inputs.append({"name": label, "type": entry.get("type"), "linkIds": [link_id]})
    outputs = []
    for node in inner:
        for slot, entry in enumerate(node.get("outputs") or []):
            key = (node.get("index"), slot)
            if key in internal_from and key not in external:
                continue
            link_id = add_link(node.get("index"), slot, OUTPUT_NODE, len(outputs), entry.get("type"))
            outputs.append({"name": entry.get("name"), "type": entry.get("type"), "linkIds": [link_id]})
    _spread_widget_values(instance, inner, internal_to, object_info, widget_slots)
    mode = instance.get("mode", 0)
    if mode in (2, 4):
        for node in inner:
            node["mode"] = 2
    # The instance's inputs line up with the group's by position and carry the names it shows.
    for slot, entry in zip(inputs, instance.get("inputs") or []):
        if isinstance(entry, dict) and entry.get("name"):
            slot["name"] = entry["name"]
    return {"id": f"group-node:{name}:{instance.get('id')}", "name": name, "nodes": inner, "links": links,
            "inputs": inputs, "outputs": outputs}


def _set_input_link(node: dict, slot: int, link_id: int) -> None:
    entries = node.setdefault("inputs", [])
    if slot < len(entries):
        entries[slot]["link"] = link_id


def _spread_widget_values(instance, inner, internal_to, object_info, widget_slots) -> None:
    """Hand the instance's widget values to the inner nodes, in node and widget order."""
    values = instance.get("widgets_values")
    if not isinstance(values, list):
        return
    position = 0
    for node in inner:
        info = object_info.get(node.get("type"))
        if info is None:
            continue
        fed = {entry.get("name") for slot, entry in enumerate(node.get("inputs") or [])
               if (node.get("index"), slot) in internal_to and entry.get("widget")}
        slots = widget_slots(info, node.get("type"))
        own = list(node.get("widgets_values") or [])
        own += [slot.value for slot in slots[len(own):]]
        for index, slot in enumerate(slots):
            if slot.name in fed:
                continue
            if position >= len(values):
                break
            own[index] = values[position]
            position += 1
        node["widgets_values"] = own
