"""Pure-torch motion-module code: formats, temporal layers, windows, schedules.

Nothing in this package imports ComfyUI.
"""
