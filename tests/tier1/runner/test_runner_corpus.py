"""Real-world corpus: converted workflows equal the API prompts the frontend queued for them.

Runs when ``STEADYFRAME_RUNNER_CORPUS`` names a folder holding

- ``object_info.json``: the ``/object_info`` of the server the prompts are meant for, and
- pairs ``NAME.json`` (canvas workflow) + ``NAME.prompt.json`` (the frontend's API prompt), and/or
- PNG files whose text chunks hold both ``workflow`` and ``prompt`` (as ComfyUI saves images);

otherwise it is skipped. ``corpus/frontend_prompts.py`` makes reference prompts for workflows that
have none (the official templates) with the real frontend.

Differences that only say the reference came from another frontend or server version are allowed:
the upload button's value (``"image"``, sent by frontends before 1.16), inputs missing from the
reference that hold the server's default (inputs added to the node since), and values of the
frontend's display widgets that the server does not declare (``audioUI``, ``preview``, ...).
Workflows using node types the server lacks are skipped; so are references in which the
frontend itself put a value of the wrong type on a widget (the runner refuses those files).
"""
from __future__ import annotations

import json
import os
import random
import re
import struct
import zlib
from pathlib import Path

import pytest

from steadyframe.runner.convert import ui_to_api
from steadyframe.runner.errors import RunnerError
from steadyframe.runner.widgets import node_widgets

CORPUS = os.environ.get("STEADYFRAME_RUNNER_CORPUS")
UPLOAD_NAMES = {"upload", "choose file to upload"}


def png_text(path: Path) -> dict:
    data = path.read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return {}
    chunks, position = {}, 8
    while position + 8 <= len(data):
        (length,) = struct.unpack(">I", data[position:position + 4])
        kind, body = data[position + 4:position + 8], data[position + 8:position + 8 + length]
        position += 12 + length
        if kind == b"tEXt":
            key, _, value = body.partition(b"\0")
            chunks[key.decode("latin-1")] = value.decode("utf-8", errors="replace")
        elif kind == b"iTXt":
            key, _, rest = body.partition(b"\0")
            compressed, rest = rest[0], rest[2:]
            rest = rest.split(b"\0", 2)[-1]
            chunks[key.decode("latin-1")] = (zlib.decompress(rest) if compressed else rest).decode("utf-8")
        elif kind == b"IEND":
            break
    return chunks


def corpus_cases() -> list:
    if not CORPUS or not Path(CORPUS, "object_info.json").is_file():
        return []
    folder, cases = Path(CORPUS), []
    for prompt_file in sorted(folder.glob("*.prompt.json")):
        workflow_file = prompt_file.with_name(prompt_file.name[: -len(".prompt.json")] + ".json")
        if workflow_file.is_file():
            cases.append(pytest.param(workflow_file, prompt_file, id=workflow_file.stem))
    for image in sorted(folder.glob("*.png")):
        cases.append(pytest.param(image, None, id=image.stem))
    return cases


def load_pair(first: Path, second: Path | None):
    if second is not None:
        return json.loads(first.read_text(encoding="utf-8")), json.loads(second.read_text(encoding="utf-8"))
    chunks = png_text(first)
    if "workflow" not in chunks or "prompt" not in chunks:
        pytest.skip(f"{first.name} holds no workflow and prompt")
    return json.loads(chunks["workflow"]), json.loads(chunks["prompt"])


def allowed_difference(node_type: str, name: str, ours, reference, object_info: dict) -> bool:
    info = object_info.get(node_type) or {}
    sections = info.get("input") or {}
    declared = set(sections.get("required") or {}) | set(sections.get("optional") or {})
    if ours is None and name in UPLOAD_NAMES and reference == "image":
        return True
    if ours is None and name not in declared:
        return True  # a display widget of the frontend, not an input of the server
    if reference is None and ours is not None:
        defaults = {w.name: w.value for w in node_widgets(node_type, info)}
        return name in defaults and defaults[name] == ours
    return False


def differences(prompt: dict, reference: dict, object_info: dict) -> list:
    found = []
    for node_id in sorted(set(prompt) | set(reference)):
        if node_id not in prompt or node_id not in reference:
            found.append(f"node {node_id} only in {'reference' if node_id in reference else 'ours'}")
            continue
        ours, theirs = prompt[node_id], reference[node_id]
        if ours["class_type"] != theirs.get("class_type"):
            found.append(f"node {node_id}: {ours['class_type']} vs {theirs.get('class_type')}")
            continue
        for name in sorted(set(ours["inputs"]) | set(theirs.get("inputs") or {})):
            mine, other = ours["inputs"].get(name), (theirs.get("inputs") or {}).get(name)
            if mine != other and not allowed_difference(ours["class_type"], name, mine, other, object_info):
                found.append(f"node {node_id} ({ours['class_type']}).{name}: ours {mine!r:.60} reference {other!r:.60}")
    return found


REFUSAL = re.compile(r"node (\S+) \((.+?)\): input '(.+?)' would get ")


def reference_has_the_wrong_value(message: str, reference: dict, object_info: dict) -> bool:
    """True when the refusal names an input to which the reference gives a value of the wrong type."""
    match = REFUSAL.search(message)
    if not match:
        return False
    node_id, node_type, name = match.groups()
    value = ((reference.get(node_id) or {}).get("inputs") or {}).get(name)
    sections = (object_info.get(node_type) or {}).get("input") or {}
    spec = (sections.get("required") or {}).get(name) or (sections.get("optional") or {}).get(name)
    kind = spec[0] if isinstance(spec, list) and spec else None
    if kind in ("INT", "FLOAT"):
        return isinstance(value, bool) or not isinstance(value, (int, float))
    if kind == "BOOLEAN":
        return not isinstance(value, bool)
    if kind == "STRING":
        return not isinstance(value, str)
    if isinstance(kind, list) or kind == "COMBO":
        choices = kind if isinstance(kind, list) else spec[1].get("options") or []
        return bool(choices) and value not in choices
    return False


@pytest.fixture(scope="module")
def corpus_object_info():
    return json.loads(Path(CORPUS, "object_info.json").read_text(encoding="utf-8"))


@pytest.mark.skipif(not corpus_cases(), reason="STEADYFRAME_RUNNER_CORPUS does not name a corpus folder (with object_info.json)")
@pytest.mark.parametrize(("first", "second"), corpus_cases() or [pytest.param(None, None, id="none")])
def test_corpus_workflow_converts_to_its_reference_prompt(corpus_object_info, first, second):
    workflow, reference = load_pair(first, second)
    missing = sorted({n.get("class_type") for n in reference.values() if isinstance(n, dict)} - set(corpus_object_info) - {None})
    if missing or any("class_type" not in n for n in reference.values() if isinstance(n, dict)):
        pytest.skip(f"uses node types this server lacks: {missing or 'unknown'}")
    try:
        prompt = ui_to_api(workflow, corpus_object_info, source=first.name, rng=random.Random(0))
    except RunnerError as exc:
        if reference_has_the_wrong_value(str(exc), reference, corpus_object_info):
            pytest.skip(f"refused, and the frontend itself sent a wrong-typed value: {exc}")
        raise
    assert differences(prompt, reference, corpus_object_info) == []
