"""Load Video Frames (Path): Load Video Frames for a path typed in or linked (Video Combine's file_path).

Decoding is Load Video Frames' own (``comfy_glue/video_load.py``); only the name is checked
differently, by the path rule in ``comfy_glue/video_files.py``.
"""
from ..comfy_glue.video_files import check_media_path, media_fingerprint, resolve_video_file
from ..comfy_glue.video_load import load_video_outputs
from .schema import category, io
from .video_nodes import loaded_video_outputs, selection_inputs


class SteadyFrameLoadVideoPath(io.ComfyNode):
    """Decode a video named by a path into an IMAGE batch, with audio and a core VIDEO."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SteadyFrameLoadVideoPath",
            display_name="Load Video Frames (Path)",
            category=category("video"),
            description=("Load Video Frames for a path: relative to ComfyUI's input folder, or absolute inside ComfyUI's "
                         "input/output/temp folder or a folder listed under steadyframe_media in extra_model_paths.yaml. "
                         "Same options and outputs as Load Video Frames."),
            inputs=[
                io.String.Input("path", default="", multiline=False,
                                tooltip="Video file: relative = inside ComfyUI's input folder ('name [output]' for the output "
                                        "folder); absolute = inside input/output/temp or a steadyframe_media folder. "
                                        "Links are followed before the check."),
                *selection_inputs(),
            ],
            outputs=loaded_video_outputs("The whole source file as a core VIDEO."),
        )

    @classmethod
    def fingerprint_inputs(cls, path, **_inputs):
        return media_fingerprint(path)

    @classmethod
    def validate_inputs(cls, path=None):
        # None: linked from another node (Video Combine's file_path), checked when it runs.
        return check_media_path(path, "video file")

    @classmethod
    def execute(cls, path, force_rate=0.0, custom_width=0, custom_height=0, frame_load_cap=0,
                skip_first_frames=0, select_every_nth=1) -> io.NodeOutput:
        return io.NodeOutput(*load_video_outputs(path, force_rate, custom_width, custom_height, frame_load_cap,
                                                 skip_first_frames, select_every_nth, resolve=resolve_video_file))


NODES = [SteadyFrameLoadVideoPath]
