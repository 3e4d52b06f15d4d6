"""``run_workflow.py`` as a user runs it: bad input ends in one line on stderr and a non-zero exit."""
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
SCRIPT = REPO / "run_workflow.py"
SAMPLE_INFO = REPO / "tests" / "fixtures" / "object_info_sample.json"


def run_cli(*args, env_extra=None, drop_env=("COMFYUI_PATH", "COMFYUI_PYTHON"), timeout=60):
    env = {k: v for k, v in os.environ.items() if k not in drop_env}
    env.update(env_extra or {})
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, env=env, timeout=timeout)


def assert_one_line_error(done, *fragments, code=1):
    assert done.returncode == code, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line, got: {done.stderr!r}"
    assert "Traceback" not in done.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again when the block ends: nothing listens there


@pytest.fixture()
def ui_workflow(tmp_path):
    graph = {
        "nodes": [
            {"id": 5, "type": "EmptyLatentImage", "mode": 0, "inputs": [], "outputs": [{"name": "LATENT", "type": "LATENT", "links": []}],
             "widgets_values": [512, 512, 16]},
            {"id": 2, "type": "Note", "mode": 0, "widgets_values": ["hello"]},
        ],
        "links": [],
    }
    path = tmp_path / "wf.json"
    path.write_text(json.dumps(graph))
    return path


def test_missing_file(tmp_path):
    assert_one_line_error(run_cli(tmp_path / "nope.json"), "workflow file not found", "nope.json")


def test_invalid_json_names_line_and_column(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{\n  "nodes": [\n    {"id": 1,}\n  ]\n}\n')
    line = assert_one_line_error(run_cli(path), "broken.json", "invalid JSON at line 3, column 14")
    assert line.startswith("run_workflow: error:")


def test_not_a_workflow(tmp_path):
    path = tmp_path / "list.json"
    path.write_text("[1, 2]")
    assert_one_line_error(run_cli(path), "expected a JSON object")


def test_unknown_node_type(tmp_path, ui_workflow):
    graph = json.loads(ui_workflow.read_text())
    graph["nodes"].append({"id": 9, "type": "SteadyFrameDoesNotExist", "mode": 0, "widgets_values": []})
    ui_workflow.write_text(json.dumps(graph))
    assert_one_line_error(run_cli(ui_workflow, "--print-api", "--object-info", SAMPLE_INFO),
                          "node 9 has unknown type 'SteadyFrameDoesNotExist'")


def test_unreachable_server(ui_workflow):
    port = closed_port()
    assert_one_line_error(run_cli(ui_workflow, "--server", f"http://127.0.0.1:{port}"),
                          f"cannot reach the ComfyUI server at http://127.0.0.1:{port}")


def test_no_server_and_no_comfyui(ui_workflow):
    assert_one_line_error(run_cli(ui_workflow), "COMFYUI_PATH is not set")


def test_comfyui_path_that_is_not_comfyui(ui_workflow, tmp_path):
    assert_one_line_error(run_cli(ui_workflow, env_extra={"COMFYUI_PATH": str(tmp_path)}), "is not a ComfyUI checkout")


def test_bad_set_option(ui_workflow):
    assert_one_line_error(run_cli(ui_workflow, "--set", "5width=3", "--print-api", "--object-info", SAMPLE_INFO), "NODE.INPUT=VALUE")


def test_set_on_unknown_input(ui_workflow):
    assert_one_line_error(run_cli(ui_workflow, "--set", "5.widht=3", "--print-api", "--object-info", SAMPLE_INFO),
                          "node 5 (EmptyLatentImage) has no input 'widht'")


def test_usage_error_is_one_line_with_exit_2():
    assert_one_line_error(run_cli(), "required: workflow", code=2)


def test_print_api_converts_and_applies_overrides(ui_workflow):
    done = run_cli(ui_workflow, "--print-api", "--object-info", SAMPLE_INFO, "--set", "5.width=64", "--set", "5.batch_size=4")
    assert done.returncode == 0, done.stderr
    prompt = json.loads(done.stdout)
    assert prompt == {"5": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 512, "batch_size": 4},
                            "_meta": {"title": "Empty Latent Image"}}}


def test_help_documents_the_options():
    done = run_cli("--help")
    assert done.returncode == 0
    for option in ("--server", "--set", "--models-dir", "--output-dir", "--comfy-arg", "--print-api"):
        assert option in done.stdout
