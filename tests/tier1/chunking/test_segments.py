"""A video written a chunk at a time: segments joined without re-encoding equal one unchunked encode.

This is also the plain-Python form of a chunked run (what the benchmarks loop over): count the
selection, load each chunk's frames, write its new ones, join at the end.
"""
import json
import os
from fractions import Fraction

import av
import pytest
import torch

from steadyframe.chunking import ChunkPlan
from steadyframe.chunking.job import record_done, segment_folder, start_chunk
from steadyframe.chunking.timeline import audio_skip, output_chunk, owned_outputs
from steadyframe.postprocess.interpolate import inbetween_positions
from steadyframe.video import FrameSelection, encode_video, load_audio, load_video, output_format, read_metadata
from steadyframe.video.frame_count import chunk_selection, count_selected, seekable_selection
from steadyframe.video.segments import (
    audio_path,
    check_chunkable,
    join_segments,
    new_frames,
    publish_folder,
    save_segment_audio,
    segment_frame_counts,
    write_png_frames,
    write_segment,
)
from support.video_clips import chirp, frame_numbers, numbered_frames, smooth_frames, tone

LOSSLESS = {"crf": 0, "pix_fmt": "yuv444p"}  # libx264 qp 0 on 4:4:4: decoded frames equal, however the GOP is cut


def chunked_encode(frames, folder, format_name, rate, plan, **options):
    """Every chunk's new frames as a segment (as Video Combine writes them); returns the segments and counts."""
    paths, counts = [], []
    for index in range(plan.count):
        chunk = plan.chunk(index)
        loaded = frames[chunk.first:chunk.end]  # what the chunk's nodes see: lead frames, then new ones
        fresh = new_frames(loaded, chunk.lead, chunk.end - chunk.first_new)
        paths.append(write_segment(fresh, folder, index, format_name, rate, **options))
        counts.append(int(fresh.shape[0]))
    return paths, counts


def stream_times(path):
    with av.open(path) as container:
        stream = container.streams.video[0]
        return [frame.time for frame in container.decode(stream)], stream.average_rate


def test_joined_file_equals_unchunked_encode_frame_for_frame(tmp_path):
    frames = smooth_frames(20, 32, 48)
    reference = str(tmp_path / "whole.mp4")
    encode_video(frames, reference, "h264-mp4", 8, **LOSSLESS)
    paths, counts = chunked_encode(frames, str(tmp_path / "seg"), "h264-mp4", 8, ChunkPlan(20, 8, 2), **LOSSLESS)
    assert counts == [8, 8, 4]  # the overlap frames are written once
    joined = str(tmp_path / "joined.mp4")
    result = join_segments(paths, counts, joined, "h264-mp4", 8, metadata={"prompt": {"1": {}}})
    assert result.frame_count == 20
    decoded, expected = load_video(joined).images, load_video(reference).images
    assert decoded.shape == (20, 32, 48, 3)
    assert torch.equal(decoded, expected)
    times, rate = stream_times(joined)
    assert times == [k / 8 for k in range(20)] and rate == 8
    assert read_metadata(joined)["prompt"] == {"1": {}}


@pytest.mark.parametrize("format_name, extension", [("h264-mp4", "mp4"), ("vp9-webm", "webm")])
def test_ntsc_timestamps_stay_on_the_frame_grid(tmp_path, format_name, extension):
    frames = numbered_frames(23)
    rate = Fraction(30000, 1001)
    paths, counts = chunked_encode(frames, str(tmp_path / "seg"), format_name, rate, ChunkPlan(23, 7, 3), crf=10)
    joined = str(tmp_path / f"joined.{extension}")
    join_segments(paths, counts, joined, format_name, rate)
    times, _ = stream_times(joined)
    assert len(times) == 23
    assert max(abs(t - k / rate) for k, t in enumerate(times)) <= 0.001  # webm keeps milliseconds
    assert frame_numbers(load_video(joined).images, 23) == list(range(23))
    assert count_selected(joined) == 23


