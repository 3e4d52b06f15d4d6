"""``python run_workflow.py WORKFLOW.json``: run a ComfyUI workflow headless and list its files."""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time

from .chain import chain_step, describe_step, overall_label
from .client import ComfyClient, describe_execution_error
from .convert import to_api
from .errors import RunnerError, one_line
from .outputs import local_path, output_files
from .overrides import apply_overrides, parse_override
from .progress import ProgressBar
from .server import ManagedServer
from .workflow_file import load_workflow

PROG = "run_workflow"
EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(EXIT_USAGE, f"{PROG}: error: {one_line(message)} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="run_workflow.py",
        description="Queue a ComfyUI workflow (UI or API format) on a ComfyUI server, show progress, "
        "and print the paths of the files it produced.",
    )
    parser.add_argument("workflow", help="workflow .json, as saved by the canvas (UI format) or exported for the API")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="NODE.INPUT=VALUE",
                        help="override an input before queueing (repeatable); NODE is a node id, title or unique type; "
                        "VALUE is JSON or else a string, e.g. --set 3.seed=5 --set 6.text='a red fox'")
    parser.add_argument("--server", metavar="URL", help="use this running ComfyUI server (e.g. http://127.0.0.1:8188) "
                        "instead of starting one from COMFYUI_PATH")
    parser.add_argument("--comfyui", metavar="PATH", default=os.environ.get("COMFYUI_PATH"),
                        help="ComfyUI checkout to start when no --server is given (default: $COMFYUI_PATH)")
    parser.add_argument("--comfy-python", metavar="PYTHON", default=os.environ.get("COMFYUI_PYTHON"),
                        help="Python that runs the started server (default: $COMFYUI_PYTHON, else this Python or "
                        "a venv of the ComfyUI checkout that can import ComfyUI's requirements)")
    parser.add_argument("--models-dir", action="append", default=[], metavar="DIR",
                        help="extra models folder for the started server; its subfolders (checkpoints, loras, "
                        "animatediff_models, ...) are added to ComfyUI's model folders (repeatable)")
    parser.add_argument("--input-dir", metavar="DIR", help="input folder of the started server; with --server: "
                        "where that server's input folder is, to print local paths")
    parser.add_argument("--output-dir", metavar="DIR", help="output folder of the started server; with --server: "
                        "where that server's output folder is, to print local paths instead of URLs")
    parser.add_argument("--comfy-arg", action="append", default=[], metavar="ARG",
                        help="extra argument for the started server's main.py (repeatable), e.g. --comfy-arg=--lowvram")
    parser.add_argument("--startup-timeout", type=float, default=600.0, metavar="S",
                        help="seconds to wait for a started server to answer (default 600)")
    parser.add_argument("--timeout", type=float, default=None, metavar="S",
                        help="give up (and cancel the prompt) after this many seconds of running (default: no limit)")
    parser.add_argument("--object-info", metavar="FILE", help="convert with this saved /object_info JSON instead of the server's "
                        "(only with --print-api)")
    parser.add_argument("--print-api", action="store_true",
                        help="print the API-format prompt (after conversion and --set) to stdout and exit without running it")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    return parser


def _note(message: str) -> None:
    sys.stderr.write(f"{PROG}: {message}\n")
    sys.stderr.flush()


def _load_object_info(path: str) -> dict:
    data = load_workflow(path)  # same JSON error reporting
    if not all(isinstance(v, dict) for v in data.values()):
        raise RunnerError(f"{path}: not an /object_info JSON (expected node ids mapping to objects)")
    return data


def prepare_prompt(workflow: dict, object_info: dict, overrides, source: str) -> dict:
    prompt = to_api(workflow, object_info, source)
    return apply_overrides(prompt, overrides, object_info)


def _label(prompt: dict, node_id) -> str:
    node = prompt.get(str(node_id)) or {}
    title = (node.get("_meta") or {}).get("title") or node.get("class_type") or "?"
    return f"{title} (node {node_id})"


def wait_for_prompt(client: ComfyClient, stream, prompt: dict, prompt_id: str, progress: ProgressBar,
                    timeout: float | None, server: ManagedServer | None) -> dict:
    """Follow ``/ws`` until the prompt finishes; return its history entry."""
    deadline = None if timeout is None else time.monotonic() + timeout
    current = None
    while True:
        message = stream.next(timeout=2.0)
        if deadline is not None and time.monotonic() > deadline:
            client.interrupt(prompt_id)
            raise RunnerError(f"the workflow did not finish within {timeout:g} s (--timeout); the prompt was cancelled")
        if message is None:
            if server is not None and not server.alive():
                raise RunnerError(f"ComfyUI exited while the workflow ran: {server.last_log_line()} (log: {server.log_path})")
            entry = client.history(prompt_id)
            if entry and (entry.get("status") or {}).get("completed") is not None:
                break
            continue
        kind, data = message.get("type"), message.get("data") or {}
        if data.get("prompt_id") not in (None, prompt_id):
            continue
        if kind == "executing":
            node = data.get("node")
            if node is None:
                if data.get("prompt_id") == prompt_id:
                    break
                continue
            current = node
            progress.node_started(_label(prompt, node))
        elif kind == "progress":
            node = data.get("node", current)
            progress.update(int(data.get("value", 0)), int(data.get("max", 0)), _label(prompt, node))
        elif kind == "execution_error":
            progress.finish()
            raise RunnerError(describe_execution_error(data, prompt))
        elif kind == "execution_interrupted":
            progress.finish()
            raise RunnerError(f"the run was interrupted on the server at {_label(prompt, data.get('node_id', '?'))}")
    progress.finish()
    for _ in range(60):  # the history entry lands right after the last message
        entry = client.history(prompt_id)
        if entry:
            break
        time.sleep(0.5)
    else:
        raise RunnerError(f"the server finished prompt {prompt_id} but has no history for it")
    status = entry.get("status") or {}
    if status.get("status_str") == "error":
        for event, data in status.get("messages") or []:
            if event == "execution_error":
                raise RunnerError(describe_execution_error(data, prompt))
        raise RunnerError(f"the server reports that prompt {prompt_id} failed")
    return entry


