"""Remix by reply (issue 30) end to end against mastodon-mock: the bot posts a dream (the real
pipeline, its photo kept), then people reply to it without an image — "goldfish and peacock",
"again", "more stingray", "less goldfish", "dive" — and get the same photo dreamt again as a
reply, under the requests' own rules: limits, visibility, refusals that say what to write,
#nobot and bots ignored, a photo past its keeping time answered plainly."""
from __future__ import annotations

import json
import random
from pathlib import Path
from datetime import datetime, timedelta, timezone

import pytest
from PIL import Image

from bot.parts import build_parts
from bot.pipeline import Pipeline
from bot.publishers.mastodon_text import html_to_text
from bot.requests.remix import FACTOR, STRENGTH_FACTOR
from bot.requests.worker import build_worker
from bot.store import Store
from bot_helpers import mastodon_mock_fixtures, write_photo
from requests_helpers import SEED, ask, bot_statuses, fake_render, load, replies_to, request_config

server, mock = mastodon_mock_fixtures(SEED)
PAIR = 'allow = ["goldfish", "stingray"]\nmin_classes = 2\nmax_classes = 2\nweight_min = 0.8\nweight_max = 0.8\n'
SINGLE = 'allow = ["goldfish"]\nmin_classes = 1\nmax_classes = 1\nweight_min = 0.8\nweight_max = 0.8\n'
GOLDFISH, STINGRAY, PEACOCK = "1", "6", "84"  # ImageNet ids, as a request's recipe names them


class Bot:
    """A bot with requests on: `post()` makes a scheduled dream on the mock, `tick()` answers."""

    def __init__(self, tmp_path, srv, extra: str = "", picker: str = PAIR, render=None, outbox: bool = False,
                 recipe: str = ""):
        self.tmp_path, self.srv = tmp_path, srv
        path = request_config(tmp_path, srv, extra, picker=picker)
        path.write_text(path.read_text().replace('model = "tiny"\n', 'model = "tiny"\n' + recipe))
        if outbox:
            path.write_text(path.read_text().replace("[publishers.outbox]\nenabled = false",
                                                     "[publishers.outbox]\nenabled = true"))
        self.cfg = load(path)
        self.store = Store(self.cfg.data_dir / "bot.db")
        self.recipes: list = []
        self.images: list = []

        def recording(image, recipe):
            self.recipes.append(recipe)
            self.images.append(image.copy())
            return fake_render(image, recipe)

        self.pipeline = Pipeline(build_parts(self.cfg, self.store), self.store, render=fake_render,
                                 rng=random.Random(1))
        self.worker = build_worker(self.cfg, self.store, render=render or recording)
        self.worker.rng = random.Random(5)

    def post(self, seed: int = 1) -> dict:
        write_photo(self.tmp_path / "inbox" / f"photo{seed}.png", seed)
        result = self.pipeline.run_cycle()
        assert result.posts["mastodon"] == "confirmed", result
        remote = self.store.post(result.dream_id, "mastodon").remote_id
        [status] = [s for s in bot_statuses(self.srv) if s["id"] == remote]
        return status

    def tick(self):
        return self.worker.tick()


@pytest.fixture
def make_bot(mock, tmp_path):
    return lambda extra="", **kw: Bot(tmp_path, mock, extra, **kw)


def only_reply(srv, status_id) -> dict:
    found = replies_to(srv, status_id)
    assert len(found) == 1, [html_to_text(s["content"]) for s in found]
    return found[0]


def text_of(status) -> str:
    return html_to_text(status["content"])


def remix(srv, who, post, text, **kw):
    """`who` replies to the bot's `post` with `text`, without an image."""
    return ask(srv, who, text, image=False, in_reply_to_id=post["id"], **kw)


