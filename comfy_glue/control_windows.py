"""Per-window ControlNet hints under ComfyUI's context windows.

Core ComfyUI v0.8.0 runs a long clip in windows of frames (``comfy/context_windows.py``), but
its ControlNet objects know nothing about windows: ``ControlNet.get_control`` keeps the first
frames of a per-frame hint (``comfy.controlnet.broadcast_image_to``), so every window is guided
by the hint frames of the first window.

``enable_per_window_control`` fixes that through a ``CALC_COND_BATCH`` wrapper (one of the
wrappers of ``comfy/patcher_extension.py``; core's context handler calls ``calc_cond_batch``
once per window, with ``transformer_options["context_window"]`` set to that window). For each
window, every ControlNet / T2I-adapter chain in the window's conds is replaced by a copy whose
hint (and per-frame extra concat inputs) are that window's frames. Copies are made per original
control object, so a control shared by the positive and negative conds stays shared and cond and
uncond are still batched together. Copies keep their own upscaled-hint cache (``cond_hint``),
reused while the same window comes back in later steps. Nothing in ComfyUI is modified: the
original control objects and conds are left as they were.
"""
from __future__ import annotations

import copy
import logging

WRAPPER_KEY = "SteadyFrame_per_window_control"
# Lives in the per-run copy of model_options that core passes to calc_cond_batch, so it is
# dropped with the run.
_CACHE_KEY = "steadyframe_per_window_control"

log = logging.getLogger(__name__)


def enable_per_window_control(model_patcher):
    """Make every context window see its own ControlNet hint frames; returns ``model_patcher``.

    Patches ``model_patcher`` in place (clone it first, as nodes do). Safe to call more than once
    and in any order with the node that sets ``model_options["context_handler"]`` (core
    "Context Windows (Manual)" or a SteadyFrame motion loader): the wrapper acts only while a
    window is being evaluated. A per-frame hint must have 1 frame or one frame per latent frame;
    anything else raises a ValueError when sampling starts its first window.
    """
    import comfy.patcher_extension

    wrapper_type = comfy.patcher_extension.WrappersMP.CALC_COND_BATCH
    model_patcher.remove_wrappers_with_key(wrapper_type, WRAPPER_KEY)
    model_patcher.add_wrapper_with_key(wrapper_type, WRAPPER_KEY, per_window_control_wrapper)
    return model_patcher


def per_window_control_wrapper(executor, model, conds, x_in, timestep, model_options):
    """``CALC_COND_BATCH`` wrapper: swap in per-window control copies, then run the batch."""
    window = active_window(x_in, model_options)
    if window is None:
        return executor(model, conds, x_in, timestep, model_options)
    cache = model_options.get(_CACHE_KEY)
    if not isinstance(cache, WindowControlCache):
        cache = WindowControlCache()
        model_options[_CACHE_KEY] = cache
    cache.start_call(float(timestep.reshape(-1)[0]))
    windowed = [windowed_conds(cond_list, window, cache) for cond_list in conds]
    return executor(model, windowed, x_in, timestep, model_options)


def active_window(x_in, model_options):
    """The context window being evaluated (frames on the batch axis), or None.

    core leaves ``transformer_options["context_window"]`` set after its loop, so a window only
    counts when ``x_in`` has exactly that window's frames.
    """
    window = model_options.get("transformer_options", {}).get("context_window")
    index_list = getattr(window, "index_list", None)
    if window is None or index_list is None:
        return None
    if getattr(window, "dim", 0) != 0:
        return None  # frames on another axis (e.g. WAN latents): hints there are not per batch item
    total = int(getattr(window, "total_frames", 0))
    if x_in.shape[0] != len(index_list) or total <= len(index_list):
        return None
    return window


def windowed_conds(cond_list, window, cache):
    """A copy of one cond list (list of dicts) whose ``control`` chains are the window's copies."""
    if cond_list is None:
        return None
    out = []
    for cond in cond_list:
        control = cond.get("control")
        if control is None:
            out.append(cond)
            continue
        replaced = window_control(control, window, cache)
        if replaced is control:
            out.append(cond)
        else:
            cond = dict(cond)
            cond["control"] = replaced
            out.append(cond)
    return out


