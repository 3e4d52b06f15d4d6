"""Temporal Consistency Metrics of a chunked long video: one report, on the last chunk, equal to the unchunked one."""
import pytest
import torch

from steadyframe.chunking import ChunkPlan, load_state, save_state
from steadyframe.flow.sequence import FlowSequence
from steadyframe.postprocess.chunk_span import ChunkSpan
from steadyframe.postprocess.metrics import measure_consistency
from steadyframe.postprocess.metrics_chunks import MetricsCarry, measure_chunk
from support.deflicker_synthetic import inject_flicker, moving_clip

FRAMES, HEIGHT, WIDTH = 30, 32, 40


@pytest.fixture(scope="module")
def clips():
    first = moving_clip(FRAMES, HEIGHT, WIDTH, motion=(2, 1), seed=3)
    second = moving_clip(FRAMES, HEIGHT, WIDTH, motion=(1, 1), seed=8)
    clean = torch.cat((first.clean[:17], second.clean[17:]))  # a scene cut at frame 17
    forward = torch.cat((first.forward[:16], torch.zeros(1, 2, HEIGHT, WIDTH), second.forward[17:]))
    backward = torch.cat((first.backward[:16], torch.zeros(1, 2, HEIGHT, WIDTH), second.backward[17:]))
    flow = FlowSequence(forward=forward, backward=backward, height=HEIGHT, width=WIDTH)
    return inject_flicker(clean, gain=0.1, seed=2), clean, flow


def run_chunks(plan, state_dir, images, reference, flow=None, **options):
    reports = []
    for index in range(plan.count):
        chunk = plan.chunk(index, "job", str(state_dir))
        loaded = load_state(chunk, "metrics.3")
        part = None
        if flow is not None:
            part = FlowSequence(forward=flow.forward[chunk.first:chunk.end - 1],
                                backward=flow.backward[chunk.first:chunk.end - 1], height=HEIGHT, width=WIDTH)
        report, carry = measure_chunk(images[chunk.first:chunk.end], ChunkSpan.of(chunk), chunk.first_new,
                                      None if reference is None else reference[chunk.first:chunk.end], flow=part,
                                      carried=None if loaded is None else MetricsCarry(*loaded), **options)
        assert (carry is None) == chunk.is_last
        if carry is not None:
            save_state(chunk, "metrics.3", carry.tensors, carry.meta)
        reports.append(report)
    return reports


@pytest.mark.parametrize("chunk_frames,overlap", [(8, 2), (7, 0), (12, 11)])
def test_the_last_chunk_reports_exactly_what_the_whole_video_gives(tmp_path, clips, chunk_frames, overlap):
    images, clean, flow = clips
    whole = measure_consistency(images, clean, flow=flow)
    reports = run_chunks(ChunkPlan(FRAMES, chunk_frames, overlap), tmp_path, images, clean, flow=flow)
    last = reports[-1]
    assert "scene cuts before frames 17" in whole.text
    if overlap:
        assert last.text == whole.text
        assert last.warp_error == pytest.approx(whole.warp_error, rel=1e-9)
    else:
        # Without overlap the boundary pair's flow is estimated (the connected flow covers the chunks' own frames).
        assert last.text.splitlines()[:3] == whole.text.splitlines()[:3]
    assert last.flicker_fy == pytest.approx(whole.flicker_fy, rel=1e-12)
    assert last.psnr == pytest.approx(whole.psnr, rel=1e-12)
    assert all(r.text.startswith("frames 0..") for r in reports[:-1])


def test_chunked_report_without_reference_and_estimated_flow(tmp_path, clips):
    images, _, _ = clips
    short = images[:12]
    whole = measure_consistency(short, None, flow_from="images")
    reports = run_chunks(ChunkPlan(12, 5, 0), tmp_path, short, None, flow_from="images")
    assert reports[-1].text == whole.text and reports[-1].psnr == -1.0


def test_settings_changed_between_chunks_are_refused(tmp_path, clips):
    images, _, _ = clips
    plan = ChunkPlan(FRAMES, 15, 2)
    first, second = plan.chunk(0), plan.chunk(1)
    _, carry = measure_chunk(images[:15], ChunkSpan.of(first), 0, measure_warp_error=False)
    with pytest.raises(ValueError, match="changed between chunks"):
        measure_chunk(images[second.first:], ChunkSpan.of(second), second.first_new, measure_warp_error=True,
                      carried=carry)
