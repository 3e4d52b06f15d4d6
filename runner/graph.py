"""A canvas workflow flattened into the nodes the server runs, and its links followed to their source.

The frontend's rules (``graphToPrompt``), restated:

- Subgraph instances (nodes whose type is the id of an entry of ``definitions.subgraphs``) are
  replaced by their inner nodes, with execution ids ``outer:inner`` (``outer:middle:inner`` when
  nested). A link from the subgraph's input node continues at the instance's input: through its
  link when connected, else the instance's promoted widget value. A link from an instance's
  output continues at the inner node that feeds the subgraph's output.
- Virtual nodes (Reroute, PrimitiveNode, notes, subgraph instances) are never sent; a link from
  a Reroute continues at its input whatever the Reroute's mode.
- A bypassed node (mode 4) passes on an input: the one at the same slot when its type fits,
  else the first of exactly the wanted type, else the first that fits.
- A muted node (mode 2) is not sent, and inputs linked to a node that is not sent are dropped.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import RunnerError

MODE_MUTED = 2
MODE_BYPASS = 4
SUBGRAPH_INPUT_NODE = -10
SUBGRAPH_OUTPUT_NODE = -20
REROUTE = "Reroute"
PRIMITIVE = "PrimitiveNode"
NOTE_TYPES = ("Note", "MarkdownNote")
VIRTUAL_TYPES = (REROUTE, PRIMITIVE) + NOTE_TYPES


@dataclass
class Link:
    origin_id: Any
    origin_slot: int
    target_id: Any
    target_slot: int
    type: Any


@dataclass
class Scope:
    """The root graph or one subgraph definition."""

    nodes: dict  # str(node id) -> node dict (in file order)
    links: dict  # link id -> Link
    inputs: list = field(default_factory=list)  # a subgraph's input slots
    outputs: list = field(default_factory=list)
    name: str = ""

    def link(self, link_id) -> Link | None:
        if link_id is None:
            return None
        return self.links.get(link_id) or self.links.get(_as_int(link_id))


def _as_int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return value


def parse_links(raw, where: str) -> dict:
    links = {}
    for link in raw or []:
        if isinstance(link, dict):
            entry = Link(link.get("origin_id"), link.get("origin_slot"), link.get("target_id"), link.get("target_slot"), link.get("type"))
            link_id = link.get("id")
        elif isinstance(link, (list, tuple)) and len(link) >= 5:
            link_id = link[0]
            entry = Link(link[1], link[2], link[3], link[4], link[5] if len(link) > 5 else "*")
        else:
            raise RunnerError(f"{where}: malformed link {link!r}: expected [id, origin_id, origin_slot, target_id, target_slot, type]")
        links[link_id] = entry
    return links


def parse_scope(data: dict, where: str) -> Scope:
    nodes = {}
    for node in data.get("nodes") or []:
        if not isinstance(node, dict) or "id" not in node or "type" not in node:
            raise RunnerError(f"{where}: every entry of \"nodes\" needs an \"id\" and a \"type\"")
        nodes[str(node["id"])] = node
    return Scope(nodes, parse_links(data.get("links"), where), list(data.get("inputs") or []),
                 list(data.get("outputs") or []), str(data.get("name") or data.get("id") or ""))


def collect_subgraphs(workflow: dict, source: str) -> dict:
    """Every subgraph definition by id, nested definitions included."""
    found: dict = {}

    def visit(container: dict) -> None:
        for definition in ((container.get("definitions") or {}).get("subgraphs") or []):
            if isinstance(definition, dict) and definition.get("id") and definition["id"] not in found:
                found[definition["id"]] = parse_scope(definition, f"{source}: subgraph {definition.get('name') or definition['id']!r}")
                visit(definition)

    visit(workflow)
    return found


@dataclass
class ExecNode:
    """One node as the frontend's executable view has it."""

    exec_id: str
    node: dict
    scope: Scope
    path: tuple  # execution ids of the enclosing subgraph instances, outermost first
    instance: ExecNode | None  # the subgraph instance this node sits in
    inputs: list  # live input slots: dicts with name, type, link
    info: dict | None = None  # /object_info entry (None for virtual and subgraph nodes)
    widgets: list = field(default_factory=list)
    subgraph: Scope | None = None  # set on a subgraph instance

    @property
    def type(self) -> str:
        return self.node["type"]

    @property
    def mode(self) -> int:
        return self.node.get("mode", 0) or 0

    @property
    def is_virtual(self) -> bool:
        return self.subgraph is not None or self.info is None and self.type in VIRTUAL_TYPES or bool(self.node.get("_virtual"))

    def widget(self, name: str):
        from .widgets import flatten

        for widget in flatten(self.widgets):
            if widget.name == name:
                return widget
        return None


