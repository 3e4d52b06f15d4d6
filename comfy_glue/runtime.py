"""Progress, Cancel and device: the three things every long-running node asks ComfyUI for.

Each helper imports ComfyUI lazily, so the pure packages and their tier-1 tests run without it
(no progress bar, no Cancel, CPU).
"""
from __future__ import annotations

from collections.abc import Callable

import torch


def comfy_progress_bar(total: int):
    """A ComfyUI progress bar when running inside ComfyUI, else a no-op.

    Returns an object with ``update(n)`` and ``update_absolute(value, total=None)``.
    """
    try:
        import comfy.utils
    except ImportError:
        return _SilentProgress()
    return comfy.utils.ProgressBar(total)


def throw_if_interrupted() -> None:
    """Stop work promptly when the user presses Cancel in ComfyUI."""
    try:
        import comfy.model_management
    except ImportError:
        return
    comfy.model_management.throw_exception_if_processing_interrupted()


def progress_callback(total: int | None = None) -> Callable[[int, int], None]:
    """A ``report(done, total)`` callback for the pure packages: moves the bar and honours Cancel.

    total: the bar's length; None takes it from the reports, for work whose length the pure code
    works out (several stages, output counts): the bar then appears with the first report.
    """
    bar = None if total is None else comfy_progress_bar(max(int(total), 1))

    def report(done: int, reported_total: int) -> None:
        nonlocal bar
        steps = max(int(total if total is not None else reported_total), 1)
        if bar is None:
            bar = comfy_progress_bar(steps)
        bar.update_absolute(done, steps)
        throw_if_interrupted()

    return report


def compute_device() -> torch.device:
    """ComfyUI's compute device (the GPU when there is one); the CPU outside ComfyUI."""
    try:
        import comfy.model_management
    except ImportError:
        return torch.device("cpu")
    return comfy.model_management.get_torch_device()


class _SilentProgress:
    def update(self, value: int) -> None:
        pass

    def update_absolute(self, value: int, total=None, preview=None) -> None:
        pass
