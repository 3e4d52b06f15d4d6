"""Import helpers shared by the benchmark scripts.

``import_pack()`` imports the repository as the package ``steadyframe`` (relative imports, like
ComfyUI does with a custom-node folder), whatever the checkout folder is called.
``machine_line()`` describes the machine for the line printed above each table.
"""
import importlib.util
import platform
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
# the synthetic clip generators live with the tests (tests/support), which the benchmarks share
if str(REPO_ROOT / "tests") not in sys.path:
    sys.path.append(str(REPO_ROOT / "tests"))


def import_pack():
    if "steadyframe" in sys.modules:
        return sys.modules["steadyframe"]
    spec = importlib.util.spec_from_file_location("steadyframe", REPO_ROOT / "__init__.py",
                                                  submodule_search_locations=[str(REPO_ROOT)])
    module = importlib.util.module_from_spec(spec)
    sys.modules["steadyframe"] = module
    spec.loader.exec_module(module)
    return module


def import_comfyui() -> bool:
    """Make the ComfyUI at ``COMFYUI_PATH`` importable (on CPU when there is no GPU); False if it is not."""
    import os

    root = os.environ.get("COMFYUI_PATH")
    if not root:
        return False
    if root not in sys.path:
        sys.path.append(root)
    try:
        import torch
        from comfy.cli_args import args

        if not torch.cuda.is_available():
            args.cpu = True
        import comfy.model_patcher  # noqa: F401
    except Exception:
        return False
    return True


def machine_line() -> str:
    import torch

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"CPU ({platform.processor() or platform.machine()})"
    return f"machine: {device}, {torch.get_num_threads()} threads, torch {torch.__version__}, python {platform.python_version()}"


def print_table(headers, rows) -> None:
    """A plain-text table, columns sized to fit."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        print("  ".join(c.rjust(w) if n and i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))))
        if n == 0:
            print("  ".join("-" * w for w in widths))


def ours_vs_ade_parser(description: str):
    """Arguments of the benchmarks that run every case, ours and AnimateDiff-Evolved's, in a fresh subprocess."""
    import argparse

    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=1, help="runs of every case, interleaved; the fastest is shown")
    parser.add_argument("--run", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    return parser


def child_result(cmd: list[str], failure: str, label: str = "") -> dict:
    """Run one benchmark child; its result is the JSON on its last stdout line.

    A failed child ends the benchmark with ``failure`` after the tail of its stderr; each result
    is echoed to stderr (after ``label``) as it comes.
    """
    import json
    import subprocess

    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        print(done.stderr[-3000:], file=sys.stderr)
        sys.exit(failure)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"  measured {label}{result}", file=sys.stderr)
    return result


def run_ours_vs_ade(script: str, cases, args, folder: str) -> dict:
    """Run ``script --run PACK CASE`` for every case and pack, ``args.repeats`` times interleaved.

    Each run is its own process (peak RSS per case); it prints a JSON line with ``s_per_step`` and
    ``peak_rss_gib``. Returns ``{(pack, case): fastest run}``, with the largest peak RSS seen.
    """
    results: dict = {}
    for _ in range(args.repeats):
        for case in cases:
            for pack in ("ours", "ade"):
                cmd = [sys.executable, script, "--run", pack, case, "--folder", folder, "--frames", str(args.frames),
                       "--steps", str(args.steps), "--size", str(args.size)]
                result = child_result(cmd, f"{pack} {case} failed")
                best = results.get((pack, case))
                if best is None or result["s_per_step"] < best["s_per_step"]:
                    result["peak_rss_gib"] = max(result["peak_rss_gib"], best["peak_rss_gib"] if best else 0.0)
                    results[(pack, case)] = result
    return results


def setup_comfy_and_pack() -> None:
    """Import ComfyUI from ``COMFYUI_PATH`` and the pack, or exit saying what to set."""
    if not import_comfyui():
        sys.exit("set COMFYUI_PATH to a ComfyUI checkout that this Python can import")
    import_pack()


def import_ade():
    """AnimateDiff-Evolved from ``COMFYUI_PATH``'s custom_nodes, imported in this process; exits with the reason if absent."""
    import os

    from support.animatediff_evolved import find_animatediff_evolved, import_animatediff_evolved

    path, reason = find_animatediff_evolved(Path(os.environ["COMFYUI_PATH"]))
    if path is None:
        sys.exit(reason)
    return import_animatediff_evolved(path)
