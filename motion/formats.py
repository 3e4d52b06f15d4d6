"""Motion-module files: read, recognise the format from the state dict alone, normalise keys.

Every AnimateDiff-family file shares one temporal-transformer layout; they differ in
key naming, block count, positional-encoding length and whether there is a mid module.
After :func:`normalize_motion_state_dict` every format uses the original AnimateDiff keys::

    {down_blocks.B | mid_block | up_blocks.B}.motion_modules.M.temporal_transformer.<rest>

======================  ============================================  ==========  ======
format                  signature                                     PE / max    mid
======================  ============================================  ==========  ======
v1                      SD1.5 (down_blocks.3), pe length 24           24          no
v2 (and Lightning)      SD1.5, ``mid_block`` keys, pe 32              32          yes
v3                      SD1.5, pe 32, no mid                          32          no
animatelcm              SD1.5, no ``pos_encoder`` keys                64 (sin)    yes
sdxl                    SDXL (down_blocks.0-2), pe 32                 32          no
hotshotxl               ``temporal_attentions`` / ``positional_encoding``  24     no
diffusers               ``motion_modules.M.transformer_blocks.0.attn1`` naming, mapped to
                        the original names, then classified as above
======================  ============================================  ==========  ======
"""
from __future__ import annotations

import pickle
import re
import zipfile
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import torch

from .beta_schedules import BetaSchedule
from .temporal import MotionLayout, sinusoidal_pe

MOTION_EXTENSIONS = (".safetensors", ".ckpt", ".pt", ".pth", ".bin")
ANIMATELCM_PE_LENGTH = 64

# Per format: the positional length it was trained at (the sweet spot), the beta schedule the
# ``auto`` choice picks, and whether UNet GroupNorm statistics were computed across frames.
SWEET_SPOT = {"v1": 16, "v2": 16, "v3": 16, "animatelcm": 16, "sdxl": 16, "hotshotxl": 8}
AUTO_BETA_SCHEDULE = {
    "v1": BetaSchedule.SQRT_LINEAR, "v2": BetaSchedule.SQRT_LINEAR, "v3": BetaSchedule.SQRT_LINEAR,
    "animatelcm": BetaSchedule.LCM, "sdxl": BetaSchedule.LINEAR_SDXL, "hotshotxl": BetaSchedule.LINEAR,
}
CROSS_FRAME_GROUPNORM = {"v1": True, "hotshotxl": True}

_MODULE_KEY = re.compile(r"^(down_blocks\.\d+|up_blocks\.\d+|mid_block)\.motion_modules\.(\d+)\.temporal_transformer\.(.+)$")


@dataclass
class MotionModuleInfo:
    """What a motion-module file is. ``channels`` lists module channels per block in file order."""
    version: str                      # v1 | v2 | v3 | animatelcm | sdxl | hotshotxl
    family: str                       # sd15 | sdxl
    source_layout: str                # original | hotshotxl | diffusers
    pe_length: int                    # max frames per call
    pe_in_file: bool
    has_mid: bool
    layout: MotionLayout
    notes: list = field(default_factory=list)

    @property
    def max_frames(self) -> int:
        return self.pe_length

    @property
    def sweet_spot(self) -> int:
        return min(SWEET_SPOT[self.version], self.pe_length)

    @property
    def auto_beta_schedule(self) -> BetaSchedule:
        return AUTO_BETA_SCHEDULE[self.version]

    @property
    def cross_frame_groupnorm(self) -> bool:
        return CROSS_FRAME_GROUPNORM.get(self.version, False)

    @property
    def module_count(self) -> int:
        return len(self.layout.injection_order())

    def describe(self) -> str:
        mid = "with mid module" if self.has_mid else "no mid module"
        pe = f"PE {self.pe_length}" + ("" if self.pe_in_file else " (computed)")
        return f"AnimateDiff {self.version} ({self.family}, {self.module_count} modules, {mid}, {pe})"


class MotionFormatError(ValueError):
    """The file is not a motion module this pack can load; the message names file and finding."""


# ---------------------------------------------------------------------------------------------
# reading files

