#!/usr/bin/env bash
# Installs the development environment into .venv and runs both test tiers.
# Tier 2 runs when COMFYUI_PATH points at a ComfyUI checkout: its requirements
# are then installed into the same venv (torch stays the pinned CPU 2.13.0).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
PIP=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
"${PIP[@]}" -r requirements-dev.txt
if [ -n "${COMFYUI_PATH:-}" ]; then
    # torchvision 0.28.0 is the release built against torch 2.13.0; torchaudio is
    # left out (only ComfyUI's audio nodes need it).
    grep -vE '^\s*(torch|torchvision|torchaudio)\s*([#].*)?$' "$COMFYUI_PATH/requirements.txt" > .venv/comfyui-requirements.txt
    "${PIP[@]}" -r .venv/comfyui-requirements.txt torchvision==0.28.0 torch==2.13.0
fi
exec .venv/bin/python -m pytest "$@"