def test_classes_remix_dreams_the_kept_photo_with_those_classes(mock, make_bot):
    bot = make_bot()
    post = bot.post()
    dream = bot.store.dream(1)
    assert dream.source_photo.is_file() and dream.source_photo.parent == bot.cfg.data_dir / "remix"
    req = remix(mock, "ann", post, "goldfish and peacock please")
    assert bot.tick().answered == 1
    reply = only_reply(mock, req["id"])
    assert text_of(reply).startswith("@ann Here is that picture's photo, dreamt with goldfish × peacock instead.")
    assert [m["acct"] for m in reply["mentions"]] == ["ann"] and reply["in_reply_to_id"] == req["id"]
    assert reply["visibility"] == "unlisted"  # a public reply gets reply_visibility, as a request does
    [media] = reply["media_attachments"]
    assert media["type"] == "image" and media["description"].startswith("The photo of the post you replied to")
    [recipe] = bot.recipes
    assert recipe.classes == {GOLDFISH: 1.0, PEACOCK: 1.0}
    assert recipe.seed == json.loads(bot.store._query("SELECT recipe_json FROM dreams")[0][0])["seed"]
    # the photo dreamt is the post's own photo, as kept (the same picture the cycle took)
    with Image.open(dream.source_photo) as kept:
        assert bot.images[0].size == kept.size == (96, 64)
    row = bot.store.request(1)
    assert (row.remix_of, row.source_key, row.state) == (post["id"], dream.post_key, "replied")


def test_again_is_the_same_classes_with_a_new_seed(mock, make_bot):
    bot = make_bot()
    post = bot.post()
    stored = json.loads(bot.store._query("SELECT recipe_json FROM dreams")[0][0])
    req = remix(mock, "ann", post, "again!")
    bot.tick()
    assert text_of(only_reply(mock, req["id"])).startswith("@ann Here it is again, with a new seed: goldfish × stingray.")
    [recipe] = bot.recipes
    assert recipe.classes == {GOLDFISH: 0.8, STINGRAY: 0.8} and recipe.seed != stored["seed"]
    assert recipe.views.strength == stored["strength"]


def test_more_and_less_move_that_class_weight_and_a_remix_of_a_remix_goes_on_from_it(mock, make_bot):
    bot = make_bot()
    post = bot.post()
    req = remix(mock, "ann", post, "more stingray")
    bot.tick()
    first = only_reply(mock, req["id"])
    assert text_of(first).startswith("@ann Here it is with more stingray: goldfish × stingray.")
    assert bot.recipes[0].classes == {GOLDFISH: 0.8, STINGRAY: pytest.approx(0.8 * FACTOR)}
    # bob replies to the bot's remix: its recipe is where he starts
    req2 = remix(mock, "bob", first, "less goldfish, more stingray")
    bot.tick()
    assert text_of(only_reply(mock, req2["id"])).startswith(
        "@bob Here it is with less goldfish and more stingray: goldfish × stingray.")
    assert bot.recipes[1].classes == {GOLDFISH: pytest.approx(0.8 / FACTOR), STINGRAY: pytest.approx(0.8 * FACTOR ** 2)}
    assert bot.recipes[1].seed == bot.recipes[0].seed  # only the weights changed
    assert bot.store.request(2).source_key == bot.store.request(1).source_key == bot.store.dream(1).post_key


def test_more_of_a_class_alone_raises_the_strength(mock, make_bot):
    """One class has the whole picture whatever its weight: "more" has to mean stronger."""
    bot = make_bot(picker=SINGLE)
    post = bot.post()
    base = json.loads(bot.store._query("SELECT recipe_json FROM dreams")[0][0])["strength"]
    req = remix(mock, "ann", post, "less goldfish")
    bot.tick()
    assert text_of(only_reply(mock, req["id"])).startswith("@ann Here it is with less goldfish")
    assert bot.recipes[0].views.strength == pytest.approx(base / STRENGTH_FACTOR)


