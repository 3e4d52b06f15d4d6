"""Apply CameraCtrl to a MODEL that carries a SteadyFrame motion module, through extension points.

What :func:`attach_cameractrl` sets on a clone of the MODEL (key ``SteadyFrame_cameractrl``):

- ``set_additional_models``: a ModelPatcher around the pose encoder and ``qkv_merge`` layers, so
  they load and offload with the UNet (nothing of the UNet or the motion module is copied);
- an APPLY_MODEL wrapper: for each model call it takes the poses of this call's frames (the
  context window's frames when windows are on, the last pose repeating past the end), makes their
  Plücker rays at this latent's pixel size, runs the pose encoder, and hands every camera-aware
  attention its conditioning through ``transformer_options[CAMERA_KEY]``; the motion modules read
  it in ``motion_forward_patch``;
- an ON_CLEANUP callback that drops the one cached set of encoder features.
"""
from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from typing import Optional

import torch

from ..motion.camera_encoder import (
    CameraCtrlFormatError,
    CameraCtrlInfo,
    CameraCtrlModel,
    apply_camera_merge,
    features_for_module,
    load_cameractrl_file,
)
from ..motion.camera_poses import CameraPose, plucker_embedding
from .folders import PACK_MODELS_DIR, model_file_path
from .motion_chain import motion_chain
from .motion_patch import CAMERA_KEY, MOTION_FOLDER, temporal_attention_kernel

CAMERA_PATCH_KEY = "SteadyFrame_cameractrl"
_ATTENTION = ".temporal_transformer.transformer_blocks.0.attention_blocks.0"

log = logging.getLogger(__name__)


def _dtype_for(model_patcher) -> torch.dtype:
    dtype = model_patcher.model.manual_cast_dtype or model_patcher.model_dtype() or torch.float32
    return dtype if dtype in (torch.float32, torch.float16, torch.bfloat16) else torch.float16


def load_cameractrl_patcher(model_patcher, name: str):
    """``(ModelPatcher around a CameraCtrlModel, info, path)`` for a file of ``animatediff_models``."""
    import comfy.model_patcher
    import comfy.ops

    path = model_file_path(MOTION_FOLDER, name, "CameraCtrl adapter", PACK_MODELS_DIR)
    camera_model, info = load_cameractrl_file(path, ops=comfy.ops.disable_weight_init, dtype=_dtype_for(model_patcher))
    log.info("SteadyFrame: %s is a %s", name, info.describe())
    patcher = comfy.model_patcher.ModelPatcher(camera_model, load_device=model_patcher.load_device,
                                               offload_device=model_patcher.offload_device)
    return patcher, info, path


def _target_motion_model(model, info: CameraCtrlInfo, source: str):
    """The motion model whose modules take every ``qkv_merge`` of the file: the first v3 module of
    the chain that fits (CameraCtrl was trained on v3), else the first that fits."""
    chain = sorted(motion_chain(model), key=lambda entry: entry.info.version != "v3")
    problems = []
    for entry in chain:
        modules = {module.key: module for module in entry.patcher.model.modules_in_order()}
        problem = None
        for key in info.merge_keys:
            module_key = key.split(".temporal_transformer.")[0]
            if module_key not in modules:
                problem = f"{key} has no motion module {module_key} in {entry.source}"
                break
        if problem is None:
            down = entry.patcher.model.layout.down
            if len(down) != len(info.channels) or any(block and block[0] != c for block, c in zip(down, info.channels)):
                problem = (f"the pose encoder's levels {list(info.channels)} do not match {entry.source}'s down-block "
                           f"channels {[block[0] if block else None for block in down]}")
        if problem is None:
            return entry
        problems.append(problem)
    raise CameraCtrlFormatError(f"CameraCtrl adapter {source} does not fit the motion module(s) on this model: "
                                f"{'; '.join(problems)}. CameraCtrl was trained for the AnimateDiff v3 SD1.5 motion module")


def frame_poses(poses: Sequence[CameraPose], indices: Sequence[int]) -> list:
    """The pose of each video frame index; frames past the last pose get the last pose."""
    return [poses[min(int(i), len(poses) - 1)] for i in indices]


