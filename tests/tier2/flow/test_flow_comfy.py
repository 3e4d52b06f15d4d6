"""Flow nodes inside a real ComfyUI (in-process): model folder, RAFT loading, progress, Cancel."""
import pytest
import torch

from steadyframe.flow.raft import RAFT, RaftEstimator
from steadyframe.flow.sequence import FlowSequence
from steadyframe.nodes.flow_nodes import (
    FLOW_MODEL_FOLDER,
    SteadyFrameFlowWarp,
    SteadyFrameLoadFlowModel,
    SteadyFrameOpticalFlow,
    register_flow_model_folder,
)
from support.flow_synthetic import translated_sequence

pytestmark = pytest.mark.tier2


@pytest.fixture
def flow_folder(comfyui_root, tmp_path):
    """A user folder registered for optical_flow the way extra_model_paths.yaml would; removed after."""
    import folder_paths

    folder_paths.add_model_folder_path(FLOW_MODEL_FOLDER, str(tmp_path))
    yield folder_paths, tmp_path
    paths, _ = folder_paths.folder_names_and_paths[FLOW_MODEL_FOLDER]
    if str(tmp_path) in paths:
        paths.remove(str(tmp_path))
    folder_paths.filename_list_cache.clear()


def test_optical_flow_folder_is_added_without_replacing_user_paths(flow_folder):
    folder_paths, user_dir = flow_folder
    register_flow_model_folder()
    register_flow_model_folder()  # idempotent
    paths, extensions = folder_paths.folder_names_and_paths[FLOW_MODEL_FOLDER]
    assert str(user_dir) in paths
    default = f"{folder_paths.models_dir}/{FLOW_MODEL_FOLDER}".replace("//", "/")
    assert sum(p.rstrip("/") == default.rstrip("/") for p in paths) == 1
    assert {".pth", ".safetensors"} <= set(extensions)


def test_load_flow_model_node_lists_and_loads_a_user_file(flow_folder):
    folder_paths, user_dir = flow_folder
    from safetensors.torch import save_file

    torch.manual_seed(0)
    save_file({k: v.contiguous() for k, v in RAFT().state_dict().items()}, str(user_dir / "raft_random.safetensors"))
    (user_dir / "notes.txt").write_text("not a model")
    folder_paths.filename_list_cache.clear()
    names = SteadyFrameLoadFlowModel.INPUT_TYPES()["required"]["model_name"][0]
    assert "raft_random.safetensors" in names and "notes.txt" not in names
    (estimator,) = SteadyFrameLoadFlowModel().load("raft_random.safetensors", 2)
    assert isinstance(estimator, RaftEstimator)
    frames = torch.rand(2, 64, 72, 3)
    (flow,) = SteadyFrameOpticalFlow().compute(frames, "balanced", "full", 48, flow_model=estimator)
    assert isinstance(flow, FlowSequence) and flow.forward.shape == (1, 2, 64, 72)
    with pytest.raises(ValueError, match="'absent.pth' was not found"):
        SteadyFrameLoadFlowModel().load("absent.pth", 2)


def test_progress_reaches_comfyui_and_cancel_stops_the_node(comfyui_root):
    import comfy.model_management
    import comfy.utils

    clip = translated_sequence(4, 24, 32, step=(1, 0), seed=1)
    updates = []
    previous_hook = comfy.utils.PROGRESS_BAR_HOOK
    comfy.utils.set_progress_bar_global_hook(lambda value, total, preview, node_id=None: updates.append((value, total)))
    try:
        SteadyFrameFlowWarp().warp(clip, clip[:1], "0", "fast", "full", 16, 2, 0.5, 0.1, "bicubic", "error")
    finally:
        comfy.utils.set_progress_bar_global_hook(previous_hook)
    assert updates[-1] == (4, 4) and [v for v, _ in updates] == sorted(v for v, _ in updates)

    comfy.model_management.interrupt_current_processing(True)
    try:
        with pytest.raises(comfy.model_management.InterruptProcessingException):
            SteadyFrameOpticalFlow().compute(clip, "fast", "full", 16)
    finally:
        comfy.model_management.interrupt_current_processing(False)
