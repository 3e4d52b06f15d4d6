"""Per-frame conditioning batches from encoded prompts (encodings made up here; the real CLIP is tier 2)."""
import pytest
import torch

from steadyframe.schedule import parse_prompt_schedule
from steadyframe.schedule.conditioning import (
    EncoderSide,
    batch_conditioning,
    encoder_sides,
    prompt_keys,
    prompt_keys_per_frame,
)

DIM = 8


def encoding(seed, tokens=77, **extras):
    """One prompt's encoding as ComfyUI's CLIP returns it: [[cond (1, T, D), {pooled_output (1, D), ...}]]."""
    generator = torch.Generator().manual_seed(seed)
    cond = torch.randn(1, tokens, DIM, generator=generator)
    return [[cond, {"pooled_output": torch.randn(1, DIM, generator=generator), **extras}]]


def cond_of(encoded):
    return encoded[0][0]


def pooled_of(encoded):
    return encoded[0][1]["pooled_output"]


def test_prompt_keys_list_only_what_a_frame_blends():
    assert prompt_keys(EncoderSide("a", None, 0.0), None) == [("a", None)]
    assert prompt_keys(EncoderSide("a", "b", 0.0), None) == [("a", None)]  # weight 0: b is not needed
    assert prompt_keys(EncoderSide("a", "b", 0.5), None) == [("a", None), ("b", None)]
    assert prompt_keys(EncoderSide("a", "b", 0.5), EncoderSide("x", "y", 0.25)) == [
        ("a", "x"), ("a", "y"), ("b", "x"), ("b", "y")]
    assert prompt_keys(EncoderSide("a", "b", 0.5), EncoderSide("x", None, 0.0)) == [("a", "x"), ("b", "x")]


def test_encoder_sides_follow_the_plan():
    plan = parse_prompt_schedule('"0": "a --neg n", "2": "b"').plan(3)
    assert encoder_sides(plan, False) == [EncoderSide("a", None, 0.0), EncoderSide("a", "b", 0.5),
                                          EncoderSide("b", None, 0.0)]
    assert encoder_sides(plan, True) == [EncoderSide("n", None, 0.0), EncoderSide("n", "", 0.5),
                                         EncoderSide("", None, 0.0)]


def test_keyframes_are_their_encodings_and_frames_between_blend():
    plan = parse_prompt_schedule('"0": "a", "4": "b"').plan(5)
    a, b = encoding(1), encoding(2)
    (cond, extras), = batch_conditioning({("a", None): a, ("b", None): b}, encoder_sides(plan, False), None, "linear")
    assert cond.shape == (5, 77, DIM) and extras["pooled_output"].shape == (5, DIM)
    assert torch.equal(cond[0:1], cond_of(a)) and torch.equal(cond[4:5], cond_of(b))
    torch.testing.assert_close(cond[1:2], 0.75 * cond_of(a) + 0.25 * cond_of(b))
    torch.testing.assert_close(extras["pooled_output"][2:3], 0.5 * pooled_of(a) + 0.5 * pooled_of(b))


def test_shorter_prompts_repeat_their_chunks_to_the_longest_used_prompt():
    plan = parse_prompt_schedule('"0": "short", "2": "long"').plan(3)
    short, long = encoding(1), encoding(2, tokens=154)
    unused = encoding(3, tokens=231)  # e.g. a negative prompt: it must not lengthen the positive batch
    encodings = {("short", None): short, ("long", None): long, ("unused", None): unused}
    (cond, _), = batch_conditioning(encodings, encoder_sides(plan, False), None, "linear")
    assert cond.shape == (3, 154, DIM)
    assert torch.equal(cond[0:1, :77], cond_of(short)) and torch.equal(cond[0:1, 77:], cond_of(short))
    short_154 = torch.cat([cond_of(short)] * 2, dim=1)
    torch.testing.assert_close(cond[1:2], 0.5 * short_154 + 0.5 * cond_of(long))


