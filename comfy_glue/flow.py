"""Optical flow inside ComfyUI: the model folder, loading RAFT, and flow estimated on ComfyUI's device."""
from __future__ import annotations

from ..flow.estimate import Resolution
from ..flow.provider import FlowOptions
from .folders import model_file_names, model_file_path
from .runtime import compute_device

FLOW_MODEL_FOLDER = "optical_flow"


def flow_model_names() -> list:
    """Files in ``models/optical_flow`` (the folder is added to the user's paths, never replacing them)."""
    return model_file_names(FLOW_MODEL_FOLDER)


def load_flow_model(name: str, iterations: int):
    """The RAFT-large file ``name`` of ``models/optical_flow`` as an estimator, on ComfyUI's device."""
    from ..flow.raft import RaftEstimator, load_raft

    path = model_file_path(FLOW_MODEL_FOLDER, name, "optical-flow model")
    return RaftEstimator(load_raft(path, device=compute_device()), iterations=iterations, name=name)


def flow_options(preset: str = "balanced", max_motion=None, estimator=None,
                 resolution: str = Resolution.FULL) -> FlowOptions:
    """How a node estimates flow it is not given: its widgets, on ComfyUI's compute device.

    estimator: an SF_FLOW_MODEL (replaces TV-L1); max_motion: pixels, None = the default.
    """
    return FlowOptions(preset=preset, half_resolution=Resolution(resolution) is Resolution.HALF,
                       max_motion=None if max_motion is None else float(max_motion), estimator=estimator,
                       device=compute_device())
