"""How the decode workers ask swscale for threads."""
from __future__ import annotations

import av


def one_thread() -> dict:
    """Keyword arguments for ``VideoReformatter.reformat`` that keep swscale on the calling thread.

    PyAV 17 made ``reformat`` multithreaded, with ``threads=0`` (its default) meaning one slice
    thread per core. Load Video already converts on one worker per core, so the default puts
    cores x cores threads on the CPU: on 2 vCPUs 1080p float loading ran at 59 fps with it and
    98 fps with one thread per worker (``benchmarks/video_decode.py``). Older PyAV has no
    ``threads`` argument and always converts on the calling thread.
    """
    major = int(av.__version__.split(".")[0])
    return {"threads": 1} if major >= 17 else {}
