"""Test tiers.

Tier 1 runs anywhere. Tier 2 (tests marked ``tier2``) drives a real ComfyUI and
runs when ``COMFYUI_PATH`` points at a ComfyUI checkout or when this pack sits in
``ComfyUI/custom_nodes/``; otherwise it is skipped with a one-line reason.

The pack is imported as the package ``steadyframe`` whatever the folder is
called, the same way ComfyUI imports a custom-node folder (relative imports).
"""
import importlib.util
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
TESTS_DIR = Path(__file__).resolve().parent


def _is_repo_root(entry: str) -> bool:
    try:
        return Path(entry or ".").resolve() == REPO_ROOT
    except OSError:
        return False


# The pack is imported as the package ``steadyframe`` (below), never through the repository root:
# `python -m pytest` puts the working directory on sys.path, where the pack's own ``nodes/``
# would shadow ComfyUI's ``nodes.py`` in tier 2.
sys.path[:] = [entry for entry in sys.path if not _is_repo_root(entry)]
sys.path.insert(0, str(TESTS_DIR))

from support.comfy_location import find_comfyui, prepare_inprocess_comfyui  # noqa: E402

COMFYUI_ROOT, TIER2_SKIP_REASON = find_comfyui(REPO_ROOT)
if COMFYUI_ROOT is not None and str(COMFYUI_ROOT) not in sys.path:
    # Tier 2 imports ComfyUI's own modules (comfy, folder_paths, nodes) in-process, ahead of
    # site-packages as when ComfyUI's main.py runs.
    sys.path.insert(1, str(COMFYUI_ROOT))
    COMFYUI_ROOT, TIER2_SKIP_REASON = prepare_inprocess_comfyui(COMFYUI_ROOT)


def _import_pack():
    spec = importlib.util.spec_from_file_location(
        "steadyframe", REPO_ROOT / "__init__.py", submodule_search_locations=[str(REPO_ROOT)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["steadyframe"] = module
    spec.loader.exec_module(module)
    return module


if "steadyframe" not in sys.modules:
    _import_pack()


def pytest_report_header(config):
    if COMFYUI_ROOT is None:
        return f"SteadyFrame tier 2: skipped ({TIER2_SKIP_REASON})"
    return f"SteadyFrame tier 2: enabled, ComfyUI at {COMFYUI_ROOT}"


def pytest_collection_modifyitems(config, items):
    if COMFYUI_ROOT is not None:
        return
    skip = pytest.mark.skip(reason=f"tier 2 skipped: {TIER2_SKIP_REASON}")
    for item in items:
        if "tier2" in item.keywords:
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter):
    if COMFYUI_ROOT is None:
        terminalreporter.write_line(f"SteadyFrame tier 2 skipped: {TIER2_SKIP_REASON}")


@pytest.fixture(scope="session")
def comfyui_root() -> Path:
    """Path of the real ComfyUI checkout (tier 2 only)."""
    if COMFYUI_ROOT is None:
        pytest.skip(TIER2_SKIP_REASON)
    return COMFYUI_ROOT


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT
