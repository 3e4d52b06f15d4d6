"""AnimateDiff chunk seams: the Seam Anchor keeps finished latents, Keyframe Latents pins the next chunk on them."""
import pytest
import torch

from steadyframe.chunking import ChunkPlan
from steadyframe.comfy_glue.keyframe_latents import (
    blend_keyframe_latent_dicts,
    chunk_keyframe_latent_dicts,
    save_seam_anchor,
)
from steadyframe.motion.chunk_seam import (
    anchor_latents,
    combined_noise_mask,
    crossfade_lead,
    seam_ramp,
    settle_look,
    settle_weights,
)


def test_the_ramp_falls_linearly_to_zero_after_blend_frames():
    assert torch.allclose(seam_ramp(6, 3, 0.8), torch.tensor([0.6, 0.4, 0.2, 0.0, 0.0, 0.0]))
    assert torch.equal(seam_ramp(3, 0, 1.0), torch.zeros(3))
    with pytest.raises(ValueError, match="blend_strength must be between 0 and 1"):
        seam_ramp(3, 2, 1.5)


def test_anchoring_pins_the_lead_and_blends_the_last_finished_latent_into_new_frames():
    latents = torch.zeros(6, 4, 2, 3)
    anchors = torch.arange(3, dtype=torch.float32).view(3, 1, 1, 1).expand(3, 4, 2, 3) + 1.0  # values 1, 2, 3
    out, mask = anchor_latents(latents, anchors, lead=2, blend_frames=2, blend_strength=0.9)
    assert torch.equal(out[:2], anchors[1:])                      # the lead = the last two finished latents
    assert torch.allclose(out[2:, 0, 0, 0], torch.tensor([0.6 * 3, 0.3 * 3, 0.0, 0.0]))
    assert mask.tolist() == [0.0, 0.5, 1.0, 1.0, 1.0, 1.0]       # oldest lead frame held, newest half free
    with pytest.raises(ValueError, match="kept 3 finished latent.s. but this chunk re-reads 4"):
        anchor_latents(torch.zeros(6, 4, 2, 3), anchors, lead=4)


def test_the_overlap_fades_from_the_finished_frames_into_the_regenerated_ones():
    sampled = torch.full((5, 4, 2, 2), 10.0)
    anchors = torch.zeros(3, 4, 2, 2)
    out = crossfade_lead(sampled, anchors, lead=3)
    assert torch.allclose(out[:, 0, 0, 0], torch.tensor([2.5, 5.0, 7.5, 10.0, 10.0]))
    assert crossfade_lead(sampled, anchors, lead=0) is sampled


def test_an_existing_noise_mask_is_kept_inside_the_free_frames():
    latents = torch.zeros(4, 4, 2, 2)
    existing = torch.tensor([[[1.0, 0.0], [1.0, 1.0]]])  # (1, 2, 2): one mask for every frame
    mask = combined_noise_mask(torch.tensor([0.0, 1.0, 1.0, 1.0]), latents, existing)
    assert mask.shape == (4, 1, 2, 2)
    assert torch.equal(mask[0], torch.zeros(1, 2, 2)) and torch.equal(mask[3, 0], existing[0])


def latent(frames, value=0.0):
    return {"samples": torch.full((frames, 4, 2, 2), value)}


def test_chained_chunks_hand_their_finished_overlap_to_the_next(tmp_path):
    plan = ChunkPlan(total_frames=20, chunk_frames=8, overlap=3)
    first, second = plan.chunk(0, "job", str(tmp_path)), plan.chunk(1, "job", str(tmp_path))
    start = {"samples": torch.full((1, 4, 2, 2), 5.0)}
    out0 = chunk_keyframe_latent_dicts(latent(first.frames), first, start, start_strength=1.0, scale=4.0)
    assert "noise_mask" not in out0                                # nothing to pin in the first chunk
    finished = {"samples": torch.arange(8, dtype=torch.float32).view(8, 1, 1, 1).expand(8, 4, 2, 2).clone()}
    kept, write0 = save_seam_anchor(finished, first, blend_frames=2, blend_strength=0.6)
    assert kept is finished and (write0.first_new, write0.end, write0.lead) == (0, 5, 0)  # frames 5..7 left to chunk 1
    out1 = chunk_keyframe_latent_dicts(latent(second.frames), second, start, start_strength=1.0, scale=4.0)
    assert torch.equal(out1["samples"][:3], finished["samples"][5:])   # frames 5, 6, 7 anchored
    assert torch.allclose(out1["samples"][3:6, 0, 0, 0], torch.tensor([0.4 * 7, 0.2 * 7, 0.0]))
    assert out1["noise_mask"].shape == (11, 1, 2, 2)
    assert torch.allclose(out1["noise_mask"][:, 0, 0, 0], torch.tensor([0, 1 / 3, 2 / 3] + [1.0] * 8))
    sampled1 = {"samples": torch.full((11, 4, 2, 2), 9.0)}
    blended, write1 = save_seam_anchor(sampled1, second)
    assert torch.allclose(blended["samples"][:4, 0, 0, 0], torch.tensor([0.25 * 9 + 0.75 * 5, 0.5 * 9 + 0.5 * 6,
                                                                         0.75 * 9 + 0.25 * 7, 9.0]))
    assert (write1.first_new, write1.end, write1.lead) == (5, 13, 0)   # the blended overlap, then up to 13
    last = plan.chunk(2, "job", str(tmp_path))
    _, write2 = save_seam_anchor({"samples": torch.zeros(last.frames, 4, 2, 2)}, last)
    assert (write2.first_new, write2.end) == (13, 20) and write2.is_last