# a 5-frame dive at 5 fps, 64 px, dreamt on frames 0, 2 and 4
TINY_DIVE = "dive_frames = 5\n[dive]\nfps = 5\nsize = 64\nglide = 2\nease = 0\nsteps = 2\n"


def test_dive_is_a_dive_of_that_post_under_the_dive_limit(mock, make_bot):
    bot = make_bot(TINY_DIVE, render=fake_render)  # dives are made by the engine (tiny net)
    post = bot.post()
    req = remix(mock, "ann", post, "dive")
    assert bot.tick().errors == 0
    reply = only_reply(mock, req["id"])
    assert text_of(reply).startswith("@ann Here is your dive into that picture: its photo, zooming into a dream of "
                                     "goldfish × stingray.")
    [media] = reply["media_attachments"]
    assert media["type"] == "video" and media["description"].startswith(
        "Video, 1 second: the photo of the post you replied to")
    row = bot.store.request(1)
    assert row.kind == "dive" and row.dream_path.endswith(".mp4")
    assert json.loads(row.recipe_json)["frames"] == 5
    again = remix(mock, "ann", post, "dive")  # one dive a day (the default), remixes included
    bot.tick()
    no = only_reply(mock, again["id"])
    assert "today's dives" in text_of(no) and no["media_attachments"] == []


@pytest.mark.parametrize("keep", ["1", "0"])
def test_a_post_whose_photo_is_gone_gets_a_plain_answer(mock, make_bot, keep):
    bot = make_bot(f"remix_keep_days = {keep}\n")
    post = bot.post()
    if keep == "1":  # kept, then its day is over: the next cycle's sweep deletes it
        kept = bot.store.dream(1).source_photo
        old = (datetime.now(timezone.utc) - timedelta(days=2)).isoformat(timespec="seconds")
        bot.store._query("UPDATE dreams SET created_at = ?", (old,))
        bot.pipeline.retry_due()
        assert not kept.exists() and bot.store.dream(1).source_photo is None
    assert not any((bot.cfg.data_dir / "remix").glob("*"))
    # whatever the reply says (a misspelt class, too): the photo is what is missing
    req = remix(mock, "ann", post, "again" if keep == "1" else "goldfsh")
    bot.tick()
    reply = only_reply(mock, req["id"])
    kept_for = "I keep them 1 day)" if keep == "1" else "I do not keep them)"
    assert f"I no longer have the photo behind that picture ({kept_for}, so I cannot remix it." in text_of(reply)
    assert "Mention me with a photo of your own" in text_of(reply)
    assert reply["media_attachments"] == [] and bot.recipes == []


def test_the_sweep_deletes_photos_no_dream_names(mock, make_bot):
    bot = make_bot()
    bot.post()
    stray = bot.cfg.data_dir / "remix" / "0123abcd.jpg"  # kept by a process that died before recording
    stray.write_bytes(b"x")
    bot.pipeline.retry_due()
    assert not stray.exists() and bot.store.dream(1).source_photo.is_file()


def test_a_photo_the_sweep_cannot_delete_does_not_stop_the_bot(mock, make_bot, monkeypatch):
    from pathlib import Path

    from bot import kept_photos

    bot = make_bot()
    bot.post()
    stray = bot.cfg.data_dir / "remix" / "0123abcd.jpg"
    stray.write_bytes(b"x")
    real = Path.unlink

    def refuse(self, missing_ok=False):
        if self == stray:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", refuse)
    assert kept_photos.sweep(bot.store, bot.pipeline.parts.keep, bot.cfg.data_dir) == 1  # logs and goes on: the
    assert stray.exists()  # cycle that sweeps first must not fail for one file
    monkeypatch.setattr(Path, "unlink", real)
    bot.pipeline.retry_due()
    assert not stray.exists()  # the next sweep finds it again