def test_audio_is_cut_per_chunk_and_encoded_once(tmp_path):
    frames, rate = numbered_frames(12), Fraction(8)
    sound = tone(12 / 8)  # the whole clip's audio
    plan = ChunkPlan(12, 5, 2)
    folder = str(tmp_path / "seg")
    paths, counts = chunked_encode(frames, folder, "h264-mp4", rate, plan, crf=10)
    sample_rate = sound["sample_rate"]
    for index in range(plan.count):
        chunk = plan.chunk(index)
        # the audio a chunked loader gives: under the chunk's frames, lead included
        under = {"waveform": sound["waveform"][..., round(chunk.first / 8 * sample_rate):round(chunk.end / 8 * sample_rate)],
                 "sample_rate": sample_rate}
        save_segment_audio(under, folder, index, Fraction(chunk.lead) / rate, Fraction(chunk.first_new) / rate)
    audio_files = [audio_path(folder, i) for i in range(plan.count)]
    joined = str(tmp_path / "joined.mp4")
    join_segments(paths, counts, joined, "h264-mp4", rate, audio_files=audio_files)
    audio = load_audio(joined, Fraction(0), Fraction(12, 8))
    assert abs(audio["waveform"].shape[-1] - 12 / 8 * sample_rate) <= 1
    heard = audio["waveform"][0, 0, 2048:-2048]
    original = sound["waveform"][0, 0, 2048:2048 + heard.shape[0]]
    # AAC is lossy; a seam put in twice or dropped would shift the tone by 2-3 frames of audio
    assert float(torch.nn.functional.cosine_similarity(heard, original, dim=0)) > 0.95


@pytest.mark.parametrize("overlap", [0, 2])
def test_audio_through_interpolation_stays_under_its_frames(tmp_path, overlap):
    """Chunks retimed x2 (as Interpolate Frames hands them on) write their audio where their frames play."""
    source_rate, multiplier, count = Fraction(8), 2, 24
    sound = chirp(count / 8)
    sample_rate = sound["sample_rate"]
    positions = inbetween_positions(count, multiplier)
    plan = ChunkPlan(count, 5, overlap)
    out_rate = source_rate * multiplier
    folder = str(tmp_path / "seg")
    paths, counts = [], []
    for index in range(plan.count):
        chunk = plan.chunk(index)
        out = output_chunk(chunk, owned_outputs(positions, chunk), positions, source_rate)
        frames = numbered_frames(out.frames)
        paths.append(write_segment(frames, folder, index, "h264-mp4", out_rate, crf=30))
        counts.append(out.frames)
        under = {"waveform": sound["waveform"][..., round(chunk.first / 8 * sample_rate):round(chunk.end / 8 * sample_rate)],
                 "sample_rate": sample_rate}
        save_segment_audio(under, folder, index, audio_skip(out, out_rate), Fraction(out.first_new) / out_rate)
    joined = str(tmp_path / "joined.mp4")
    join_segments(paths, counts, joined, "h264-mp4", out_rate, audio_files=[audio_path(folder, i) for i in range(plan.count)])
    heard = load_audio(joined, Fraction(0), Fraction(len(positions)) / out_rate)["waveform"][0, 0]
    original = sound["waveform"][0, 0]
    assert abs(heard.shape[0] - len(positions) / out_rate * sample_rate) <= 1
    # AAC is lossy and primes; compare windows away from the ends. Placing each chunk by its lead
    # (what a retimed chunk used to get) puts the overlap's audio under the new frames: a shifted chirp.
    for start in range(1024, heard.shape[0] - 4096, 2048):
        window = slice(start, start + 2048)
        assert float(torch.nn.functional.cosine_similarity(heard[window], original[window], dim=0)) > 0.99, start


