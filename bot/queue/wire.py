"""What crosses the render queue (bot/queue/render_queue.py), read as data that may be hostile.

Whoever can write to the queue's Redis can put anything in it. huey's default serializer is
pickle, and unpickling runs code: a planted message would run in every worker and in the bot
(the bot reads pending tasks while it waits and for `status`). So huey's messages are JSON
here (`JsonSerializer`): the task's one argument is a job id, and JSON cannot name code.

Names that come off the queue are never joined to a path as given: job ids must look like the
ones the bot makes (`job_id_ok`), and picture names are made from the job id
(`picture_key`), so queue data cannot point the bot at `../bot.db` or `/etc/passwd`.
"""
from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from huey.registry import Message
from huey.serializer import Serializer

_JOB_ID = re.compile(r"[0-9a-f]{32}")  # uuid4().hex, what RemoteRender makes


class UnsafeMessage(ValueError):
    """A queue message that is not ours (pickle, or not the shape we write): never run."""


def job_id_ok(job_id: object) -> bool:
    return isinstance(job_id, str) and _JOB_ID.fullmatch(job_id) is not None


def picture_key(kind: str, job_id: str) -> str:
    """'in-<job id>' or 'out-<job id>': the only names a picture of the queue has, in the
    storage and in the shared dir. Raises ValueError for anything but a job id of ours."""
    if kind not in ("in", "out") or not job_id_ok(job_id):
        raise ValueError(f"not a render job id: {job_id!r}")
    return f"{kind}-{job_id}"


def _plain(obj: Any) -> Any:
    """`obj` as JSON values; a message (a namedtuple) keeps its field names, times are tagged."""
    if isinstance(obj, Message):
        return {"__message__": {k: _plain(v) for k, v in obj._asdict().items()}}
    if isinstance(obj, dt.datetime):
        return {"__datetime__": obj.isoformat()}
    if isinstance(obj, dt.timedelta):
        return {"__timedelta__": obj.total_seconds()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, dict):
        if not all(isinstance(k, str) for k in obj):
            raise TypeError("queue data may only have text keys")
        return {k: _plain(v) for k, v in obj.items()}
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    raise TypeError(f"cannot send a {type(obj).__name__} through the render queue (JSON only)")


def _revive(d: dict[str, Any]) -> Any:
    if len(d) == 1:
        (tag, value), = d.items()
        if tag == "__datetime__" and isinstance(value, str):
            return dt.datetime.fromisoformat(value)
        if tag == "__timedelta__" and isinstance(value, (int, float)):
            return dt.timedelta(seconds=value)
        if tag == "__message__" and isinstance(value, dict):
            unknown = set(value) - set(Message._fields)
            if unknown:
                raise UnsafeMessage(f"unknown message fields {sorted(unknown)}")
            fields = dict(value)
            # huey calls the task with *args: a tuple, as pickle would have given it back
            fields["args"] = tuple(fields.get("args") or ())
            fields["kwargs"] = fields.get("kwargs") or {}
            return Message(**fields)
    return d


class JsonSerializer(Serializer):
    """huey's messages (tasks, revocations, results) as JSON; anything else is refused when
    read, so a planted pickle is logged by huey's consumer and dropped, never loaded."""

    def _serialize(self, data: Any) -> bytes:
        return json.dumps(_plain(data), separators=(",", ":")).encode()

    def _deserialize(self, data: bytes) -> Any:
        try:
            return json.loads(data, object_hook=_revive)
        except (ValueError, TypeError) as exc:  # not UTF-8, not JSON, a bad time or message field
            raise UnsafeMessage(f"not a JSON queue message (an old pickled task, or planted): {exc}") from None


def queued_job_ids(raw_messages: list[bytes]) -> list[str]:
    """The job ids of raw task messages as stored (huey's pending or scheduled list), read
    as plain JSON without huey's serializer: `status` and the waiting bot only count, and
    anything not ours (a planted pickle, garbage) is skipped, not loaded nor logged per item."""
    out = []
    for raw in raw_messages:
        try:
            msg = json.loads(bytes(raw))["__message__"]
            args = msg["args"]
        except (ValueError, TypeError, KeyError):
            continue
        if isinstance(args, list) and args and job_id_ok(args[0]):
            out.append(args[0])
    return out
