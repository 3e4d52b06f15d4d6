"""Talking to a ComfyUI server: HTTP for the API, ``/ws`` for progress."""
from __future__ import annotations

import json
import uuid
from urllib import error as urlerror
from urllib import request as urlrequest
from urllib.parse import quote, urlencode, urlsplit

from .errors import RunnerError, one_line
from .ws import OP_TEXT, WebSocket, WebSocketClosed


def normalise_url(url: str) -> str:
    url = url.strip()
    if "://" not in url:
        url = "http://" + url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RunnerError(f"--server {url!r}: expected an http(s) URL such as http://127.0.0.1:8188")
    return url.rstrip("/")


class ComfyClient:
    def __init__(self, base_url: str, timeout: float = 30.0):
        self.base_url = normalise_url(base_url)
        self.timeout = timeout
        self.client_id = uuid.uuid4().hex

    # -- HTTP ---------------------------------------------------------------------------------
    def _request(self, method: str, path: str, body=None):
        data = None if body is None else json.dumps(body).encode("utf-8")
        req = urlrequest.Request(self.base_url + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urlrequest.urlopen(req, timeout=self.timeout) as response:
                return response.status, response.read()
        except urlerror.HTTPError as exc:
            return exc.code, exc.read()
        except (TimeoutError, urlerror.URLError, ConnectionError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise RunnerError(f"cannot reach the ComfyUI server at {self.base_url} ({reason})") from None

    def get_json(self, path: str):
        status, payload = self._request("GET", path)
        if status != 200:
            raise RunnerError(f"ComfyUI server {self.base_url}{path} answered HTTP {status}: {one_line(payload.decode('utf-8', 'replace'), 300)}")
        return _decode(payload, self.base_url + path)

    def object_info(self) -> dict:
        info = self.get_json("/object_info")
        if not isinstance(info, dict):
            raise RunnerError(f"{self.base_url}/object_info did not return a JSON object; is this a ComfyUI server?")
        return info

    def queue_prompt(self, prompt: dict) -> str:
        """POST /prompt; the server's validation errors become one readable line."""
        status, payload = self._request("POST", "/prompt", {"prompt": prompt, "client_id": self.client_id})
        answer = _decode(payload, self.base_url + "/prompt") if payload else {}
        if status != 200:
            raise RunnerError("the server rejected the workflow: " + describe_validation_error(answer, prompt))
        prompt_id = answer.get("prompt_id") if isinstance(answer, dict) else None
        if not prompt_id:
            raise RunnerError(f"{self.base_url}/prompt gave no prompt_id: {one_line(str(answer), 300)}")
        return prompt_id

    def history(self, prompt_id: str) -> dict | None:
        data = self.get_json(f"/history/{quote(prompt_id)}")
        return data.get(prompt_id) if isinstance(data, dict) else None

    def interrupt(self, prompt_id: str) -> None:
        """Best effort: drop the prompt from the queue and stop it if it runs."""
        for path, body in (("/queue", {"delete": [prompt_id]}), ("/interrupt", {"prompt_id": prompt_id})):
            try:
                self._request("POST", path, body)
            except RunnerError:
                pass

    def view_url(self, filename: str, subfolder: str, kind: str) -> str:
        return f"{self.base_url}/view?" + urlencode({"filename": filename, "subfolder": subfolder, "type": kind})

    # -- WebSocket ----------------------------------------------------------------------------
    def open_websocket(self) -> MessageStream:
        parts = urlsplit(self.base_url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        url = f"{scheme}://{parts.netloc}{parts.path}/ws?clientId={self.client_id}"
        try:
            return MessageStream(WebSocket(url, timeout=self.timeout))
        except (OSError, ValueError) as exc:
            raise RunnerError(f"cannot open the progress WebSocket {url} ({exc})") from None


class MessageStream:
    """JSON messages from ``/ws`` (binary preview frames are skipped)."""

    def __init__(self, socket_: WebSocket):
        self.socket = socket_

    def next(self, timeout: float):
        """The next JSON message, or None after ``timeout`` seconds without one."""
        while True:
            try:
                frame = self.socket.recv(timeout=timeout)
            except WebSocketClosed:
                raise RunnerError("the ComfyUI server closed the connection while the workflow ran") from None
            except OSError as exc:
                raise RunnerError(f"lost the connection to the ComfyUI server ({exc})") from None
            if frame is None:
                return None
            opcode, payload = frame
            if opcode != OP_TEXT:
                continue
            try:
                return json.loads(payload.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                continue

    def close(self) -> None:
        self.socket.close()


def _decode(payload: bytes, where: str):
    try:
        return json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise RunnerError(f"{where} did not answer JSON ({one_line(payload[:200].decode('utf-8', 'replace'))}); is this a ComfyUI server?") from None


def _node_label(node_id, prompt: dict, class_type=None) -> str:
    class_type = class_type or (prompt.get(str(node_id)) or {}).get("class_type") or "?"
    return f"node {node_id} ({class_type})"


def describe_validation_error(answer, prompt: dict) -> str:
    """One line from a /prompt 400 answer: each failing node with id, type and reasons."""
    if not isinstance(answer, dict):
        return one_line(str(answer), 500)
    parts = []
    for node_id, info in (answer.get("node_errors") or {}).items():
        reasons = []
        for err in (info or {}).get("errors", []):
            message = err.get("message", "")
            details = err.get("details", "")
            reasons.append(one_line(f"{message}: {details}" if details else message, 400))
        label = _node_label(node_id, prompt, (info or {}).get("class_type"))
        parts.append(f"{label}: {'; '.join(reasons) or 'invalid'}")
    if parts:
        return " | ".join(parts)
    error = answer.get("error")
    if isinstance(error, dict):
        message = error.get("message", "invalid prompt")
        details = error.get("details")
        if isinstance(details, list):
            details = "; ".join(map(str, details))
        return one_line(f"{message}: {details}" if details else message, 800)
    return one_line(str(error or answer), 800)


def describe_execution_error(data: dict, prompt: dict) -> str:
    """One line from an ``execution_error`` message."""
    label = _node_label(data.get("node_id", "?"), prompt, data.get("node_type"))
    kind = data.get("exception_type") or "error"
    message = data.get("exception_message") or ""
    return one_line(f"{label} failed: {kind}: {message}", 800)
