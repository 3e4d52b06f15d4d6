#!/usr/bin/env bash
# The README's test command (CI runs exactly this). Extra arguments go to pytest.
#
# Without COMFYUI_PATH: installs .venv (CPU torch 2.13.0, the pack's requirements, test tools)
# and runs the suite; tier 2 is skipped with a one-line reason.
# With COMFYUI_PATH: runs the whole suite (tier 1 and tier 2) in a Python that can import that
# ComfyUI: $COMFYUI_PYTHON when set, else the first of COMFYUI_PATH/venv, COMFYUI_PATH/.venv and
# .venv-comfyui that already runs ComfyUI, else a new .venv-comfyui made from ComfyUI's own
# requirements.txt (pip resolves ComfyUI's torch/torchvision there; they run on CPU too).
# The pack's requirements and the test tools are added to that Python (pip skips what is there).
#
# TORCH_INDEX_URL: where the CPU build of torch comes from (default: PyTorch's CPU index, used
# only when reachable; otherwise pip's configured indexes decide).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
TORCH_VERSION="2.13.0"
TORCH_INDEX_URL="${TORCH_INDEX_URL:-https://download.pytorch.org/whl/cpu}"

make_venv() {  # make_venv DIR
    if [ ! -x "$1/bin/python" ]; then
        "$PYTHON" -m venv "$1"
    fi
}
pip_install() {  # pip_install PYTHON ARGS...
    local py="$1"; shift
    "$py" -m pip install --quiet --disable-pip-version-check "$@"
}
has_torch() {  # has_torch PYTHON VERSION: exit 0 when that torch version is installed
    "$1" -c "import sys, torch; sys.exit(torch.__version__.split('+')[0] != '$2')" >/dev/null 2>&1
}
index_reachable() {  # index_reachable URL: answers within a few seconds
    "$PYTHON" -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + '/', timeout=5)" "$1" >/dev/null 2>&1
}
install_cpu_torch() {  # install_cpu_torch PYTHON: torch==$TORCH_VERSION, CPU build where one exists
    has_torch "$1" "$TORCH_VERSION" && return 0
    if index_reachable "$TORCH_INDEX_URL"; then
        pip_install "$1" "torch==$TORCH_VERSION" --extra-index-url "$TORCH_INDEX_URL"
    else
        pip_install "$1" "torch==$TORCH_VERSION"
    fi
}
runs_comfyui() {  # runs_comfyui PYTHON: it can import ComfyUI's core requirements
    [ -x "$1" ] && "$1" -c "import torch, aiohttp, yaml, safetensors, einops" >/dev/null 2>&1
}

# The pack inside ComfyUI/custom_nodes/ means that ComfyUI, as for the tests themselves.
if [ -z "${COMFYUI_PATH:-}" ] && [ "$(basename "$(dirname "$PWD")")" = "custom_nodes" ] \
        && [ -f "../../main.py" ] && [ -d "../../comfy" ]; then
    COMFYUI_PATH="$(cd ../.. && pwd)"
    export COMFYUI_PATH
fi

if [ -z "${COMFYUI_PATH:-}" ]; then
    make_venv .venv
    install_cpu_torch .venv/bin/python
    pip_install .venv/bin/python -r requirements-dev.txt
    TEST_PYTHON=.venv/bin/python
else
    TEST_PYTHON="${COMFYUI_PYTHON:-}"
    if [ -z "$TEST_PYTHON" ]; then
        for candidate in "$COMFYUI_PATH/venv/bin/python" "$COMFYUI_PATH/.venv/bin/python" .venv-comfyui/bin/python; do
            if runs_comfyui "$candidate"; then
                TEST_PYTHON="$candidate"
                break
            fi
        done
    fi
    if [ -z "$TEST_PYTHON" ]; then
        make_venv .venv-comfyui
        pip_install .venv-comfyui/bin/python -r "$COMFYUI_PATH/requirements.txt"
        TEST_PYTHON=.venv-comfyui/bin/python
    fi
    pip_install "$TEST_PYTHON" -r requirements.txt -r requirements-test.txt
fi
exec "$TEST_PYTHON" -m pytest "$@"
