"""Flow nodes inside a real ComfyUI (in-process): model folder, RAFT loading, progress, Cancel."""
import pytest
import torch

from support.comfy_location import skip_module_without_comfyui

skip_module_without_comfyui()

from steadyframe.comfy_glue.flow import FLOW_MODEL_FOLDER, flow_model_names
from steadyframe.flow.raft import RAFT, RaftEstimator
from steadyframe.flow.sequence import FlowSequence
from steadyframe.nodes.flow_nodes import (
    SteadyFrameFlowPreview,
    SteadyFrameFlowWarp,
    SteadyFrameLoadFlowModel,
    SteadyFrameOpticalFlow,
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
    flow_model_names()
    flow_model_names()  # idempotent
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
    names = SteadyFrameLoadFlowModel.GET_NODE_INFO_V1()["input"]["required"]["model_name"][1]["options"]
    assert "raft_random.safetensors" in names and "notes.txt" not in names
    (estimator,) = SteadyFrameLoadFlowModel.execute("raft_random.safetensors", 2).args
    assert isinstance(estimator, RaftEstimator)
    frames = torch.rand(2, 64, 72, 3)
    (flow,) = SteadyFrameOpticalFlow.execute(frames, "balanced", "full", 48, flow_model=estimator).args
    assert isinstance(flow, FlowSequence) and flow.forward.shape == (1, 2, 64, 72)
    with pytest.raises(ValueError, match="'absent.pth' was not found"):
        SteadyFrameLoadFlowModel.execute("absent.pth", 2)


def test_optical_flow_and_preview_nodes(comfyui_root):
    clip = translated_sequence(4, 32, 40, step=(1, 1), seed=5)
    (flow,) = SteadyFrameOpticalFlow.execute(clip, "fast", "full", 48).args
    assert isinstance(flow, FlowSequence) and flow.forward.shape == (3, 2, 32, 40)
    assert flow.forward[:, :, 6:-6, 6:-6].mean().item() == pytest.approx(1.0, abs=0.1)
    (half,) = SteadyFrameOpticalFlow.execute(clip, "fast", "half", 48).args
    assert half.forward.shape == (3, 2, 32, 40) and not torch.equal(half.forward, flow.forward)
    with pytest.raises(ValueError, match=r"at least 2 frame\(s\), got 1"):
        SteadyFrameOpticalFlow.execute(clip[:1], "fast", "full", 48)
    images, unreliable = SteadyFrameFlowPreview.execute(flow, "forward", 1.5).args
    assert images.shape == (3, 32, 40, 3) and unreliable.shape == (3, 32, 40)


def test_flow_warp_node_with_and_without_precomputed_flow(comfyui_root):
    clip = translated_sequence(4, 32, 40, step=(1, 1), seed=5)
    keyframes = torch.stack((1 - clip[0], 1 - clip[3]))
    args = (clip, keyframes, "0, 3", "balanced", "full", 96, 4, 0.5, 0.1, "bicubic", "error")
    images, mask = SteadyFrameFlowWarp.execute(*args).args
    assert images.shape == clip.shape and mask.shape == clip.shape[:3]
    assert torch.equal(images[0], keyframes[0]) and torch.equal(images[3], keyframes[1])
    (flow,) = SteadyFrameOpticalFlow.execute(clip, "balanced", "full", 48).args
    composed, _ = SteadyFrameFlowWarp.execute(*args, flow=flow).args
    assert ((composed[1:3] - (1 - clip[1:3])).abs()[:, 4:-4, 4:-4]).mean().item() < 0.01


def test_progress_reaches_comfyui_and_cancel_stops_the_node(comfyui_root):
    import comfy.model_management
    import comfy.utils

    clip = translated_sequence(4, 24, 32, step=(1, 0), seed=1)
    updates = []
    previous_hook = comfy.utils.PROGRESS_BAR_HOOK
    comfy.utils.set_progress_bar_global_hook(lambda value, total, preview, node_id=None: updates.append((value, total)))
    try:
        SteadyFrameFlowWarp.execute(clip, clip[:1], "0", "fast", "full", 16, 2, 0.5, 0.1, "bicubic", "error")
    finally:
        comfy.utils.set_progress_bar_global_hook(previous_hook)
    assert updates[-1] == (4, 4) and [v for v, _ in updates] == sorted(v for v, _ in updates)

    comfy.model_management.interrupt_current_processing(True)
    try:
        with pytest.raises(comfy.model_management.InterruptProcessingException):
            SteadyFrameOpticalFlow.execute(clip, "fast", "full", 16)
    finally:
        comfy.model_management.interrupt_current_processing(False)
