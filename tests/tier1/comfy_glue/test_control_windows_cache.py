"""The per-run store of window control copies (pure Python part of nodes/control_windows.py)."""
import torch

from steadyframe.comfy_glue.control_windows import WindowControlCache, active_window


class Window:
    def __init__(self, index_list, total_frames, dim=0):
        self.index_list = index_list
        self.total_frames = total_frames
        self.dim = dim


def test_copies_live_for_the_current_and_previous_step():
    cache = WindowControlCache()
    original = object()
    cache.start_call(14.6)
    cache.put((1, (0, 1)), original, "copy-a")
    cache.put((1, (2, 3)), original, "copy-b")
    assert cache.get((1, (0, 1))) == "copy-a"
    cache.start_call(14.6)  # next window of the same step
    assert cache.get((1, (2, 3))) == "copy-b"
    cache.start_call(9.1)  # next step: the same static windows are found again
    assert cache.get((1, (0, 1))) == "copy-a"
    cache.start_call(5.0)  # copy-b was not used in step 9.1, so it is dropped now
    assert cache.get((1, (2, 3))) is None
    assert cache.get((1, (0, 1))) == "copy-a"


def test_active_window_only_while_a_strict_sub_window_runs():
    x_window = torch.zeros(16, 4, 8, 8)
    window = Window(list(range(8, 24)), 24)
    assert active_window(x_window, {"transformer_options": {"context_window": window}}) is window
    # core leaves the last window in transformer_options: a full-length batch is not windowed
    assert active_window(torch.zeros(24, 4, 8, 8), {"transformer_options": {"context_window": window}}) is None
    assert active_window(x_window, {"transformer_options": {}}) is None
    assert active_window(x_window, {}) is None
    # windows over another axis (WAN-style dim=2) are left to core
    assert active_window(x_window, {"transformer_options": {"context_window": Window(list(range(16)), 24, dim=2)}}) is None
    # a single window covering every frame needs no slicing
    assert active_window(x_window, {"transformer_options": {"context_window": Window(list(range(16)), 16)}}) is None
