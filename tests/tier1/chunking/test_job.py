"""The job folder of a chunked run: a stable id, the first chunk not done, writers, restart after completion."""
import json
import os

import pytest

from steadyframe.chunking import ChunkPlan
from steadyframe.chunking.job import job_id, next_index, read_manifest, record_done, segment_folder, start_chunk, write_manifest

PROMPT = {"1": {"class_type": "SteadyFrameLoadVideoChunked", "inputs": {"video": "a.mp4", "chunk_frames": 8}},
          "3": {"class_type": "SteadyFrameVideoCombine", "inputs": {"images": ["1", 0], "chunk": ["1", 4]}}}


def test_job_id_ignores_bookkeeping_but_not_inputs_or_source():
    base = job_id(PROMPT, "a.mp4:1:2")
    run = json.loads(json.dumps(PROMPT))
    run["1"]["is_changed"] = [3]  # ComfyUI writes this into the prompt it runs
    run["3"]["_meta"] = {"title": "renamed"}
    assert job_id(run, "a.mp4:1:2") == base and len(base) == 16
    changed = json.loads(json.dumps(PROMPT))
    changed["1"]["inputs"]["chunk_frames"] = 9
    assert job_id(changed, "a.mp4:1:2") != base
    assert job_id(PROMPT, "a.mp4:1:3") != base  # the file was replaced


def test_chain_moves_on_and_resumes_at_first_chunk_not_done(tmp_path):
    plan = ChunkPlan(20, 8, 2)
    folder = str(tmp_path / "job")
    first = start_chunk(folder, "j", plan, ["3"])
    assert (first.index, first.job_id, first.state_dir) == (0, "j", os.path.join(folder, "state"))
    assert record_done(first, folder, "3") is True
    second = start_chunk(folder, "j", plan, ["3"])
    assert (second.index, second.first, second.lead) == (1, 6, 2)
    # chunk 2 fails (never recorded): queueing again runs it again, chunk 1 stays done
    again = start_chunk(folder, "j", plan, ["3"])
    assert again.index == 1 and read_manifest(folder)["done"] == {"0": ["3"]}
    record_done(again, folder, "3")
    last = start_chunk(folder, "j", plan, ["3"])
    assert last.is_last and not read_manifest(folder)["complete"]
    record_done(last, folder, "3", output="/out/final.mp4")
    manifest = read_manifest(folder)
    assert manifest["complete"] and manifest["outputs"] == {"3": "/out/final.mp4"}


def test_every_writer_must_record_a_chunk(tmp_path):
    plan = ChunkPlan(10, 5)
    folder = str(tmp_path / "job")
    chunk = start_chunk(folder, "j", plan, ["3", "7"])
    assert record_done(chunk, folder, "7") is False  # node 3 has not written chunk 0 yet
    assert start_chunk(folder, "j", plan, ["3", "7"]).index == 0
    assert record_done(chunk, folder, "3") is True  # this writer completes it: it queues the next chunk
    assert record_done(chunk, folder, "3") is False  # a rerun does not queue it twice
    assert start_chunk(folder, "j", plan, ["3", "7"]).index == 1


def test_finished_or_changed_job_starts_again_from_an_empty_folder(tmp_path):
    plan = ChunkPlan(4, 4)
    folder = str(tmp_path / "job")
    chunk = start_chunk(folder, "j", plan, ["3"])
    os.makedirs(segment_folder(folder, "3"))
    record_done(chunk, folder, "3")
    assert read_manifest(folder)["complete"]
    assert start_chunk(folder, "j", plan, ["3"]).index == 0
    assert not os.path.exists(segment_folder(folder, "3"))
    record_done(plan.chunk(0, "j", ""), folder, "3")
    manifest = read_manifest(folder)
    manifest["complete"] = False
    manifest["done"] = {"0": ["3"]}
    manifest["total_frames"] = 99  # the same job, a different plan: its chunks do not fit any more
    write_manifest(folder, manifest)
    assert start_chunk(folder, "j", ChunkPlan(8, 4), ["3"]).index == 0


def test_no_writer_and_bad_manifest_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="Video Combine whose chunk input is connected"):
        start_chunk(str(tmp_path / "a"), "j", ChunkPlan(4, 2), [])
    folder = tmp_path / "b"
    folder.mkdir()
    (folder / "manifest.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"manifest.json: unreadable chunk manifest"):
        read_manifest(str(folder))
    assert next_index(None) == 0
    assert segment_folder("/j", "../x").endswith(os.path.join("segments", ".._x"))


def test_a_stale_requeued_run_does_nothing(tmp_path):
    plan = ChunkPlan(12, 4)
    folder = str(tmp_path / "job")
    chunk = start_chunk(folder, "j", plan, ["3"])
    record_done(chunk, folder, "3")
    assert start_chunk(folder, "j", plan, ["3"], expect=1).index == 1  # the run queued for chunk 1
    before = read_manifest(folder)
    assert start_chunk(folder, "j", plan, ["3"], expect=0) is None  # chunk 0 is done: a duplicate
    for index in (1, 2):
        record_done(plan.chunk(index, "j", ""), folder, "3")
    assert read_manifest(folder)["complete"]
    assert start_chunk(folder, "j", plan, ["3"], expect=2) is None  # does not start the job over
    assert read_manifest(folder)["complete"] and before["done"] == {"0": ["3"]}
    assert start_chunk(str(tmp_path / "none"), "j", plan, ["3"], expect=1) is None
