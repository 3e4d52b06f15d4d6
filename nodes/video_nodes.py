"""Video in and out: Load Video Frames and Video Combine (PyAV, in-process).

The work is in the ``video`` package; ``comfy_glue/video_*.py`` adds ComfyUI's folders,
progress bar, Cancel and core VIDEO objects.
"""
from ..comfy_glue.chunk_combine import combine_chunk
from ..comfy_glue.video_combine import combine_video
from ..comfy_glue.video_files import check_video_name, input_videos, video_fingerprint
from ..comfy_glue.video_load import load_video_outputs
from ..video import PIX_FMT_CHOICES, available_formats
from .schema import Chunk, VideoInfo, category, io, ui


def selection_inputs(cap_max: int = 1_000_000) -> list:
    """The frame-selection inputs every video loader shares, in Load Video Frames' order."""
    return [
        io.Float.Input("force_rate", default=0.0, min=0.0, max=240.0, step=0.001,
                       tooltip="Resample to this frame rate (0 = keep the source timing). "
                               "29.97, 59.94 and 23.976 mean the exact NTSC rates."),
        io.Int.Input("custom_width", default=0, min=0, max=16384, step=8,
                     tooltip="Resize to this width (0 = keep). With only one side set, "
                             "the other keeps the aspect ratio, rounded to a multiple of 8."),
        io.Int.Input("custom_height", default=0, min=0, max=16384, step=8,
                     tooltip="Resize to this height (0 = keep)."),
        io.Int.Input("frame_load_cap", default=0, min=0, max=cap_max, step=1,
                     tooltip="Return at most this many frames (0 = all). Decoding stops after the last one."),
        io.Int.Input("skip_first_frames", default=0, min=0, max=cap_max, step=1,
                     tooltip="Drop this many frames from the start (counted after force_rate)."),
        io.Int.Input("select_every_nth", default=1, min=1, max=1000, step=1,
                     tooltip="Keep one frame in n (after skipping)."),
    ]


def loaded_video_outputs(video_tooltip: str) -> list:
    """Load Video Frames' outputs, shared by the loaders that return the same things."""
    return [
        io.Image.Output("images", display_name="images",
                        tooltip="The selected frames, (frames, height, width, 3) float 0..1."),
        io.Int.Output("frame_count", display_name="frame_count", tooltip="Number of frames returned."),
        io.Float.Output("fps", display_name="fps",
                        tooltip="Frame rate of the returned frames (force_rate or the source rate, "
                                "divided by select_every_nth)."),
        io.Audio.Output("audio", display_name="audio",
                        tooltip="The audio under the returned frames (core AUDIO), or None when the file has no audio."),
        io.Video.Output("video", display_name="video",
                        tooltip=video_tooltip),
        io.Mask.Output("mask", display_name="mask",
                       tooltip="The alpha channel as a MASK (frames, height, width), LoadImage's convention: "
                               "mask = 1 - alpha, so 1 = transparent. All zeros (opaque) for files without "
                               "alpha. Alpha is read from VP9 webm (alpha_mode), ProRes 4444, FFV1/PNG RGBA, "
                               "WebP and GIF."),
        VideoInfo.Output("video_info", display_name="video_info",
                         tooltip="Source and loaded fps, frame count, duration and size; split it with Video Info."),
    ]