def window_control(control, window, cache, depth: int = 0):
    """The control chain to use for ``window``: ``control`` itself when nothing in it is per-frame."""
    key = (id(control), tuple(window.index_list))
    found = cache.get(key)
    if found is not None:
        return found

    previous = control.previous_controlnet
    window_previous = window_control(previous, window, cache, depth + 1) if previous is not None else None
    per_frame = is_per_frame_hint(control, window.total_frames, depth)
    if not per_frame and window_previous is previous:
        result = control
    elif not _copyable(control):
        log.warning(
            "SteadyFrame per-window control: %s is not a core ControlNet/T2I-adapter; it keeps its own "
            "hint handling under context windows", type(control).__name__)
        result = control
    else:
        result = _window_copy(control, window, window_previous, per_frame)
    cache.put(key, control, result)
    return result


def is_per_frame_hint(control, total_frames: int, depth: int = 0) -> bool:
    """True for a hint with one frame per latent frame, False for a single-frame hint.

    Raises a ValueError naming both counts for any other hint length.
    """
    hint = getattr(control, "cond_hint_original", None)
    if hint is None:
        return False
    frames = int(hint.shape[0])
    if frames == 1:
        return False
    if frames == total_frames:
        return True
    where = "" if depth == 0 else f" (chained ControlNet {depth} step(s) before the last one applied)"
    raise ValueError(
        f"{type(control).__name__} hint has {frames} frames but the latent batch has {total_frames} frames{where}; "
        f"under context windows each window uses its own hint frames, so the hint image batch must have exactly "
        f"1 frame (the same hint for every frame) or {total_frames} frames (one per latent frame)"
    )


def _copyable(control) -> bool:
    import comfy.controlnet

    core_classes = [comfy.controlnet.ControlNet, comfy.controlnet.T2IAdapter]
    for name in ("ControlLora", "ControlNetSD35"):
        if hasattr(comfy.controlnet, name):
            core_classes.append(getattr(comfy.controlnet, name))
    # the pack's own core-ControlNet subclasses that build their hint per call (SparseCtrl) opt in
    return type(control) in core_classes or getattr(type(control), "steadyframe_window_copy", False)


def _window_copy(control, window, window_previous, per_frame: bool):
    # A shallow copy keeps what pre_run set up for this run (timestep range, model sampling, a
    # ControlLora's built model) and shares the weights; only the per-hint state is reset.
    index = list(window.index_list)
    total = window.total_frames
    c = copy.copy(control)
    c.previous_controlnet = window_previous
    c.cond_hint = None
    if hasattr(c, "control_input"):
        c.control_input = None  # T2I-adapter: features of the hint, computed once per hint
    c.extra_concat = None
    if per_frame:
        c.cond_hint_original = control.cond_hint_original[index]
    c.extra_concat_orig = [
        extra[index] if getattr(extra, "ndim", 0) > 0 and extra.shape[0] == total else extra
        for extra in control.extra_concat_orig
    ]
    return c


class WindowControlCache:
    """Per-run store of the window copies, so their upscaled hints are reused across steps.

    Keeps the copies made in the current sampling step and the previous one: static window
    schedules find every window again, while uniform schedules (whose windows move every step)
    do not pile up copies.
    """

    def __init__(self):
        self._step = None
        self._current = {}
        self._previous = {}

    def start_call(self, step_key: float) -> None:
        if step_key != self._step:
            self._previous = self._current
            self._current = {}
            self._step = step_key

    def get(self, key):
        entry = self._current.get(key)
        if entry is None:
            entry = self._previous.pop(key, None)
            if entry is None:
                return None
            self._current[key] = entry
        return entry[1]

    def put(self, key, original, result) -> None:
        # Holding the original keeps its id from being reused while the entry exists.
        self._current[key] = (original, result)
