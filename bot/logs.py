"""Log lines for operators: plain text by default, JSON lines with --log-json, secrets masked.

Every secret value loaded from the environment is registered with `add_secrets`; `redact`
replaces them, and the user name and password of any address ("https://me:pw@host/x.jpg" from
a URL list or a feed's address), in any text, and the formatters apply it to each finished
line (message, arguments and traceback alike), so a library that echoes a token in an error
cannot leak it.

A plain log line is one record: control characters, line and paragraph separators, bidi
overrides and undecodable bytes in a message are written as escapes ("\\n", "\\x1b", "\\udcff"),
and traceback lines are indented, so a file name, feed title or request text can never start a
line that looks like a record of its own. JSON lines escape the same characters.
"""
from __future__ import annotations

import json
import logging
import re
import sys
import threading
from datetime import datetime, timezone
from enum import StrEnum
from typing import Iterable

MASK = "[secret]"
_secrets: set[str] = set()
_lock = threading.Lock()
_STD_ATTRS = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


def add_secrets(values: Iterable[str]) -> None:
    with _lock:
        # Very short values would mask ordinary words; real tokens are long.
        _secrets.update(v for v in values if v and len(v) >= 6)


# The user name and password of an address ("https://me:pw@photos.home/1.jpg" in a URL list, a
# feed behind a password): the part after "//" up to the LAST "@" before the first "/", "?",
# "#" or space, as urllib splits it, so a password with an "@" ("me:p@ss@host") is masked
# whole; "https://host/@jo/1" (a path) and "mailto:jo@host" (no "//") are left alone. JSON
# text escapes the slashes ("https:\/\/me:pw@host\/x"): its "\/" ends the host the same way.
_CREDENTIALS = re.compile(r"(?:(?<=//)|(?<=\\/\\/))[^/?#\s]+@")


def redact(text: str) -> str:
    """`text` with every registered secret and the credentials of any address in it masked."""
    if not text:
        return text
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for s in secrets:
        if s in text:
            text = text.replace(s, MASK)
    return _CREDENTIALS.sub(MASK + "@", text) if "@" in text else text


# C0/C1 controls but tab, line/paragraph separators, bidi embeddings/overrides/isolates, and
# lone surrogates (bytes of a file name that were not UTF-8).
_UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r"}


def one_line(text: str) -> str:
    """`text` with every character that could break or disguise a log line escaped."""
    return _UNSAFE.sub(lambda m: _NAMED.get(m.group()) or (
        f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}"), text)


def _indented(text: str) -> str:
    return "\n".join("    " + one_line(line) for line in text.splitlines())


class LogFormat(StrEnum):
    """How log lines are written: [bot] log_format (and `--log-json`)."""

    PLAIN = "plain"
    JSON = "json"  # one JSON object a line, for a log collector


class PlainFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S")

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        record.message = one_line(record.message)
        return super().formatMessage(record)

    def formatException(self, ei) -> str:  # noqa: N802
        return _indented(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:  # noqa: N802
        return _indented(super().formatStack(stack_info))

    def format(self, record: logging.LogRecord) -> str:
        # Another handler may have cached its own, unindented traceback text on the record.
        cached, record.exc_text = record.exc_text, None
        try:
            return redact(super().format(record))
        finally:
            record.exc_text = cached


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
        # json.dumps escapes C0 controls; the rest of _UNSAFE gets JSON's own \\uXXXX escapes.
        text = json.dumps(out, ensure_ascii=False)
        return redact(_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text))


class _Stderr(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time (it may be swapped after setup)."""

    @property  # type: ignore[override]
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def setup(fmt: LogFormat | str = LogFormat.PLAIN, level: str = "INFO", stream=None) -> logging.Handler:
    """Point the root logger at one handler (replacing an earlier one of ours)."""
    handler = logging.StreamHandler(stream) if stream is not None else _Stderr()
    handler.setFormatter(JsonFormatter() if LogFormat(fmt) is LogFormat.JSON else PlainFormatter())
    handler._lucid_bot = True  # type: ignore[attr-defined]
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_lucid_bot", False):
            root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(level)
    # APScheduler logs every job start at INFO; the bot logs its own cycle lines.
    logging.getLogger("apscheduler").setLevel(max(logging.WARNING, root.level))
    # huey's consumer greets at INFO ("The following commands are available: ...", its
    # settings, every task it runs); the operator needs its warnings and errors only.
    logging.getLogger("huey").setLevel(max(logging.WARNING, root.level))
    return handler
