"""SteadyFrame: temporally consistent animation nodes for ComfyUI.

ComfyUI imports this folder under whatever name it was cloned as, so every
import inside the pack is relative.
"""
from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

WEB_DIRECTORY = "./web"

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]
