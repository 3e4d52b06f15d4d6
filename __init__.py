"""SteadyFrame: temporally consistent animation nodes for ComfyUI.

ComfyUI imports this folder under whatever name it was cloned as, so every import inside the pack
is relative. The nodes are declared on ComfyUI's V3 schema and handed over by ``comfy_entrypoint``;
the node modules (and ``comfy_api``) are imported only when ComfyUI asks for them, so the pure
packages import without ComfyUI.
"""

WEB_DIRECTORY = "./web"


async def comfy_entrypoint():
    from .nodes import SteadyFrameExtension

    return SteadyFrameExtension()


__all__ = ["WEB_DIRECTORY", "comfy_entrypoint"]
