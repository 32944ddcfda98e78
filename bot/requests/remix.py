"""Remix by reply (issue 30): a reply to one of the bot's posts (or to one of its remixes),
without an image, dreams that post's photo again. What the reply says:

- class names ("goldfish and stingray", "goldfish:0.7, surprise me"): the same photo with those
  classes, read by the requests' own parser (parse.py), with the post's seed;
- "again" (or "once more", "another one"): the same classes, a new seed;
- "more stingray" / "less goldfish" (several, by commas or "and"): the same recipe with that
  class's weight times or divided by FACTOR. In a hybrid the weights share out the picture; a
  class alone has all of it, and the engine's steps do not depend on its weight's scale, so
  there the recipe's strength moves instead (by STRENGTH_FACTOR);
- "dive" (listen.py and parse.dive_request tell a dive): a dive of the post, with its classes
  (or those named after "dive").

The photo is the one the bot kept for that post (bot/kept_photos.py); when it is gone (past
`remix_keep_days`, or from before photos were kept) the answer says so. Everything else (the
state machine, limits, replies) is the requests' own: a remix is a request row with `remix_of`.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .inputs import Refuse
from .parse import WEIGHT_MAX, WEIGHT_MIN, ParsedRequest, Wish, parse_request, safe_term, split_terms, strip_emoji
from .replies import Refusal, RemixForm

if TYPE_CHECKING:
    from dreamer import Recipe
    from models.labels import Labels
    from PIL import Image

    from bot.config.services import RequestsSection
    from bot.store import RemixSource, Store

AGAIN = frozenset({"again", "once more", "one more", "one more time", "another", "another one", "reroll",
                   "new seed", "do it again", "repeat"})
_POLITE = frozenset({"please", "pls", "plz", "thanks", "thank", "you", "thx", "ty"})
_TWEAK = re.compile(r"(?:^|\s)(more|less|fewer)\s+(?:of\s+(?:the\s+)?)?(.+)$")  # "please more stingray" too
FACTOR = 1.5
STRENGTH_FACTOR = 1.25
STRENGTH_MIN, STRENGTH_MAX = 0.1, 1.2  # past these a dream is a plain photo or a mess


@dataclass(frozen=True)
class Remix:
    """A remix as the reply asked for it: `parsed` its classes (with what the reply left out);
    `tweaks` the (more|less, class name) asked for."""

    source: "RemixSource"
    form: RemixForm
    parsed: ParsedRequest
    seed: int
    strength: float | None
    tweaks: tuple[tuple[str, str], ...] = ()

    def recipe(self, base: "Recipe") -> "Recipe":
        """The bot's recipe with the post's (or this remix's) strength; classes and seed are
        set where it is dreamt."""
        return base if self.strength is None else base.replace(strength=self.strength)

    def photo(self, keep_days: float) -> "Image.Image":
        """The kept photo, or Refuse(Refusal.REMIX_GONE) when it went meanwhile."""
        import dreamer

        try:
            data = self.source.photo.read_bytes() if self.source.photo else None
        except OSError:
            data = None
        if data is None:
            raise Refuse(Refusal.REMIX_GONE, days=keep_days)
        return dreamer.load_image(data, name="the kept photo")


def plan(rq: "RequestsSection", base: "Recipe", store: "Store", remix_of: str, text: str, *, dive: bool,
         labels: "Labels", rng: random.Random) -> Remix:
    """The remix a reply (its text without mentions and without "dive") asks for, of a post
    dreamt by the recipe `base`. Raises Refuse (photo gone, nothing to remix, a class the post
    has not) or parse.RequestError."""
    source = store.remix_source(remix_of)
    if source is None or source.photo is None or not source.photo.is_file():
        raise Refuse(Refusal.REMIX_GONE, days=rq.remix_keep_days)
    names = [n for _, n, _ in source.classes]
    same = ParsedRequest(tuple(Wish(i, n, w) for i, n, w in source.classes))
    seed = source.seed if source.seed is not None else rng.randrange(2**31)
    words = " ".join(w for w in re.sub(r"[^\w\s]", " ", strip_emoji(text).lower()).split() if w not in _POLITE)
    if not words or words in AGAIN:
        if not source.classes:
            raise Refuse(Refusal.REMIX_HELP, names=names)
        if words:  # "again": a new seed
            return Remix(source, RemixForm.AGAIN, same, rng.randrange(2**31), source.strength)
        if dive:
            return Remix(source, RemixForm.DIVE, same, seed, source.strength)
        raise Refuse(Refusal.REMIX_HELP, names=names)
    if words in ("more", "less", "fewer"):  # of what?
        raise Refuse(Refusal.REMIX_TWEAK, term="", names=names)
    terms = split_terms(text)
    tweaks = [_TWEAK.search(t) for t in terms]
    if any(tweaks):
        return _tweak(base.views.strength, source, terms, tweaks, labels, seed)
    parsed = parse_request(text, labels, max_classes=rq.max_classes)
    return Remix(source, RemixForm.DIVE if dive else RemixForm.CLASSES, parsed, seed, source.strength)


def _tweak(base_strength: float, source: "RemixSource", terms: list[str], tweaks: list[re.Match[str] | None],
           labels: "Labels", seed: int) -> Remix:
    from .terms import read_term

    names = [n for _, n, _ in source.classes]
    named = {i: n for i, n, _ in source.classes}
    weights = {i: w for i, _, w in source.classes}
    strength = source.strength
    asked: list[tuple[str, str]] = []
    for term, m in zip(terms, tweaks):
        if m is None:  # "more stingray, goldfish": which way for goldfish? "..., peacock": it has none
            known = any(i in weights for i in read_term(term, labels).ids)
            raise Refuse(Refusal.REMIX_TWEAK, term="" if known else safe_term(term), names=names)
        way, what = m.group(1), m.group(2)
        hits = [i for i in read_term(what, labels).ids if i in weights]
        if not hits:
            raise Refuse(Refusal.REMIX_TWEAK, term=safe_term(what), names=names)
        for i in hits:
            up = way == "more"
            w = weights[i]
            w = w * FACTOR if (w > 0) == up else w / FACTOR
            weights[i] = min(WEIGHT_MAX, max(WEIGHT_MIN, w))
            if sum(1 for v in weights.values() if v > 0) == 1 and weights[i] > 0:
                s = strength if strength is not None else base_strength
                s = s * STRENGTH_FACTOR if up else s / STRENGTH_FACTOR
                strength = min(STRENGTH_MAX, max(STRENGTH_MIN, s))
            asked.append(("more" if up else "less", named[i]))
    parsed = ParsedRequest(tuple(Wish(i, n, weights[i]) for i, n, _ in source.classes))
    return Remix(source, RemixForm.TWEAK, parsed, seed, strength, tuple(dict.fromkeys(asked)))