def test_start_and_end_keyframes_sit_at_the_whole_videos_ends(tmp_path):
    plan = ChunkPlan(total_frames=10, chunk_frames=4, overlap=1)
    video = {"samples": torch.randn(10, 4, 2, 2)}
    start, end = {"samples": torch.randn(1, 4, 2, 2)}, {"samples": torch.randn(1, 4, 2, 2)}
    whole = blend_keyframe_latent_dicts(video, start, end, power=1.0, scale=5.0)["samples"]
    for index in range(plan.count):
        chunk = plan.chunk(index, "job", str(tmp_path))
        part = {"samples": video["samples"][chunk.first:chunk.end]}
        out = chunk_keyframe_latent_dicts(part, chunk, start, end, power=1.0, scale=5.0)
        assert "noise_mask" not in out                              # no anchor node in this workflow
        assert torch.allclose(out["samples"], whole[chunk.first:chunk.end])


def test_a_missing_anchor_after_the_anchor_ran_names_the_chunk_to_rerun(tmp_path):
    plan = ChunkPlan(total_frames=20, chunk_frames=8, overlap=2)
    save_seam_anchor(latent(8), plan.chunk(0, "job", str(tmp_path)))
    third = plan.chunk(2, "job", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="run the chain again from chunk 1"):
        chunk_keyframe_latent_dicts(latent(third.frames), third)
    with pytest.raises(ValueError, match="covers 10 frames"):
        save_seam_anchor(latent(8), plan.chunk(1, "job", str(tmp_path)))
    with pytest.raises(FileNotFoundError, match="run the chain again from chunk 1"):
        save_seam_anchor(latent(third.frames), third)


def test_settle_weights_follow_the_lead_freedom_then_fade_over_settle_frames():
    assert torch.allclose(settle_weights(8, 4, 3), torch.tensor([0.0, 0.25, 0.5, 0.75, 0.75, 0.5, 0.25, 0.0]))
    with pytest.raises(ValueError, match="settle_frames must be 0 or more"):
        settle_weights(8, 4, -1)


def test_settling_moves_the_coarse_look_and_leaves_fine_detail():
    lead, frames = 4, 10
    anchors = torch.zeros(lead, 4, 16, 16)
    checker = ((torch.arange(16).view(-1, 1) + torch.arange(16).view(1, -1)) % 2).float() - 0.5  # 1-pixel detail
    sampled = torch.full((frames, 4, 16, 16), 2.0) + checker
    out = settle_look(sampled, anchors, lead, settle_frames=3)
    change = out - sampled
    assert torch.allclose(change, change[:, :, :1, :1].expand_as(change), atol=1e-6)  # one offset per frame: no detail
    assert torch.allclose(change[:, 0, 0, 0], -2.0 * settle_weights(frames, lead, 3), atol=1e-6)
    assert torch.allclose(out[lead] - checker, torch.full((4, 16, 16), 0.5))  # first new frame: 2 - 2 * 0.75
    assert settle_look(sampled, anchors, lead, 0) is sampled
    assert settle_look(sampled, anchors[:1], 1, 5) is sampled  # a single held lead frame shows no difference


def test_the_seam_anchor_settles_before_the_crossfade_only_when_asked(tmp_path):
    plan = ChunkPlan(total_frames=20, chunk_frames=8, overlap=3)
    first, second = plan.chunk(0, "job", str(tmp_path)), plan.chunk(1, "job", str(tmp_path))
    save_seam_anchor(latent(first.frames, 1.0), first)
    sampled = {"samples": torch.full((second.frames, 4, 2, 2), 4.0)}
    plain, _ = save_seam_anchor(sampled, second)
    settled, _ = save_seam_anchor(sampled, second, settle_frames=4)
    # correction: (1 - 4) weighted by freedom 0, 1/3, 2/3 over the lead = -3, then fading over 4 new frames
    expected = 4.0 - 3.0 * settle_weights(second.frames, 3, 4)
    assert torch.allclose(settled["samples"][3:, 0, 0, 0], expected[3:])
    assert torch.allclose(plain["samples"][3:, 0, 0, 0], torch.full((8,), 4.0))
    fade = torch.tensor([0.25, 0.5, 0.75])
    assert torch.allclose(settled["samples"][:3, 0, 0, 0], (1 - fade) * 1.0 + fade * expected[:3])
    with pytest.raises(ValueError, match="settle_frames must be 0 or more, got -2"):
        save_seam_anchor(sampled, second, settle_frames=-2)
