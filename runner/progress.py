"""A plain-text progress bar on stderr, fed by the server's ``/ws`` messages."""
from __future__ import annotations

import sys


class ProgressBar:
    """Draws ``[#####.....]  5/10  KSampler (node 3)`` in place on a terminal.

    On a pipe or file (logs, CI) it writes one line per node instead of redrawing.
    """

    def __init__(self, stream=None, width: int = 30, enabled: bool = True):
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.enabled = enabled
        self.interactive = bool(getattr(self.stream, "isatty", lambda: False)())
        self._drawn = False
        self._last_line = None
        #: Shown before every label: where a chunked run stands overall (set by the runner).
        self.context = ""

    def node_started(self, label: str) -> None:
        if not self.enabled:
            return
        self._end_line()
        if not self.interactive:
            self._write(f"running {self._with_context(label)}\n")

    def update(self, value: int, total: int, label: str) -> None:
        if not self.enabled or total <= 0:
            return
        value = max(0, min(value, total))
        filled = int(round(self.width * value / total))
        line = f"[{'#' * filled}{'.' * (self.width - filled)}] {value}/{total}  {self._with_context(label)}"
        if self.interactive:
            self._write("\r" + line + "\x1b[K")
            self._drawn = True
        elif value == total and line != self._last_line:
            self._write(line + "\n")
        self._last_line = line

    def _with_context(self, label: str) -> str:
        return f"{self.context} {label}" if self.context else label

    def note(self, text: str) -> None:
        """A line of its own (a chunk finished), between progress lines."""
        if self.enabled:
            self._end_line()
            self._write(text + "\n")

    def finish(self) -> None:
        self._end_line()

    def _end_line(self) -> None:
        if self._drawn:
            self._write("\n")
            self._drawn = False

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()
