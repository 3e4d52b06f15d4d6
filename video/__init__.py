"""Video decoding and encoding with PyAV (and Pillow for GIF, WebP and PNG), shared by the video nodes.

Nothing here imports ComfyUI, so it runs (and is tested) without it. The node glue in
``comfy_glue/video_*.py`` adds folders, progress bars and interruption by passing callbacks.

Conventions:
- ``images``: (F, H, W, C) float 0..1 torch tensors, C = 3 (or 4: alpha is dropped).
- Alpha travels as a ComfyUI MASK, ``mask = 1 - alpha`` (1 = transparent), as core LoadImage does.
- Frame rates are exact :class:`fractions.Fraction` values (29.97 is 30000/1001).
- Colour: YUV is BT.709 limited range on write; on read the file's own tags are
  honoured (untagged files: BT.709 from 720 lines up, BT.601 below, as players do).
- Every file is written under a hidden temporary name in its final folder and
  renamed when complete, so a failed or interrupted write leaves nothing behind.

Modules: ``rates`` (exact rates, frame selection, resampling), ``paths`` (video file names),
``containers`` (opening files), ``probe`` and ``metadata`` (what a file says about itself),
``timeline``, ``rgb``, ``orientation`` (display matrix) and ``decode`` (loading), ``webp`` (animated WebP via Pillow), ``audio``,
``formats`` (Video Combine's formats), ``chunks`` and ``yuv`` (float frames to the encoders),
``encode`` (writing), ``alpha`` (masks and VP9 alpha), ``pixels`` (16-bit and alpha reading),
``pixel_frames`` (other encoder pixel formats), ``png16`` (16-bit PNG), ``info`` (Video Info). The names below are the API the nodes, tests and benchmarks use.
"""
from .alpha import alpha_to_mask, mask_to_alpha
from .audio import load_audio
from .chunks import ENCODE_CHUNK
from .decode import LoadedVideo, load_video, output_size
from .encode import EncodeResult, alpha_support, encode_video, frame_order, written_order
from .formats import FORMATS, FORMATS_BY_NAME, PIX_FMT_CHOICES, OutputFormat, available_formats, output_format
from .info import LoadedVideoInfo, loaded_video_info
from .metadata import read_metadata
from .paths import VIDEO_EXTENSIONS, list_videos, resolve_inside
from .probe import VideoInfo, probe
from .rates import FrameSelection, exact_rate, resample_to_rate

__all__ = [
    "ENCODE_CHUNK", "FORMATS", "FORMATS_BY_NAME", "PIX_FMT_CHOICES", "VIDEO_EXTENSIONS",
    "EncodeResult", "FrameSelection", "LoadedVideo", "LoadedVideoInfo", "OutputFormat", "VideoInfo",
    "alpha_support", "alpha_to_mask", "available_formats", "encode_video", "exact_rate", "frame_order", "list_videos", "load_audio", "load_video",
    "loaded_video_info", "mask_to_alpha",
    "output_format", "output_size", "probe", "read_metadata", "resample_to_rate", "resolve_inside",
    "written_order",
]
