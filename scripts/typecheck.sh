#!/usr/bin/env bash
# mypy over the pure packages (nothing there imports ComfyUI). Usage: typecheck.sh [PYTHON]
# The pack is a package only under the name ComfyUI gives its folder, so mypy sees it through a
# temporary folder that names it `steadyframe`.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${1:-.venv/bin/python}"
# absolute, but not through realpath: a venv's python is a link to the base interpreter
PYTHON="$(cd "$(dirname "$PYTHON")" && pwd)/$(basename "$PYTHON")"
root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
ln -s "$PWD" "$root/steadyframe"
cd "$root"
"$PYTHON" -m mypy --config-file steadyframe/pyproject.toml \
    steadyframe/motion steadyframe/flow steadyframe/postprocess steadyframe/schedule steadyframe/video steadyframe/chunking