class SteadyFrameLoadVideo(io.ComfyNode):
    """Decode a video from the input folder into an IMAGE batch, with audio and a core VIDEO."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SteadyFrameLoadVideo",
            display_name="Load Video Frames",
            category=category("video"),
            description=("Loads a video from ComfyUI's input folder with PyAV. Optional resampling to a fixed rate "
                         "(exact for 29.97/59.94 and variable-rate files), resizing, skipping, every-nth selection and a "
                         "frame cap; only the frames returned are converted, and decoding stops after the last one."),
            inputs=[
                io.Combo.Input("video", options=input_videos(), upload=io.UploadType.video,
                               tooltip="A video in ComfyUI's input folder (upload with the button or drop a file)."),
                *selection_inputs(),
                Chunk.Input("chunk", optional=True,
                            tooltip="Long videos: load only this chunk's frames of the selected sequence "
                                    "(from Load Video Frames (Chunked)), e.g. a second video in step with the first."),
            ],
            outputs=loaded_video_outputs("The whole source file as a core VIDEO (for Save Video, Get Video Components, ...)."),
        )

    @classmethod
    def fingerprint_inputs(cls, video, **_inputs):
        return video_fingerprint(video)

    @classmethod
    def validate_inputs(cls, video):
        # Only ``video`` is named: ComfyUI still range-checks the other inputs, and skips
        # its combo check for ``video`` (new uploads, "[output]" annotations); the path
        # check here replaces it.
        return check_video_name(video)

    @classmethod
    def execute(cls, video, force_rate=0.0, custom_width=0, custom_height=0, frame_load_cap=0,
                skip_first_frames=0, select_every_nth=1, chunk=None) -> io.NodeOutput:
        return io.NodeOutput(*load_video_outputs(video, force_rate, custom_width, custom_height, frame_load_cap,
                                                 skip_first_frames, select_every_nth, chunk))


class SteadyFrameVideoCombine(io.ComfyNode):
    """Encode an IMAGE batch to a video or animated image file, with audio and the workflow embedded."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        formats = available_formats()
        return io.Schema(
            node_id="SteadyFrameVideoCombine",
            display_name="Video Combine",
            category=category("video"),
            description=("Writes frames to h264/h265 mp4, vp9/av1 webm, gif, webp or a PNG sequence with PyAV/Pillow, "
                         "in-process. Optional audio is cut or padded to the video length. The prompt and workflow are "
                         "embedded (unless ComfyUI runs with --disable-metadata), so dropping the file on ComfyUI restores it."),
            inputs=[
                io.Image.Input("images", tooltip="Frames to write, (frames, height, width, 3)."),
                io.Float.Input("frame_rate", default=8.0, min=0.01, max=1000.0, step=0.001,
                               tooltip="Frames per second; 29.97/59.94/23.976 are written as exact NTSC rates."),
                io.Int.Input("loop_count", default=0, min=0, max=100, step=1,
                             tooltip="Video formats: extra plays appended. GIF/WebP: stored loop count (0 = forever)."),
                # multiline left unset (not False): the entry stays what saved workflows were made with
                io.String.Input("filename_prefix", default="SteadyFrame", multiline=None,
                                tooltip="File name prefix; may hold subfolders and %date:yyyy-MM-dd% tokens."),
                io.Combo.Input("format", options=formats, default="h264-mp4" if "h264-mp4" in formats else formats[0],
                               tooltip="Container and codec. Only formats this PyAV build can encode are listed."),
                io.Boolean.Input("pingpong", default=False,
                                 tooltip="Play forwards then backwards (the end frames are not repeated)."),
                io.Boolean.Input("save_output", default=True,
                                 tooltip="On: write to the output folder. Off: the temp folder (a preview)."),
                io.Int.Input("crf", default=19, min=0, max=63, step=1,
                             tooltip="Quality: lower is better and larger. h264/h265 0..51, vp9/av1 0..63; "
                                     "webp: quality = 100 - crf (0 = lossless); ignored for gif/png."),
                io.Combo.Input("pix_fmt", options=list(PIX_FMT_CHOICES), default="auto",
                               tooltip="Pixel format of video codecs; auto = yuv420p (yuv420p10le for av1). "
                                       "Odd sizes are padded to even."),
                io.Audio.Input("audio", optional=True,
                               tooltip="Muxed into video formats, cut or padded with silence to the video length."),
                io.Mask.Input("mask", optional=True,
                              tooltip="Written as alpha = 1 - mask (LoadImage's convention: 1 = transparent), so Load "
                                      "Video Frames' mask round-trips. Stored by vp9-webm (yuv420p), prores-4444-mov, "
                                      "ffv1-mkv, png/png16 sequences, webp, and gif (1 bit: mask >= 0.5 is clear); "
                                      "other formats ignore it with a warning."),
                Chunk.Input("chunk", optional=True,
                            tooltip="Long videos: append this chunk's new frames to one output; the file appears "
                                    "when the last chunk is done, and each chunk queues the next."),
            ],
            outputs=[
                io.Video.Output("video", display_name="video", tooltip="The written file as a core VIDEO."),
                io.String.Output("file_path", display_name="file_path",
                                 tooltip="Absolute path of the written file (a folder for a PNG sequence)."),
            ],
            hidden=[io.Hidden.prompt, io.Hidden.extra_pnginfo, io.Hidden.unique_id],
            is_output_node=True,
        )

    @classmethod
    def execute(cls, images, frame_rate, loop_count, filename_prefix, format, pingpong, save_output,
                crf=19, pix_fmt="auto", audio=None, mask=None, chunk=None) -> io.NodeOutput:
        chain = None
        if chunk is not None:
            if mask is not None:
                raise ValueError("Video Combine: a mask (alpha) cannot be written in a chunked run yet; "
                                 "disconnect the mask or the chunk")
            saved, chain = combine_chunk(images, frame_rate, loop_count, filename_prefix, format, pingpong, save_output,
                                         crf, pix_fmt, audio, cls.hidden.prompt, cls.hidden.extra_pnginfo, chunk,
                                         cls.hidden.unique_id)
        else:
            saved = combine_video(images, frame_rate, loop_count, filename_prefix, format, pingpong, save_output, crf,
                                  pix_fmt, audio, cls.hidden.prompt, cls.hidden.extra_pnginfo, mask=mask)
        shown = [ui.SavedResult(name, subfolder, io.FolderType(folder)) for name, subfolder, folder in saved.shown]
        preview = ui.PreviewVideo(shown) if saved.is_video else ui.SavedImages(shown, is_animated=saved.animated)
        return io.NodeOutput(saved.video, saved.path, ui=preview if chain is None else {**preview.as_dict(), **chain})


