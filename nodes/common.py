"""Helpers shared by the node classes.

Only thin glue lives here; the numerical work is in ``motion/`` and ``flow/``.
"""

CATEGORY_ROOT = "SteadyFrame"


def category(sub: str) -> str:
    """Node category under the pack's menu, e.g. ``category("motion")``."""
    return f"{CATEGORY_ROOT}/{sub}"


def comfy_progress_bar(total: int):
    """A ComfyUI progress bar when running inside ComfyUI, else a no-op.

    Returns an object with ``update(n)`` and ``update_absolute(value)``.
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


class _SilentProgress:
    def update(self, value: int) -> None:
        pass

    def update_absolute(self, value: int, total=None, preview=None) -> None:
        pass
