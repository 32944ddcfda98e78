"""The render queue (huey: embedded SQLite by default, Redis across machines): the render step
of the pipeline run by workers, while the bot process keeps publishing to itself.

render_queue.py is `RenderQueue`, one config's queue (huey, its one task, our keys, pictures)
and the worker's side; remote.py the bot's side (`RemoteRender`, a `Renderer` that waits for a
worker; what `status` shows); worker.py a worker's record and leases; sweep.py removes what
dead processes left; wire.py what crosses the queue, read as hostile data (JSON, job ids);
settings.py what these share without importing the queue (`QueueSettings`, `QueueKeys`).
"""
from __future__ import annotations

from bot.queue.render_queue import GATE_ENV, PictureTooBig, QueueError, RenderFailed, RenderQueue
from bot.queue.settings import QueueSettings
from bot.queue.worker import WorkerState

__all__ = ["GATE_ENV", "PictureTooBig", "QueueError", "QueueSettings", "RenderFailed", "RenderQueue", "WorkerState"]
