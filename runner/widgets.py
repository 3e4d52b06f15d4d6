"""The widgets the ComfyUI frontend gives a node, and how saved ``widgets_values`` fill them.

Worked out from the server's ``/object_info`` the way the frontend does it:

- inputs are taken in ``input_order`` (required, then optional), then any the frontend's own
  extensions added (the image/video ``upload`` button, the ``audioUI`` player);
- an input whose type has a widget (INT, FLOAT, BOOLEAN, STRING, a combo, ...) gets one unless it
  is ``forceInput`` (or an optional ``defaultInput``); the rest are sockets only;
- an INT with ``control_after_generate`` (or, when the option is absent, named ``seed`` or
  ``noise_seed``), a FLOAT or combo with ``control_after_generate``, is followed by the
  "control after generate" widget (a combo also by its filter-list widget); these are saved in
  ``widgets_values`` but never sent to the server;
- a V3 dynamic combo (``COMFY_DYNAMICCOMBO_V3``) is followed by the widgets of the option it
  holds, named ``combo.input``; choosing another option replaces them.

``widgets_values`` fills the saved widgets one after the other; widgets it does not reach keep
their defaults (inputs added to a node after the file was saved).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SEED_NAMES = ("seed", "noise_seed")
CONTROL_VALUES = ("fixed", "increment", "decrement", "randomize", "increment-wrap")
CONTROL_WIDGET = "control_after_generate"
FILTER_WIDGET = "control_filter_list"
UPLOAD_FLAGS = ("image_upload", "video_upload", "animated_image_upload")
UPLOAD_VALUES = ("image", "video", "audio", "")
DYNAMIC_COMBO = "COMFY_DYNAMICCOMBO_V3"
PLAIN_WIDGET_TYPES = {"INT", "FLOAT", "BOOLEAN", "STRING", "COMBO", "MARKDOWN", "COLOR", "TEXTAREA",
                      "IMAGECOMPARE", "CHART", "GALLERIA", "WEBCAM", "LOAD_3D", "PREVIEW_3D", "AUDIO_RECORD"}
# Widgets the frontend's own extensions add to some core nodes:
# node type -> [(after this widget or None for the end, name, saved, sent, default)].
EXTENSION_WIDGETS = {
    "LoadImageOutput": [("image", "Auto-refresh after generation", True, False, False), ("image", "refresh", True, True, "refresh")],
    "Load3D": [("model_file", "upload 3d model", True, True, "upload3dmodel"),
               ("model_file", "upload extra resources", True, True, "uploadExtraResources"),
               ("model_file", "clear", True, True, "clear")],
    "WebcamCapture": [(None, "waiting for camera...", True, True, "capture")],
    "PreviewAny": [(None, "preview", False, True, ""), (None, "preview", False, True, ""), (None, "previewMode", True, True, False)],
    "RecordAudio": [("audio", "audio", True, False, "")],
}
AUDIO_UI_NODES = ("LoadAudio", "SaveAudio", "PreviewAudio", "SaveAudioMP3", "SaveAudioOpus")
PREVIEW_3D_NODES = ("Preview3D", "SaveGLB")


@dataclass
class Widget:
    """One widget of a node. ``kind`` is the input type, or CONTROL/FILTER/UPLOAD/UI for extras."""

    name: str
    kind: str
    spec: Any = None
    value: Any = None
    saved: bool = True  # takes an entry of widgets_values
    sent: bool = True  # sent to the server in the API prompt
    from_file: bool = False  # value came from widgets_values (defaults are not type-checked)
    children: list = field(default_factory=list)  # a dynamic combo's option widgets

    @property
    def options(self) -> dict:
        return spec_options(self.spec)


def spec_options(spec) -> dict:
    if isinstance(spec, (list, tuple)) and len(spec) > 1 and isinstance(spec[1], dict):
        return spec[1]
    return {}


def spec_type(spec) -> str:
    if not isinstance(spec, (list, tuple)) or not spec:
        return "*"
    kind = spec[0]
    if isinstance(kind, (list, tuple)):
        return "COMBO"
    return str(kind)


def combo_choices(spec) -> list | None:
    if isinstance(spec, (list, tuple)) and spec and isinstance(spec[0], (list, tuple)):
        return list(spec[0])
    choices = spec_options(spec).get("options")
    return list(choices) if isinstance(choices, list) else None


def ordered_inputs(node_type: str, node_info: dict) -> list[tuple[str, Any, bool]]:
    """``(name, spec, optional)`` for every input, in the order the frontend adds them."""
    sections = node_info.get("input") or {}
    required = dict(sections.get("required") or {})
    optional = dict(sections.get("optional") or {})
    # Inputs the frontend's extensions add (they are not in input_order, so they come last).
    for name, spec in list(required.items()):
        if spec_type(spec) == "COMBO" and any(spec_options(spec).get(flag) is True for flag in UPLOAD_FLAGS):
            required["upload"] = ["IMAGEUPLOAD", {**spec_options(spec), "imageInputName": name}]
            break
    if node_type in AUDIO_UI_NODES:
        required["audioUI"] = ["AUDIO_UI", {}]
    if spec_options(required.get("audio")).get("audio_upload") is True:
        required["upload"] = ["AUDIOUPLOAD", {}]
    if node_type in PREVIEW_3D_NODES:
        required["image"] = ["PREVIEW_3D"]
    specs: dict[str, tuple[Any, bool]] = {}
    for name, spec in required.items():
        specs[name] = (spec, False)
    for name, spec in optional.items():
        options = spec_options(spec)
        if options.get("defaultInput"):
            spec = [spec[0], {**options, "forceInput": True}]
        specs[name] = (spec, True)
    order = node_info.get("input_order") or {}
    result, seen = [], set()
    if order:
        for section, is_optional in (("required", False), ("optional", True)):
            for name in order.get(section) or []:
                if name in specs and specs[name][1] == is_optional and name not in seen:
                    result.append((name, specs[name][0], is_optional))
                    seen.add(name)
    for name, (spec, is_optional) in specs.items():
        if name not in seen:
            result.append((name, spec, is_optional))
    return result


def has_widget(spec) -> bool:
    options = spec_options(spec)
    if options.get("forceInput"):
        return False
    kind = options.get("widgetType") or spec_type(spec)
    return kind in PLAIN_WIDGET_TYPES or kind in (DYNAMIC_COMBO, "IMAGEUPLOAD", "AUDIOUPLOAD", "AUDIO_UI")


def widgets_for_input(name: str, spec) -> list[Widget]:
    """The widget(s) one input gets: itself, then its control and filter-list widgets."""
    options = spec_options(spec)
    kind = options.get("widgetType") or spec_type(spec)
    if kind == "IMAGEUPLOAD":
        return [Widget(name, "UPLOAD", spec, "image", saved=True, sent=False)]
    if kind == "AUDIOUPLOAD":
        return [Widget(name, "UPLOAD", spec, "", saved=True, sent=False)]
    if kind == "AUDIO_UI":
        return [Widget(name, "UI", spec, "", saved=False, sent=True)]
    if kind in ("PREVIEW_3D", "LOAD_3D", "WEBCAM", "AUDIO_RECORD"):
        return [Widget(name, "UI", spec, "")]
    if kind == DYNAMIC_COMBO:
        keys = [option.get("key") for option in options.get("options") or [] if isinstance(option, dict)]
        widget = Widget(name, DYNAMIC_COMBO, spec, options.get("default") or (keys[0] if keys else None))
        select_dynamic_option(widget, widget.value)
        return [widget]
    control = options.get(CONTROL_WIDGET)
    control_name = control if isinstance(control, str) else CONTROL_WIDGET
    if kind == "INT":
        widget = Widget(name, "INT", spec, options.get("default", 0) if options.get("default") is not None else 0)
        wants_control = (name in SEED_NAMES) if control is None else bool(control)
        return [widget] + ([Widget(control_name, "CONTROL", None, "randomize", sent=False)] if wants_control else [])
    if kind == "FLOAT":
        widget = Widget(name, "FLOAT", spec, options.get("default") if options.get("default") is not None else 0)
        return [widget] + ([Widget(control_name, "CONTROL", None, "fixed", sent=False)] if control else [])
    if kind == "BOOLEAN":
        return [Widget(name, "BOOLEAN", spec, options.get("default") if options.get("default") is not None else False)]
    if kind in ("STRING", "MARKDOWN", "TEXTAREA", "COLOR"):
        default = options.get("default")
        return [Widget(name, "STRING" if kind != "COLOR" else kind, spec, default if default is not None else "")]
    if kind == "COMBO":
        choices = combo_choices(spec) or []
        default = options.get("default") or (choices[0] if choices else None)
        if options.get("multi_select"):
            default = []
        widget = Widget(name, "COMBO", spec, default)
        if not control:
            return [widget]
        return [widget, Widget(control_name, "CONTROL", None, "randomize", sent=False),
                Widget(FILTER_WIDGET, "FILTER", None, "", sent=False)]
    return [Widget(name, "UI", spec, None)]


def select_dynamic_option(widget: Widget, key) -> None:
    """Give a dynamic combo the widgets of option ``key`` (named ``combo.input``), at their defaults."""
    widget.children = []
    for option in widget.options.get("options") or []:
        if isinstance(option, dict) and option.get("key") == key:
            inputs = option.get("inputs") or {}
            for section in ("required", "optional"):
                for name, spec in (inputs.get(section) or {}).items():
                    if has_widget(spec):
                        # The frontend names these "combo.input", so the seed rule does not apply.
                        options = spec_options(spec)
                        if spec_type(spec) == "INT" and CONTROL_WIDGET not in options:
                            spec = [spec[0], {**options, CONTROL_WIDGET: False}]
                        widget.children.extend(widgets_for_input(f"{widget.name}.{name}", spec))
            return


def node_widgets(node_type: str, node_info: dict) -> list[Widget]:
    """The node's widgets in the frontend's order, at their defaults."""
    widgets: list[Widget] = []
    for name, spec, _optional in ordered_inputs(node_type, node_info):
        if has_widget(spec):
            widgets.extend(widgets_for_input(name, spec))
    for after, name, saved, sent, default in EXTENSION_WIDGETS.get(node_type, ()):
        extra = Widget(name, "UI", None, default, saved=saved, sent=sent)
        positions = [i for i, w in enumerate(widgets) if w.name == after]
        if after is None or not positions:
            widgets.append(extra)
        else:
            # After that widget and the extras already placed behind it.
            index = positions[-1] + 1
            while index < len(widgets) and widgets[index].kind == "UI" and widgets[index].spec is None:
                index += 1
            widgets.insert(index, extra)
    return widgets


def flatten(widgets: list[Widget]) -> list[Widget]:
    """Widgets in order with each dynamic combo's option widgets right after it."""
    result = []
    for widget in widgets:
        result.append(widget)
        result.extend(flatten(widget.children))
    return result


