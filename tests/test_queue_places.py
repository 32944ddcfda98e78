"""Where each class grew crosses the render queue with the picture: a worker running the engine
measures it (one job at a time, or in batches) and the bot reads it back as data that may be
hostile. The scheduled bot renders through the queue, so without this its alt text would never
say where the creatures grew."""
from __future__ import annotations

import json
import logging

import numpy as np
import pytest

import dreamer
from bot import queue
from bot.config import load_config
from bot.queue.remote import RemoteRender
from bot_helpers import photo_bytes, tiny_config, write_photo
from dreamer.places_measure import measure_places


@pytest.fixture
def serve(tmp_path):
    made = []

    def make(extra: str = "", render=None):
        cfg = load_config(tiny_config(tmp_path, extra="[queue]\nretry_delay_seconds = 0.2\n" + extra),
                          need_secrets=False)
        q = queue.RenderQueue(queue.QueueSettings.from_config(cfg))
        q.serve_here(render=render, name="test-worker")
        c = q.consumer(2, in_process=True)
        c.start()
        made.append(c)
        return cfg, q

    yield make
    for c in made:
        c.stop(graceful=True)


@pytest.mark.parametrize("batch", [1, 2])
def test_the_worker_measures_the_places_of_its_dream(serve, batch):
    cfg, q = serve(f"batch = {batch}\nworkers = 2\nparallel = 2\nbatch_wait_seconds = 0.1\n")
    image = dreamer.load_image(photo_bytes(3))
    recipe = cfg.base_recipe().replace(classes={"goldfish": 1.0, "stingray": 1.0}, seed=5)
    got, places = RemoteRender(q).render_places(image, recipe)
    assert places is not None and places.model == "tiny"
    assert [p.class_id for p in places.classes] == [1, 6]
    # what the worker measured is what the engine measures on that photo and dream
    here = measure_places(image, got, recipe, device="cpu")
    for a, b in zip(places.classes, here.classes):
        assert np.allclose(a.rise, b.rise, atol=1e-4) and a.seen == b.seen


class Planted:
    """Places as a hostile queue could carry them: not what the engine writes."""

    def to_dict(self):
        return {"model": "x", "classes": [{"class_id": 1, "name": "@everyone", "rise": "lots", "seen": []}]}


class PlantingRenderer:
    parallel = 1

    def render(self, image, recipe):
        return image

    def render_places(self, image, recipe):
        return image, Planted()


def test_places_that_are_not_the_engines_are_dropped_not_used(serve, caplog):
    cfg, q = serve(render=PlantingRenderer())
    image = dreamer.load_image(photo_bytes(4))
    with caplog.at_level(logging.WARNING, logger="bot.queue"):
        got, places = RemoteRender(q).render_places(image, cfg.base_recipe().replace(classes={"1": 1.0}))
    assert places is None
    assert np.array_equal(np.asarray(got), np.asarray(image))  # the picture itself still comes back
    assert "ignored the places a worker" in caplog.text and "rise must be 9 finite numbers" in caplog.text


def test_a_plain_render_function_gives_no_places(serve):
    cfg, q = serve(render=lambda image, recipe: image)
    image = dreamer.load_image(photo_bytes(5))
    got, places = RemoteRender(q).render_places(image, cfg.base_recipe().replace(classes={"1": 1.0}))
    assert places is None and got.size == image.size


def test_the_scheduled_bot_through_its_embedded_queue_says_where_they_grew(tmp_path):
    # `run_bot.py` (not --once) renders through the embedded queue: _queue_render's renderer
    from bot.cli.commands import _queue_render
    from bot.parts import build_parts
    from bot.pipeline import Pipeline
    from bot.store import Store

    path = tiny_config(tmp_path, picker='allow = ["goldfish", "monarch"]\nmin_classes = 2\nmax_classes = 2\n')
    cfg = load_config(path, need_secrets=False)
    write_photo(tmp_path / "inbox" / "harbour.png", 1)
    render, consumer = _queue_render(cfg, None)
    try:
        assert isinstance(render, RemoteRender)
        store = Store(cfg.data_dir / "bot.db")
        result = Pipeline(build_parts(cfg, store), store, render=render).run_cycle()
        assert result.outcome == "posted", result.message
    finally:
        consumer.stop(graceful=True)
    [box] = [json.loads(p.read_text()) for p in cfg.outbox_dir.glob("*.json")]
    assert "all over the scene" not in box["alt_text"]
    for name in ("goldfish", "monarch"):
        assert any(f"{name} {w}" in box["alt_text"] for w in ("shapes grow", "hardly shows")) \
            or f"faint traces of {name}" in box["alt_text"], box["alt_text"]


@pytest.mark.parametrize("sent, kept", [(40, 40), (None, None), ("40", None), (True, None), (0, None), (10**9, None)])
def test_the_step_a_worker_s_dream_stopped_at_crosses_the_queue(serve, sent, kept):
    """A dream done before its cap records where it stopped (recipe.stopped_at, so a replay stops
    there too); the PNG a worker hands back cannot carry it, the result does, checked as data."""
    from dreamer.recipe import STOPPED_AT, as_ran

    def render(image, recipe):
        out = image.copy()
        if sent is not None:
            out.info[STOPPED_AT] = sent
        return out

    cfg, q = serve(render=render)
    recipe = cfg.base_recipe().replace(classes={"goldfish": 1.0}, seed=5)
    got = RemoteRender(q).render(dreamer.load_image(photo_bytes(3)), recipe)
    assert as_ran(recipe, got).views.stopped_at == kept
