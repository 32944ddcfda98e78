"""Log lines for operators: plain text by default, JSON lines with --log-json, secrets masked.

Every secret value loaded from the environment is registered with `add_secrets`; `redact`
replaces them in any text, and the formatters apply it to each finished line (message,
arguments and traceback alike), so a library that echoes a token in an error cannot leak it.
"""
from __future__ import annotations

import json
import logging
import sys
import threading
from datetime import datetime, timezone
from typing import Iterable

MASK = "[secret]"
_secrets: set[str] = set()
_lock = threading.Lock()
_STD_ATTRS = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


def add_secrets(values: Iterable[str]) -> None:
    with _lock:
        # Very short values would mask ordinary words; real tokens are long.
        _secrets.update(v for v in values if v and len(v) >= 6)


def redact(text: str) -> str:
    if not text:
        return text
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for s in secrets:
        if s in text:
            text = text.replace(s, MASK)
    return text


class PlainFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STD_ATTRS and not key.startswith("_"):
                out[key] = value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
        if record.exc_info:
            out["error"] = self.formatException(record.exc_info)
        return redact(json.dumps(out, ensure_ascii=False))


class _Stderr(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time (it may be swapped after setup)."""

    @property  # type: ignore[override]
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def setup(fmt: str = "plain", level: str = "INFO", stream=None) -> logging.Handler:
    """Point the root logger at one handler (replacing an earlier one of ours)."""
    handler = logging.StreamHandler(stream) if stream is not None else _Stderr()
    handler.setFormatter(JsonFormatter() if fmt == "json" else PlainFormatter())
    handler._lucid_bot = True  # type: ignore[attr-defined]
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_lucid_bot", False):
            root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(level)
    # APScheduler logs every job start at INFO; the bot logs its own cycle lines.
    logging.getLogger("apscheduler").setLevel(max(logging.WARNING, root.level))
    return handler
