"""Headless workflow runner: queue a ComfyUI workflow file on a server and report what it made.

Standard library only, so it runs in whatever Python runs ComfyUI. ``run_workflow.py`` at the
repository root is the command; ``cli.main`` is its entry point.
"""
