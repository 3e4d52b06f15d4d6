"""The pack inside a real ComfyUI: its own custom-node loader, its server, its queue (tier 2).

Heavy (starts ComfyUI servers, builds a full SD1.5 checkpoint): on a shared machine run it under
``flock /tmp/steadyframe-heavy.lock``.
"""
import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from steadyframe.runner.convert import to_api
from steadyframe.runner.server import ManagedServer
from steadyframe.runner.workflow_file import load_workflow
from support.node_info import FOLDER_COMBOS, comparable_entry, comparable_spec
from support.workflow_check import structural_problems

pytestmark = pytest.mark.tier2

REPO = Path(__file__).resolve().parents[3]
WORKFLOWS = sorted((REPO / "workflows").glob("*.json"))
MAIN_WORKFLOW = REPO / "workflows" / "txt2vid_animatediff.json"
SNAPSHOT = REPO / "tests" / "fixtures" / "steadyframe_object_info.json"
SAVED_BEFORE_V3 = sorted((REPO / "tests" / "fixtures" / "saved_before_v3" / "workflows").glob("*.json"))
SECTIONS = {"required", "optional", "hidden"}
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN"}


# -- (a) ComfyUI's own custom-node loader ------------------------------------------------------

@pytest.fixture(scope="module")
def loaded_by_comfyui(comfyui_root, tmp_path_factory):
    """Load the pack with ``nodes.load_custom_node`` from a custom_nodes-like folder."""
    import nodes as comfy_nodes

    folder = tmp_path_factory.mktemp("custom_nodes")
    link = folder / "SteadyFrame"
    os.symlink(REPO, link, target_is_directory=True)
    before = dict(comfy_nodes.NODE_CLASS_MAPPINGS), dict(comfy_nodes.NODE_DISPLAY_NAME_MAPPINGS)
    ok = asyncio.run(comfy_nodes.load_custom_node(str(link)))
    yield ok, dict(comfy_nodes.NODE_CLASS_MAPPINGS), dict(comfy_nodes.NODE_DISPLAY_NAME_MAPPINGS)
    # Leave ComfyUI's registry as it was for the other tests of this process.
    comfy_nodes.NODE_CLASS_MAPPINGS.clear()
    comfy_nodes.NODE_CLASS_MAPPINGS.update(before[0])
    comfy_nodes.NODE_DISPLAY_NAME_MAPPINGS.clear()
    comfy_nodes.NODE_DISPLAY_NAME_MAPPINGS.update(before[1])


@pytest.fixture(scope="module")
def pack_nodes(comfyui_root) -> dict:
    """``{node_id: class}`` of the pack's V3 nodes, as its extension lists them."""
    from steadyframe.nodes import node_classes

    return {cls.GET_SCHEMA().node_id: cls for cls in node_classes()}


def test_comfyui_loader_imports_the_pack(loaded_by_comfyui, pack_nodes):
    ok, mappings, display = loaded_by_comfyui
    assert ok, "nodes.load_custom_node failed; see the log for the import error"
    missing = [node_id for node_id in sorted(pack_nodes) if node_id not in mappings]
    assert not missing, f"not registered by ComfyUI's loader: {missing}"
    for node_id, cls in pack_nodes.items():
        assert mappings[node_id].RELATIVE_PYTHON_MODULE == "custom_nodes.SteadyFrame"
        assert display[node_id] == cls.GET_SCHEMA().display_name


# -- (b) node definitions as the server reads them ---------------------------------------------

def _check_input_spec(node_id, section, name, spec):
    where = f"{node_id}.{section}.{name}"
    assert isinstance(spec, (tuple, list)) and 1 <= len(spec) <= 2, f"{where}: expected (TYPE,) or (TYPE, options)"
    kind = spec[0]
    options = spec[1] if len(spec) == 2 else {}
    assert isinstance(options, dict), f"{where}: options must be a dict"
    if isinstance(kind, (list, tuple)):
        assert all(isinstance(c, (str, int, float)) for c in kind), f"{where}: combo choices must be plain values"
        if "default" in options and kind:
            assert options["default"] in kind, f"{where}: default {options['default']!r} is not a choice"
        return
    assert isinstance(kind, str) and kind, f"{where}: type must be a non-empty string"
    if kind in ("INT", "FLOAT") and "default" in options:
        low, high = options.get("min", float("-inf")), options.get("max", float("inf"))
        assert low <= options["default"] <= high, f"{where}: default outside [{low}, {high}]"
        if kind == "INT":
            assert isinstance(options["default"], int), f"{where}: INT default must be an int"
    if kind == "BOOLEAN" and "default" in options:
        assert isinstance(options["default"], bool), f"{where}: BOOLEAN default must be a bool"


