"""Video in and out: Load Video and Video Combine (PyAV, in-process).

ComfyUI is imported lazily inside the methods; the PyAV work is in ``video_io``.
"""
from __future__ import annotations

import logging
import os

from ..comfy_glue.common import category, comfy_progress_bar, throw_if_interrupted
from ..video import video_io

log = logging.getLogger(__name__)

_ANNOTATIONS = ("[input]", "[output]", "[temp]")


def _input_videos() -> list[str]:
    """Video files in ComfyUI's input folder (and its subfolders), as combo entries."""
    import folder_paths

    root = folder_paths.get_input_directory()
    found = []
    for folder, _dirs, files in os.walk(root):
        for name in files:
            if name.lower().endswith(video_io.VIDEO_EXTENSIONS) and not name.startswith("."):
                found.append(os.path.relpath(os.path.join(folder, name), root).replace(os.sep, "/"))
    return sorted(found)


def resolve_video_path(name: str) -> str:
    """Path of a LoadVideo ``video`` value; refuses anything outside ComfyUI's input folder.

    ComfyUI's own ``name [output]`` / ``name [temp]`` annotations (what the frontend
    sends for a file picked from those folders) resolve inside those folders.
    """
    import folder_paths

    base_dir = folder_paths.get_input_directory()
    stripped = name.strip()
    for annotation in _ANNOTATIONS:
        if stripped.endswith(annotation):
            base_dir = folder_paths.get_directory_by_type(annotation[1:-1])
            stripped = stripped[: -len(annotation)].rstrip()
            break
    return video_io.resolve_inside(stripped, base_dir)


class SteadyFrameLoadVideo:
    """Decode a video from the input folder into an IMAGE batch, with audio and a core VIDEO."""

    DESCRIPTION = (
        "Loads a video from ComfyUI's input folder with PyAV. Optional resampling to a fixed rate "
        "(exact for 29.97/59.94 and variable-rate files), resizing, skipping, every-nth selection and a "
        "frame cap; only the frames returned are converted, and decoding stops after the last one."
    )
    CATEGORY = category("video")
    RETURN_TYPES = ("IMAGE", "INT", "FLOAT", "AUDIO", "VIDEO")
    RETURN_NAMES = ("images", "frame_count", "fps", "audio", "video")
    OUTPUT_TOOLTIPS = (
        "The selected frames, (frames, height, width, 3) float 0..1.",
        "Number of frames returned.",
        "Frame rate of the returned frames (force_rate or the source rate, divided by select_every_nth).",
        "The audio under the returned frames (core AUDIO), or None when the file has no audio.",
        "The whole source file as a core VIDEO (for Save Video, Get Video Components, ...).",
    )
    FUNCTION = "load"

    @classmethod
    def INPUT_TYPES(cls):
        try:
            files = _input_videos()
        except ImportError:  # outside ComfyUI (registry checks): no input folder to list
            files = []
        return {
            "required": {
                "video": (files, {"video_upload": True,
                                  "tooltip": "A video in ComfyUI's input folder (upload with the button or drop a file)."}),
                "force_rate": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 240.0, "step": 0.001,
                                         "tooltip": "Resample to this frame rate (0 = keep the source timing). "
                                                    "29.97, 59.94 and 23.976 mean the exact NTSC rates."}),
                "custom_width": ("INT", {"default": 0, "min": 0, "max": 16384, "step": 8,
                                         "tooltip": "Resize to this width (0 = keep). With only one side set, "
                                                    "the other keeps the aspect ratio, rounded to a multiple of 8."}),
                "custom_height": ("INT", {"default": 0, "min": 0, "max": 16384, "step": 8,
                                          "tooltip": "Resize to this height (0 = keep)."}),
                "frame_load_cap": ("INT", {"default": 0, "min": 0, "max": 1_000_000, "step": 1,
                                           "tooltip": "Return at most this many frames (0 = all). Decoding stops "
                                                      "after the last one."}),
                "skip_first_frames": ("INT", {"default": 0, "min": 0, "max": 1_000_000, "step": 1,
                                              "tooltip": "Drop this many frames from the start (counted after force_rate)."}),
                "select_every_nth": ("INT", {"default": 1, "min": 1, "max": 1000, "step": 1,
                                             "tooltip": "Keep one frame in n (after skipping)."}),
            },
        }

    @classmethod
    def IS_CHANGED(cls, video, **_kwargs):
        try:
            path = resolve_video_path(video)
        except ValueError:
            return float("nan")
        stat = os.stat(path)
        return f"{path}:{stat.st_mtime_ns}:{stat.st_size}"

    @classmethod
    def VALIDATE_INPUTS(cls, video):
        # Only ``video`` is named: ComfyUI still range-checks the other inputs, and skips
        # its combo check for ``video`` (new uploads, "[output]" annotations); the path
        # check here replaces it.
        try:
            resolve_video_path(video)
        except ValueError as exc:
            return str(exc)
        return True

    def load(self, video, force_rate=0.0, custom_width=0, custom_height=0, frame_load_cap=0,
             skip_first_frames=0, select_every_nth=1):
        from comfy_api.latest import InputImpl

        path = resolve_video_path(video)
        selection = video_io.FrameSelection(
            force_rate=video_io.exact_rate(force_rate) if force_rate else None,
            skip_first_frames=skip_first_frames, select_every_nth=select_every_nth, frame_load_cap=frame_load_cap)
        info = video_io.probe(path)
        expected = _expected_frames(info, selection)
        progress = comfy_progress_bar(max(1, expected))

        def on_frame(count):
            throw_if_interrupted()
            progress.update_absolute(min(count, expected), expected)

        loaded = video_io.load_video(path, selection, custom_width, custom_height, on_frame,
                                     on_decode=throw_if_interrupted)
        audio = video_io.load_audio(path, loaded.start_time, loaded.end_time) if info.has_audio else None
        return (loaded.images, int(loaded.images.shape[0]), float(loaded.frame_rate), audio,
                InputImpl.VideoFromFile(path))


