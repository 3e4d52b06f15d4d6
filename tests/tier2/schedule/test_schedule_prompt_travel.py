"""Prompt travel with real ComfyUI CLIP models (seeded random weights): keyframes equal
CLIPTextEncode, blends cover tokens and pooled output, 77/154-token prompts mix, SDXL G/L."""
import pytest
import torch

pytestmark = pytest.mark.tier2

LONG_PROMPT = ", ".join(f"detail number {i}" for i in range(22))  # 75..150 tokens: two chunks
SCHEDULE = f'"0": "a cat --neg ugly",\n"4": "a dog",\n"-1": "{LONG_PROMPT}"'  # 9 frames: keys 0, 4, 8


class CountingClip:
    """Hands every call to a real CLIP and counts the tokenize and encode calls."""

    def __init__(self, clip):
        self.clip = clip
        self.tokenized = []
        self.encodes = 0

    def tokenize(self, text, *args, **kwargs):
        self.tokenized.append(text)
        return self.clip.tokenize(text, *args, **kwargs)

    def encode_from_tokens_scheduled(self, tokens, *args, **kwargs):
        self.encodes += 1
        return self.clip.encode_from_tokens_scheduled(tokens, *args, **kwargs)


def prompt_schedule(clip, text, max_frames, **inputs):
    """The Prompt Schedule node's (positive, negative, frame_prompts), run as ComfyUI runs a V3 node."""
    from steadyframe.nodes.schedule_nodes import SteadyFramePromptSchedule

    return SteadyFramePromptSchedule.execute(clip, text, max_frames, **inputs).args


def reference(clip, text):
    """What ComfyUI's own CLIPTextEncode gives: (cond (1, T, D), pooled (1, D))."""
    import nodes as comfy_nodes

    (conditioning,) = comfy_nodes.CLIPTextEncode().encode(clip, text)
    cond, extras = conditioning[0]
    return cond, extras["pooled_output"]


@pytest.fixture(scope="module")
def sd15(comfyui_root):
    from support.sd15_factory import make_sd15_clip

    clip = make_sd15_clip(0)
    counting = CountingClip(clip)
    positive, negative, described = prompt_schedule(counting, SCHEDULE, 9)
    refs = {text: reference(clip, text) for text in ("a cat", "a dog", LONG_PROMPT, "ugly", "")}
    return {"positive": positive, "negative": negative, "described": described, "refs": refs, "counting": counting}


def test_one_conditioning_per_frame_with_batched_pooled_output(sd15):
    (cond, extras), = sd15["positive"]
    assert cond.shape == (9, 154, 768)
    assert extras["pooled_output"].shape == (9, 768)
    (neg_cond, neg_extras), = sd15["negative"]
    assert neg_cond.shape == (9, 77, 768) and neg_extras["pooled_output"].shape == (9, 768)
    assert torch.isfinite(cond).all()


def test_keyframes_equal_clip_text_encode(sd15):
    (cond, extras), = sd15["positive"]
    pooled = extras["pooled_output"]
    refs = sd15["refs"]
    for frame, text in ((0, "a cat"), (4, "a dog"), (8, LONG_PROMPT)):
        ref_cond, ref_pooled = refs[text]
        tokens = ref_cond.shape[1]
        torch.testing.assert_close(cond[frame:frame + 1, :tokens], ref_cond, rtol=0, atol=1e-5)
        torch.testing.assert_close(pooled[frame:frame + 1], ref_pooled, rtol=0, atol=1e-5)
    # A 77-token keyframe in a 154-token batch repeats its chunk (attention-equivalent).
    torch.testing.assert_close(cond[0:1, 77:], refs["a cat"][0], rtol=0, atol=1e-5)


