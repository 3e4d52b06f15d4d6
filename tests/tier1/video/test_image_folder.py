"""Load Images (Folder)'s pure part: natural order, glob, selection, alpha masks, 16-bit precision,
EXIF orientation, mixed sizes and unreadable files (files the tests write with Pillow and PyAV)."""
import os

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from steadyframe.chunking.plan import ChunkPlan
from steadyframe.video import image_folder
from steadyframe.video.image_folder import (
    folder_fingerprint,
    list_images,
    load_image_folder,
    load_images,
    natural_key,
    orient_array,
    select_images,
)
from support.image_files import add_png_orientation, level_image, write_16bit


def _levels(loaded) -> list[int]:
    """The flat level each loaded frame was written with."""
    return [round(float(frame.mean()) * 255) for frame in loaded.images]


@pytest.fixture
def numbered(tmp_path):
    """frame1..frame12.png (level 10 * n) plus files that must be left out."""
    for n in range(1, 13):
        level_image(10 * n).save(tmp_path / f"frame{n}.png")
    (tmp_path / "notes.txt").write_text("not an image")
    level_image(250).save(tmp_path / ".hidden.png")
    (tmp_path / "sub").mkdir()
    level_image(251).save(tmp_path / "sub" / "frame99.png")
    return tmp_path


def test_natural_order_numbers_by_value_and_ignores_case():
    names = ["frame10.png", "frame2.png", "Frame1.png", "frame02.png", "frame1b.png", "a.png"]
    assert sorted(names, key=natural_key) == ["a.png", "Frame1.png", "frame1b.png", "frame02.png", "frame2.png",
                                              "frame10.png"]


def test_listing_skips_hidden_subfolders_and_non_images(numbered):
    assert list_images(str(numbered)) == [f"frame{n}.png" for n in range(1, 13)]


def test_glob_pattern_matches_names_without_case(numbered):
    level_image(5).save(numbered / "OTHER_1.PNG")
    assert list_images(str(numbered), "frame1?.png") == ["frame10.png", "frame11.png", "frame12.png"]
    assert list_images(str(numbered), "other_*") == ["OTHER_1.PNG"]
    assert list_images(str(numbered), "*.txt") == []  # only image files count
    with pytest.raises(ValueError, match="must match file names inside the folder"):
        list_images(str(numbered), "sub/*.png")


def test_selection_skip_nth_cap():
    names = [f"f{i}" for i in range(10)]
    assert select_images(names, 2, 3, 0) == ["f2", "f5", "f8"]
    assert select_images(names, 2, 3, 2) == ["f2", "f5"]
    assert select_images(names, 0, 1, 4) == ["f0", "f1", "f2", "f3"]
    assert select_images(names, 12) == []
    with pytest.raises(ValueError, match="select_every_nth >= 1"):
        select_images(names, 0, 0)


def test_load_folder_in_natural_order_with_selection(numbered):
    calls = []
    loaded = load_image_folder(str(numbered), "*", image_load_cap=3, skip_first_images=1, select_every_nth=2,
                               on_image=lambda done, total: calls.append((done, total)))
    assert loaded.names == ["frame2.png", "frame4.png", "frame6.png"]
    assert _levels(loaded) == [20, 40, 60]
    assert loaded.images.shape == (3, 6, 8, 3) and loaded.images.dtype == torch.float32
    assert loaded.mask.shape == (3, 6, 8) and not loaded.mask.any()  # no alpha: zeros
    assert calls == [(1, 3), (2, 3), (3, 3)]


def test_skipped_files_are_never_decoded(numbered):
    # Unreadable files at positions the selection leaves out do not stop the load.
    for n in (1, 3, 5, 7, 9, 11):
        (numbered / f"frame{n}.png").write_bytes(b"garbage, not a png")
    loaded = load_image_folder(str(numbered), skip_first_images=1, select_every_nth=2)
    assert _levels(loaded) == [20, 40, 60, 80, 100, 120]


