"""Absurd aspect ratios are refused, saying where the limit is, by the engine, the CLI and the
bot's request intake; anything up to the limit is dreamt."""
from __future__ import annotations

import pytest
from PIL import Image

import dreamer
from dreamer import ImageError, Recipe, dream
from dreamer.cli import main
from dreamer.shape import MAX_ASPECT, check_shape
from models import create_model
from test_requests_flow import make_worker, mock, only_reply, server, text_of  # noqa: F401
from bot_helpers import photo_bytes
from requests_helpers import ask


@pytest.mark.parametrize("size", [(4000, 3), (99999, 10), (3, 4000), (MAX_ASPECT * 10 + 1, 10)])
def test_thin_strips_are_refused_naming_the_limit(size):
    with pytest.raises(ImageError, match=f"up to {MAX_ASPECT}:1"):
        check_shape(*size)


@pytest.mark.parametrize("size", [(MAX_ASPECT * 10, 10), (10, MAX_ASPECT * 10), (4000, 3000), (1, 1)])
def test_shapes_up_to_the_limit_pass(size):
    check_shape(*size)


def test_the_engine_refuses_before_loading_a_net(monkeypatch):
    import dreamer.render as render

    monkeypatch.setattr(render, "load_net", lambda *a: pytest.fail("the net was loaded"))
    with pytest.raises(ImageError, match="400×10 pixels, 40:1"):
        dream(Image.new("RGB", (400, 10)), Recipe.from_flat(classes={"1": 1.0}, steps=1))


def test_a_picture_at_the_limit_is_dreamt():
    net = create_model("tiny")
    photo = Image.new("RGB", (MAX_ASPECT * 8, 8), (90, 120, 150))
    out = dream(photo, Recipe.from_flat(model="tiny", classes={"1": 1.0}, steps=2), net=net)
    assert out.size == photo.size


def test_cli_refuses_in_one_line(tmp_path, capsys):
    strip = tmp_path / "strip.png"
    Image.new("RGB", (500, 10)).save(strip)
    assert main([str(strip), "-c", "goldfish", "--model", "tiny", "-q", "-o", str(tmp_path / "o.png")]) == 2
    err = capsys.readouterr().err
    assert "strip.png is 500×10 pixels, 50:1" in err and f"{MAX_ASPECT}:1" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "o.png").exists()


def test_a_request_with_a_strip_is_refused_with_the_limit(mock, tmp_path):  # noqa: F811
    rendered = []
    worker, store = make_worker(tmp_path, mock, render=lambda image, recipe: rendered.append(1))
    req = ask(mock, "ann", "goldfish", image=photo_bytes(1, size=(400, 10)))
    worker.tick()
    text = text_of(only_reply(mock, req["id"]))
    assert "could not use that image" in text and f"up to {MAX_ASPECT}:1" in text
    assert rendered == [] and store.request(1).state == "refused"


def test_the_bot_finds_the_check_where_it_looks():
    assert dreamer.check_shape is check_shape and dreamer.MAX_ASPECT == MAX_ASPECT


def test_the_classic_engine_turns_thin_pictures_less():
    from dreamer.render_tiles import _turn_for
    from dreamer.transform import view_grid

    assert _turn_for(8.0, 300, 400) == 8.0 and _turn_for(-8.0, 3000, 4000) == -8.0  # photos: as drawn
    for h, w in [(250, 4000), (4000, 250)]:
        angle = _turn_for(8.0, h, w)
        assert 0 < angle < 8.0
        canvas = view_grid(h, w, 1.0, angle, (0.0, 0.0), 0).shape
        # turned, the canvas is at most about half again the picture (not long² sin a)
        assert canvas[1] * canvas[2] <= 1.55 * h * w