def test_node_definitions_are_what_the_server_expects(loaded_by_comfyui, pack_nodes):
    _, mappings, _ = loaded_by_comfyui
    for node_id in sorted(pack_nodes):
        info = mappings[node_id].GET_NODE_INFO_V1()
        inputs = info["input"]
        assert set(inputs) <= SECTIONS, f"{node_id}: input sections {set(inputs)}"
        for section, specs in inputs.items():
            for name, spec in specs.items():
                if section != "hidden":
                    kind, options = comparable_spec(spec)
                    choices = options.pop("options", None)
                    _check_input_spec(node_id, section, name, (choices if kind == "COMBO" else kind, options))
        outputs = info["output"]
        assert all(isinstance(t, str) for t in outputs), f"{node_id}: output types must be strings"
        for key in ("output_name", "output_is_list", "output_tooltips"):
            assert len(info[key]) == len(outputs), f"{node_id}: {key} length"
        assert outputs or info["output_node"], f"{node_id}: no outputs and not an output node"
        # /object_info is a JSON response: every definition must serialise.
        json.dumps(info)


# -- (c) the real server, started by the runner ------------------------------------------------

@pytest.fixture(scope="module")
def live_server(comfyui_root):
    with ManagedServer(comfyui_root, python=sys.executable, startup_timeout=600) as server:
        yield server


@pytest.fixture(scope="module")
def live_object_info(live_server):
    return live_server.client.object_info()


def test_server_lists_our_nodes(live_object_info, pack_nodes):
    missing = [node_id for node_id in sorted(pack_nodes) if node_id not in live_object_info]
    assert not missing, f"/object_info lacks {missing} (import error, or node_info failed on them)"
    for node_id, cls in pack_nodes.items():
        entry = live_object_info[node_id]
        assert entry["python_module"] == "custom_nodes.SteadyFrame"
        assert entry["category"].startswith("SteadyFrame/")
        assert entry["display_name"] == cls.GET_SCHEMA().display_name


def test_tier1_snapshot_is_what_the_server_reports(live_object_info, pack_nodes):
    """Tier 1 checks workflows against tests/fixtures/steadyframe_object_info.json (it cannot import
    the V3 nodes); that file must say what the real server says. Regenerate it with
    tests/fixtures/make_pack_nodes.py after changing a node's inputs or outputs."""
    snapshot = json.loads(SNAPSHOT.read_text())
    assert sorted(snapshot) == sorted(pack_nodes)
    for node_id in sorted(pack_nodes):
        folders = FOLDER_COMBOS.get(node_id, ())
        assert comparable_entry(live_object_info[node_id], folders) == comparable_entry(snapshot[node_id], folders), node_id


@pytest.mark.parametrize("path", SAVED_BEFORE_V3, ids=lambda p: p.name)
def test_workflows_saved_before_v3_give_the_same_api_prompt(path, live_object_info):
    """Every workflow saved with the classic (V1) nodes converts to the API prompt it gave then."""
    expected = json.loads((path.parent.parent / "api" / path.name).read_text())
    assert to_api(load_workflow(path), live_object_info, source=path.name) == expected


# core LoadImage says "Invalid image file: NAME.png" for an image that is not in input/
MISSING_FILE = re.compile(r"'[^']+\.\w+' not found|Invalid image file: \S+\.\w+$")


def _file_choice_errors_only(node_errors) -> list:
    """Validation errors other than 'this model/input file is not installed here'."""
    left = []
    for node_id, info in node_errors.items():
        for err in info.get("errors", []):
            value = (err.get("extra_info") or {}).get("received_value")
            is_missing_file = (
                (err.get("type") == "value_not_in_list" and isinstance(value, str) and Path(value).suffix)
                or (err.get("type") == "custom_validation_failed" and MISSING_FILE.search(str(err.get("details"))))
            )
            if not is_missing_file:
                left.append(f"node {node_id} ({info.get('class_type')}): {err.get('message')}: {err.get('details')}")
    return left


@pytest.fixture(scope="module")
def with_core_extras(loaded_by_comfyui):
    """ComfyUI's comfy_extras nodes too (a server loads them at start-up; the registry is
    restored by ``loaded_by_comfyui`` afterwards)."""
    import nodes as comfy_nodes

    asyncio.run(comfy_nodes.init_builtin_extra_nodes())
    assert "SaveAnimatedWEBP" in comfy_nodes.NODE_CLASS_MAPPINGS, "comfy_extras did not load in-process"
    return loaded_by_comfyui


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_shipped_workflow_converts_and_validates(path, live_object_info, with_core_extras):
    import execution

    prompt = to_api(load_workflow(path), live_object_info, source=path.name)
    assert structural_problems(prompt, live_object_info) == []
    # ComfyUI's own validation (what POST /prompt runs), in-process with the pack loaded by
    # ComfyUI's loader; model and input files are not installed here, every other error counts.
    valid, error, outputs, node_errors = asyncio.run(execution.validate_prompt("check", prompt, None))
    if not valid:
        # Only per-node errors are acceptable (no unknown node, no prompt without outputs) ...
        assert error["type"] == "prompt_outputs_failed_validation", f"{path.name}: {error}"
    # ... and of those only files that are not installed on this machine.
    assert _file_choice_errors_only(node_errors) == []


