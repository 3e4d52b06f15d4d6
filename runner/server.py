"""Starting and stopping a private ComfyUI server for one run.

The server listens on a free loopback port, runs on the CPU when its torch sees no GPU, keeps
its temp folder and database to itself, and sees this pack: when the pack is not already in
ComfyUI's ``custom_nodes/``, a temporary ``extra_model_paths`` file adds a ``custom_nodes``
folder holding a link to it (ComfyUI reads extra paths before it loads custom nodes).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from .client import ComfyClient
from .errors import RunnerError, one_line

PACK_ROOT = Path(__file__).resolve().parent.parent
PACK_LINK_NAME = "SteadyFrame"
# Probing a Python: can it run ComfyUI, and does its torch see a GPU?
_PROBE = "import aiohttp, yaml, torch; print('gpu' if torch.cuda.is_available() else 'cpu')"


def is_comfyui_checkout(path: Path) -> bool:
    return (path / "main.py").is_file() and (path / "comfy").is_dir() and (path / "folder_paths.py").is_file()


def find_free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def pack_installed_in(comfyui: Path, pack_root: Path = PACK_ROOT) -> bool:
    """True when ``comfyui/custom_nodes`` already holds this pack (as a folder or a link)."""
    folder = comfyui / "custom_nodes"
    if not folder.is_dir():
        return False
    target = pack_root.resolve()
    for entry in folder.iterdir():
        try:
            if entry.resolve() == target:
                return True
        except OSError:
            continue
    return False


def _probe_python(python: str):
    """``"gpu"``/``"cpu"`` when ``python`` can run ComfyUI, else None."""
    try:
        done = subprocess.run([python, "-c", _PROBE], capture_output=True, text=True, timeout=180)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    answer = done.stdout.strip().splitlines()
    return answer[-1] if answer and answer[-1] in ("gpu", "cpu") else None


def choose_python(comfyui: Path, explicit: str | None = None):
    """``(python, device)`` for the server: the given one, or the first candidate that can run ComfyUI."""
    if explicit:
        device = _probe_python(explicit)
        if device is None:
            raise RunnerError(f"the Python {explicit} cannot run ComfyUI (importing torch, aiohttp and yaml failed); install ComfyUI's requirements.txt into it")
        return explicit, device
    candidates = [sys.executable]
    for venv in (PACK_ROOT / ".venv-comfyui", comfyui / "venv", comfyui / ".venv"):
        candidates.append(str(venv / "bin" / "python"))
        candidates.append(str(venv / "Scripts" / "python.exe"))
    candidates.append(str(comfyui.parent / "python_embeded" / "python.exe"))
    seen = set()
    for python in candidates:
        if python in seen or not Path(python).exists():
            continue
        seen.add(python)
        device = _probe_python(python)
        if device is not None:
            return python, device
    raise RunnerError(
        f"no Python that can run the ComfyUI at {comfyui} was found (tried {', '.join(sorted(seen))}); "
        "run this command with ComfyUI's Python, or set COMFYUI_PYTHON / --comfy-python"
    )


def _yaml_string(text: str) -> str:
    return json.dumps(text)  # a JSON string is a valid YAML double-quoted scalar


def write_extra_paths(path: Path, custom_nodes: Path | None, models_dirs) -> bool:
    """Write an extra_model_paths file; False when there is nothing to add."""
    entries = {}
    if custom_nodes is not None:
        entries["custom_nodes"] = [str(custom_nodes)]
    for models_dir in models_dirs:
        models_dir = Path(models_dir).resolve()
        if not models_dir.is_dir():
            raise RunnerError(f"--models-dir {models_dir}: not a folder")
        for sub in sorted(models_dir.iterdir()):
            if sub.is_dir():
                entries.setdefault(sub.name, []).append(str(sub))
    if not entries:
        return False
    lines = ["steadyframe_runner:"]
    for name, folders in entries.items():
        lines.append(f"  {name}: {_yaml_string(chr(10).join(folders))}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return True


class ManagedServer:
    """``with ManagedServer(...) as server:`` starts ComfyUI, ``server.client`` talks to it,
    and leaving the block (normally, on error or on Ctrl-C) stops it."""

    def __init__(self, comfyui_path, python=None, models_dirs=(), input_dir=None, output_dir=None,
                 extra_args=(), startup_timeout: float = 600.0, log=None):
        self.comfyui = Path(comfyui_path).expanduser().resolve()
        if not is_comfyui_checkout(self.comfyui):
            raise RunnerError(f"{comfyui_path} is not a ComfyUI checkout (expected main.py, comfy/ and folder_paths.py there)")
        self.python_choice = python
        self.models_dirs = list(models_dirs)
        self.input_dir = Path(input_dir).resolve() if input_dir else None
        self.output_dir = Path(output_dir).resolve() if output_dir else None
        self.extra_args = list(extra_args)
        self.startup_timeout = startup_timeout
        self.log = log if log is not None else (lambda message: None)
        self.process = None
        self.workdir = None
        self.log_path = None
        self.client = None
        self.port = None

    # Where ComfyUI writes: needed to turn history entries into paths.
    @property
    def output_directory(self) -> Path:
        return self.output_dir or self.comfyui / "output"

    @property
    def input_directory(self) -> Path:
        return self.input_dir or self.comfyui / "input"

    @property
    def temp_directory(self) -> Path:
        return Path(self.workdir) / "temp"

    def command(self, python: str, device: str) -> list:
        args = [python, str(self.comfyui / "main.py"), "--listen", "127.0.0.1", "--port", str(self.port),
                "--disable-auto-launch", "--temp-directory", str(self.workdir)]
        if device == "cpu" and "--cpu" not in self.extra_args:
            args.append("--cpu")
        if not any(a.startswith("--database-url") for a in self.extra_args):
            args += ["--database-url", "sqlite:///:memory:"]  # a one-run server keeps no asset database
        custom_nodes = None
        if not pack_installed_in(self.comfyui):
            custom_nodes = Path(self.workdir) / "custom_nodes"
            custom_nodes.mkdir()
            os.symlink(PACK_ROOT, custom_nodes / PACK_LINK_NAME, target_is_directory=True)
        extra_paths = Path(self.workdir) / "extra_model_paths.yaml"
        if write_extra_paths(extra_paths, custom_nodes, self.models_dirs):
            args += ["--extra-model-paths-config", str(extra_paths)]
        if self.output_dir:
            args += ["--output-directory", str(self.output_dir)]
        if self.input_dir:
            args += ["--input-directory", str(self.input_dir)]
        return args + self.extra_args

    def start(self) -> ManagedServer:
        python, device = choose_python(self.comfyui, self.python_choice)
        self.workdir = tempfile.mkdtemp(prefix="steadyframe-comfyui-")
        self.port = find_free_port()
        args = self.command(python, device)
        fd, log_name = tempfile.mkstemp(prefix="steadyframe-comfyui-", suffix=".log")
        self.log_path = Path(log_name)
        self.log(f"starting ComfyUI ({device}) on 127.0.0.1:{self.port}; log: {self.log_path}")
        with os.fdopen(fd, "wb") as log_file, _signals_deferred():
            self.process = subprocess.Popen(
                args, cwd=str(self.comfyui), stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C reaches the runner, which then stops the server in order
            )
        self.client = ComfyClient(f"http://127.0.0.1:{self.port}")
        self._wait_until_ready()
        return self

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while True:
            code = self.process.poll()
            if code is not None:
                raise RunnerError(f"ComfyUI exited during start-up (exit code {code}): {self.last_log_line()} (log: {self.log_path})")
            try:
                self.client.get_json("/system_stats")
                return
            except RunnerError:
                pass
            if time.monotonic() > deadline:
                raise RunnerError(f"ComfyUI did not answer within {self.startup_timeout:.0f} s of starting (log: {self.log_path})")
            time.sleep(0.5)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def last_log_line(self) -> str:
        try:
            lines = [line for line in self.log_path.read_text(errors="replace").splitlines() if line.strip()]
        except OSError:
            return "(no log)"
        return one_line(lines[-1], 300) if lines else "(empty log)"

    def stop(self, keep_log: bool = False) -> None:
        if self.process is not None and self.process.poll() is None:
            for sig, wait in ((signal.SIGINT, 15), (signal.SIGTERM, 10)):
                try:
                    self.process.send_signal(sig)
                    self.process.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
                except (OSError, ValueError):  # gone already, or a platform without that signal
                    break
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None
        if self.log_path is not None and not keep_log:
            try:
                self.log_path.unlink()
            except OSError:
                pass

    def __enter__(self) -> ManagedServer:
        try:
            return self.start()
        except BaseException:
            self.stop(keep_log=True)
            raise

    def __exit__(self, exc_type, exc, tb) -> None:
        self.stop(keep_log=exc_type is not None)


@contextmanager
def _signals_deferred():
    """Hold Ctrl-C / SIGTERM until the block ends, then raise KeyboardInterrupt.

    A Ctrl-C that lands inside ``subprocess.Popen`` after the child started but before Popen
    returned would leave a server nobody knows the pid of. Python-level handlers (not SIG_IGN)
    are used so the child still gets the default dispositions after exec.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending = []
    previous = {sig: signal.signal(sig, lambda signum, frame: pending.append(signum))
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if pending:
        raise KeyboardInterrupt
