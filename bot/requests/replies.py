"""What the bot says back, and how visible it says it.

Every text here is built from the bot's own words, class names from its label list, and
terms from the request only after `safe_term` (letters, digits, spaces): nothing the
requester wrote can become a mention, hashtag, link or markup in a reply, caption or the
outbox gallery. Each reply mentions the requester and nobody else.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Sequence

from bot.caption import join_classes, words

ORDER = ("public", "unlisted", "private", "direct")
HOW_TO_ASK = ('Mention me with a photo and up to {n} class names, e.g. "goldfish and stingray" '
              '(or "surprise me").')
HOW_TO_REMIX = ('Reply to my picture with up to {n} class names ("goldfish and stingray"), "again", '
                '"more {one}" or "less {one}", or "dive", and I will dream its photo again.')


def reply_visibility(request_visibility: str, configured: str) -> str:
    """Never wider than the request: public -> `configured` (unlisted by default),
    unlisted -> unlisted at most, private stays private, direct stays direct."""
    req = request_visibility if request_visibility in ORDER else "direct"  # unknown: be strict
    return ORDER[max(ORDER.index(req), ORDER.index(configured))]


def mention(acct: str) -> str:
    return "@" + acct.lstrip("@")


def dream_text(acct: str, names: Sequence[str], ref: str,
               left_out: Sequence[tuple[str, Sequence[str]]] = ()) -> str:
    """`left_out`: words of the request that named no class (already `safe_term`ed), with
    class names spelt like them, so the requester learns what was not understood."""
    return f"{mention(acct)} Here is your photo, dreamt with {join_classes(names)}.{_left_out(left_out)}\n{ref}"


def _left_out(left_out: Sequence[tuple[str, Sequence[str]]]) -> str:
    if not left_out:
        return ""
    parts = [f'"{words}"' + (f" (did you mean {' or '.join(close)}?)" if close else "")
             for words, close in left_out[:3]]
    return f" I left out {', '.join(parts)}: no class I know."


def reply_text(acct: str, names: Sequence[str], ref: str, *, dive: bool, form: str | None = None,
               tweaks: Sequence[tuple[str, str]] = (), left_out: Sequence[tuple[str, Sequence[str]]] = ()) -> str:
    """The reply with a dream or dive; `form` (classes, again, tweak, dive) for a remix."""
    if form is not None:
        return remix_dive_text(acct, names, ref) if dive else remix_text(acct, names, ref, form, tweaks, left_out)
    return dive_text(acct, names, ref) if dive else dream_text(acct, names, ref, left_out)


def alt_text(names: Sequence[str], seconds: float | None, *, remix: bool) -> str:
    """The alt text of a reply's picture, or of its video (`seconds` long)."""
    if remix:
        return remix_alt(names, seconds)
    return dream_alt(names) if seconds is None else dive_alt(names, seconds)


def dive_text(acct: str, names: Sequence[str], ref: str) -> str:
    return f"{mention(acct)} Here is your dive: your photo, zooming into a dream of {join_classes(names)}.\n{ref}"


def remix_text(acct: str, names: Sequence[str], ref: str, form: str, tweaks: Sequence[tuple[str, str]] = (),
               left_out: Sequence[tuple[str, Sequence[str]]] = ()) -> str:
    """A remix's reply (bot/requests/remix.py): `form` classes, again or tweak; `tweaks` are
    ("more"|"less", class name) with names from the label list."""
    if form == "again":
        body = f"Here it is again, with a new seed: {join_classes(names)}."
    elif form == "tweak":
        body = f"Here it is with {' and '.join(f'{way} {name}' for way, name in tweaks)}: {join_classes(names)}."
    else:
        body = f"Here is that picture's photo, dreamt with {join_classes(names)} instead."
    return f"{mention(acct)} {body}{_left_out(left_out)}\n{ref}"


def remix_dive_text(acct: str, names: Sequence[str], ref: str) -> str:
    return f"{mention(acct)} Here is your dive into that picture: its photo, zooming into a dream of " \
           f"{join_classes(names)}.\n{ref}"


def remix_alt(names: Sequence[str], seconds: float | None = None) -> str:
    """Alt text of a remix: the photo is the bot's own post's, not one the requester sent."""
    if seconds is None:
        return (f"The photo of the post you replied to, dreamt again by a neural network: {words(names)} "
                "grew into its shapes and textures.")
    n = max(1, round(seconds))
    return (f"Video, {n} second{'' if n == 1 else 's'}: the photo of the post you replied to, the camera zooming "
            f"slowly into it while a neural network dreams {words(names)} into its shapes and textures.")


def dive_alt(names: Sequence[str], seconds: float) -> str:
    n = max(1, round(seconds))
    return (f"Video, {n} second{'' if n == 1 else 's'}: the photo you sent, the camera zooming slowly into it "
            f"while a neural network dreams {words(names)} into its shapes and textures.")


def dream_alt(names: Sequence[str]) -> str:
    return (f"The photo you sent, reworked by a neural network that dreamt {words(names)} "
            "into its shapes and textures.")