def read_state_dict(path, kind: str = "motion module") -> dict:
    """Tensors of a ``.safetensors`` or pickle checkpoint, without running pickled code.

    ``kind`` names the file in errors ("motion module", "MotionLoRA").
    """
    path = Path(path)
    if not path.is_file():
        raise MotionFormatError(f"{kind} file {path} does not exist")
    if path.stat().st_size == 0:
        raise MotionFormatError(f"{kind} file {path} is empty (0 bytes)")
    if path.suffix.lower() == ".safetensors":
        import safetensors.torch

        try:
            return dict(safetensors.torch.load_file(str(path), device="cpu"))
        except Exception as exc:
            raise MotionFormatError(
                f"cannot read {path} as safetensors ({type(exc).__name__}: {exc}); the file is truncated or not a safetensors file"
            ) from exc
    try:
        loaded = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise MotionFormatError(
            f"refusing to load {path}: the pickle wants to run code or build objects that are not plain tensors "
            f"(torch.load with weights_only=True said: {str(exc).splitlines()[0]}). Nothing from it was executed; "
            f"use a .safetensors copy of the motion module"
        ) from exc
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as exc:
        raise MotionFormatError(
            f"cannot read {path} ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
            f"the file is truncated or not a torch checkpoint"
        ) from exc
    if not isinstance(loaded, Mapping):
        raise MotionFormatError(f"{path} holds a {type(loaded).__name__}, not a state dict of tensors")
    return unwrap_state_dict(dict(loaded), path)


