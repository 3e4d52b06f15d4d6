"""The pack's V3 extension follows the naming rules every issue relies on (tier 2: the node
declarations need ComfyUI's comfy_api)."""
import asyncio
import importlib
import pkgutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.tier2


@pytest.fixture(scope="module")
def pack_nodes(comfyui_root):
    return importlib.import_module("steadyframe.nodes")


def test_entrypoint_returns_the_extension_with_every_node(pack_nodes):
    from comfy_api.v0_0_2 import ComfyExtension

    import steadyframe

    extension = asyncio.run(steadyframe.comfy_entrypoint())
    assert isinstance(extension, ComfyExtension)
    listed = asyncio.run(extension.get_node_list())
    assert listed == pack_nodes.node_classes()
    assert len({cls.GET_SCHEMA().node_id for cls in listed}) == len(listed) == 19


def test_node_naming(pack_nodes):
    from comfy_api.v0_0_2 import io

    for cls in pack_nodes.node_classes():
        schema = cls.GET_SCHEMA()
        assert issubclass(cls, io.ComfyNode)
        assert cls.__name__ == schema.node_id, "the class is named after its node id"
        assert schema.node_id.startswith("SteadyFrame"), schema.node_id
        assert schema.display_name and not schema.display_name.startswith("SteadyFrame"), \
            f"{schema.node_id} needs a natural display name"
        assert schema.category.startswith("SteadyFrame/"), f"{schema.node_id}: category {schema.category!r}"
        assert schema.description, f"{schema.node_id} has no description"


def test_every_node_module_is_registered_and_declares_only_nodes(pack_nodes):
    folder = Path(pack_nodes.__file__).parent
    node_modules = {m.name for m in pkgutil.iter_modules([str(folder)]) if m.name.endswith("_nodes")}
    assert node_modules == set(pack_nodes.NODE_MODULES)
    for name in pack_nodes.NODE_MODULES:
        module = importlib.import_module(f"steadyframe.nodes.{name}")
        assert module.NODES, f"nodes/{name}.py lists no NODES"


def test_a_node_id_declared_twice_is_refused(pack_nodes, monkeypatch):
    monkeypatch.setattr(pack_nodes, "NODE_MODULES", pack_nodes.NODE_MODULES + (pack_nodes.NODE_MODULES[0],))
    with pytest.raises(RuntimeError, match="declared in nodes/.* and again"):
        pack_nodes.node_classes()
