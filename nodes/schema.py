"""ComfyUI's node API for the pack: the one import of ``comfy_api``, pinned to a versioned module.

Pinning ``v0_0_2`` (not ``latest``) keeps the node declarations on an API ComfyUI promises to keep
when ``latest`` moves on. The pack's own socket types are declared here once; every node module
takes them from here.
"""
from comfy_api.v0_0_2 import ComfyExtension, io, ui

__all__ = ["ComfyExtension", "io", "ui", "category", "Flow", "FlowModel", "Floats", "Chunk", "VideoInfo", "MotionKeyframes", "MotionBlocks", "CameraPoses"]

CATEGORY_ROOT = "SteadyFrame"


def category(sub: str) -> str:
    """Node category under the pack's menu, e.g. ``category("motion")``."""
    return f"{CATEGORY_ROOT}/{sub}"


Flow = io.Custom("SF_FLOW")
"""Forward and backward optical flow of a clip (``flow.sequence.FlowSequence``)."""

FlowModel = io.Custom("SF_FLOW_MODEL")
"""A learned optical-flow estimator (RAFT) from Load Optical Flow Model."""

Floats = io.Custom("FLOATS")
"""One float per frame (a Python list), as Value Schedule makes and other packs' FLOATS sockets take."""

Chunk = io.Custom("SF_CHUNK")
"""This run's share of a long video (``chunking.plan.Chunk``): its frame range and state folder."""

VideoInfo = io.Custom("SF_VIDEO_INFO")
"""Source and loaded fps, frame count, duration and size of a video (``video.info.LoadedVideoInfo``)."""
MotionKeyframes = io.Custom("SF_MOTION_KEYFRAMES")
"""Motion scale/effect keyframes over the sampling steps (a tuple of ``motion.keyframes.MotionKeyframe``)."""

MotionBlocks = io.Custom("SF_MOTION_BLOCKS")
"""Per-block motion weights (``motion.keyframes.BlockWeights``)."""

CameraPoses = io.Custom("SF_CAMERA_POSES")
"""A camera trajectory for CameraCtrl: one ``motion.camera_poses.CameraPose`` per frame (a tuple)."""
