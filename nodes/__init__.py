"""Node registry: every node module contributes its own mappings.

Each module in ``NODE_MODULES`` defines ``NODE_CLASS_MAPPINGS`` and
``NODE_DISPLAY_NAME_MAPPINGS``. Modules import ComfyUI lazily (inside the
functions that need it) so the registry also imports without ComfyUI.
"""
from importlib import import_module

NODE_MODULES = (
    "motion_nodes",
    "motion_lora_nodes",
    "schedule_nodes",
    "flow_nodes",
    "deflicker_nodes",
    "video_nodes",
    "vid2vid_nodes",
    "timing_nodes",
)

NODE_CLASS_MAPPINGS = {}
NODE_DISPLAY_NAME_MAPPINGS = {}

for _name in NODE_MODULES:
    _module = import_module(f".{_name}", __name__)
    for _node_id in _module.NODE_CLASS_MAPPINGS:
        if _node_id in NODE_CLASS_MAPPINGS:
            raise RuntimeError(f"SteadyFrame: node id {_node_id} is defined twice (second time in nodes/{_name}.py)")
    NODE_CLASS_MAPPINGS.update(_module.NODE_CLASS_MAPPINGS)
    NODE_DISPLAY_NAME_MAPPINGS.update(_module.NODE_DISPLAY_NAME_MAPPINGS)