class SteadyFrameVideoInfo(io.ComfyNode):
    """Split Load Video Frames' video_info into numbers."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        def number(kind, name, tooltip):
            return kind.Output(name, display_name=name, tooltip=tooltip)

        return io.Schema(
            node_id="SteadyFrameVideoInfo",
            display_name="Video Info",
            category=category("video"),
            description=("The source file's fps, frame count, duration and size, and those of the frames Load Video "
                         "Frames returned (after force_rate, skipping, select_every_nth, the cap and resizing)."),
            inputs=[VideoInfo.Input("video_info", tooltip="Load Video Frames' video_info output.")],
            outputs=[
                number(io.Float, "source_fps", "The file's average frame rate."),
                number(io.Int, "source_frame_count",
                       "Frames the container declares (duration x fps where it stores no count, e.g. WebM)."),
                number(io.Float, "source_duration", "The file's duration in seconds."),
                number(io.Int, "source_width", "Width as displayed (after the rotation matrix)."),
                number(io.Int, "source_height", "Height as displayed."),
                number(io.Float, "loaded_fps", "Frame rate of the returned frames (Load Video Frames' fps)."),
                number(io.Int, "loaded_frame_count", "Number of returned frames."),
                number(io.Float, "loaded_duration", "loaded_frame_count / loaded_fps, in seconds."),
                number(io.Int, "loaded_width", "Width of the returned frames."),
                number(io.Int, "loaded_height", "Height of the returned frames."),
            ],
        )

    @classmethod
    def execute(cls, video_info) -> io.NodeOutput:
        v = video_info
        return io.NodeOutput(v.source_fps, v.source_frame_count, v.source_duration, v.source_width, v.source_height,
                             v.loaded_fps, v.loaded_frame_count, v.loaded_duration, v.loaded_width, v.loaded_height)


NODES = [SteadyFrameLoadVideo, SteadyFrameVideoCombine, SteadyFrameVideoInfo]