def test_remixes_have_their_own_daily_limit(mock, make_bot):
    bot = make_bot("remix_daily_limit = 2\ndaily_limit = 1\n")
    post = bot.post()
    reqs = [remix(mock, "ann", post, text) for text in ("again", "more goldfish", "less goldfish", "again")]
    photo = ask(mock, "ann", "peacock")  # a request with her own photo: daily_limit, not the remixes'
    bot.tick()
    assert [len(only_reply(mock, r["id"])["media_attachments"]) for r in reqs[:2]] == [1, 1]
    last = text_of(only_reply(mock, reqs[2]["id"]))
    assert "You have had today's remixes; you can ask for another after" in last and "UTC" in last
    assert replies_to(mock, reqs[3]["id"]) == []  # told once today already
    assert len(only_reply(mock, photo["id"])["media_attachments"]) == 1
    bob = remix(mock, "bob", post, "again")  # bob has his own
    bot.tick()
    assert len(only_reply(mock, bob["id"])["media_attachments"]) == 1


@pytest.mark.parametrize("text,expect", [
    ("", 'What should I change? Reply to my picture with up to 3 class names ("goldfish and stingray"), '
         '"again", "more goldfish" or "less goldfish", or "dive"'),
    ("more peacock", 'That picture has no peacock: it has goldfish and stingray. Write e.g. "more goldfish" '
                     'or "less stingray".'),
    ("more", "More or less of which class? It has goldfish and stingray."),
    ("more stingray, peacock", 'That picture has no peacock'),
    ("more stingray, goldfish", "More or less of which class? It has goldfish and stingray."),
    ("goldfsh", "I don't know the class \"goldfsh\". Did you mean: goldfish"),
    ("hello there", 'Which creatures should I dream into it? Reply to my picture with up to 3 class names'),
    ("goldfish, stingray, peacock, ostrich", "more than 3 classes"),
])
def test_a_remix_that_cannot_be_made_says_what_to_write(mock, make_bot, text, expect):
    bot = make_bot()
    post = bot.post()
    req = remix(mock, "ann", post, text)
    bot.tick()
    reply = only_reply(mock, req["id"])
    assert expect in text_of(reply) and reply["media_attachments"] == []
    assert bot.store.request(1).state == "refused" and bot.recipes == []


@pytest.mark.parametrize("visibility", ["private", "direct"])
def test_the_remix_is_never_more_visible_than_the_reply(mock, make_bot, visibility):
    bot = make_bot()
    post = bot.post()
    req = remix(mock, "ann", post, "again", visibility=visibility)
    bot.tick()
    reply = only_reply(mock, req["id"])
    assert reply["visibility"] == visibility and len(reply["media_attachments"]) == 1


def test_bots_and_nobot_get_no_remix_and_outside_text_stays_out(mock, make_bot):
    bot = make_bot()
    post = bot.post()
    robo, quiet = remix(mock, "robo", post, "again"), remix(mock, "quiet", post, "again")
    hostile = remix(mock, "ann", post, "@bob #spam more <b>evil.example</b>")
    bot.tick()
    assert replies_to(mock, robo["id"]) == replies_to(mock, quiet["id"]) == []
    reply = only_reply(mock, hostile["id"])
    assert [m["acct"] for m in reply["mentions"]] == ["ann"] and reply["tags"] == []
    assert "evil.example" not in reply["content"] and "<b>" not in text_of(reply)
    assert "That picture has no" in text_of(reply) and "evil example" in text_of(reply)


def test_only_a_reply_without_an_image_to_a_dream_of_the_bots_is_a_remix(mock, make_bot):
    bot = make_bot()
    post = bot.post()
    own = ask(mock, "ann", "peacock", in_reply_to_id=post["id"])  # with her own photo: a request for it
    bot.tick()
    first = only_reply(mock, own["id"])
    assert text_of(first).startswith("@ann Here is your photo, dreamt with peacock.")
    assert bot.store.request(1).remix_of is None
    # a reply to that answer (a dream of her photo, which the bot keeps nothing of) is no remix
    req = ask(mock, "ann", "goldfish", image=False, in_reply_to_id=first["id"])
    bot.tick()
    assert "I need a photo" in text_of(only_reply(mock, req["id"]))
    assert bot.store.request(2).remix_of is None


