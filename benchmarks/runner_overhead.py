"""What the headless runner adds on top of ComfyUI itself.

    python benchmarks/runner_overhead.py                       # conversion only
    COMFYUI_PATH=/path/to/ComfyUI python benchmarks/runner_overhead.py --server-start

Rows:
- converting each shipped workflow (UI -> API, with the committed v0.8.0 core object_info), against
  the baseline of only parsing the same JSON file;
- with --server-start: time until a runner-started server answers (ManagedServer: Python probe,
  free port, pack link, start-up), against the baseline of ComfyUI's own
  ``main.py --quick-test-for-ci`` (imports everything, loads custom nodes, exits).
Run it under ``flock /tmp/steadyframe-heavy.lock`` on a shared machine when starting servers.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from runner.convert import to_api  # noqa: E402
from runner.server import ManagedServer, choose_python  # noqa: E402


def best_of(repeats, function):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def conversion_rows(repeats):
    core = json.loads((REPO / "tests" / "fixtures" / "comfyui_v0.8.0_core_nodes.json").read_text())["nodes"]
    rows = []
    for path in sorted((REPO / "workflows").glob("*.json")):
        text = path.read_text()
        data = json.loads(text)
        if any(node["type"].startswith("SteadyFrame") for node in data["nodes"]):
            info = dict(core)
            info.update(_pack_info())
        else:
            info = core
        try:
            to_api(data, info, path.name)
        except Exception as exc:  # a node that lists its inputs only inside ComfyUI
            rows.append((f"convert {path.name}", None, None, f"skipped: {type(exc).__name__}"))
            continue
        baseline = best_of(repeats, lambda: json.loads(text))
        measured = best_of(repeats, lambda: to_api(json.loads(text), info, path.name))
        rows.append((f"convert {path.name}", measured * 1e3, baseline * 1e3, "ms, vs json.loads"))
    return rows


def _pack_info():
    import importlib.util

    from support.workflow_check import pack_object_info

    if "steadyframe" not in sys.modules:
        spec = importlib.util.spec_from_file_location("steadyframe", REPO / "__init__.py", submodule_search_locations=[str(REPO)])
        module = importlib.util.module_from_spec(spec)
        sys.modules["steadyframe"] = module
        spec.loader.exec_module(module)
    return pack_object_info()[0]


def server_rows(comfyui, python):
    python, device = choose_python(Path(comfyui), python)
    start = time.perf_counter()
    command = [python, str(Path(comfyui) / "main.py"), "--quick-test-for-ci", "--temp-directory", "/tmp/steadyframe-bench-temp"]
    subprocess.run(command + (["--cpu"] if device == "cpu" else []), cwd=comfyui, capture_output=True, check=True)
    baseline = time.perf_counter() - start
    start = time.perf_counter()
    with ManagedServer(comfyui, python=python):
        measured = time.perf_counter() - start
    return [("server ready (runner start)", measured, baseline, "s, vs main.py --quick-test-for-ci")]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--server-start", action="store_true")
    parser.add_argument("--comfyui", default=os.environ.get("COMFYUI_PATH"))
    parser.add_argument("--comfy-python", default=os.environ.get("COMFYUI_PYTHON"))
    args = parser.parse_args()
    print(f"machine: {platform.machine()} {platform.processor() or ''} cpus={os.cpu_count()} python={platform.python_version()}")
    rows = conversion_rows(args.repeats)
    if args.server_start:
        if not args.comfyui:
            parser.error("--server-start needs COMFYUI_PATH or --comfyui")
        rows += server_rows(args.comfyui, args.comfy_python)
    print(f"{'case':48} {'measured':>10} {'baseline':>10} {'ratio':>7}  unit")
    for name, measured, baseline, unit in rows:
        if measured is None:
            print(f"{name:48} {'-':>10} {'-':>10} {'-':>7}  {unit}")
        else:
            print(f"{name:48} {measured:10.3f} {baseline:10.3f} {measured / baseline:7.2f}  {unit}")


if __name__ == "__main__":
    main()
