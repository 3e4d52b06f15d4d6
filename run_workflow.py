#!/usr/bin/env python3
"""Run a ComfyUI workflow headless: ``python run_workflow.py workflows/NAME.json [--set 3.seed=5]``.

See the README's "Headless runner" section, or ``--help``. The logic lives in ``runner/``.
"""
import sys
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from runner.cli import main

    sys.exit(main())
