"""The path rule (video/paths.py): names are resolved (symlinks, '..') before they are checked against
the permitted folders; nothing outside them is allowed unless a folder is listed."""
import os

import pytest

from steadyframe.video.paths import containing_root, resolve_allowed


@pytest.fixture
def tree(tmp_path):
    """input/ (clip.mp4, frames/), footage/ (a listed root, with a.mp4), elsewhere/ (secret.mp4), and
    footage_extra/ whose name starts like footage/."""
    for folder in ("input/frames", "footage/shots", "elsewhere", "footage_extra"):
        (tmp_path / folder).mkdir(parents=True)
    for name in ("input/clip.mp4", "footage/a.mp4", "footage/shots/b.mp4", "elsewhere/secret.mp4",
                 "footage_extra/c.mp4"):
        (tmp_path / name).write_bytes(b"x")
    return tmp_path


def test_relative_names_inside_the_base_folder(tree):
    base = str(tree / "input")
    assert resolve_allowed("clip.mp4", base) == str(tree / "input" / "clip.mp4")
    assert resolve_allowed("frames", base, expect="folder") == str(tree / "input" / "frames")
    assert resolve_allowed("frames/../clip.mp4", base) == str(tree / "input" / "clip.mp4")


@pytest.mark.parametrize("name", ["../elsewhere/secret.mp4", "frames/../../elsewhere/secret.mp4"])
def test_dot_dot_out_of_the_base_is_refused(tree, name):
    with pytest.raises(ValueError, match="outside the permitted folders.*refused"):
        resolve_allowed(name, str(tree / "input"))


def test_absolute_paths_are_not_allowed_by_default(tree):
    with pytest.raises(ValueError, match=r"secret.mp4.*refused\. list it"):
        resolve_allowed(str(tree / "elsewhere" / "secret.mp4"), str(tree / "input"), hint="list it")
    with pytest.raises(ValueError, match="refused"):
        resolve_allowed(str(tree / "footage" / "a.mp4"), str(tree / "input"))
    # an absolute path into the base folder itself is fine
    assert resolve_allowed(str(tree / "input" / "clip.mp4"), str(tree / "input")) == str(tree / "input" / "clip.mp4")


def test_absolute_paths_under_a_listed_root_are_allowed(tree):
    roots = [str(tree / "footage")]
    for name in ("footage/a.mp4", "footage/shots/b.mp4"):
        assert resolve_allowed(str(tree / name), str(tree / "input"), roots) == str(tree / name)
    assert resolve_allowed(str(tree / "footage" / "shots"), str(tree / "input"), roots, expect="folder")
    # a relative name that resolves into a listed root is judged by where it lands
    assert resolve_allowed("../footage/a.mp4", str(tree / "input"), roots) == str(tree / "footage" / "a.mp4")
    # a folder whose name merely starts like the listed root is not under it
    with pytest.raises(ValueError, match="refused"):
        resolve_allowed(str(tree / "footage_extra" / "c.mp4"), str(tree / "input"), roots)
    with pytest.raises(ValueError, match="refused"):
        resolve_allowed(str(tree / "footage" / ".." / "elsewhere" / "secret.mp4"), str(tree / "input"), roots)


def test_symlinks_are_resolved_before_the_check(tree):
    os.symlink(tree / "elsewhere" / "secret.mp4", tree / "input" / "link.mp4")
    os.symlink(tree / "elsewhere", tree / "input" / "linked_dir")
    os.symlink(tree / "elsewhere", tree / "footage" / "escape")
    roots = [str(tree / "footage")]
    for name in ("link.mp4", "linked_dir/secret.mp4", str(tree / "input" / "link.mp4"),
                 str(tree / "footage" / "escape" / "secret.mp4")):
        with pytest.raises(ValueError, match=r"resolves to .*elsewhere.*refused"):
            resolve_allowed(name, str(tree / "input"), roots)
    # a listed root reached through a link is still that root
    os.symlink(tree / "footage", tree / "footage_link")
    assert resolve_allowed(str(tree / "footage" / "a.mp4"), str(tree / "input"), [str(tree / "footage_link")])
    # and a link inside input/ pointing into a listed root is allowed (it lands there)
    os.symlink(tree / "footage" / "a.mp4", tree / "input" / "to_footage.mp4")
    assert resolve_allowed("to_footage.mp4", str(tree / "input"), roots) == str(tree / "footage" / "a.mp4")


def test_missing_wrong_kind_and_invalid_names(tree):
    base = str(tree / "input")
    with pytest.raises(ValueError, match="not found"):
        resolve_allowed("missing.mp4", base)
    with pytest.raises(ValueError, match="is not a folder"):
        resolve_allowed("clip.mp4", base, expect="folder", what="image folder")
    with pytest.raises(ValueError, match="is not a file"):
        resolve_allowed("frames", base)
    for bad in ("", "a\x00b"):
        with pytest.raises(ValueError, match="empty or invalid"):
            resolve_allowed(bad, base)


def test_containing_root_names_the_first_root(tree):
    roots = [str(tree / "input"), str(tree / "footage")]
    assert containing_root(str(tree / "footage" / "a.mp4"), roots) == str(tree / "footage")
    assert containing_root(str(tree / "elsewhere" / "secret.mp4"), roots) is None
    assert containing_root(str(tree / "input"), roots) == str(tree / "input")