def is_valid_connection(a, b) -> bool:
    """The frontend's type compatibility: ``*`` and empty match anything; comma lists match any member."""
    a = 0 if a in ("", "*") else a
    b = 0 if b in ("", "*") else b
    if not a or not b or a == b:
        return True
    a, b = str(a).lower(), str(b).lower()
    if "," not in a and "," not in b:
        return a == b
    return any(is_valid_connection(x, y) for x in a.split(",") for y in b.split(","))


class Resolver:
    """Follows links across subgraphs, reroutes and bypassed nodes (the frontend's resolveInput)."""

    def __init__(self, nodes: dict, source: str):
        self.nodes = nodes  # exec id -> ExecNode
        self.source = source

    def resolve_input(self, node: ExecNode, slot: int, wanted_type=None, visited=None):
        """``("link", exec_id, slot)``, ``("value", v)`` or None for input ``slot`` of ``node``."""
        visited = set() if visited is None else visited
        key = (node.exec_id, "in", slot)
        if key in visited:
            raise RunnerError(f"{self.source}: node {node.exec_id} ({node.type}): its links go round in a circle")
        visited.add(key)
        if slot >= len(node.inputs):
            return None
        entry = node.inputs[slot]
        link = node.scope.link(entry.get("link"))
        if link is None:
            return None
        if node.instance is not None and _as_int(link.origin_id) == SUBGRAPH_INPUT_NODE:
            return self._through_instance_input(node.instance, link.origin_slot, visited)
        origin = self.nodes.get(":".join(node.path + (str(link.origin_id),)))
        if origin is None:
            return None
        return self.resolve_output(origin, link.origin_slot, wanted_type or entry.get("type"), visited)

    def _through_instance_input(self, instance: ExecNode, slot: int, visited):
        if slot is None or slot >= len(instance.inputs):
            return None
        entry = instance.inputs[slot]
        if entry.get("link") is None:
            widget_name = (entry.get("widget") or {}).get("name")
            widget = instance.widget(widget_name) if widget_name else None
            return ("value", widget.value) if widget is not None else None
        return self.resolve_input(instance, slot, None, visited)

    def resolve_output(self, node: ExecNode, slot: int, wanted_type, visited):
        key = (node.exec_id, "out", slot)
        if key in visited:
            raise RunnerError(f"{self.source}: node {node.exec_id} ({node.type}): its links go round in a circle")
        visited.add(key)
        if node.mode == MODE_BYPASS:
            index = self._bypass_slot(node, slot, wanted_type)
            return None if index < 0 else self.resolve_input(node, index, None, visited)
        if node.subgraph is not None:
            return self._out_of_subgraph(node, slot, wanted_type, visited)
        if node.is_virtual:
            if slot < len(node.inputs):
                return self.resolve_input(node, slot, wanted_type, visited)
            return None
        return ("link", node.exec_id, slot)

    def _bypass_slot(self, node: ExecNode, slot: int, wanted_type) -> int:
        inputs = node.inputs
        if wanted_type in ("*", "", None):
            return slot if len(inputs) > slot else 0
        outputs = node.node.get("outputs") or []
        output_type = outputs[slot].get("type") if slot < len(outputs) else None
        if slot < len(inputs):
            same = inputs[slot].get("type")
            if is_valid_connection(same, output_type) and is_valid_connection(same, wanted_type):
                return slot
        for index, entry in enumerate(inputs):
            if entry.get("type") == wanted_type:
                return index
        for index, entry in enumerate(inputs):
            if is_valid_connection(entry.get("type"), output_type) and is_valid_connection(entry.get("type"), wanted_type):
                return index
        return -1

    def _out_of_subgraph(self, instance: ExecNode, slot: int, wanted_type, visited):
        subgraph = instance.subgraph
        if slot >= len(subgraph.outputs):
            raise RunnerError(f"{self.source}: node {instance.exec_id} (subgraph {subgraph.name!r}) has no output {slot}")
        link = None
        for link_id in subgraph.outputs[slot].get("linkIds") or []:
            link = subgraph.link(link_id)
            if link is not None:
                break
        if link is None:
            for candidate in subgraph.links.values():
                if _as_int(candidate.target_id) == SUBGRAPH_OUTPUT_NODE and candidate.target_slot == slot:
                    link = candidate
                    break
        if link is None:
            return None
        if _as_int(link.origin_id) == SUBGRAPH_INPUT_NODE:
            raise RunnerError(
                f"{self.source}: subgraph {subgraph.name!r} (node {instance.exec_id}) wires its input straight to its "
                f"output {slot}; the frontend cannot queue that either: put a node in between"
            )
        inner = self.nodes.get(":".join(instance.path + (str(instance.node["id"]), str(link.origin_id))))
        if inner is None:
            raise RunnerError(f"{self.source}: subgraph {subgraph.name!r}: output {slot} comes from node {link.origin_id}, which is not in it")
        return self.resolve_output(inner, link.origin_slot, wanted_type, visited)