def refusal_text(acct: str, kind: str, ref: str, *, max_classes: int = 3, term: str = "",
                 suggestions: Sequence[str] = (), retry_at: datetime | None = None, detail: str = "",
                 terms: Sequence[tuple[str, str, Sequence[str]]] = (), hours: float = 0.0,
                 remix: bool = False, names: Sequence[str] = (), days: float = 0.0) -> str:
    """The reply for a request that cannot be dreamt; `kind` as in RequestError or the queue.
    `terms`: (kind, term, suggestions) of every term that failed, when there are several.
    A remix (`remix`) is told how to remix instead of how to ask, with `names`, the classes of
    the picture it replies to."""
    how = HOW_TO_REMIX.format(n=max_classes, one=(list(names) or ["goldfish"])[0]) if remix else \
        HOW_TO_ASK.format(n=max_classes)
    if kind in ("unknown", "ambiguous") and len(terms) > 1:
        body = _several_terms(terms, how)
    elif kind == "unknown":
        body = f'I don\'t know the class "{term}".'
        body += (" Did you mean: " + ", ".join(suggestions) + "?") if suggestions else " " + how
    elif kind == "ambiguous":
        body = f'"{term}" could mean several classes: ' + ", ".join(suggestions) + ". Which one?"
    elif kind == "denied":
        body = f"Sorry, I don't dream {term}. " + how
    elif kind == "too_many":
        body = f"That is more than {max_classes} classes; please pick at most {max_classes}."
    elif kind == "bad_weight":
        body = f'I could not read the weight in "{term}": write it like goldfish:0.7 (between -2 and 3).'
    elif kind == "no_classes":
        body = "Which creatures should I dream into it? " + how
    elif kind == "no_image":
        body = ("I need a photo: attach one image to your post (or reply to your own post that has one) "
                "and name the classes. " + how)
    elif kind == "bad_image":
        body = f"I could not use that image: {detail or 'it is not a picture I can read'}. " \
               "Please send a JPEG, PNG or WebP photo."
    elif kind == "too_big":
        body = f"That image is too big for me ({detail}). Please send a smaller photo."
    elif kind == "limit":
        when = _when(retry_at)
        body = f"You have used today's dream requests; you can ask again {when}."
    elif kind == "dive_limit":
        when = _when(retry_at)
        body = (f"You have had today's dives (each costs me many pictures); you can ask for another {when}. "
                "Ask without \"dive\" for a still dream now.")
    elif kind == "remix_limit":
        body = f"You have had today's remixes; you can ask for another {_when(retry_at)}."
    elif kind == "remix_gone":
        kept = f"I keep them {days:g} day{'' if days == 1 else 's'}" if days > 0 else "I do not keep them"
        body = (f"I no longer have the photo behind that picture ({kept}), so I cannot remix it. "
                "Mention me with a photo of your own and class names instead.")
    elif kind == "remix_help":
        body = "What should I change? " + how
    elif kind == "remix_tweak":
        has = f"That picture has no {term}: it has" if term else "More or less of which class? It has"
        body = f"{has} {words(names)}. Write e.g. \"more {names[0]}\" or \"less {names[-1]}\"." if names else how
    elif kind == "queue_full":
        body = "My dream queue is full right now; please ask again in an hour or so."
    elif kind == "failed":
        body = "Sorry, something went wrong while dreaming your photo; please try again later."
    elif kind == "crashed":
        body = ("Sorry, dreaming your photo keeps knocking me over (it may be too big for my machine); "
                "please try a smaller one.")
    elif kind == "too_late":
        body = (f"Sorry, I could not answer this within {hours:g} hours: my server was unreachable. "
                "Please ask again if you still want the dream.")
    else:
        body = how
    return f"{mention(acct)} {body}\n{ref}"


def _several_terms(terms: Sequence[tuple[str, str, Sequence[str]]], how: str) -> str:
    parts = []
    for kind, term, names in terms:
        if kind == "ambiguous":
            parts.append(f'"{term}" could mean several classes: {", ".join(names)}; which one?')
        elif names:
            parts.append(f'I don\'t know "{term}"; did you mean: {", ".join(names)}?')
        else:
            parts.append(f'I don\'t know "{term}".')
    tail = "" if all(names for _, _, names in terms) else " " + how
    return " ".join(parts) + tail


def late(text: str, hours: float) -> str:
    """A reply that comes late says sorry first (after the mention, so it stays a reply to them)."""
    head, _, rest = text.partition(" ")
    return f"{head} Sorry for the wait ({_duration(hours)}): I could not reach my server. {rest}"


def _duration(hours: float) -> str:
    return f"{hours:.0f} h" if hours >= 1.5 else f"{hours * 60:.0f} min"


def queued_text(acct: str, position: int, minutes: int, ref: str) -> str:
    return f"{mention(acct)} Got it: your dream is number {position} in the queue, ready in about {minutes} min.\n{ref}"


def next_day() -> datetime:
    now = datetime.now(timezone.utc)
    return (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)


def _when(t: datetime | None) -> str:
    if t is None:
        return "tomorrow"
    return "after " + t.strftime("%H:%M UTC on %d %b").replace(" 0", " ")