def test_separate_l_schedule_blends_along_g_then_along_l():
    g_plan = parse_prompt_schedule('"0": "red", "4": "blue"').plan(5)
    l_plan = parse_prompt_schedule('"0": "cat", "2": "dog"').plan(5)
    pairs = [(g, l) for g in ("red", "blue") for l in ("cat", "dog")]
    encodings = {pair: encoding(seed) for seed, pair in enumerate(pairs)}
    g_sides, l_sides = encoder_sides(g_plan, False), encoder_sides(l_plan, False)
    assert prompt_keys_per_frame(g_sides, l_sides)[1] == pairs
    (cond, extras), = batch_conditioning(encodings, g_sides, l_sides, "linear")

    def at(g, l, part):
        return part(encodings[(g, l)])

    # frame 1: G a quarter of the way red -> blue, L half-way cat -> dog
    for part, out in ((cond_of, cond[1:2]), (pooled_of, extras["pooled_output"][1:2])):
        with_cat = 0.75 * at("red", "cat", part) + 0.25 * at("blue", "cat", part)
        with_dog = 0.75 * at("red", "dog", part) + 0.25 * at("blue", "dog", part)
        torch.testing.assert_close(out, 0.5 * with_cat + 0.5 * with_dog)
    # frame 3: L holds "dog", G three quarters of the way
    torch.testing.assert_close(cond[3:4], 0.25 * at("red", "dog", cond_of) + 0.75 * at("blue", "dog", cond_of))
    assert torch.equal(cond[0:1], at("red", "cat", cond_of))


def test_slerp_keyframes_stay_exact():
    plan = parse_prompt_schedule('"0": "a", "2": "b"').plan(3, interpolation="slerp")
    a, b = encoding(1), encoding(2)
    (cond, _), = batch_conditioning({("a", None): a, ("b", None): b}, encoder_sides(plan, False), None, "slerp")
    assert torch.equal(cond[0:1], cond_of(a)) and torch.equal(cond[2:3], cond_of(b))
    assert not torch.allclose(cond[1:2], 0.5 * cond_of(a) + 0.5 * cond_of(b))


def test_extras_shared_by_all_prompts_are_kept_once():
    plan = parse_prompt_schedule('"0": "a", "1": "b"').plan(2)
    sides = encoder_sides(plan, False)
    same = torch.ones(1, 2)
    encodings = {("a", None): encoding(1, width=832, mask=same), ("b", None): encoding(2, width=832, mask=same.clone())}
    (_, extras), = batch_conditioning(encodings, sides, None, "linear")
    assert extras["width"] == 832 and torch.equal(extras["mask"], same)
    encodings[("b", None)] = encoding(2, width=832, mask=torch.zeros(1, 2))
    with pytest.raises(ValueError, match="per-prompt 'mask', which prompt travel cannot batch"):
        batch_conditioning(encodings, sides, None, "linear")


def test_no_pooled_output_when_a_prompt_has_none():
    plan = parse_prompt_schedule('"0": "a", "1": "b"').plan(2)
    b = encoding(2)
    del b[0][1]["pooled_output"]
    (cond, extras), = batch_conditioning({("a", None): encoding(1), ("b", None): b}, encoder_sides(plan, False), None,
                                         "linear")
    assert cond.shape[0] == 2 and "pooled_output" not in extras


def test_scheduled_hooks_give_one_batch_per_entry_and_must_agree():
    plan = parse_prompt_schedule('"0": "a", "2": "b"').plan(3)
    sides = encoder_sides(plan, False)
    two_entries = {key: encoding(seed) + encoding(seed + 10) for seed, key in enumerate([("a", None), ("b", None)])}
    output = batch_conditioning(two_entries, sides, None, "linear")
    assert len(output) == 2
    torch.testing.assert_close(output[1][0][1:2], 0.5 * cond_of(encoding(10)) + 0.5 * cond_of(encoding(11)))
    two_entries[("b", None)] = encoding(1)
    with pytest.raises(RuntimeError, match="different number of scheduled conditionings"):
        batch_conditioning(two_entries, sides, None, "linear")
