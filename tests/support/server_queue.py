"""Queue a workflow on a test's real ComfyUI server and wait for its history entry."""
import time

import requests


def run_prompt(server, prompt: dict, workflow: dict, client_id: str, timeout: float = 600) -> dict:
    """POST ``prompt`` (with ``workflow`` as the canvas metadata) and return its finished history entry.

    ``server``: a ``runner.server.ManagedServer``. Returns on success or on an execution error
    (the entry's status says which); raises AssertionError on rejection or after ``timeout`` s.
    """
    answer = requests.post(f"{server.client.base_url}/prompt", timeout=30, json={
        "prompt": prompt, "client_id": client_id, "extra_data": {"extra_pnginfo": {"workflow": workflow}}})
    assert answer.status_code == 200, answer.text
    prompt_id = answer.json()["prompt_id"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        entry = server.client.history(prompt_id)
        status = (entry or {}).get("status", {})
        if status.get("completed") is not None and (status["completed"] or status.get("status_str") == "error"):
            return entry
        time.sleep(0.5)
    raise AssertionError(f"prompt {prompt_id} did not finish within {timeout} s")