class CameraConditioner:
    """APPLY_MODEL wrapper state: the poses, the strength and a one-entry feature cache."""

    def __init__(self, camera_patcher, target_patcher, poses: Sequence[CameraPose], strength: float):
        self.camera_patcher = camera_patcher
        self.target_patcher = target_patcher
        self.poses = tuple(poses)
        self.strength = float(strength)
        self._cache: Optional[tuple] = None

    def clear(self, *args, **kwargs) -> None:
        self._cache = None

    def features(self, indices: tuple, chunks: int, height: int, width: int, device, dtype) -> list:
        """``[(chunks*h*w, F, C) per level]`` encoder features of these frames at this latent size."""
        key = (indices, chunks, height, width, str(device), dtype)
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        import comfy.ldm.modules.attention as comfy_attention

        camera_model: CameraCtrlModel = self.camera_patcher.model
        rays = plucker_embedding(frame_poses(self.poses, indices), width * 8, height * 8)

        def attention(q, k, v, heads):
            return temporal_attention_kernel(comfy_attention, q.device)(q, k, v, heads)

        levels = camera_model.pose_encoder(rays, attention=attention)
        tokens = []
        for feature in levels:
            f, c, h, w = feature.shape
            per_chunk = feature.reshape(f, c, h * w).permute(2, 0, 1)  # (hw, F, C), pixel-major like the motion module
            tokens.append(per_chunk.repeat(chunks, 1, 1).to(device=device))
        self._cache = (key, tokens)
        return tokens

    def conditioning(self, x: torch.Tensor, transformer_options: dict) -> dict:
        chunk_ids = transformer_options.get("cond_or_uncond") or [0]
        chunks = len(chunk_ids)
        frames = x.shape[0] // chunks
        window = transformer_options.get("context_window")
        indices = list(window.index_list) if window is not None else list(range(frames))
        indices = tuple((indices + [indices[-1]] * frames)[:frames])
        features = self.features(indices, chunks, x.shape[2], x.shape[3], x.device, x.dtype)
        camera_model: CameraCtrlModel = self.camera_patcher.model
        out = {}
        for module in self.target_patcher.model.modules_in_order():
            attention_key = module.key + _ATTENTION
            merge = camera_model.merge_for(attention_key)
            feature = features_for_module(features, module.key)
            if merge is None or feature is None:
                continue
            out[id(module)] = {attention_key: functools.partial(apply_camera_merge, merge=merge, feature=feature, effect=self.strength)}
        return out

    def apply_model(self, executor, x, t, c_concat=None, c_crossattn=None, control=None, transformer_options=None, **kwargs):
        options = dict(transformer_options or {})
        camera = dict(options.get(CAMERA_KEY) or {})
        camera.update(self.conditioning(x, options))
        options[CAMERA_KEY] = camera
        return executor(x, t, c_concat, c_crossattn, control, options, **kwargs)


def attach_cameractrl(model, camera_patcher, info: CameraCtrlInfo, source: str, poses: Sequence[CameraPose],
                      strength: float = 1.0):
    """A clone of ``model`` (with a motion module) that conditions the motion on ``poses``."""
    import comfy.patcher_extension

    if not poses:
        raise ValueError("Apply CameraCtrl: the camera poses are empty")
    target = _target_motion_model(model, info, source)
    conditioner = CameraConditioner(camera_patcher, target.patcher, poses, strength)
    clone = model.clone()
    clone.remove_wrappers_with_key(comfy.patcher_extension.WrappersMP.APPLY_MODEL, CAMERA_PATCH_KEY)
    clone.remove_callbacks_with_key(comfy.patcher_extension.CallbacksMP.ON_CLEANUP, CAMERA_PATCH_KEY)
    clone.remove_additional_models(CAMERA_PATCH_KEY)
    clone.set_additional_models(CAMERA_PATCH_KEY, [camera_patcher])
    clone.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.APPLY_MODEL, CAMERA_PATCH_KEY, conditioner.apply_model)
    clone.add_callback_with_key(comfy.patcher_extension.CallbacksMP.ON_CLEANUP, CAMERA_PATCH_KEY, conditioner.clear)
    return clone


def apply_cameractrl(model, cameractrl: str, poses: Sequence[CameraPose], strength: float = 1.0):
    """Apply CameraCtrl's work: load ``cameractrl`` from ``animatediff_models`` and attach it."""
    motion_chain(model)  # a clear error before loading anything when there is no motion module
    patcher, info, path = load_cameractrl_patcher(model, cameractrl)
    return attach_cameractrl(model, patcher, info, path, poses, strength)
