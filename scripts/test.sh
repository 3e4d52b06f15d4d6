#!/usr/bin/env bash
# The README's test command (CI runs exactly this).
#
# Without COMFYUI_PATH: installs .venv (CPU torch 2.13.0, the pack's requirements, test tools)
# and runs the suite; tier 2 is skipped with a one-line reason.
# With COMFYUI_PATH: runs the whole suite (tier 1 and tier 2) in a Python that can import that
# ComfyUI: $COMFYUI_PYTHON when set, otherwise .venv-comfyui made from ComfyUI's own
# requirements.txt (pip resolves ComfyUI's torch/torchvision there; they run on CPU too).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"

make_venv() {  # make_venv DIR
    if [ ! -x "$1/bin/python" ]; then
        "$PYTHON" -m venv "$1"
    fi
}
pip_install() {  # pip_install PYTHON ARGS...
    local py="$1"; shift
    "$py" -m pip install --quiet --disable-pip-version-check "$@"
}

if [ -z "${COMFYUI_PATH:-}" ]; then
    make_venv .venv
    pip_install .venv/bin/python -r requirements-dev.txt
    TEST_PYTHON=.venv/bin/python
else
    if [ -n "${COMFYUI_PYTHON:-}" ]; then
        TEST_PYTHON="$COMFYUI_PYTHON"
    else
        make_venv .venv-comfyui
        pip_install .venv-comfyui/bin/python -r "$COMFYUI_PATH/requirements.txt"
        TEST_PYTHON=.venv-comfyui/bin/python
    fi
    pip_install "$TEST_PYTHON" -r requirements.txt -r requirements-test.txt
fi
exec "$TEST_PYTHON" -m pytest "$@"
