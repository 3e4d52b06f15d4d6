"""Animated sampling previews: every frame of the batch, played on the sampler node while it samples.

ComfyUI v0.8.0 previews one image per step: ``latent_preview.prepare_callback`` decodes the
first latent of the batch and hands it to the progress bar. It offers no hook to preview more
frames, so this goes around the callback instead of into it: a ``SAMPLER_SAMPLE`` wrapper
(``comfy/patcher_extension.py``, added on a clone of the MODEL) receives the callback core passes
to the sampler and gives the sampler a chained one. Each step it calls core's callback first
(progress bar, single-frame preview and Cancel work as before), then, when the step is due and a
browser listens, decodes a few frames of the step's predicted clean latent (``x0``) with the
previewer core itself would use (``latent_preview.get_previewer``: Latent2RGB or TAESD, following
the preview method of the run) and sends them as a JSON ``steadyframe.preview`` event through
``PromptServer.instance.send_sync`` to the client that queued the prompt.
``web/js/sampling_preview.js`` plays them on the node.

Nothing in ComfyUI is modified. With the preview method "none", no server (ComfyUI used as a
library) or nobody connected, the sampler runs exactly as without the wrapper, apart from a few
attribute reads per step.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from ..video.preview_frames import PreviewPacer, encode_frame, pick_frames, preview_message

WRAPPER_KEY = "SteadyFrame_animated_preview"
EVENT = "steadyframe.preview"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PreviewSettings:
    """frames: most frames per preview; size: longest side in pixels; frame_rate: playback speed;
    interval: least seconds between previews (the last step is always sent); quality: JPEG 1..95."""

    frames: int = 16
    size: int = 256
    frame_rate: float = 8.0
    interval: float = 0.5
    quality: int = 80

    def __post_init__(self):
        if self.frames < 1 or self.size < 8 or not self.frame_rate > 0 or not self.interval >= 0 \
                or not 1 <= self.quality <= 95:
            raise ValueError(f"animated preview settings out of range: {self}")


def enable_animated_preview(model_patcher, settings: PreviewSettings):
    """Add the animated preview to ``model_patcher`` (in place: clone it first); returns it.

    A second call replaces the first one's settings rather than sending twice.
    """
    import comfy.patcher_extension

    wrapper_type = comfy.patcher_extension.WrappersMP.SAMPLER_SAMPLE
    model_patcher.remove_wrappers_with_key(wrapper_type, WRAPPER_KEY)
    model_patcher.add_wrapper_with_key(wrapper_type, WRAPPER_KEY, AnimatedPreviewWrapper(settings))
    return model_patcher


class AnimatedPreviewWrapper:
    """``SAMPLER_SAMPLE`` wrapper: hands the sampler core's callback chained with the preview.

    Same arguments as ``comfy.samplers.KSAMPLER.sample`` (the wrapped function).
    """

    def __init__(self, settings: PreviewSettings):
        self.settings = settings

    def __call__(self, executor, guider, sigmas, extra_args, callback, noise, latent_image=None,
                 denoise_mask=None, disable_pbar=False):
        sender = PreviewSender.for_this_run(guider.model_patcher, self.settings)
        if sender is not None:
            callback = sender.chained(callback)
        return executor(guider, sigmas, extra_args, callback, noise, latent_image, denoise_mask, disable_pbar)


class PreviewSender:
    """Sends one sampling run's animated previews; built per run, so it holds no state across runs."""

    def __init__(self, server, model_patcher, settings: PreviewSettings, node: str | None,
                 display_node: str | None, prompt_id: str | None, client_id: str | None):
        self.server = server
        self.model_patcher = model_patcher
        self.settings = settings
        self.node = node
        self.display_node = display_node
        self.prompt_id = prompt_id
        self.client_id = client_id
        self.pacer = PreviewPacer(settings.interval)
        self.previewer = None
        self.failed = False

    @classmethod
    def for_this_run(cls, model_patcher, settings: PreviewSettings) -> PreviewSender | None:
        """A sender for the run that is starting, or None when no preview can be sent."""
        from comfy.cli_args import LatentPreviewMethod, args

        # The run's preview method: the server's --preview-method, or the prompt's own
        # ("preview_method" in extra_data, which execution applies before the nodes run).
        if args.preview_method == LatentPreviewMethod.NoPreviews:
            return None
        server = _prompt_server()
        if server is None:
            return None
        node, prompt_id = _executing_node(server)
        return cls(server, model_patcher, settings, node, _display_node(node), prompt_id, server.client_id)

    def chained(self, callback):
        """``callback(step, x0, x, total_steps)`` that runs ``callback`` (may be None), then the preview."""

        def preview_callback(step, x0, x, total_steps):
            if callback is not None:
                callback(step, x0, x, total_steps)
            self.step_done(step, x0, total_steps)

        return preview_callback

    def listening(self) -> bool:
        """Whether the client that queued the prompt (or, for a prompt without one, anyone) is connected."""
        sockets = self.server.sockets
        return bool(sockets) if self.client_id is None else self.client_id in sockets

    def step_done(self, step: int, x0, total_steps: int) -> None:
        """x0: the step's predicted clean latent, (B, C, H, W), or (B, C, T, H, W) for video models."""
        if self.failed or not self.pacer.due(step, total_steps) or not self.listening():
            return
        try:
            message = self.message(step, x0, total_steps)
        except Exception:
            # A preview must never cost the user the sampling: report once, stop previewing this run.
            self.failed = True
            log.warning("SteadyFrame animated preview: could not decode the preview frames; previews "
                        "are off for the rest of this sampling run", exc_info=True)
            return
        if message is not None:
            self.server.send_sync(EVENT, message, self.client_id)

    def message(self, step: int, x0, total_steps: int) -> dict | None:
        previewer = self.get_previewer()
        if previewer is None:
            return None
        latent_frames = frames_of(x0)
        indices = pick_frames(len(latent_frames), self.settings.frames)
        frames = [encode_frame(previewer.decode_latent_to_preview(latent_frames[i]), self.settings.size,
                               self.settings.quality) for i in indices]
        return preview_message(node=self.node, display_node=self.display_node, prompt_id=self.prompt_id,
                               step=step + 1, total_steps=total_steps, total_frames=len(latent_frames),
                               indices=indices, frames=frames, frame_rate=self.settings.frame_rate)

    def get_previewer(self):
        """Core's previewer for this model and preview method, made on first use (TAESD loads a file)."""
        if self.previewer is None:
            import latent_preview

            self.previewer = latent_preview.get_previewer(self.model_patcher.load_device,
                                                          self.model_patcher.model.latent_format)
            if self.previewer is None:
                self.failed = True  # this latent format has no previewer: nothing to send
        return self.previewer


