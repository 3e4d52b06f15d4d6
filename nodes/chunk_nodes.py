"""Long videos: the chunk control, Load Video Frames (Chunked).

The work is in ``chunking/`` and ``video/``; ``comfy_glue/chunk_*.py`` adds the job folder under
ComfyUI's output folder and the re-queueing through ComfyUI's own queue.
"""
from ..comfy_glue.chunk_job import blocked_outputs
from ..comfy_glue.chunk_source import plan_chunk, selection_of
from ..comfy_glue.video_files import check_video_name, input_videos
from ..comfy_glue.video_load import load_video_outputs
from .schema import Chunk, category, io
from .video_nodes import selection_inputs


class SteadyFrameLoadVideoChunked(io.ComfyNode):
    """Load a long video a chunk at a time: each queued run handles the next chunk and queues the one after."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SteadyFrameLoadVideoChunked",
            display_name="Load Video Frames (Chunked)",
            category=category("video"),
            description=("Runs the workflow once per chunk of chunk_frames frames of the selected video, each chunk "
                         "re-reading the overlap frames before it. Connect chunk to Video Combine's chunk input: it "
                         "appends every chunk to one file, and queues the next chunk through ComfyUI's queue until "
                         "the last. A failed or cancelled chain resumes at the first chunk not done when the same "
                         "workflow is queued again (job folder: output/steadyframe-chunks/)."),
            inputs=[
                io.Combo.Input("video", options=input_videos(), upload=io.UploadType.video,
                               tooltip="A video in ComfyUI's input folder."),
                *selection_inputs(cap_max=10_000_000),
                io.Int.Input("chunk_frames", default=64, min=1, max=100_000, step=1,
                             tooltip="New frames per chunk (per queued run): bounds the memory of every node."),
                io.Int.Input("overlap", default=8, min=0, max=10_000, step=1,
                             tooltip="Frames before each chunk loaded again, so temporal nodes see across the seam; "
                                     "Video Combine writes them once. At most chunk_frames - 1."),
            ],
            outputs=[
                io.Image.Output("images", display_name="images",
                                tooltip="This chunk's frames: the overlap frames, then the new ones."),
                io.Int.Output("frame_count", display_name="frame_count", tooltip="Frames in this chunk (overlap included)."),
                io.Float.Output("fps", display_name="fps", tooltip="Frame rate of the returned frames."),
                io.Audio.Output("audio", display_name="audio", tooltip="The audio under this chunk's frames, or None."),
                Chunk.Output("chunk", display_name="chunk",
                             tooltip="This run's chunk: connect to Video Combine and to chunk-aware temporal nodes."),
                io.Int.Output("total_frames", display_name="total_frames", tooltip="Frames of the whole selected video."),
            ],
            hidden=[io.Hidden.prompt, io.Hidden.unique_id],
        )

    @classmethod
    def fingerprint_inputs(cls, **_inputs):
        # Which chunk runs is in the job folder, not in the inputs: run (and re-run everything
        # that depends on the chunk) on every queued run; nodes upstream stay cached.
        return float("nan")

    @classmethod
    def validate_inputs(cls, video):
        return check_video_name(video)

    @classmethod
    def execute(cls, video, force_rate=0.0, custom_width=0, custom_height=0, frame_load_cap=0, skip_first_frames=0,
                select_every_nth=1, chunk_frames=64, overlap=8) -> io.NodeOutput:
        selection = selection_of(force_rate, frame_load_cap, skip_first_frames, select_every_nth)
        chunk = plan_chunk(video, selection, chunk_frames, overlap, cls.hidden.prompt or {}, str(cls.hidden.unique_id))
        if chunk is None:  # a duplicate re-queued run whose chunk is done: nothing to do
            return io.NodeOutput(*blocked_outputs(6))
        images, count, fps, audio, *_rest = load_video_outputs(video, force_rate, custom_width, custom_height,
                                                               frame_load_cap, skip_first_frames, select_every_nth, chunk)
        return io.NodeOutput(images, count, fps, audio, chunk, chunk.plan.total_frames)


NODES = [SteadyFrameLoadVideoChunked]
