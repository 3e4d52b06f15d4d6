"""The pack's node registry follows the naming rules every issue relies on."""
import importlib

import pytest

import steadyframe

pack_nodes = importlib.import_module("steadyframe.nodes")


def test_pack_exports_what_comfyui_reads():
    assert isinstance(steadyframe.NODE_CLASS_MAPPINGS, dict)
    assert isinstance(steadyframe.NODE_DISPLAY_NAME_MAPPINGS, dict)
    assert steadyframe.WEB_DIRECTORY == "./web"


@pytest.mark.parametrize("node_id", sorted(steadyframe.NODE_CLASS_MAPPINGS))
def test_node_naming(node_id):
    cls = steadyframe.NODE_CLASS_MAPPINGS[node_id]
    assert node_id.startswith("SteadyFrame"), node_id
    display = steadyframe.NODE_DISPLAY_NAME_MAPPINGS.get(node_id)
    assert display and not display.startswith("SteadyFrame"), f"{node_id} needs a natural display name"
    assert cls.CATEGORY.startswith("SteadyFrame/"), f"{node_id}: category {cls.CATEGORY!r}"
    assert callable(getattr(cls, cls.FUNCTION)), f"{node_id}: FUNCTION {cls.FUNCTION!r} is not a method"
    inputs = cls.INPUT_TYPES()
    assert set(inputs) <= {"required", "optional", "hidden"}, f"{node_id}: {set(inputs)}"
    assert len(cls.RETURN_TYPES) == len(getattr(cls, "RETURN_NAMES", cls.RETURN_TYPES))


def test_every_registered_module_is_listed():
    import pkgutil
    from pathlib import Path

    folder = Path(pack_nodes.__file__).parent
    node_modules = {m.name for m in pkgutil.iter_modules([str(folder)]) if m.name.endswith("_nodes")}
    assert node_modules == set(pack_nodes.NODE_MODULES)
