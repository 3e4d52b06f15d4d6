#!/usr/bin/env bash
# The README's test command (CI runs exactly this). Extra arguments go to pytest.
#
# First the static checks, in .venv (CPU torch 2.13.0, the pack's requirements, test and lint
# tools): ruff over the tree and mypy over the pure packages.
#
# Without COMFYUI_PATH and without a vendored ComfyUI: runs the suite in .venv; tier 2 is skipped
# with a one-line reason.
# Without COMFYUI_PATH but with ComfyUI's sources in $STEADYFRAME_VENDOR (default: ../shared/vendor
# beside the checkout, read-only): copies ComfyUI (and AnimateDiff-Evolved, when there, into its
# custom_nodes for the comparison tests) to a temporary folder and runs both tiers against that copy
# as below. STEADYFRAME_VENDOR=none turns this off.
# With COMFYUI_PATH: runs the whole suite (tier 1 and tier 2) in a Python that can import that
# ComfyUI: $COMFYUI_PYTHON when set, else the first of COMFYUI_PATH/venv, COMFYUI_PATH/.venv and
# .venv-comfyui that already runs ComfyUI, else a new .venv-comfyui made from ComfyUI's own
# requirements.txt (pip resolves ComfyUI's torch/torchvision there; they run on CPU too).
# The pack's requirements and the test tools are added to that Python (pip skips what is there).
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
runs_comfyui() {  # runs_comfyui PYTHON: it can import ComfyUI's core requirements
    [ -x "$1" ] && "$1" -c "import torch, aiohttp, yaml, safetensors, einops" >/dev/null 2>&1
}

# The pack inside ComfyUI/custom_nodes/ means that ComfyUI, as for the tests themselves.
if [ -z "${COMFYUI_PATH:-}" ] && [ "$(basename "$(dirname "$PWD")")" = "custom_nodes" ] \
        && [ -f "../../main.py" ] && [ -d "../../comfy" ]; then
    COMFYUI_PATH="$(cd ../.. && pwd)"
    export COMFYUI_PATH
fi

make_venv .venv
# requirements-dev.txt pins torch==2.13.0 (the CPU wheel dev machines and CI have), ruff and mypy
pip_install .venv/bin/python -r requirements-dev.txt
.venv/bin/python -m ruff check --quiet .
bash scripts/typecheck.sh .venv/bin/python

VENDOR="${STEADYFRAME_VENDOR:-$(cd .. && pwd)/shared/vendor}"
if [ -z "${COMFYUI_PATH:-}" ] && [ "$VENDOR" != none ] && [ -f "$VENDOR/ComfyUI/main.py" ]; then
    COMFYUI_PATH="$(mktemp -d)/ComfyUI"
    trap 'rm -rf "$(dirname "$COMFYUI_PATH")"' EXIT
    cp -R "$VENDOR/ComfyUI" "$COMFYUI_PATH"
    mkdir -p "$COMFYUI_PATH/custom_nodes"
    if [ -d "$VENDOR/ComfyUI-AnimateDiff-Evolved" ]; then
        cp -R "$VENDOR/ComfyUI-AnimateDiff-Evolved" "$COMFYUI_PATH/custom_nodes/"
    fi
    chmod -R u+w "$COMFYUI_PATH"
    export COMFYUI_PATH
    echo "tier 2 against the vendored ComfyUI, copied to $COMFYUI_PATH" >&2
fi

if [ -z "${COMFYUI_PATH:-}" ]; then
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
"$TEST_PYTHON" -m pytest "$@"