def follow_prompts(client: ComfyClient, stream, prompt: dict, running: list, progress: ProgressBar,
                   timeout: float | None, server: ManagedServer | None) -> dict:
    """Wait for prompt ``running[0]`` and, for a chunked run, every chunk it queues after it.

    ``running[0]`` is kept on the prompt being waited for (what Ctrl-C cancels); returns the last
    prompt's history entry (the one holding the final files). Any chunk failing fails the run.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
        entry = wait_for_prompt(client, stream, prompt, running[0], progress, left, server)
        step = chain_step(entry)
        if step is None:
            return entry
        progress.note(f"{PROG}: {describe_step(step)}")
        if not step.get("next_prompt_id"):
            if step["index"] + 1 < step.get("count", 0):
                raise RunnerError(f"{describe_step(step)}, but no next chunk was queued")
            return entry
        running[0] = step["next_prompt_id"]
        progress.context = overall_label(step)


def run(args) -> int:
    source = args.workflow
    workflow = load_workflow(args.workflow)
    overrides = [parse_override(text) for text in args.overrides]
    progress = ProgressBar(enabled=not args.no_progress)

    if args.object_info:
        if not args.print_api:
            raise RunnerError("--object-info is for --print-api (a real run converts with the server's /object_info)")
        prompt = prepare_prompt(workflow, _load_object_info(args.object_info), overrides, source)
        print(json.dumps(prompt, indent=2))
        return EXIT_OK

    if args.server:
        client = ComfyClient(args.server)
        folders = {k: v for k, v in (("output", args.output_dir), ("input", args.input_dir)) if v}
        return _run_on(client, workflow, overrides, source, args, progress, folders, server=None)

    if not args.comfyui:
        raise RunnerError("no --server given and COMFYUI_PATH is not set: point COMFYUI_PATH (or --comfyui) at a ComfyUI checkout, or pass --server URL")
    server = ManagedServer(
        args.comfyui, python=args.comfy_python, models_dirs=args.models_dir, input_dir=args.input_dir,
        output_dir=args.output_dir, extra_args=args.comfy_arg, startup_timeout=args.startup_timeout,
        log=None if args.no_progress else _note,
    )
    with server:
        folders = {"output": server.output_directory, "input": server.input_directory, "temp": server.temp_directory}
        try:
            return _run_on(server.client, workflow, overrides, source, args, progress, folders, server=server)
        except RunnerError as exc:
            raise RunnerError(f"{exc} (server log: {server.log_path})") from None


def _run_on(client, workflow, overrides, source, args, progress, folders, server) -> int:
    object_info = client.object_info()
    prompt = prepare_prompt(workflow, object_info, overrides, source)
    if args.print_api:
        print(json.dumps(prompt, indent=2))
        return EXIT_OK
    stream = client.open_websocket()
    try:
        started = time.monotonic()
        running = [client.queue_prompt(prompt)]  # the prompt followed now (a chunked run moves on)
        try:
            entry = follow_prompts(client, stream, prompt, running, progress, args.timeout, server)
        except KeyboardInterrupt:
            client.interrupt(running[0])
            raise
    finally:
        stream.close()
    files = output_files(entry)
    for record in files:
        path = local_path(record, folders)
        print(str(path) if path is not None else client.view_url(record.filename, record.subfolder, record.kind), flush=True)
    if not args.no_progress:
        _note(f"finished in {time.monotonic() - started:.1f} s; {len(files)} file(s)")
    return EXIT_OK


def _terminate(signum, frame):
    raise KeyboardInterrupt


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    previous = signal.signal(signal.SIGTERM, _terminate)  # stop a started server on `kill` too
    try:
        return run(args)
    except RunnerError as exc:
        _note(f"error: {exc}")
        return EXIT_ERROR
    except KeyboardInterrupt:
        _note("interrupted; the server was told to stop the prompt")
        return EXIT_INTERRUPTED
    except Exception as exc:  # never a traceback: one line saying what broke
        _note(f"error: unexpected {type(exc).__name__}: {one_line(str(exc), 500)}")
        return EXIT_ERROR
    finally:
        signal.signal(signal.SIGTERM, previous)
