"""A queue worker's renders gathered into batches (`[queue] batch`): on a GPU one picture's views
leave most of the chip idle, and K pictures' views through one net batch fill it.

huey stays the queue: each of the worker's consumer threads takes one job as before and keeps
its own lease, retries and errors (bot/queue/render_queue.py `run_job`); only its call to the renderer meets
the others here. `BatchingRenderer.render` is called by those threads at once: the calls that
wait at the same time are grouped, up to K with the same `dreamer.batch_key` (one net per
batch), and one group at a time goes to the engine's `dream_batch`; each caller gets its own
picture back (and, from the engine, where each class grew: `render_places`, measured after the
batch, picture by picture). A group waits at most `wait` seconds from its oldest call for
companions (so jobs enqueued together meet) and goes at once when full; calls that arrive while
a batch renders go together in the next one.

A batch that raises is dreamt again picture by picture (`dreamer.dream`), so a bad job gets its
own error and the others their pictures: a job is never lost or given another's picture. A
recipe that cannot batch (key None, or no key: its net does not load) is dreamt alone.

The bot holds no tensor code: this passes PIL images and recipes to the engine's functions.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Hashable

from dreamer import Recipe
from PIL import Image

from bot.render.renderer import Renderer, RenderFn, as_renderer, measured_places

if TYPE_CHECKING:
    from dreamer.places import Places

log = logging.getLogger("bot.queue")

BatchFn = Callable[[list[Image.Image], list[Recipe]], list[Image.Image]]
KeyFn = Callable[[Recipe], Hashable | None]
MeasureFn = Callable[[Image.Image, Image.Image, Recipe], "Places | None"]


def _dream_batch(images: list[Image.Image], recipes: list[Recipe]) -> list[Image.Image]:
    import dreamer  # looked up per call: the engine (and torch) loads with the first batch

    return dreamer.dream_batch(images, recipes)


def _dream(image: Image.Image, recipe: Recipe) -> Image.Image:
    import dreamer

    return dreamer.dream(image, recipe)


def _batch_key(recipe: Recipe) -> Hashable | None:
    import dreamer

    return dreamer.batch_key(recipe)


_UNKNOWN = object()  # a call's key before the running thread has worked it out


@dataclass(eq=False)
class _Call:
    image: Image.Image
    recipe: Recipe
    key: Hashable | None  # or _UNKNOWN
    since: float
    out: Image.Image | None = None
    error: BaseException | None = None
    done: bool = False


class BatchingRenderer:
    """A `Renderer` that dreams the renders called at the same time (from several threads) in
    batches of up to `batch` pictures for one net; see the module's doc."""

    def __init__(self, batch: int, wait: float = 0.5, *, batch_fn: BatchFn = _dream_batch,
                 alone: RenderFn = _dream, key: KeyFn = _batch_key, measure: MeasureFn | None = None):
        if batch < 1 or wait < 0:
            raise ValueError(f"batch must be 1 or more and wait 0 or more, not {batch} and {wait}")
        self.batch = batch
        self.wait = wait
        self.parallel = batch  # callers that may wait here at once and still meet in one batch
        self._batch_fn = batch_fn
        self._alone = alone
        self._key = key
        self._measure = measure  # where each class grew (the engine's measure), after the batch
        self._cond = threading.Condition()
        self._pending: list[_Call] = []
        self._busy = False  # one thread gathers and renders a group at a time

    def render(self, image: Image.Image, recipe: Recipe) -> Image.Image:
        call = _Call(image, recipe, _UNKNOWN, time.monotonic())
        with self._cond:
            self._pending.append(call)
            self._cond.notify_all()  # a gathering thread may be waiting for just this call
        while True:
            with self._cond:
                while self._busy and not call.done:
                    self._cond.wait()
                if call.done:
                    break
                # No group is running and this call is still waiting: this thread runs the next
                # group (maybe not its own; then it comes round again).
                self._busy = True
                try:
                    group = self._gather()
                except BaseException:
                    self._busy = False
                    self._cond.notify_all()
                    raise
            try:
                self._run(group)
            finally:
                with self._cond:
                    for c in group:
                        if c.out is None and c.error is None:  # the renderer itself was interrupted
                            c.error = RuntimeError("the batch stopped before this render finished")
                        c.done = True
                    self._busy = False
                    self._cond.notify_all()
        if call.error is not None:
            raise call.error
        assert call.out is not None
        return call.out

    def render_places(self, image: Image.Image, recipe: Recipe) -> "tuple[Image.Image, Places | None]":
        out = self.render(image, recipe)
        return out, None if self._measure is None else self._measure(image, out, recipe)

    def _gather(self) -> list[_Call]:
        """The next group, taken off the pending list (lock held): the first full one (a call
        that cannot batch is full alone), else the oldest call's once its wait is over."""
        while True:
            for c in self._pending:
                if c.key is _UNKNOWN:
                    c.key = self._key_of(c.recipe)
            groups: dict[Hashable, list[_Call]] = {}
            ready = None
            for c in self._pending:  # oldest first
                if c.key is None:
                    ready = [c]
                    break
                same = groups.setdefault(c.key, [])
                same.append(c)
                if len(same) == self.batch:
                    ready = same
                    break
            oldest = self._pending[0]
            left = oldest.since + self.wait - time.monotonic()
            if ready is None and left <= 0:
                ready = groups[oldest.key]
            if ready is not None:
                for c in ready:
                    self._pending.remove(c)
                return ready
            self._cond.wait(left)

    def _key_of(self, recipe: Recipe) -> Hashable | None:
        # Here, in the one thread that runs groups, never in the callers' threads at once: the
        # key loads nets, and two threads loading one net together can build it wrong (a seeded
        # net's weights come from torch's one global random generator).
        try:
            key = self._key(recipe)
            hash(key)  # grouped in a dict below: a key that cannot be one means "alone", not a stuck call
            return key
        except Exception:  # noqa: BLE001  (its net or classes are wrong: dreamt alone, the engine says why)
            return None

    def _run(self, group: list[_Call]) -> None:
        """Fill each call's out or error (no lock held: other calls join the pending list)."""
        if len(group) > 1:
            try:
                outs = self._batch_fn([c.image for c in group], [c.recipe for c in group])
                if len(outs) != len(group):
                    raise RuntimeError(f"dream_batch returned {len(outs)} pictures for {len(group)}")
            except Exception as exc:  # noqa: BLE001  (each picture alone says whose fault it was)
                log.warning("a batch of %d renders failed (%s: %s); rendering each alone", len(group),
                            type(exc).__name__, exc)
            else:
                log.debug("dreamt %d jobs in one batch", len(group))
                for c, out in zip(group, outs):
                    c.out = out
                return
        for c in group:
            try:
                c.out = self._alone(c.image, c.recipe)
            except Exception as exc:  # noqa: BLE001  (handed to its own caller: run_job sorts it)
                c.error = exc


def worker_renderer(render: Renderer | RenderFn | None, batch: int, wait: float) -> Renderer:
    """What a queue worker renders with: the engine in batches of `batch` when none is given and
    batch > 1; otherwise `render` as `as_renderer` makes it (batch = 1 is one job at a time)."""
    if render is None and batch > 1:
        return BatchingRenderer(batch, wait, measure=measured_places)
    return as_renderer(render)
