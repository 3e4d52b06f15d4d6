"""``--set NODE.INPUT=VALUE``: change one input of the API graph before queueing.

NODE is a node id (``12``), a node title (``"Seed"``) or a node type that occurs once
(``KSampler``). VALUE is JSON when it parses as JSON (``5``, ``7.5``, ``true``, ``"text"``,
``["4", 0]`` for a link) and a plain string otherwise (``--set 6.text=a red fox``).
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from .errors import RunnerError


@dataclass(frozen=True)
class Override:
    node: str
    input: str
    value: object
    text: str  # as given on the command line, for messages


def parse_override(text: str) -> Override:
    target, sep, raw_value = text.partition("=")
    if not sep:
        raise RunnerError(f"--set {text!r}: expected NODE.INPUT=VALUE, e.g. --set 3.seed=5")
    node, dot, input_name = target.strip().rpartition(".")
    if not dot or not node or not input_name:
        raise RunnerError(f"--set {text!r}: expected NODE.INPUT=VALUE with a node id or title before the dot, e.g. --set 3.seed=5")
    try:
        value = json.loads(raw_value)
    except json.JSONDecodeError:
        value = raw_value
    return Override(node=node, input=input_name, value=value, text=text)


def find_node(prompt: dict, node: str, text: str) -> str:
    if node in prompt:
        return node
    by_title = [nid for nid, n in prompt.items() if (n.get("_meta") or {}).get("title") == node]
    if len(by_title) == 1:
        return by_title[0]
    by_type = [nid for nid, n in prompt.items() if n.get("class_type") == node]
    if len(by_type) == 1:
        return by_type[0]
    if len(by_title) > 1 or len(by_type) > 1:
        ids = ", ".join(sorted(by_title or by_type))
        raise RunnerError(f"--set {text!r}: {node!r} matches several nodes ({ids}); use the node id")
    raise RunnerError(f"--set {text!r}: no node with id, title or type {node!r} in the workflow")


def known_inputs(node_info: dict) -> list:
    names = []
    for section in ("required", "optional"):
        names.extend((node_info.get("input", {}).get(section) or {}).keys())
    return names


def apply_overrides(prompt: dict, overrides, object_info: dict | None = None) -> dict:
    """Return a copy of ``prompt`` with every override applied (inputs checked against object_info)."""
    result = {nid: dict(node, inputs=dict(node.get("inputs") or {})) for nid, node in prompt.items()}
    for override in overrides:
        node_id = find_node(result, override.node, override.text)
        node = result[node_id]
        if object_info is not None and node["class_type"] in object_info:
            names = known_inputs(object_info[node["class_type"]])
            if override.input not in names:
                raise RunnerError(
                    f"--set {override.text!r}: node {node_id} ({node['class_type']}) has no input "
                    f"{override.input!r}; its inputs are: {', '.join(names) or '(none)'}"
                )
        node["inputs"][override.input] = override.value
    return result
