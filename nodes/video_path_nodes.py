"""Load Video Frames (Path): Load Video Frames for a path typed in or linked (Video Combine's file_path).

Decoding is Load Video Frames' own (``comfy_glue/video_load.py``); only the name is checked
differently, by the path rule in ``comfy_glue/video_files.py``.
"""
from ..comfy_glue.video_files import check_media_path, media_fingerprint, resolve_video_file
from ..comfy_glue.video_load import load_video_outputs
from .schema import VideoInfo, category, io


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
                io.Float.Input("force_rate", default=0.0, min=0.0, max=240.0, step=0.001,
                               tooltip="Resample to this frame rate (0 = keep the source timing). "
                                       "29.97, 59.94 and 23.976 mean the exact NTSC rates."),
                io.Int.Input("custom_width", default=0, min=0, max=16384, step=8,
                             tooltip="Resize to this width (0 = keep). With only one side set, "
                                     "the other keeps the aspect ratio, rounded to a multiple of 8."),
                io.Int.Input("custom_height", default=0, min=0, max=16384, step=8,
                             tooltip="Resize to this height (0 = keep)."),
                io.Int.Input("frame_load_cap", default=0, min=0, max=1_000_000, step=1,
                             tooltip="Return at most this many frames (0 = all). Decoding stops after the last one."),
                io.Int.Input("skip_first_frames", default=0, min=0, max=1_000_000, step=1,
                             tooltip="Drop this many frames from the start (counted after force_rate)."),
                io.Int.Input("select_every_nth", default=1, min=1, max=1000, step=1,
                             tooltip="Keep one frame in n (after skipping)."),
            ],
            outputs=[
                io.Image.Output("images", display_name="images",
                                tooltip="The selected frames, (frames, height, width, 3) float 0..1."),
                io.Int.Output("frame_count", display_name="frame_count", tooltip="Number of frames returned."),
                io.Float.Output("fps", display_name="fps",
                                tooltip="Frame rate of the returned frames (force_rate or the source rate, "
                                        "divided by select_every_nth)."),
                io.Audio.Output("audio", display_name="audio",
                                tooltip="The audio under the returned frames (core AUDIO), or None when the file has no audio."),
                io.Video.Output("video", display_name="video",
                                tooltip="The whole source file as a core VIDEO."),
                io.Mask.Output("mask", display_name="mask",
                               tooltip="Alpha as a MASK, (frames, height, width), ComfyUI's LoadImage convention: "
                                       "mask = 1 - alpha, so 1 = transparent. All zeros for files without alpha."),
                VideoInfo.Output("video_info", display_name="video_info",
                                 tooltip="Source and loaded fps, frame count, duration and size (split with Video Info)."),
            ],
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
