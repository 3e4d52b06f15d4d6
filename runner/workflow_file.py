"""Reading a workflow file and telling its format apart."""
import json
from pathlib import Path

from .errors import RunnerError

UI_FORMAT = "ui"
API_FORMAT = "api"


def load_workflow(path) -> dict:
    """Parse a workflow JSON file; errors name the file, line and column."""
    file_path = Path(path)
    if not file_path.exists():
        raise RunnerError(f"workflow file not found: {file_path}")
    if not file_path.is_file():
        raise RunnerError(f"workflow path is not a file: {file_path}")
    try:
        text = file_path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RunnerError(f"{file_path}: not UTF-8 text (byte {exc.start}): expected a JSON workflow") from None
    except OSError as exc:
        raise RunnerError(f"cannot read workflow file {file_path}: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RunnerError(f"{file_path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    if not isinstance(data, dict):
        raise RunnerError(f"{file_path}: expected a JSON object (a ComfyUI workflow), found {type(data).__name__}")
    return data


def workflow_format(data: dict, source: str = "workflow") -> str:
    """``"ui"`` for the canvas format (nodes/links), ``"api"`` for the /prompt format."""
    if isinstance(data.get("nodes"), list):
        return UI_FORMAT
    if data and all(isinstance(node, dict) and "class_type" in node for node in data.values()):
        return API_FORMAT
    raise RunnerError(
        f"{source}: not a ComfyUI workflow: expected the UI format (a \"nodes\" list, as saved by the canvas) "
        "or the API format (node ids mapping to objects with \"class_type\")"
    )


def unwrap_api(data: dict) -> dict:
    """Accept a /prompt request body (``{"prompt": {...}}``) as well as the bare API graph."""
    if set(data) <= {"prompt", "client_id", "extra_data", "prompt_id"} and isinstance(data.get("prompt"), dict):
        return data["prompt"]
    return data
