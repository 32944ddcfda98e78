"""What the queue's modules share without importing the queue (bot/queue/render_queue.py):
`QueueSettings`, the [queue] section as they use it, and `QueueKeys`, what a sweep
(sweep.py) and a worker's record (worker.py) need of a queue: our keys in huey's storage."""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from huey import Huey

if TYPE_CHECKING:
    from bot.config import Config


@dataclass(frozen=True)
class QueueSettings:
    url: str | None
    sqlite_path: Path
    shared_dir: Path | None
    picture_cap: int
    lease_seconds: float
    max_retries: int
    retry_delay: float
    render_timeout: float
    parallel: int
    batch: int = 1  # jobs a worker dreams in one net batch (bot/render/batcher.py)
    batch_wait: float = 0.5

    @classmethod
    def from_config(cls, cfg: "Config") -> "QueueSettings":
        q = cfg.queue
        return cls(
            url=q.url, sqlite_path=cfg.data_dir / "queue.db",
            shared_dir=cfg.resolve(q.shared_dir) if q.shared_dir else None,
            picture_cap=int(q.picture_cap_mb * 1_000_000), lease_seconds=q.lease_seconds,
            max_retries=q.max_retries, retry_delay=q.retry_delay_seconds,
            render_timeout=q.render_timeout_minutes * 60, parallel=q.parallel,
            batch=q.batch, batch_wait=q.batch_wait_seconds,
        )


class QueueKeys(Protocol):
    """A queue as the sweep and a worker's record use it (`RenderQueue` is one)."""

    settings: QueueSettings
    huey: Huey
    sweeping: threading.Lock  # held while this process sweeps the queue periodically

    def put(self, key: str, value: bytes | str) -> None: ...

    def pop(self, key: str) -> None: ...

    def json(self, key: str) -> Any: ...

    def keys(self, prefix: str) -> list[str]: ...

    def live_jobs(self, now: float | None = None, grace: float = 0.0) -> set[str]: ...
