"""Load Images (Folder): a folder of frames as an IMAGE batch with its alpha as a MASK.

The work is in ``video/image_folder.py``; ``comfy_glue/image_folder_load.py`` adds the path
rule, the progress bar, Cancel and chunks.
"""
from ..comfy_glue.image_folder_load import check_image_folder, image_folder_fingerprint, load_image_folder_outputs
from .schema import Chunk, category, io


class SteadyFrameLoadImages(io.ComfyNode):
    """Load the image files of a folder, in natural order, as one IMAGE batch and a MASK."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SteadyFrameLoadImages",
            display_name="Load Images (Folder)",
            category=category("video"),
            description=("Loads a folder of frames (png, jpg, webp, bmp, tiff) in natural order (frame2 before frame10), "
                         "filtered by a glob pattern, with skipping, every-nth selection and a cap; only the selected "
                         "files are decoded. 16-bit PNG/TIFF keep their precision, EXIF orientation is applied, alpha "
                         "becomes the mask. The folder is inside ComfyUI's input folder, or an absolute path under a "
                         "folder listed as steadyframe_media in extra_model_paths.yaml."),
            inputs=[
                io.String.Input("folder", default="", multiline=False,
                                tooltip="Folder of frames: relative = inside ComfyUI's input folder; absolute = inside "
                                        "ComfyUI's input/output/temp folder or a folder listed under steadyframe_media "
                                        "in extra_model_paths.yaml (never elsewhere; links are followed before the check)."),
                io.String.Input("pattern", default="*", multiline=False,
                                tooltip="Glob over the file names (case ignored), e.g. frame_*.png; only image files count."),
                io.Int.Input("image_load_cap", default=0, min=0, max=1_000_000, step=1,
                             tooltip="Return at most this many images (0 = all)."),
                io.Int.Input("skip_first_images", default=0, min=0, max=1_000_000, step=1,
                             tooltip="Drop this many images from the start of the sorted list."),
                io.Int.Input("select_every_nth", default=1, min=1, max=1000, step=1,
                             tooltip="Keep one image in n (after skipping)."),
                Chunk.Input("chunk", optional=True,
                            tooltip="Load only this chunk's frames [first, end) of the selected sequence."),
            ],
            outputs=[
                io.Image.Output("images", display_name="images",
                                tooltip="The selected images, (frames, height, width, 3) float 0..1; all must have one size."),
                io.Mask.Output("mask", display_name="mask",
                               tooltip="(frames, height, width): 1 - alpha, as core Load Image (1 = transparent); "
                                       "zeros for images without alpha."),
                io.Int.Output("frame_count", display_name="frame_count", tooltip="Number of images returned."),
                io.String.Output("filenames", display_name="filenames",
                                 tooltip="The loaded file names in order, one per line."),
            ],
        )

    @classmethod
    def fingerprint_inputs(cls, folder, pattern="*", **_inputs):
        return image_folder_fingerprint(folder, pattern)

    @classmethod
    def validate_inputs(cls, folder=None):
        return check_image_folder(folder)

    @classmethod
    def execute(cls, folder, pattern="*", image_load_cap=0, skip_first_images=0, select_every_nth=1,
                chunk=None) -> io.NodeOutput:
        return io.NodeOutput(*load_image_folder_outputs(folder, pattern, image_load_cap, skip_first_images,
                                                        select_every_nth, chunk))


NODES = [SteadyFrameLoadImages]