def test_loop_count_copies_the_segments_again(tmp_path):
    frames = numbered_frames(6)
    paths, counts = chunked_encode(frames, str(tmp_path / "seg"), "h264-mp4", 8, ChunkPlan(6, 4, 1), **LOSSLESS)
    joined = str(tmp_path / "loop.mp4")
    assert join_segments(paths, counts, joined, "h264-mp4", 8, loop_count=1).frame_count == 12
    assert frame_numbers(load_video(joined).images, 6) == list(range(6)) * 2


def test_png_sequence_numbers_frames_absolutely(tmp_path):
    frames = numbered_frames(10)
    plan = ChunkPlan(10, 4, 2)
    staging = str(tmp_path / "staging")
    for index in range(plan.count):
        chunk = plan.chunk(index)
        write_png_frames(new_frames(frames[chunk.first:chunk.end], chunk.lead, chunk.end - chunk.first_new),
                         staging, chunk.first_new, metadata={"prompt": {"a": 1}})
    reference = str(tmp_path / "whole")
    encode_video(frames, reference, "png-sequence", 8, metadata={"prompt": {"a": 1}})
    files = publish_folder(staging, str(tmp_path / "final"))
    assert [os.path.basename(f) for f in files] == sorted(os.listdir(reference))
    for mine, theirs in zip(files, sorted(os.listdir(reference))):
        with open(mine, "rb") as a, open(os.path.join(reference, theirs), "rb") as b:
            assert a.read() == b.read()
    assert not os.path.exists(staging)
    with pytest.raises(ValueError, match="already exists"):
        publish_folder(str(tmp_path / "final"), str(tmp_path / "final"))


def test_refusals_are_clear():
    with pytest.raises(ValueError, match="gif cannot be written in chunks"):
        check_chunkable(output_format("gif"), False, 0)
    with pytest.raises(ValueError, match="pingpong"):
        check_chunkable(output_format("h264-mp4"), True, 0)
    with pytest.raises(ValueError, match=r"expected 10 frames \(2 overlap \+ 8 new\) or the 8 new ones.*got 7"):
        new_frames(torch.zeros(7, 2, 2, 3), 2, 8, "")
    assert new_frames(torch.zeros(8, 2, 2, 3), 2, 8).shape[0] == 8  # already trimmed upstream


@pytest.mark.parametrize("selection", [
    FrameSelection(), FrameSelection(skip_first_frames=3, select_every_nth=2),
    FrameSelection(frame_load_cap=7, select_every_nth=3),
    FrameSelection(force_rate=Fraction(12)), FrameSelection(force_rate=Fraction(5), skip_first_frames=2),
])
def test_count_by_packets_and_chunk_selection_match_the_loader(tmp_path, selection):
    path = str(tmp_path / "clip.mp4")
    encode_video(numbered_frames(25), path, "h264-mp4", 8, crf=0)
    whole = load_video(path, selection).images
    assert count_selected(path, selection) == whole.shape[0]
    plan = ChunkPlan(int(whole.shape[0]), 4, 1)
    for index in range(plan.count):
        chunk = plan.chunk(index)
        narrowed = chunk_selection(selection, chunk.first, chunk.end)
        part = load_video(path, narrowed).images
        assert torch.equal(part, whole[chunk.first:chunk.end]), index
        assert torch.equal(load_video(path, seekable_selection(path, narrowed)).images, part), index


