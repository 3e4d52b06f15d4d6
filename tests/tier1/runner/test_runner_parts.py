"""Runner pieces that need no server: error descriptions, output paths, progress, server set-up."""
import io
import json
import os
from pathlib import Path

import pytest

from steadyframe.runner.client import describe_execution_error, describe_validation_error, normalise_url
from steadyframe.runner.errors import RunnerError, one_line
from steadyframe.runner.outputs import OutputFile, local_path, output_files
from steadyframe.runner.progress import ProgressBar
from steadyframe.runner.server import PACK_ROOT, ManagedServer, find_free_port, pack_installed_in, write_extra_paths

PROMPT = {"3": {"class_type": "KSampler", "inputs": {}}, "4": {"class_type": "CheckpointLoaderSimple", "inputs": {}}}


def test_validation_error_lists_each_node_with_type_and_reason():
    # The shape of ComfyUI's 400 answer to POST /prompt (server.py / execution.validate_prompt).
    answer = {
        "error": {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation", "details": "", "extra_info": {}},
        "node_errors": {
            "4": {"errors": [{"type": "value_not_in_list", "message": "Value not in list",
                              "details": "ckpt_name: 'missing.safetensors' not in []", "extra_info": {}}],
                  "dependent_outputs": ["9"], "class_type": "CheckpointLoaderSimple"},
            "3": {"errors": [{"type": "required_input_missing", "message": "Required input is missing", "details": "negative", "extra_info": {}}],
                  "dependent_outputs": ["9"], "class_type": "KSampler"},
        },
    }
    text = describe_validation_error(answer, PROMPT)
    assert "node 4 (CheckpointLoaderSimple): Value not in list: ckpt_name: 'missing.safetensors' not in []" in text
    assert "node 3 (KSampler): Required input is missing: negative" in text
    assert "\n" not in text


def test_validation_error_without_node_errors_uses_the_message():
    answer = {"error": {"type": "invalid_prompt", "message": "Cannot execute because node Foo does not exist.", "details": "Node ID '#7'"}, "node_errors": {}}
    assert describe_validation_error(answer, PROMPT) == "Cannot execute because node Foo does not exist.: Node ID '#7'"


def test_execution_error_is_one_line_with_node_and_type():
    data = {"prompt_id": "p", "node_id": "3", "node_type": "KSampler", "exception_type": "RuntimeError",
            "exception_message": "shape mismatch\n  at layer 4\n", "traceback": ["..."]}
    assert describe_execution_error(data, PROMPT) == "node 3 (KSampler) failed: RuntimeError: shape mismatch at layer 4"


def test_one_line_limits_length():
    assert one_line("a\nb  c") == "a b c"
    assert len(one_line("x" * 5000, 100)) == 100


@pytest.mark.parametrize("url, expected", [("127.0.0.1:8188", "http://127.0.0.1:8188"), ("http://host:1/", "http://host:1")])
def test_server_urls(url, expected):
    assert normalise_url(url) == expected


def test_bad_server_url():
    with pytest.raises(RunnerError, match="expected an http"):
        normalise_url("ftp://x")


def test_output_files_from_history(tmp_path):
    entry = {"outputs": {
        "9": {"images": [{"filename": "a_00001_.webp", "subfolder": "SteadyFrame", "type": "output"}], "animated": [True]},
        "12": {"gifs": [{"filename": "v.mp4", "subfolder": "", "type": "output", "format": "video/h264-mp4"}]},
        "13": {"images": [{"filename": "p.png", "subfolder": "", "type": "temp"}], "text": ["hello"]},
    }, "status": {"status_str": "success", "completed": True}}
    files = output_files(entry)
    assert [(f.node_id, f.filename, f.subfolder, f.kind) for f in files] == [
        ("9", "a_00001_.webp", "SteadyFrame", "output"), ("12", "v.mp4", "", "output"), ("13", "p.png", "", "temp")]
    folders = {"output": tmp_path / "out", "temp": tmp_path / "tmp"}
    assert local_path(files[0], folders) == tmp_path / "out" / "SteadyFrame" / "a_00001_.webp"
    assert local_path(files[2], folders) == tmp_path / "tmp" / "p.png"
    assert local_path(OutputFile("1", "x.png", "", "input"), folders) is None


def test_output_names_cannot_leave_their_folder(tmp_path):
    assert local_path(OutputFile("1", "passwd", "../../etc", "output"), {"output": tmp_path}) is None


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_redraws_on_a_terminal():
    stream = _Terminal()
    bar = ProgressBar(stream=stream, width=10)
    bar.node_started("KSampler (node 3)")
    bar.update(6, 20, "KSampler (node 3)")
    bar.update(20, 20, "KSampler (node 3)")
    bar.finish()
    text = stream.getvalue()
    assert "\r[###.......] 6/20  KSampler (node 3)" in text
    assert "\r[##########] 20/20  KSampler (node 3)" in text
    assert text.endswith("\n")


def test_progress_in_a_log_is_one_line_per_node_and_step_total():
    stream = io.StringIO()
    bar = ProgressBar(stream=stream, width=4)
    bar.node_started("KSampler (node 3)")
    for step in range(1, 5):
        bar.update(step, 4, "KSampler (node 3)")
    assert stream.getvalue().splitlines() == ["running KSampler (node 3)", "[####] 4/4  KSampler (node 3)"]


def test_progress_can_be_silenced():
    stream = _Terminal()
    bar = ProgressBar(stream=stream, enabled=False)
    bar.node_started("x")
    bar.update(1, 2, "x")
    bar.finish()
    assert stream.getvalue() == ""


def test_free_port_is_free():
    import socket

    port = find_free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_extra_paths_file_adds_custom_nodes_and_model_subfolders(tmp_path):
    models = tmp_path / "models"
    (models / "checkpoints").mkdir(parents=True)
    (models / "animatediff_models").mkdir()
    (models / "readme.txt").write_text("not a folder")
    target = tmp_path / "extra.yaml"
    assert write_extra_paths(target, tmp_path / "custom nodes", [models])
    lines = target.read_text().splitlines()
    assert lines[0] == "steadyframe_runner:"
    entries = {line.split(":", 1)[0].strip(): json.loads(line.split(":", 1)[1]) for line in lines[1:]}
    assert entries == {"custom_nodes": str(tmp_path / "custom nodes"),
                       "animatediff_models": str(models / "animatediff_models"),
                       "checkpoints": str(models / "checkpoints")}
    assert not write_extra_paths(tmp_path / "none.yaml", None, [])


def test_missing_models_dir_is_an_error(tmp_path):
    with pytest.raises(RunnerError, match="not a folder"):
        write_extra_paths(tmp_path / "x.yaml", None, [tmp_path / "absent"])


def _comfy_like_folder(root: Path) -> Path:
    (root / "comfy").mkdir(parents=True)
    (root / "main.py").write_text("")
    (root / "folder_paths.py").write_text("")
    (root / "custom_nodes").mkdir()
    return root


def test_pack_installed_detection_follows_links(tmp_path):
    comfy = _comfy_like_folder(tmp_path / "ComfyUI")
    assert not pack_installed_in(comfy)
    os.symlink(PACK_ROOT, comfy / "custom_nodes" / "AnyName", target_is_directory=True)
    assert pack_installed_in(comfy)


def test_server_command_line(tmp_path):
    """The started server: loopback, its own port/temp/db, --cpu without GPU, the pack linked in."""
    comfy = _comfy_like_folder(tmp_path / "ComfyUI")
    server = ManagedServer(comfy, output_dir=tmp_path / "out", extra_args=["--preview-method", "none"])
    server.workdir = str(tmp_path / "work")
    os.makedirs(server.workdir)
    server.port = 43210
    args = server.command("/usr/bin/python3", "cpu")
    assert args[:2] == ["/usr/bin/python3", str(comfy / "main.py")]
    joined = " ".join(args)
    assert "--listen 127.0.0.1 --port 43210" in joined and "--cpu" in args
    assert f"--temp-directory {server.workdir}" in joined
    assert f"--output-directory {tmp_path / 'out'}" in joined
    assert args[-2:] == ["--preview-method", "none"]
    link = Path(server.workdir) / "custom_nodes" / "SteadyFrame"
    assert link.resolve() == PACK_ROOT
    extra = args[args.index("--extra-model-paths-config") + 1]
    assert str(Path(server.workdir) / "custom_nodes") in Path(extra).read_text()

    on_gpu = ManagedServer(comfy)
    on_gpu.workdir = str(tmp_path / "work2")
    os.makedirs(on_gpu.workdir)
    on_gpu.port = 1
    assert "--cpu" not in on_gpu.command("python", "gpu")


def test_not_a_comfyui_checkout(tmp_path):
    with pytest.raises(RunnerError, match="is not a ComfyUI checkout"):
        ManagedServer(tmp_path)
