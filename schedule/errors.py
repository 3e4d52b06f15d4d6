"""Schedule errors that point at the line and column of the offending text."""
from __future__ import annotations

import bisect


class ScheduleError(ValueError):
    """A schedule that cannot be parsed or evaluated.

    ``str(error)`` reads ``text, line 3, col 7: expected "frame": "prompt"``; the parts are also
    available as ``source``, ``line``, ``column`` (1-based) and ``reason``.
    """

    def __init__(self, reason: str, *, source: str | None = None, line: int | None = None,
                 column: int | None = None):
        self.reason = reason
        self.source = source
        self.line = line
        self.column = column
        super().__init__(self._format())

    def _format(self) -> str:
        where = []
        if self.source:
            where.append(self.source)
        if self.line is not None:
            where.append(f"line {self.line}, col {self.column}")
        if not where:
            return self.reason
        return f"{', '.join(where)}: {self.reason}"


class SourceText:
    """Schedule text with its input name, turning character indices into line and column.

    Line endings are normalised to ``\\n`` first, so columns count characters on one line.
    """

    def __init__(self, text: str, name: str = "text"):
        if not isinstance(text, str):
            raise ScheduleError(f"expected a string, got {type(text).__name__}", source=name)
        self.text = text.replace("\r\n", "\n").replace("\r", "\n")
        self.name = name
        self._line_starts = [0] + [i + 1 for i, ch in enumerate(self.text) if ch == "\n"]

    def line_col(self, index: int) -> tuple[int, int]:
        """1-based (line, column) of character ``index`` (the end of the text is allowed)."""
        index = max(0, min(index, len(self.text)))
        line = bisect.bisect_right(self._line_starts, index) - 1
        return line + 1, index - self._line_starts[line] + 1

    def error(self, index: int, reason: str) -> ScheduleError:
        line, column = self.line_col(index)
        return ScheduleError(reason, source=self.name, line=line, column=column)

    def describe(self, index: int) -> str:
        """A short phrase for what sits at ``index``, for 'found ...' in messages."""
        if index >= len(self.text):
            return "the end of the text"
        ch = self.text[index]
        if ch == "\n":
            return "the end of the line"
        return repr(ch)