def test_with_remix_off_a_reply_to_the_bot_is_a_request_as_before(mock, make_bot):
    bot = make_bot("remix = false\n")
    post = bot.post()
    assert bot.store.dream(1).source_photo is None and not (bot.cfg.data_dir / "remix").exists()
    req = remix(mock, "ann", post, "goldfish")
    bot.tick()
    assert "I need a photo" in text_of(only_reply(mock, req["id"]))


def test_a_remix_is_not_also_published_without_its_photos_credit(mock, make_bot):
    bot = make_bot("also_publish = true\n", outbox=True)
    assert "outbox" in bot.cfg.enabled_publishers()
    post = bot.post()
    req = remix(mock, "ann", post, "again")
    bot.tick()
    assert len(only_reply(mock, req["id"])["media_attachments"]) == 1
    assert bot.store.count_dreams() == 1  # the post alone: the remix went to no other publisher


@pytest.mark.parametrize("mode", ["deepdream", "guide", "randomise"])
def test_requests_dream_their_classes_whatever_the_bots_mode(mock, make_bot, tmp_path, mode):
    """A follower asking for a goldfish gets a goldfish, though the scheduled posts are deep dreams."""
    guide = write_photo(tmp_path / "guides" / "clouds.png", 9)
    bot = make_bot(recipe=f'mode = "{mode}"\nlayer = "conv2"\nguide = "{guide.as_posix()}"\nstrength = 0.55\n')
    post = bot.post()
    assert json.loads(bot.store._query("SELECT recipe_json FROM dreams")[0][0])["mode"] == mode
    req = ask(mock, "ann", "peacock please")
    again = remix(mock, "bob", post, "goldfish and peacock")
    assert bot.tick().answered == 2
    assert text_of(only_reply(mock, req["id"])).startswith("@ann ") and "peacock" in text_of(only_reply(mock, req["id"]))
    assert "dreamt with goldfish × peacock instead" in text_of(only_reply(mock, again["id"]))
    asked, remixed = bot.recipes
    for recipe in (asked, remixed):
        assert recipe.mode == "lucid" and recipe.layer is None and recipe.guide is None
        assert recipe.views.strength == 0.55  # the operator's other settings stay
    assert asked.classes == {PEACOCK: 1.0} and remixed.classes == {GOLDFISH: 1.0, PEACOCK: 1.0}
    # what is recorded of them says what was dreamt, and carries no path of the operator's
    recorded = json.loads(bot.store.request(2).recipe_json)
    sidecar = json.loads(Path(bot.store.request(1).dream_path).with_suffix(".json").read_text())["recipe"]
    for kept in (recorded, sidecar):
        assert kept["mode"] == "lucid" and "guide" not in kept and "layer" not in kept, kept


def test_a_post_of_a_mode_without_classes_has_none_to_remix_again(mock, make_bot):
    """Its picker's classes were never dreamt, and are not recorded (the store's classes were
    the picker's, which "again" or "more" asked for as the post's): the answer says how to
    remix (with class names, which do work)."""
    bot = make_bot(recipe='mode = "deepdream"\nlayer = "conv2"\n')
    post = bot.post()
    assert bot.store.dream(1).classes == [] and bot.store.remix_source(post["id"]).classes == ()
    again, more = remix(mock, "ann", post, "again"), remix(mock, "bob", post, "more stingray")
    bot.tick()
    for req in (again, more):
        reply = only_reply(mock, req["id"])
        assert "Reply to my picture with up to" in text_of(reply) and reply["media_attachments"] == []
        assert "goldfish × stingray" not in text_of(reply)
    assert bot.recipes == []