def test_midpoints_blend_tokens_and_pooled_output(sd15):
    (cond, extras), = sd15["positive"]
    pooled = extras["pooled_output"]
    cat_cond, cat_pooled = sd15["refs"]["a cat"]
    dog_cond, dog_pooled = sd15["refs"]["a dog"]
    long_cond, long_pooled = sd15["refs"][LONG_PROMPT]
    # Frame 2 sits half-way between keys 0 and 4; frame 5 a quarter of the way from 4 to 8.
    torch.testing.assert_close(cond[2:3, :77], 0.5 * cat_cond + 0.5 * dog_cond, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(pooled[2:3], 0.5 * cat_pooled + 0.5 * dog_pooled, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(pooled[2:3], dog_pooled, atol=1e-3), "pooled output must be blended, not copied"
    dog_154 = torch.cat([dog_cond, dog_cond], dim=1)
    torch.testing.assert_close(cond[5:6], 0.75 * dog_154 + 0.25 * long_cond, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(pooled[5:6], 0.75 * dog_pooled + 0.25 * long_pooled, rtol=1e-5, atol=1e-5)


def test_negative_output_follows_the_neg_parts(sd15):
    (neg_cond, neg_extras), = sd15["negative"]
    ugly_cond, ugly_pooled = sd15["refs"]["ugly"]
    empty_cond, empty_pooled = sd15["refs"][""]
    torch.testing.assert_close(neg_cond[0:1], ugly_cond, rtol=0, atol=1e-5)
    torch.testing.assert_close(neg_cond[4:5], empty_cond, rtol=0, atol=1e-5)
    torch.testing.assert_close(neg_cond[2:3], 0.5 * ugly_cond + 0.5 * empty_cond, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(neg_extras["pooled_output"][8:9], empty_pooled, rtol=0, atol=1e-5)


def test_each_unique_prompt_is_encoded_once(sd15):
    counting = sd15["counting"]
    assert counting.encodes == 5  # a cat, a dog, the long prompt; ugly and "" for the negative
    assert sorted(counting.tokenized) == sorted(["a cat", "a dog", LONG_PROMPT, "ugly", ""])
    assert "4: a dog" in sd15["described"].splitlines()


# -- SDXL ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sdxl(comfyui_root):
    from support.small_sdxl_clip import make_small_sdxl_clip

    return make_small_sdxl_clip(0)


def sdxl_reference(clip, text_g, text_l, size=(832, 640, 16, 8, 1024, 768)):
    from comfy_extras.nodes_clip_sdxl import CLIPTextEncodeSDXL

    (conditioning,) = CLIPTextEncodeSDXL.execute(clip, *size, text_g=text_g, text_l=text_l).args
    return conditioning[0]


SIZE_INPUTS = dict(zip(("width", "height", "crop_w", "crop_h", "target_width", "target_height"),
                       (832, 640, 16, 8, 1024, 768)))


def test_sdxl_keyframes_equal_clip_text_encode_sdxl_and_keep_size_keys(sdxl):
    (cond, extras), = prompt_schedule(
        sdxl, '"0": "a red fox", "4": "a blue bird"', 5, **SIZE_INPUTS)[0]
    assert cond.shape == (5, 77, 128) and extras["pooled_output"].shape == (5, 64)
    for frame, text in ((0, "a red fox"), (4, "a blue bird")):
        ref_cond, ref_extras = sdxl_reference(sdxl, text, text)
        torch.testing.assert_close(cond[frame:frame + 1], ref_cond, rtol=0, atol=1e-5)
        torch.testing.assert_close(extras["pooled_output"][frame:frame + 1], ref_extras["pooled_output"], rtol=0, atol=1e-5)
        for key, value in SIZE_INPUTS.items():
            assert extras[key] == ref_extras[key] == value


def test_sdxl_separate_l_schedule_blends_g_and_l_by_their_own_keys(sdxl):
    positive, _, _ = prompt_schedule(
        sdxl, '"0": "red", "4": "blue"', 5, text_l='"0": "cat", "2": "dog"', **SIZE_INPUTS)
    (cond, extras), = positive
    pooled = extras["pooled_output"]
    # Keyframe of both schedules: exactly CLIPTextEncodeSDXL with G and L texts.
    ref_cond, ref_extras = sdxl_reference(sdxl, "red", "cat")
    torch.testing.assert_close(cond[0:1], ref_cond, rtol=0, atol=1e-5)
    # Frame 1: G is a quarter of the way red -> blue, L half-way cat -> dog.
    # SDXL's cond is [CLIP-L (64) | CLIP-G (64)]; the pooled output comes from G alone.
    l_cat, l_dog = sdxl_reference(sdxl, "red", "cat")[0][..., :64], sdxl_reference(sdxl, "red", "dog")[0][..., :64]
    g_red, red_extras = sdxl_reference(sdxl, "red", "cat")
    g_blue, blue_extras = sdxl_reference(sdxl, "blue", "cat")
    torch.testing.assert_close(cond[1:2, :, :64], 0.5 * l_cat + 0.5 * l_dog, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(cond[1:2, :, 64:], 0.75 * g_red[..., 64:] + 0.25 * g_blue[..., 64:], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(pooled[1:2], 0.75 * red_extras["pooled_output"] + 0.25 * blue_extras["pooled_output"],
                               rtol=1e-5, atol=1e-5)
    # Frame 3: L has reached "dog" and holds; G is three quarters of the way.
    torch.testing.assert_close(cond[3:4, :, :64], l_dog, rtol=1e-5, atol=1e-5)


def test_separate_l_text_needs_a_dual_clip(comfyui_root):
    from support.sd15_factory import make_sd15_clip

    with pytest.raises(ValueError, match="text_l: a separate CLIP-L schedule needs an SDXL CLIP"):
        prompt_schedule(make_sd15_clip(0), '"0": "a"', 2, text_l='"0": "b"')


def test_cache_encodes_each_prompt_once_whatever_the_frame_count(sdxl):
    from steadyframe.comfy_glue.prompt_encode import PromptEncodeCache, build_conditioning
    from steadyframe.schedule import parse_prompt_schedule
    from steadyframe.schedule.conditioning import encoder_sides

    text = '"0": "a cat --neg blurry", "10": "a dog", "-1": "a fox"'
    for frames in (12, 48):
        counting = CountingClip(sdxl)
        positive, negative, _ = prompt_schedule(counting, text, frames, interpolation="slerp")
        assert positive[0][0].shape[0] == negative[0][0].shape[0] == frames
        assert counting.encodes == 5, frames  # 3 positive prompts; "blurry" and "" negative

    plan = parse_prompt_schedule(text).plan(48)
    cache = PromptEncodeCache(CountingClip(sdxl))
    build_conditioning(cache, encoder_sides(plan, False), None, "linear")
    # 48 frames use 2 + 2 * 37 + 1 ... lookups: every lookup after the first per prompt is a hit.
    lookups = sum(1 + (b.weight > 0) for b in plan.frames)
    assert (cache.stats.encodes, cache.stats.hits) == (3, lookups - 3)
    assert cache.clip.encodes == 3


def test_latent_sets_the_frame_count_and_slerp_stays_finite(sdxl):
    latent = {"samples": torch.zeros(7, 4, 8, 8)}
    (cond, extras), = prompt_schedule(
        sdxl, "best quality\n0: a cat\n6: a dog", 100, latent=latent, interpolation="slerp")[0]
    assert cond.shape[0] == extras["pooled_output"].shape[0] == 7
    assert torch.isfinite(cond).all() and torch.isfinite(extras["pooled_output"]).all()
    # Slerp keeps each token's length between the two keyframes' lengths (lerp would shrink it).
    ends = cond[[0, 6]].norm(dim=-1)
    middle = cond[3].norm(dim=-1)
    assert (middle >= ends.min(dim=0).values - 1e-4).all()


def test_schedule_error_is_a_value_error_with_line_and_column(sdxl):
    with pytest.raises(ValueError, match=r'Prompt schedule: text, line 2, col 7: expected "frame": "prompt"'):
        prompt_schedule(sdxl, '"0": "a cat",\n"12": a dog', 16)