def test_chunked_loop_resumes_at_the_failed_chunk(tmp_path):
    """Plain-Python chunked run: a failure in chunk 2 keeps chunk 1; running again continues at chunk 2."""
    source = str(tmp_path / "clip.mp4")
    encode_video(smooth_frames(18, 32, 32), source, "h264-mp4", 8, **LOSSLESS)
    plan = ChunkPlan(count_selected(source), 6, 2)
    folder = str(tmp_path / "job")
    segments = segment_folder(folder, "writer")
    ran = []

    def run_chain(fail_at=None):
        while True:
            chunk = start_chunk(folder, "job", plan, ["writer"])
            ran.append(chunk.index)
            if chunk.index == fail_at:
                raise RuntimeError("simulated failure")
            images = load_video(source, chunk_selection(FrameSelection(), chunk.first, chunk.end)).images
            write_segment(new_frames(images, chunk.lead, chunk.end - chunk.first_new), segments, chunk.index,
                          "h264-mp4", 8, **LOSSLESS)
            if chunk.is_last:
                paths = [os.path.join(segments, f"segment-{i:05}.mp4") for i in range(plan.count)]
                counts = [plan.chunk(i).end - plan.chunk(i).first_new for i in range(plan.count)]
                join_segments(paths, counts, str(tmp_path / "out.mp4"), "h264-mp4", 8)
            record_done(chunk, folder, "writer")
            if chunk.is_last:
                return

    with pytest.raises(RuntimeError):
        run_chain(fail_at=1)
    first_segment = os.path.join(segments, "segment-00000.mp4")
    written = os.stat(first_segment).st_mtime_ns
    assert not os.path.exists(tmp_path / "out.mp4")
    run_chain()
    assert ran == [0, 1, 1, 2]  # chunk 1 ran once, the failed chunk again, then the rest
    assert os.stat(first_segment).st_mtime_ns == written
    assert torch.equal(load_video(str(tmp_path / "out.mp4")).images, load_video(source).images)
    assert json.loads(open(os.path.join(folder, "manifest.json")).read())["complete"]


def _short_gop_clip(path, count, rate=8):
    """h264 with a keyframe every 8 frames, numbered grey frames (lossless)."""
    frames = (numbered_frames(count) * 255 + 0.5).to(torch.uint8).numpy()
    with av.open(path, mode="w") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width = stream.height = 32
        stream.pix_fmt = "yuv444p"
        stream.codec_context.gop_size = 8
        stream.options = {"qp": "0", "keyint_min": "8", "sc_threshold": "0"}
        for array in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def test_a_late_chunk_of_a_constant_rate_file_seeks_instead_of_decoding_from_the_start(tmp_path):
    path = str(tmp_path / "long.mp4")
    _short_gop_clip(path, 64)
    whole = load_video(path).images
    plan = ChunkPlan(count_selected(path), 10, 2)
    late = plan.chunk(5)  # frames 48..59
    plain = chunk_selection(FrameSelection(), late.first, late.end)
    fast = seekable_selection(path, plain)
    assert fast.force_rate == 8 and fast.skip_first_frames == 48
    slow_load, fast_load = load_video(path, plain), load_video(path, fast)
    assert torch.equal(fast_load.images, whole[late.first:late.end])
    assert torch.equal(slow_load.images, fast_load.images) and fast_load.frame_rate == slow_load.frame_rate
    assert (fast_load.start_time, fast_load.end_time) == (slow_load.start_time, slow_load.end_time)
    assert slow_load.decoded_frames >= 60 and fast_load.decoded_frames <= 20


def test_variable_rate_files_are_not_resampled_for_seeking(tmp_path):
    from support.video_clips import write_vfr_mkv

    path = str(tmp_path / "vfr.mkv")
    write_vfr_mkv(path, [0, 100, 150, 400, 500, 520, 900, 1000, 1500, 1600, 1700, 2500], 2600)
    selection = FrameSelection(skip_first_frames=9)
    assert seekable_selection(path, selection) == selection
    assert frame_numbers(load_video(path, selection).images, 12) == [9, 10, 11]