def test_chunk_range_of_the_selection(numbered):
    plan = ChunkPlan(total_frames=6, chunk_frames=4, overlap=1)  # the selection below has 6 frames
    chunk = plan.chunk(1)
    loaded = load_image_folder(str(numbered), select_every_nth=2, first=chunk.first, end=chunk.end)
    # selection: frame1,3,5,7,9,11; chunk 1 re-reads frame 3 (7) then the new 4..5 (9, 11)
    assert loaded.names == ["frame7.png", "frame9.png", "frame11.png"]
    with pytest.raises(ValueError, match="selection holds 6 images"):
        load_image_folder(str(numbered), select_every_nth=2, first=4, end=8)


def test_alpha_becomes_one_minus_alpha(tmp_path):
    rgba = np.zeros((4, 5, 4), dtype=np.uint8)
    rgba[..., 0] = 200
    rgba[..., 3] = np.arange(20, dtype=np.uint8).reshape(4, 5) * 13
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a1.png")
    palette = Image.new("P", (5, 4), 0)
    palette.putpalette([0, 0, 0, 255, 0, 0])
    palette.putpixel((1, 1), 1)
    palette.save(tmp_path / "a2.png", transparency=0)  # index 0 transparent
    loaded = load_image_folder(str(tmp_path))
    expected = 1.0 - torch.from_numpy(rgba[..., 3].astype(np.float32)) / 255
    assert torch.allclose(loaded.mask[0], expected, atol=1e-6)
    assert torch.allclose(loaded.images[0, ..., 0], torch.full((4, 5), 200 / 255), atol=1e-6)
    assert loaded.mask[1, 1, 1] == 0 and loaded.mask[1, 0, 0] == 1
    assert loaded.images[1, 1, 1, 0] == 1


def test_16bit_png_and_tiff_keep_their_precision(tmp_path):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 65536, (6, 8, 3), dtype=np.uint16)
    write_16bit(str(tmp_path / "a.png"), rgb)
    write_16bit(str(tmp_path / "b.tif"), rgb, codec="tiff")
    write_16bit(str(tmp_path / "c.png"), rgb[..., 0])  # 16-bit grey
    rgba = np.dstack([rgb, rng.integers(0, 65536, (6, 8), dtype=np.uint16)])
    write_16bit(str(tmp_path / "d.png"), rgba)
    loaded = load_image_folder(str(tmp_path))
    truth = torch.from_numpy(rgb.astype(np.float32)) / 65535
    for index in (0, 1, 3):
        assert torch.allclose(loaded.images[index], truth, atol=1e-6), loaded.names[index]
    assert torch.allclose(loaded.images[2], truth[..., :1].expand(6, 8, 3), atol=1e-6)
    # more than 8 bits survive: the values are not all on the 1/255 grid
    assert (loaded.images[0] * 255 - (loaded.images[0] * 255).round()).abs().max() > 0.1
    assert torch.allclose(loaded.mask[3], 1 - torch.from_numpy(rgba[..., 3].astype(np.float32)) / 65535, atol=1e-6)
    assert not loaded.mask[:3].any()


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orient_array_matches_pillow_exif_transpose(tmp_path, orientation):
    pixels = np.arange(3 * 5 * 3, dtype=np.uint8).reshape(3, 5, 3)
    path = tmp_path / "o.png"
    Image.fromarray(pixels).save(path)
    add_png_orientation(str(path), orientation)
    with Image.open(path) as opened:
        expected = np.asarray(ImageOps.exif_transpose(opened).convert("RGB"))
    assert np.array_equal(orient_array(pixels, orientation), expected)


def test_exif_orientation_applied_on_both_paths(tmp_path):
    pixels8 = np.arange(3 * 5 * 3, dtype=np.uint8).reshape(3, 5, 3)
    Image.fromarray(pixels8).save(tmp_path / "a.png")
    add_png_orientation(str(tmp_path / "a.png"), 6)  # stored 5 wide, shown 3 wide
    pixels16 = pixels8.astype(np.uint16) * 257 + 1
    write_16bit(str(tmp_path / "b.png"), pixels16)
    add_png_orientation(str(tmp_path / "b.png"), 6)
    loaded = load_image_folder(str(tmp_path))
    assert loaded.images.shape == (2, 5, 3, 3)
    upright = np.rot90(pixels8, -1).astype(np.float32)
    assert torch.allclose(loaded.images[0], torch.from_numpy(upright / 255), atol=1e-6)
    assert torch.allclose(loaded.images[1], torch.from_numpy((upright * 257 + 1) / 65535), atol=1e-6)


