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