def test_each_segment_records_its_frame_count_and_a_rewrite_replaces_it(tmp_path):
    folder = str(tmp_path / "seg")
    first = write_segment(numbered_frames(5), folder, 0, "h264-mp4", 8, crf=10)
    second = write_segment(numbered_frames(3), folder, 1, "h264-mp4", 8, crf=10)
    assert segment_frame_counts([first, second]) == [5, 3]
    write_segment(numbered_frames(4), folder, 1, "h264-mp4", 8, crf=10)  # the chunk ran again
    assert segment_frame_counts([first, second]) == [5, 4]
    os.remove(second + ".frames")
    with pytest.raises(FileNotFoundError, match=r"segment-00001\.mp4\.frames\) is missing.*run its chunk again"):
        segment_frame_counts([first, second])
    with open(second + ".frames", "w") as handle:
        handle.write("three")
    with pytest.raises(ValueError, match=r"expected a positive frame count, got 'three'"):
        segment_frame_counts([second])


def test_interpolated_chunks_join_with_their_own_counts_exactly_timed(tmp_path):
    """Interpolate x2 changes every chunk's count (the first chunk makes 2n - 1, the others 2n): the join
    must shift each segment by the frames really written before it, not by the chunk plan's."""
    from steadyframe.flow.provider import FlowOptions
    from steadyframe.postprocess.chunked_timing import interpolate_chunk

    frames = smooth_frames(11, 16, 16)
    plan = ChunkPlan(11, 4, 1)
    folder, paths, written = str(tmp_path / "seg"), [], []
    for index in range(plan.count):
        chunk = plan.chunk(index, "job", str(tmp_path / "state"))
        timed, out = interpolate_chunk(frames[chunk.first:chunk.end], chunk, "interpolate.1", 2, fps=8,
                                       options=FlowOptions(preset="fast"))
        fresh = new_frames(timed.images, out.lead, out.end - out.first_new, "", out.batch)
        written.append(fresh)
        paths.append(write_segment(fresh, folder, index, "h264-mp4", 16, **LOSSLESS))
    counts = segment_frame_counts(paths)
    assert counts == [7, 8, 6] != [4, 4, 3]  # the plan's counts (source frames) would misplace every segment
    joined = str(tmp_path / "joined.mp4")
    assert join_segments(paths, counts, joined, "h264-mp4", 16).frame_count == 21 == 2 * 11 - 1
    times, rate = stream_times(joined)
    assert times == [Fraction(k, 16) for k in range(21)] and rate == 16
    reference = str(tmp_path / "whole.mp4")
    encode_video(torch.cat(written), reference, "h264-mp4", 16, **LOSSLESS)
    assert torch.equal(load_video(joined).images, load_video(reference).images)


def test_seam_anchored_chunks_hand_on_every_frame_and_write_up_to_the_next_overlap(tmp_path):
    """Chunk Seam Anchor passes all loaded frames with a chunk that writes fewer (the next chunk writes the
    overlap, blended): Video Combine takes that longer batch and the writes tile the video once."""
    from steadyframe.chunking.timeline import seam_write_chunk

    frames = numbered_frames(20)
    plan = ChunkPlan(20, 8, 2)
    folder, paths = str(tmp_path / "seg"), []
    for index in range(plan.count):
        chunk = plan.chunk(index)
        write = seam_write_chunk(chunk)
        assert write.batch == chunk.frames > write.lead + write.end - write.first_new or chunk.is_last
        fresh = new_frames(frames[chunk.first:chunk.end], write.lead, write.end - write.first_new, "", write.batch)
        paths.append(write_segment(fresh, folder, index, "h264-mp4", 8, **LOSSLESS))
    assert segment_frame_counts(paths) == [6, 8, 6]
    joined = str(tmp_path / "joined.mp4")
    join_segments(paths, segment_frame_counts(paths), joined, "h264-mp4", 8)
    assert frame_numbers(load_video(joined).images, 20) == list(range(20))
    # Any other longer batch is still refused, naming what was expected.
    with pytest.raises(ValueError, match=r"expected 8 frames \(2 overlap \+ 6 new\) or 10 or the 6 new ones.*got 9"):
        new_frames(torch.zeros(9, 2, 2, 3), 2, 6, "", 10)
