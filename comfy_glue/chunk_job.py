"""A chunked run inside ComfyUI: the job folder under the output folder, who records chunks, and
queueing the next chunk through ComfyUI's own ``/prompt`` route.

Re-queueing goes over HTTP to the running server's own address: the prompt then passes the same
validation and ``on_prompt`` handlers as one queued from the canvas, lands in the queue the
canvas shows, and keeps the client id, so the canvas and the headless runner see its progress.
"""
from __future__ import annotations

import json
import logging
import os
import ssl
from typing import Any, Optional
from urllib import request as urlrequest

from ..chunking.plan import Chunk

log = logging.getLogger(__name__)

#: Folder under ComfyUI's output folder holding one folder per chunked job.
JOBS_FOLDER = "steadyframe-chunks"
#: extra_data key of a re-queued chunk, and the ui key of Video Combine's chain record.
MARKER = "steadyframe_chunk"
#: Node types that record chunks (their ``chunk`` input connected).
WRITER_TYPES = ("SteadyFrameVideoCombine",)
#: Node types that start a chain.
SOURCE_TYPES = ("SteadyFrameLoadVideoChunked",)


def jobs_root() -> str:
    import folder_paths

    return os.path.join(folder_paths.get_output_directory(), JOBS_FOLDER)


def clean_prompt(prompt: dict) -> dict:
    """The API prompt as queued: ComfyUI adds bookkeeping (``is_changed``) to the one it runs."""
    kept = ("class_type", "inputs", "_meta")
    return {node_id: {k: v for k, v in node.items() if k in kept} for node_id, node in prompt.items()
            if isinstance(node, dict)}


def writers_in(prompt: dict) -> list[str]:
    """Ids of the nodes that must record every chunk: Video Combine nodes with ``chunk`` connected."""
    return sorted(str(node_id) for node_id, node in prompt.items()
                  if isinstance(node, dict) and node.get("class_type") in WRITER_TYPES
                  and isinstance((node.get("inputs") or {}).get("chunk"), list))


def check_one_source(prompt: dict, node_id: str) -> None:
    sources = sorted(str(i) for i, node in prompt.items()
                     if isinstance(node, dict) and node.get("class_type") in SOURCE_TYPES)
    if len(sources) > 1:
        raise ValueError(f"the workflow has {len(sources)} chunk sources (nodes {', '.join(sources)}); "
                         f"a chunked run follows one: feed the others from node {node_id}'s chunk output")


def expected_index(prompt: dict, node_id: str) -> Optional[int]:
    """The chunk a re-queued prompt was queued for (None for a prompt the user queued)."""
    value = (((prompt.get(str(node_id)) or {}).get("_meta")) or {}).get(MARKER)
    return value if isinstance(value, int) else None


def blocked_outputs(count: int) -> tuple:
    """Outputs that silently stop every node after the chunk source (a stale re-queued run)."""
    from comfy_execution.graph_utils import ExecutionBlocker

    return tuple(ExecutionBlocker(None) for _ in range(count))


def folder_of(chunk: Chunk) -> str:
    """The job folder of ``chunk`` (its state folder's parent)."""
    if not chunk.state_dir:
        raise ValueError("this chunk has no job folder: connect the chunk output of Load Video Frames (Chunked)")
    return os.path.dirname(os.path.abspath(chunk.state_dir))


def _server_url() -> str:
    """The running server's own base URL (loopback when it listens on every address)."""
    from comfy.cli_args import args
    from server import PromptServer

    server = PromptServer.instance
    address = getattr(server, "address", None) or "127.0.0.1"
    port = getattr(server, "port", None) or args.port
    if address in ("0.0.0.0", ""):
        address = "127.0.0.1"
    elif address == "::":
        address = "::1"
    if ":" in address:
        address = f"[{address}]"
    scheme = "https" if args.tls_keyfile and args.tls_certfile else "http"
    return f"{scheme}://{address}:{port}"


def current_client_id() -> Optional[str]:
    from server import PromptServer

    return getattr(PromptServer.instance, "client_id", None)


def queue_next(prompt: dict, extra_pnginfo: Optional[dict], marker: dict[str, Any]) -> str:
    """Queue ``prompt`` again (the next chunk) with the same client id; returns the new prompt id."""
    extra_data: dict[str, Any] = {MARKER: marker}
    if extra_pnginfo:
        extra_data["extra_pnginfo"] = extra_pnginfo
    queued = clean_prompt(prompt)
    for node in queued.values():
        if node.get("class_type") in SOURCE_TYPES:
            # Which chunk this prompt is for, where the job id does not look (titles and _meta do
            # not count): a duplicate that finds its chunk done does nothing (chunking.job.start_chunk).
            node["_meta"] = {**(node.get("_meta") or {}), MARKER: marker["index"]}
    body: dict[str, Any] = {"prompt": queued, "extra_data": extra_data}
    client_id = current_client_id()
    if client_id is not None:
        body["client_id"] = client_id
    url = _server_url() + "/prompt"
    req = urlrequest.Request(url, data=json.dumps(body).encode("utf-8"), method="POST",
                             headers={"Content-Type": "application/json"})
    # The server's own certificate for its own loopback address: nothing to verify against.
    context = ssl._create_unverified_context() if url.startswith("https") else None
    try:
        with urlrequest.urlopen(req, timeout=60, context=context) as response:
            answer = json.loads(response.read().decode("utf-8"))
    except Exception as exc:  # HTTPError carries the validation errors
        detail = exc.read().decode("utf-8", "replace")[:500] if hasattr(exc, "read") else str(exc)
        raise RuntimeError(f"chunk {marker.get('index')} of job {marker.get('job')} is done but queueing the next "
                           f"chunk at {url} failed ({detail}); queue the workflow again to resume") from exc
    prompt_id = answer.get("prompt_id")
    log.info("SteadyFrame: job %s chunk %s/%s queued as prompt %s", marker.get("job"), marker.get("index", 0) + 1,
             marker.get("count"), prompt_id)
    return str(prompt_id)
