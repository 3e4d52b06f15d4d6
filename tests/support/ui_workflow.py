"""Checks of UI-format (litegraph 0.4) workflow nodes against a node class's INPUT_TYPES."""
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN"}


def widget_layout(input_types: dict):
    """``(widget names, extra values)``: extra counts the values the frontend stores after a widget
    (the control_after_generate mode of a seed, the upload button of a file combo)."""
    names = []
    extra = 0
    for section in ("required", "optional"):
        for name, spec in input_types.get(section, {}).items():
            kind = spec[0]
            options = spec[1] if len(spec) > 1 else {}
            if isinstance(kind, (list, tuple)) or kind == "COMBO" or (kind in WIDGET_TYPES and not options.get("forceInput")):
                names.append(name)
                extra += bool(options.get("control_after_generate"))
                extra += bool(options.get("video_upload") or options.get("image_upload"))
    return names, extra


def check_node(node: dict, input_types: dict, return_types) -> None:
    """Assert a workflow node's widgets, linked inputs and outputs fit the node class."""
    names, extra = widget_layout(input_types)
    assert len(node["widgets_values"]) == len(names) + extra, (node["type"], names, node["widgets_values"])
    all_inputs = {**input_types.get("required", {}), **input_types.get("optional", {})}
    for inp in node["inputs"]:
        spec = all_inputs.get(inp["name"])
        assert spec is not None, f"{node['type']} has no input {inp['name']}"
        if not isinstance(spec[0], (list, tuple)) and spec[0] != "COMBO":
            assert spec[0] == inp["type"], (node["type"], inp["name"], spec[0], inp["type"])
    # Outputs appended after a workflow was saved are fine (ComfyUI adds them when it loads the graph).
    outputs = [o["type"] for o in node["outputs"]]
    assert outputs == list(return_types)[:len(outputs)] and (outputs or not return_types), (node["type"], outputs)