def frames_of(x0) -> list:
    """One latent per frame, each shaped as core's previewers take a batch (they decode item 0).

    (B, C, H, W): the batch is the frames (AnimateDiff, image batches) -> B latents (1, C, H, W).
    (B, C, T, H, W): video models keep time in dim 2 -> T latents (1, C, 1, H, W) of the first item.
    """
    if x0.ndim == 4:
        return [x0[i:i + 1] for i in range(x0.shape[0])]
    if x0.ndim == 5:
        return [x0[:1, :, t:t + 1] for t in range(x0.shape[2])]
    raise ValueError(f"animated preview: expected a (B, C, H, W) or (B, C, T, H, W) latent, got shape {tuple(x0.shape)}")


def _prompt_server():
    """The running ComfyUI server, or None (ComfyUI used as a library has none)."""
    try:
        import server
    except ImportError:
        return None
    return getattr(server.PromptServer, "instance", None)


def _executing_node(server) -> tuple[str | None, str | None]:
    """(node id, prompt id) of the node that is sampling: the execution context, else the server's last."""
    from comfy_execution.utils import get_executing_context

    context = get_executing_context()
    if context is not None:
        return context.node_id, context.prompt_id
    return server.last_node_id, getattr(server, "last_prompt_id", None)


def _display_node(node: str | None) -> str | None:
    """The node the canvas shows for ``node`` (differs for nodes expanded at run time)."""
    if node is None:
        return None
    try:
        from comfy_execution.progress import get_progress_state

        return get_progress_state().dynprompt.get_display_node_id(node)
    except Exception:  # no prompt registry (ComfyUI used as a library): the node is its own display
        return node