def test_mixed_sizes_are_refused_with_both_files_named(tmp_path):
    level_image(10, (8, 6)).save(tmp_path / "f1.png")
    level_image(10, (8, 6)).save(tmp_path / "f2.jpg")
    level_image(10, (16, 6)).save(tmp_path / "f3.webp")
    with pytest.raises(ValueError, match=r"'f3.webp' is 16x6 but 'f1.png' is 8x6"):
        load_image_folder(str(tmp_path))
    assert load_image_folder(str(tmp_path), image_load_cap=2).images.shape == (2, 6, 8, 3)


def test_unreadable_and_truncated_files_are_named(tmp_path):
    level_image(10).save(tmp_path / "f1.png")
    (tmp_path / "f2.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(ValueError, match=r"f2.png is not a readable image"):
        load_image_folder(str(tmp_path))
    big = Image.fromarray(np.random.default_rng(1).integers(0, 255, (6, 8, 3), dtype=np.uint8))
    big.save(tmp_path / "f2.png")
    data = (tmp_path / "f2.png").read_bytes()
    (tmp_path / "f2.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"f2.png could not be decoded"):
        load_image_folder(str(tmp_path))


def test_empty_selection_and_missing_folder_are_explained(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        load_image_folder(str(tmp_path / "nowhere"))
    with pytest.raises(ValueError, match="no image files matching"):
        load_image_folder(str(tmp_path))
    level_image(10).save(tmp_path / "f1.png")
    with pytest.raises(ValueError, match="leaves none"):
        load_image_folder(str(tmp_path), skip_first_images=3)


def test_files_linked_out_of_the_permitted_roots_are_refused(tmp_path):
    folder = tmp_path / "input" / "frames"
    folder.mkdir(parents=True)
    level_image(10).save(folder / "f1.png")
    level_image(20).save(tmp_path / "secret.png")
    os.symlink(tmp_path / "secret.png", folder / "f2.png")
    with pytest.raises(ValueError, match=r"'f2.png' .* resolves to .*secret.png, outside the permitted folders"):
        load_images(str(folder), ["f1.png", "f2.png"], allowed_roots=[str(tmp_path / "input")])
    assert _levels(load_images(str(folder), ["f1.png", "f2.png"], allowed_roots=[str(tmp_path)])) == [10, 20]


def test_fingerprint_follows_the_files(numbered):
    first = folder_fingerprint(str(numbered))
    assert folder_fingerprint(str(numbered)) == first
    level_image(99).save(numbered / "frame3.png")
    os.utime(numbered / "frame3.png", ns=(1, 1))
    assert folder_fingerprint(str(numbered)) != first
    assert folder_fingerprint(str(numbered), "frame1?.png") != folder_fingerprint(str(numbered))


def test_extensions_are_those_pillow_reads():
    assert {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"} <= set(image_folder.IMAGE_EXTENSIONS)
    assert (".exr" in image_folder.IMAGE_EXTENSIONS) == (".exr" in Image.registered_extensions())


def test_phone_jpeg_orientation_turns_the_frame(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 8  # stored landscape, shown turned a quarter counter-clockwise
    image = Image.new("RGB", (16, 8), (0, 0, 0))
    image.paste((255, 255, 255), (0, 0, 8, 8))  # left half white
    image.save(tmp_path / "p.jpg", exif=exif, quality=95)
    loaded = load_image_folder(str(tmp_path))
    assert loaded.images.shape == (1, 16, 8, 3)
    # rotating 90 degrees counter-clockwise puts the stored left half at the bottom
    assert float(loaded.images[0, 12:].mean()) > 0.9 and float(loaded.images[0, :4].mean()) < 0.1