def widget_input_names(widgets: list[Widget]) -> list[str]:
    return [widget.name for widget in flatten(widgets) if widget.sent]


def migrate_force_input_values(node_info: dict, widgets: list[Widget], values: list) -> list:
    """Files saved while a ``forceInput`` input still had a widget keep a value for it: drop it.

    The frontend does this when the saved count matches exactly the count with those inputs
    (seed inputs counting two, for their control widget).
    """
    names = {widget.name for widget in widgets}
    entries = []
    for section in ("required", "optional"):
        for name, spec in ((node_info.get("input") or {}).get(section) or {}).items():
            options = spec_options(spec)
            if name in names or options.get("forceInput"):
                entries.append((name, options))
    expected = sum(2 if (options.get(CONTROL_WIDGET) or name in SEED_NAMES) else 1 for name, options in entries)
    if expected != len(values) or not any(options.get("forceInput") for _, options in entries):
        return values
    return [value for (_name, options), value in zip(entries, values) if not options.get("forceInput")]


class Mismatch(Exception):
    """A saved value that does not fit the widget it lands on."""

    def __init__(self, widget: Widget, value, expected: str):
        super().__init__(expected)
        self.widget, self.value, self.expected = widget, value, expected


def expected_type(widget: Widget) -> str | None:
    """What a saved value must be for this widget, or None when any value goes."""
    if widget.kind in ("INT", "FLOAT"):
        return "a number"
    if widget.kind == "BOOLEAN":
        return "true or false"
    if widget.kind == "STRING":
        return "text"
    if widget.kind in ("COMBO", DYNAMIC_COMBO):
        return "one of its choices"
    return None


