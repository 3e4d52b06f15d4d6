"""The runner's one error type: everything a user can get wrong ends in one readable line."""


class RunnerError(Exception):
    """A problem with the workflow, the options or the server, explained in one line."""

    def __init__(self, message: str):
        super().__init__(one_line(message))


def one_line(text: str, limit: int = 2000) -> str:
    """Collapse ``text`` to a single line (servers put newlines in exception messages)."""
    flat = " ".join(str(text).split())
    if len(flat) > limit:
        flat = flat[: limit - 3] + "..."
    return flat