def unwrap_state_dict(loaded: dict, source="state dict") -> dict:
    """Drop the ``{"state_dict": ...}`` wrapper and ``animatediff_config`` entries."""
    if "state_dict" in loaded and isinstance(loaded["state_dict"], Mapping):
        loaded = dict(loaded["state_dict"])
    loaded.pop("animatediff_config", None)
    tensors = {k: v for k, v in loaded.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise MotionFormatError(f"{source} contains no tensors (keys: {_sample_keys(loaded)})")
    return tensors


def load_motion_file(path) -> tuple:
    """``(normalised state dict, MotionModuleInfo)`` of a motion-module file."""
    return normalize_motion_state_dict(read_state_dict(path), source=str(path))


# ---------------------------------------------------------------------------------------------
# recognising and normalising

def _sample_keys(sd: Mapping, n: int = 3) -> str:
    keys = list(sd)[:n]
    return ", ".join(keys) + (", ..." if len(sd) > n else "")


def _what_is_it(sd: Mapping) -> str:
    """A best guess at what a non-motion state dict is, for the error message."""
    keys = list(sd)
    if any(".processor." in k and "_lora." in k for k in keys) or any("temporal" in k and "lora" in k.lower() for k in keys):
        return "a MotionLoRA (temporal *_lora.up/down keys); load it with the MotionLoRA node, on top of a motion module"
    if any(k.startswith("model.diffusion_model.") for k in keys):
        return "a Stable Diffusion checkpoint (model.diffusion_model.* keys); load it with Load Checkpoint"
    if any(k.startswith(("lora_unet_", "lora_te")) or ".lora_up." in k or ".lora_A." in k or "lora_down" in k for k in keys):
        return "a LoRA for the image model; load it with a LoRA loader"
    if any(k.startswith(("input_blocks.", "conv_in.", "down_blocks.0.resnets")) for k in keys):
        return "an image UNet without motion modules"
    if any(k.startswith(("encoder.", "decoder.")) for k in keys):
        return "a VAE"
    return f"no AnimateDiff motion-module keys (first keys: {_sample_keys(sd)})"


def _from_diffusers(sd: Mapping) -> dict:
    """diffusers MotionAdapter naming -> original AnimateDiff naming (pe copied to both attentions)."""
    out = {}
    pattern = re.compile(r"^(down_blocks\.\d+|up_blocks\.\d+|mid_block)\.motion_modules\.(\d+)\.(.+)$")
    renames = (
        ("transformer_blocks.0.attn1.", "transformer_blocks.0.attention_blocks.0."),
        ("transformer_blocks.0.attn2.", "transformer_blocks.0.attention_blocks.1."),
        ("transformer_blocks.0.norm1.", "transformer_blocks.0.norms.0."),
        ("transformer_blocks.0.norm2.", "transformer_blocks.0.norms.1."),
        ("transformer_blocks.0.norm3.", "transformer_blocks.0.ff_norm."),
    )
    for key, value in sd.items():
        match = pattern.match(key)
        if not match:
            continue
        block, index, rest = match.groups()
        prefix = f"{block}.motion_modules.{index}.temporal_transformer."
        if rest.endswith("pos_embed.pe"):
            for a in (0, 1):
                out[f"{prefix}transformer_blocks.0.attention_blocks.{a}.pos_encoder.pe"] = value
            continue
        for old, new in renames:
            if rest.startswith(old):
                rest = new + rest[len(old):]
                break
        out[prefix + rest] = value
    return out


def _from_hotshot(sd: Mapping) -> dict:
    out = {}
    pattern = re.compile(r"^(down_blocks\.\d+|up_blocks\.\d+|mid_block)\.temporal_attentions\.(\d+)\.(.+)$")
    for key, value in sd.items():
        match = pattern.match(key)
        if not match:
            continue
        block, index, rest = match.groups()
        rest = re.sub(r"pos_encoder\.positional_encoding$", "pos_encoder.pe", rest)
        out[f"{block}.motion_modules.{index}.temporal_transformer.{rest}"] = value
    return out


def _strip_prefix(sd: Mapping) -> dict:
    """Some files carry a wrapper prefix (``module.``, ``motion_module.``) before the block names."""
    out = {}
    for key, value in sd.items():
        match = re.search(r"(down_blocks\.\d+\.|up_blocks\.\d+\.|mid_block\.)", key)
        out[key[match.start():] if match else key] = value
    return out


def normalize_motion_state_dict(sd: Mapping, source: str = "state dict") -> tuple:
    """``(normalised state dict, MotionModuleInfo)``; raises :class:`MotionFormatError` with the source named."""
    sd = _strip_prefix(sd)
    keys = list(sd)
    if any(".temporal_attentions." in k for k in keys):
        normalized, source_layout = _from_hotshot(sd), "hotshotxl"
    elif any(".motion_modules." in k and (".attn1." in k or "pos_embed" in k) and "temporal_transformer" not in k for k in keys):
        normalized, source_layout = _from_diffusers(sd), "diffusers"
    else:
        normalized = {k: v for k, v in sd.items() if _MODULE_KEY.match(k)}
        source_layout = "original"
    if any(("_lora." in k or ".lora_" in k) for k in normalized):
        raise MotionFormatError(f"{source} is {_what_is_it(sd)}")
    if not normalized:
        raise MotionFormatError(f"{source} is not an AnimateDiff motion module: found {_what_is_it(sd)}")

    modules: dict = {}
    for key in normalized:
        match = _MODULE_KEY.match(key)
        # Every normalised key matches: "original" keys were filtered by it, and _from_diffusers /
        # _from_hotshot build theirs as "<block>.motion_modules.<n>.temporal_transformer.<rest>".
        assert match is not None, key
        block, index, rest = match.groups()
        modules.setdefault(block, {}).setdefault(int(index), set()).add(rest)
    expected_rest = _expected_rest_keys()
    channels: dict = {}
    pe_lengths = set()
    pe_in_file = None
    for block, indexed in modules.items():
        for index, rests in indexed.items():
            name = f"{block}.motion_modules.{index}"
            missing = sorted(expected_rest - rests)
            if missing:
                raise MotionFormatError(f"{source}: motion module {name} is incomplete, missing {', '.join(missing[:4])}"
                                        + (" ..." if len(missing) > 4 else ""))
            norm = normalized[f"{name}.temporal_transformer.norm.weight"]
            channels.setdefault(block, {})[index] = int(norm.shape[0])
            pe_keys = [f"{name}.temporal_transformer.transformer_blocks.0.attention_blocks.{a}.pos_encoder.pe" for a in (0, 1)]
            has_pe = [k in normalized for k in pe_keys]
            if any(has_pe) != all(has_pe) or (pe_in_file is not None and pe_in_file != all(has_pe)):
                raise MotionFormatError(f"{source}: positional encodings present in some attention blocks and missing in others ({name})")
            pe_in_file = all(has_pe)
            for k in pe_keys:
                if k in normalized:
                    pe = normalized[k]
                    if pe.ndim != 3 or pe.shape[0] != 1 or pe.shape[2] != channels[block][index]:
                        raise MotionFormatError(f"{source}: {k} has shape {tuple(pe.shape)}, expected (1, frames, {channels[block][index]})")
                    pe_lengths.add(int(pe.shape[1]))
    if len(pe_lengths) > 1:
        raise MotionFormatError(f"{source}: modules disagree on positional length ({sorted(pe_lengths)})")

    down_ids = sorted(int(b.split(".")[1]) for b in modules if b.startswith("down_blocks."))
    up_ids = sorted(int(b.split(".")[1]) for b in modules if b.startswith("up_blocks."))
    if not down_ids or down_ids != list(range(len(down_ids))) or up_ids != list(range(len(up_ids))) or len(up_ids) != len(down_ids):
        raise MotionFormatError(f"{source}: unexpected block layout (down blocks {down_ids}, up blocks {up_ids})")
    if len(down_ids) == 4:
        family = "sd15"
    elif len(down_ids) == 3:
        family = "sdxl"
    else:
        raise MotionFormatError(f"{source}: {len(down_ids)} down blocks with motion modules; SD1.5 files have 4, SDXL files 3")
    has_mid = "mid_block" in modules

    def ordered(block):
        indexed = channels[block]
        if sorted(indexed) != list(range(len(indexed))):
            raise MotionFormatError(f"{source}: {block} has motion modules {sorted(indexed)}, expected 0..{len(indexed) - 1}")
        return tuple(indexed[i] for i in range(len(indexed)))

    down = tuple(ordered(f"down_blocks.{i}") for i in down_ids)
    up = tuple(ordered(f"up_blocks.{i}") for i in up_ids)
    mid = channels["mid_block"][0] if has_mid else None

    notes = []
    if source_layout == "hotshotxl":
        version = "hotshotxl"
    elif not pe_in_file:
        version = "animatelcm"
    elif family == "sdxl":
        version = "sdxl"
    elif has_mid:
        version = "v2"
        notes.append("v2 layout (AnimateDiff v2 or AnimateDiff-Lightning)")
    elif pe_lengths == {24}:
        version = "v1"
    else:
        version = "v3"
    # image-to-video files load here as their motion modules alone; say where the image input is
    if any("img_encoder." in k for k in keys):
        notes.append("an AnimateLCM-I2V file: its image encoder is ignored here; Load AnimateLCM-I2V uses it with a start image")
    elif any(k.endswith("conv_in.weight") and "img_encoder" not in k for k in keys):
        notes.append("a PIA file: its conv_in is ignored here; Load PIA uses it with a start image")
    pe_length = pe_lengths.pop() if pe_in_file else ANIMATELCM_PE_LENGTH
    if version == "v3" and pe_length != 32:
        notes.append(f"unusual positional length {pe_length} for v3")
    layout = MotionLayout(down=down, up=up, mid=mid, pe_length=pe_length)
    info = MotionModuleInfo(version=version, family=family, source_layout=source_layout, pe_length=pe_length,
                            pe_in_file=bool(pe_in_file), has_mid=has_mid, layout=layout, notes=notes)
    return normalized, info


def _expected_rest_keys() -> set:
    rest = {"norm.weight", "norm.bias", "proj_in.weight", "proj_in.bias", "proj_out.weight", "proj_out.bias",
            "transformer_blocks.0.ff.net.0.proj.weight", "transformer_blocks.0.ff.net.0.proj.bias",
            "transformer_blocks.0.ff.net.2.weight", "transformer_blocks.0.ff.net.2.bias",
            "transformer_blocks.0.ff_norm.weight", "transformer_blocks.0.ff_norm.bias"}
    for a in (0, 1):
        base = f"transformer_blocks.0.attention_blocks.{a}."
        rest |= {base + "to_q.weight", base + "to_k.weight", base + "to_v.weight", base + "to_out.0.weight", base + "to_out.0.bias",
                 f"transformer_blocks.0.norms.{a}.weight", f"transformer_blocks.0.norms.{a}.bias"}
    return rest


def build_motion_model(sd: MutableMapping, info: MotionModuleInfo, ops=None, dtype: Optional[torch.dtype] = None,
                       consume: bool = False):
    """A :class:`~.temporal.MotionModel` holding ``sd`` (normalised). Missing PE tables are computed.

    ``dtype``: of the weights (default float32). ``consume=True`` takes the tensors out of ``sd``
    (a dict the caller gives up) one by one, so a file's tensors are freed while the model fills:
    the peak is about the model's size instead of file plus model (0.9 GB less for an fp16 v2
    file built in fp32). Otherwise ``sd`` is left as it was and the model owns copies.
    """
    from .temporal import MotionModel

    with torch.device("meta"):  # shapes only: every tensor comes from ``sd``
        model = MotionModel(info.layout, ops=ops)
    full = sd if consume else dict(sd)
    if not info.pe_in_file:
        for key, module in zip(info.layout.injection_order(), model.modules_in_order()):
            table = sinusoidal_pe(info.pe_length, module.channels)
            for a in (0, 1):
                full[f"{key}.temporal_transformer.transformer_blocks.0.attention_blocks.{a}.pos_encoder.pe"] = table
    expected = model.state_dict()
    unexpected = sorted(set(full) - set(expected))
    missing = sorted(set(expected) - set(full))
    if unexpected or missing:
        raise MotionFormatError(f"motion module keys do not match the {info.version} layout: "
                                f"missing {missing[:3]}, unexpected {unexpected[:3]}")
    for key, value in full.items():
        if tuple(value.shape) != tuple(expected[key].shape):
            raise MotionFormatError(f"motion module key {key} has shape {tuple(value.shape)}, expected {tuple(expected[key].shape)}")
    target = dtype or torch.float32
    weights = {}
    for key in list(full):
        tensor = full.pop(key) if consume else full[key]
        weights[key] = tensor.to(dtype=target, memory_format=torch.contiguous_format, copy=not consume)
        del tensor
    model.load_state_dict(weights, strict=True, assign=True)
    return model.eval().requires_grad_(False)