def check_value(widget: Widget, value) -> None:
    """Raise Mismatch when ``value`` cannot be what ``widget`` holds."""
    kind = widget.kind
    if kind in ("INT", "FLOAT"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise Mismatch(widget, value, "an integer" if kind == "INT" else "a number")
    elif kind == "BOOLEAN":
        if not isinstance(value, bool):
            raise Mismatch(widget, value, "true or false")
    elif kind == "STRING":
        if not isinstance(value, str):
            raise Mismatch(widget, value, "text")
    elif kind == "COMBO":
        choices = combo_choices(widget.spec)
        if widget.options.get("multi_select"):
            return
        if choices and value in choices:
            return
        if choices and all(isinstance(c, str) for c in choices) and not isinstance(value, str):
            raise Mismatch(widget, value, f"one of {preview_choices(choices)}")
        if not choices and not isinstance(value, str) and value is not None:
            raise Mismatch(widget, value, "a name (text)")
        if choices and not all(isinstance(c, str) for c in choices) and not isinstance(value, type(choices[0])):
            raise Mismatch(widget, value, f"one of {preview_choices(choices)}")
    elif kind == DYNAMIC_COMBO:
        keys = [option.get("key") for option in widget.options.get("options") or [] if isinstance(option, dict)]
        if value not in keys:
            raise Mismatch(widget, value, f"one of {preview_choices(keys)}")
    elif kind == "CONTROL":
        if value not in CONTROL_VALUES and not isinstance(value, bool):
            raise Mismatch(widget, value, f"one of {preview_choices(list(CONTROL_VALUES))}")


def preview_choices(choices: list, limit: int = 6) -> str:
    shown = ", ".join(repr(c) for c in choices[:limit])
    return f"[{shown}{', ...' if len(choices) > limit else ''}]"


def fill_widgets(widgets: list[Widget], values: list, skip_missing_extras: bool = False) -> None:
    """Assign ``values`` to the saved widgets in order, as the frontend's node configure does.

    With ``skip_missing_extras`` a control or upload widget whose saved value is not one it can
    hold is taken as absent from the file (canvases that did not have it) instead of consuming
    the value. Raises Mismatch on the first value that does not fit.
    """
    position = 0

    def assign(widget_list: list[Widget]) -> None:
        nonlocal position
        for widget in widget_list:
            if position >= len(values):
                return
            if not widget.saved:
                continue
            value = values[position]
            if skip_missing_extras and widget.kind in ("CONTROL", "FILTER", "UPLOAD"):
                fits = (value in CONTROL_VALUES or isinstance(value, bool)) if widget.kind == "CONTROL" else (
                    isinstance(value, str) if widget.kind == "FILTER" else value in UPLOAD_VALUES)
                if not fits:
                    continue
            check_value(widget, value)
            widget.value = value
            widget.from_file = True
            position += 1
            if widget.kind == DYNAMIC_COMBO:
                select_dynamic_option(widget, value)
                assign(widget.children)

    assign(widgets)
