"""Stop when the creature is there (recipe.stop_seen, dreamer.seen): a dream whose classes the net
sees in its degraded crops ends at that check, one that is not seen runs to its cap, the checks
change nothing in the picture, and the recipe a picture records replays it exactly."""
import numpy as np
import pytest

from dreamer import render_views as rv
from dreamer import seen
from dreamer.recipe import STOPPED_AT, Recipe, RecipeError, as_ran
from dreamer.render import dream
from dreamer.render_batch import dream_batch
from dreamer.transform import to_tensor
from tests.test_render import net, photo  # noqa: F401 - the tiny net and test photo, shared

FAST = dict(steps=10, batch_size=2, stop_every=2, seed=3)


@pytest.fixture(scope="module")
def ranked(net, photo):
    """The class the tiny net sees most in the photo's degraded crops, and one it never sees."""
    shares = seen.seen_shares(net, to_tensor(photo), list(range(1000)), 8, seed=0)
    logits = net.module(net.normalise(to_tensor(photo).new_zeros(1, 3, 64, 64) + 0.5)).detach()[0]
    never = [i for i, s in shares.items() if s == 0]
    return max(shares, key=shares.get), min(never, key=lambda i: float(logits[i]))


def pixels(image):
    return np.asarray(image, dtype=int)


def counting(monkeypatch):
    calls = []
    real = rv.seen_shares

    def spy(*args, **kwargs):
        calls.append(args[-1])
        return real(*args, **kwargs)

    monkeypatch.setattr(rv, "seen_shares", spy)
    return calls


def test_a_class_already_seen_stops_the_dream_at_twice_the_first_check(net, photo, ranked, monkeypatch):
    easy, _ = ranked
    calls = counting(monkeypatch)
    r = Recipe.from_flat(classes={str(easy): 1.0}, stop_seen=0.75, **FAST)
    out = dream(photo, r, net=net)
    assert out.info[STOPPED_AT] == 4 and len(calls) == 1  # seen at the first check, 2: done at 4
    # the check changed nothing: the same picture as a dream told to take four steps
    assert np.array_equal(pixels(out), pixels(dream(photo, r.replace(steps=4, stop_seen=0.0), net=net)))
    assert not np.array_equal(pixels(out), pixels(dream(photo, r.replace(stop_seen=0.0), net=net)))


def test_a_class_not_seen_keeps_the_dream_going_to_its_cap(net, photo, ranked, monkeypatch):
    _, hard = ranked
    calls = counting(monkeypatch)
    r = Recipe.from_flat(classes={str(hard): 1.0}, stop_seen=0.75, strength=0.02, **FAST)
    out = dream(photo, r, net=net)
    assert STOPPED_AT not in out.info
    assert len(calls) == 4  # after steps 2, 4, 6 and 8; the cap ends it at 10 without one
    assert np.array_equal(pixels(out), pixels(dream(photo, r.replace(stop_seen=0.0), net=net)))


def test_no_checks_with_stop_seen_zero_nor_for_a_deepdream(net, photo, ranked, monkeypatch):
    calls = counting(monkeypatch)
    out = dream(photo, Recipe.from_flat(classes={str(ranked[0]): 1.0}, stop_seen=0.0, **FAST), net=net)
    dream(photo, Recipe.from_flat(mode="deepdream", layer="conv2", **FAST), net=net)  # no class to see
    assert calls == [] and STOPPED_AT not in out.info


def test_same_seed_same_stop_and_the_recorded_recipe_replays_it_without_checking(net, photo, ranked, monkeypatch):
    easy, _ = ranked
    r = Recipe.from_flat(classes={str(easy): 1.0}, stop_seen=0.75, **FAST)
    first, second = dream(photo, r, net=net), dream(photo, r, net=net)
    assert np.array_equal(pixels(first), pixels(second)) and first.info == second.info
    ran = as_ran(r, first)
    assert ran.views.stopped_at == 4
    assert as_ran(r, dream(photo, r.replace(stop_seen=0.0), net=net)).views.stopped_at is None
    recorded = Recipe.from_dict(ran.to_dict())  # through the picture's metadata
    calls = counting(monkeypatch)
    again = dream(photo, recorded, net=net)
    assert calls == [] and np.array_equal(pixels(again), pixels(first))


def test_a_batch_stops_each_picture_on_its_own(net, photo, ranked):
    easy, hard = ranked
    recipes = [Recipe.from_flat(classes={str(easy): 1.0}, stop_seen=0.75, **FAST),
               Recipe.from_flat(classes={str(hard): 1.0}, stop_seen=0.75, strength=0.02, **FAST)]
    batched = dream_batch([photo, photo], recipes, net=net)
    assert batched[0].info[STOPPED_AT] == 4 and STOPPED_AT not in batched[1].info
    for pic, r in zip(batched, recipes):
        assert np.abs(pixels(pic) - pixels(dream(photo, r, net=net))).max() <= 1


@pytest.mark.parametrize("key, value", [("stop_seen", 1.5), ("stop_seen", -0.1), ("stop_every", 0), ("stopped_at", 0)])
def test_bad_stop_settings_are_refused_with_the_key_named(key, value):
    with pytest.raises(RecipeError, match=key):
        Recipe.from_flat(**{key: value})


def test_a_dream_stops_at_twice_the_step_its_classes_were_first_seen_without_looking_again(net, photo, monkeypatch):
    answers = iter([0.0, 1.0])  # a third check would raise StopIteration
    monkeypatch.setattr(rv, "seen_shares", lambda _n, _p, ids, _c, _s: {i: next(answers) for i in ids})
    out = dream(photo, Recipe.from_flat(classes={"goldfish": 1.0}, stop_seen=0.75, **FAST), net=net)
    assert out.info[STOPPED_AT] == 8  # not seen at 2, seen at 4: done at 8


def test_a_recipe_recorded_before_the_stop_existed_replays_without_it():
    recorded = Recipe(classes={"goldfish": 1.0}).to_dict()
    for key in ("stop_seen", "stop_every", "stopped_at", "view_samples", "hybrid_routed", "rivals", "hybrid_grow"):
        recorded.pop(key, None)
    old = Recipe.from_dict(recorded)
    # as pictures were made before them
    assert old.views.stop_seen == 0.0 and old.views.view_samples == 4 and old.views.hybrid_routed is False
    assert old.rivals == 0 and old.views.hybrid_grow == 1.0
    written = Recipe.from_dict({"classes": {"goldfish": 1.0}, "steps": 64})  # a person's recipe
    w, d = written.views, Recipe().views
    assert (w.stop_seen, w.view_samples, w.hybrid_routed, w.hybrid_grow) == (d.stop_seen, d.view_samples,
                                                                           d.hybrid_routed, d.hybrid_grow)
