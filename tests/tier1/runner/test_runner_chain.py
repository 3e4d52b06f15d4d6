"""The runner follows a chunked run: each finished prompt names the next chunk's prompt in its history."""
import io

import pytest

from steadyframe.runner.chain import chain_step, describe_step
from steadyframe.runner.cli import follow_prompts
from steadyframe.runner.errors import RunnerError
from steadyframe.runner.progress import ProgressBar


def _entry(index, count, done, total, next_id, error=False):
    record = {"job": "abc", "index": index, "count": count, "frames_done": done, "total_frames": total,
              "next_prompt_id": next_id}
    status = {"completed": not error, "status_str": "error" if error else "success", "messages": []}
    if error:
        status["messages"] = [["execution_error", {"node_id": "2", "node_type": "SteadyFrameLoadVideo",
                                                    "exception_type": "ValueError", "exception_message": "short file"}]]
    return {"status": status, "outputs": {
        "3": {"images": [] if next_id or index + 1 < count else [{"filename": "out_00001_.mp4", "subfolder": "", "type": "output"}],
              "animated": [True], "steadyframe_chunk": [record]}}}


class FakeClient:
    """Answers /history from a dict; records interrupts."""

    def __init__(self, entries):
        self.entries = entries
        self.interrupted = []

    def history(self, prompt_id):
        return self.entries.get(prompt_id)

    def interrupt(self, prompt_id):
        self.interrupted.append(prompt_id)


class FakeStream:
    """Each prompt's start and end messages, in order."""

    def __init__(self, prompt_ids):
        self.messages = []
        for pid in prompt_ids:
            self.messages += [{"type": "executing", "data": {"node": "3", "prompt_id": pid}},
                              {"type": "progress", "data": {"node": "3", "value": 1, "max": 1, "prompt_id": pid}},
                              {"type": "executing", "data": {"node": None, "prompt_id": pid}}]

    def next(self, timeout):
        return self.messages.pop(0) if self.messages else None


PROMPT = {"3": {"class_type": "SteadyFrameVideoCombine", "inputs": {}}}


def test_follows_every_chunk_to_the_last_entry():
    entries = {"a": _entry(0, 3, 8, 20, "b"), "b": _entry(1, 3, 16, 20, "c"), "c": _entry(2, 3, 20, 20, None)}
    out = io.StringIO()
    running = ["a"]
    entry = follow_prompts(FakeClient(entries), FakeStream(["a", "b", "c"]), PROMPT, running, ProgressBar(out), None, None)
    assert entry is entries["c"] and running == ["c"]
    text = out.getvalue()
    assert "chunk 1/3 done: 8/20 frames" in text and "chunk 3/3 done: 20/20 frames" in text
    assert "[chunk 3/3, 16/20 frames done] SteadyFrameVideoCombine (node 3)" in text  # overall progress on every line


def test_a_failing_chunk_fails_the_run():
    entries = {"a": _entry(0, 3, 8, 20, "b"), "b": _entry(1, 3, 16, 20, None, error=True)}
    with pytest.raises(RunnerError, match="short file"):
        follow_prompts(FakeClient(entries), FakeStream(["a"]), PROMPT, ["a"], ProgressBar(io.StringIO()), None, None)


def test_a_chain_that_stops_early_is_an_error():
    entries = {"a": _entry(0, 3, 8, 20, None)}
    with pytest.raises(RunnerError, match="no next chunk was queued"):
        follow_prompts(FakeClient(entries), FakeStream(["a"]), PROMPT, ["a"], ProgressBar(io.StringIO()), None, None)


def test_plain_prompt_is_not_a_chain():
    assert chain_step({"outputs": {"9": {"images": [{"filename": "x.png"}]}}}) is None
    entry = {"outputs": {"3": {"steadyframe_chunk": [{"index": 0, "count": 2, "next_prompt_id": None}]},
                         "4": {"steadyframe_chunk": [{"index": 0, "count": 2, "frames_done": 4, "total_frames": 6,
                                                      "next_prompt_id": "n"}]}}}
    assert chain_step(entry)["next_prompt_id"] == "n"  # the writer that completed the chunk queued the next
    assert describe_step(chain_step(entry)) == "chunk 1/2 done: 4/6 frames"
