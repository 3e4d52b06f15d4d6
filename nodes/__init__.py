"""Node registry: the pack's V3 extension.

Each module in ``NODE_MODULES`` declares its nodes (``io.ComfyNode`` classes) and lists them in
``NODES``. Everything the nodes compute lives in the pure packages and ``comfy_glue``; this package
only declares sockets and calls into them.
"""
from importlib import import_module

from .schema import ComfyExtension, io

NODE_MODULES = (
    "motion_nodes",
    "motion_lora_nodes",
    "schedule_nodes",
    "flow_nodes",
    "deflicker_nodes",
    "video_nodes",
    "vid2vid_nodes",
    "timing_nodes",
    "image_folder_nodes",
    "video_path_nodes",
    "preview_nodes",
    "chunk_nodes",
    "motion_keyframe_nodes",
    "sparsectrl_nodes",
    "camera_nodes",
    "image_motion_nodes",
)


def node_classes() -> list[type[io.ComfyNode]]:
    """Every node of the pack, in menu order; a node id declared twice is an error."""
    classes: list[type[io.ComfyNode]] = []
    seen: dict[str, str] = {}
    for name in NODE_MODULES:
        module = import_module(f".{name}", __name__)
        for node in module.NODES:
            node_id = node.GET_SCHEMA().node_id
            if node_id in seen:
                raise RuntimeError(f"SteadyFrame: node id {node_id} is declared in nodes/{seen[node_id]}.py "
                                   f"and again in nodes/{name}.py")
            seen[node_id] = name
            classes.append(node)
    return classes


class SteadyFrameExtension(ComfyExtension):
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return node_classes()