def _expected_frames(info: video_io.VideoInfo, selection: video_io.FrameSelection) -> int:
    """Estimated number of returned frames (for the progress bar only)."""
    total = info.frame_count
    if selection.force_rate and info.duration:
        total = int(info.duration * selection.force_rate)
    total = max(0, total - selection.skip_first_frames)
    total = -(-total // selection.select_every_nth)
    if selection.frame_load_cap:
        total = min(total, selection.frame_load_cap)
    return max(1, total)


class SteadyFrameVideoCombine:
    """Encode an IMAGE batch to a video or animated image file, with audio and the workflow embedded."""

    DESCRIPTION = (
        "Writes frames to h264/h265 mp4, vp9/av1 webm, gif, webp or a PNG sequence with PyAV/Pillow, "
        "in-process. Optional audio is cut or padded to the video length. The prompt and workflow are "
        "embedded (unless ComfyUI runs with --disable-metadata), so dropping the file on ComfyUI restores it."
    )
    CATEGORY = category("video")
    RETURN_TYPES = ("VIDEO", "STRING")
    RETURN_NAMES = ("video", "file_path")
    OUTPUT_TOOLTIPS = ("The written file as a core VIDEO.", "Absolute path of the written file (a folder for a PNG sequence).")
    OUTPUT_NODE = True
    FUNCTION = "combine"

    @classmethod
    def INPUT_TYPES(cls):
        formats = video_io.available_formats()
        return {
            "required": {
                "images": ("IMAGE", {"tooltip": "Frames to write, (frames, height, width, 3)."}),
                "frame_rate": ("FLOAT", {"default": 8.0, "min": 0.01, "max": 1000.0, "step": 0.001,
                                         "tooltip": "Frames per second; 29.97/59.94/23.976 are written as exact NTSC rates."}),
                "loop_count": ("INT", {"default": 0, "min": 0, "max": 100, "step": 1,
                                       "tooltip": "Video formats: extra plays appended. GIF/WebP: stored loop count (0 = forever)."}),
                "filename_prefix": ("STRING", {"default": "SteadyFrame",
                                               "tooltip": "File name prefix; may hold subfolders and %date:yyyy-MM-dd% tokens."}),
                "format": (formats, {"default": "h264-mp4" if "h264-mp4" in formats else formats[0],
                                     "tooltip": "Container and codec. Only formats this PyAV build can encode are listed."}),
                "pingpong": ("BOOLEAN", {"default": False,
                                         "tooltip": "Play forwards then backwards (the end frames are not repeated)."}),
                "save_output": ("BOOLEAN", {"default": True,
                                            "tooltip": "On: write to the output folder. Off: the temp folder (a preview)."}),
                "crf": ("INT", {"default": 19, "min": 0, "max": 63, "step": 1,
                                "tooltip": "Quality: lower is better and larger. h264/h265 0..51, vp9/av1 0..63; "
                                           "webp: quality = 100 - crf (0 = lossless); ignored for gif/png."}),
                "pix_fmt": (list(video_io.PIX_FMT_CHOICES), {"default": "auto",
                                                             "tooltip": "Pixel format of video codecs; auto = yuv420p "
                                                                        "(yuv420p10le for av1). Odd sizes are padded to even."}),
            },
            "optional": {
                "audio": ("AUDIO", {"tooltip": "Muxed into video formats, cut or padded with silence to the video length."}),
            },
            "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO", "unique_id": "UNIQUE_ID"},
        }

    def combine(self, images, frame_rate, loop_count, filename_prefix, format, pingpong, save_output,
                crf=19, pix_fmt="auto", audio=None, prompt=None, extra_pnginfo=None, unique_id=None):
        import folder_paths
        from comfy.cli_args import args
        from comfy_api.latest import InputImpl, Types

        fmt = video_io.FORMATS_BY_NAME.get(format)
        if fmt is None or format not in video_io.available_formats():
            raise ValueError(f"format {format!r} is not available; choose one of {', '.join(video_io.available_formats())}")
        if audio is not None and fmt.kind != "av":
            log.warning("SteadyFrame Video Combine: %s cannot hold audio; the audio input is ignored", format)
        if crf > fmt.crf_range[1]:
            log.warning("SteadyFrame Video Combine: crf %d is above %s's maximum; using %d", crf, format, fmt.crf_range[1])
            crf = fmt.crf_range[1]
        folder_type = "output" if save_output else "temp"
        root = folder_paths.get_output_directory() if save_output else folder_paths.get_temp_directory()
        full_folder, filename, counter, subfolder, _ = folder_paths.get_save_image_path(
            filename_prefix, root, images.shape[2], images.shape[1])
        base = f"{filename}_{counter:05}_"
        path = os.path.join(full_folder, base if fmt.kind == "png" else f"{base}.{fmt.extension}")

        metadata = {}
        if not args.disable_metadata:
            if prompt is not None:
                metadata["prompt"] = prompt
            if extra_pnginfo:
                metadata.update(extra_pnginfo)

        repeats = loop_count + 1 if fmt.kind in ("av", "png") else 1
        total = len(video_io.frame_order(images.shape[0], pingpong, repeats))
        progress = comfy_progress_bar(total)

        def on_frame(count):
            throw_if_interrupted()
            progress.update_absolute(count, total)

        result = video_io.encode_video(images, path, format, frame_rate, crf=crf, pix_fmt=pix_fmt,
                                       loop_count=loop_count, pingpong=pingpong,
                                       audio=audio if fmt.kind == "av" else None, metadata=metadata,
                                       on_frame=on_frame)

        if fmt.kind == "png":
            seq_sub = f"{subfolder}/{base}" if subfolder else base
            ui = {"images": [{"filename": os.path.basename(f), "subfolder": seq_sub, "type": folder_type}
                             for f in result.files]}
        else:
            ui = {"images": [{"filename": os.path.basename(path), "subfolder": subfolder, "type": folder_type}]}
            if fmt.animated_preview:
                # Core's animated-output shape: the frontend plays mp4/webm in a <video>
                # and shows webp as an animated image. A GIF is left as a plain image,
                # which browsers animate themselves.
                ui["animated"] = (True,)

        if fmt.kind == "av" or fmt.kind == "gif":
            video = InputImpl.VideoFromFile(path)
        else:  # FFmpeg cannot read animated WebP or a folder of PNGs back: hand over the frames
            order = video_io.frame_order(images.shape[0], pingpong, repeats)
            video = InputImpl.VideoFromComponents(Types.VideoComponents(
                images=images[order], frame_rate=video_io.exact_rate(frame_rate), audio=None))
        return {"ui": ui, "result": (video, path)}


NODE_CLASS_MAPPINGS = {
    "SteadyFrameLoadVideo": SteadyFrameLoadVideo,
    "SteadyFrameVideoCombine": SteadyFrameVideoCombine,
}
NODE_DISPLAY_NAME_MAPPINGS = {
    "SteadyFrameLoadVideo": "Load Video Frames",
    "SteadyFrameVideoCombine": "Video Combine",
}