def test_validation_errors_come_back_as_one_line(live_server, tmp_path):
    done = subprocess.run(
        [sys.executable, str(REPO / "run_workflow.py"), str(MAIN_WORKFLOW), "--server", live_server.client.base_url,
         "--set", "CheckpointLoaderSimple.ckpt_name=not_installed.safetensors"],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert "the server rejected the workflow" in lines[0]
    assert "(CheckpointLoaderSimple): Value not in list: ckpt_name: 'not_installed.safetensors'" in lines[0]


def test_unknown_node_against_the_real_server(live_server, tmp_path):
    graph = json.loads(MAIN_WORKFLOW.read_text())
    graph["nodes"].append({"id": 999, "type": "SteadyFrameNoSuchNode", "mode": 0, "pos": [0, 0], "widgets_values": []})
    path = tmp_path / "unknown.json"
    path.write_text(json.dumps(graph))
    done = subprocess.run([sys.executable, str(REPO / "run_workflow.py"), str(path), "--server", live_server.client.base_url],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0 and "node 999 has unknown type 'SteadyFrameNoSuchNode'" in done.stderr


# -- (d) a shipped workflow through /prompt to completion, as the README runs it ---------------

def test_txt2vid_workflow_runs_headless(comfyui_root, tmp_path):
    from support.sd15_factory import write_sd15_checkpoint

    models = tmp_path / "models"
    write_sd15_checkpoint(models / "checkpoints" / "sd15_random.safetensors", seed=0)
    graph = load_workflow(MAIN_WORKFLOW)
    frames = 4
    overrides = [
        "CheckpointLoaderSimple.ckpt_name=sd15_random.safetensors",
        "EmptyLatentImage.width=64", "EmptyLatentImage.height=64", f"EmptyLatentImage.batch_size={frames}",
        "KSampler.steps=2",
    ]
    if any(node["type"] == "SteadyFrameLoadMotionModule" for node in graph["nodes"]):
        motion_files = pytest.importorskip("support.motion_files")
        motion_files.write_random_motion_module(models / "animatediff_models" / "mm_random_v2.safetensors", version="v2")
        overrides.append("SteadyFrameLoadMotionModule.motion_module=mm_random_v2.safetensors")
    out = tmp_path / "output"
    command = [sys.executable, str(REPO / "run_workflow.py"), str(MAIN_WORKFLOW), "--models-dir", str(models),
               "--output-dir", str(out), "--comfy-python", sys.executable]
    for text in overrides:
        command += ["--set", text]
    env = dict(os.environ, COMFYUI_PATH=str(comfyui_root))
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert "running KSampler" in done.stderr and f"{2}/{2}" in done.stderr, "progress from /ws is shown"
    produced = [Path(line) for line in done.stdout.splitlines() if line.strip()]
    assert produced, f"no output paths printed: {done.stdout!r} {done.stderr[-2000:]!r}"
    for path in produced:
        assert path.is_file(), path
        assert out.resolve() in path.resolve().parents
    videos = [p for p in produced if p.suffix == ".mp4"]
    assert videos, f"no video among {produced}"
    import av

    with av.open(str(videos[0])) as container:
        assert sum(1 for _ in container.decode(video=0)) == frames
    # The one-run server was stopped: nothing listens on its port any more.
    port = int(re.search(r"on 127\.0\.0\.1:(\d+)", done.stderr).group(1))
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


def test_ctrl_c_stops_the_started_server(comfyui_root, tmp_path):
    """Ctrl-C while the runner waits for its server: exit 130, and the server process is gone."""
    env = dict(os.environ, COMFYUI_PATH=str(comfyui_root))
    runner = subprocess.Popen(
        [sys.executable, str(REPO / "run_workflow.py"), str(MAIN_WORKFLOW), "--comfy-python", sys.executable],
        stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
        # A terminal user's Ctrl-C: when the suite itself runs as a background job, the shell has
        # set SIGINT to "ignore", which every child would inherit and then (rightly) keep.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    first = runner.stderr.readline()
    match = re.search(r"on 127\.0\.0\.1:(\d+)", first)
    assert match, first
    port = match.group(1)
    server_pattern = f"main.py --listen 127.0.0.1 --port {port} "
    deadline = time.monotonic() + 60
    while not _processes_matching(server_pattern) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _processes_matching(server_pattern), "the runner did not start a server"
    runner.send_signal(signal.SIGINT)
    _, rest = runner.communicate(timeout=120)
    assert runner.returncode == 130, first + rest
    assert "interrupted" in rest and "Traceback" not in rest
    assert not _processes_matching(server_pattern), "the started server outlived the runner"


def _processes_matching(fragment: str) -> list:
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if fragment in command:
            found.append(int(pid))
    return found
