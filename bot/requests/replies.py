"""What the bot says back, and how visible it says it.

Every text here is built from the bot's own words, class names from its label list, and
terms from the request only after `safe_term` (letters, digits, spaces): nothing the
requester wrote can become a mention, hashtag, link or markup in a reply, caption or the
outbox gallery. Each reply mentions the requester and nobody else.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import Sequence

from bot.caption import join_classes, words
from bot.store.asks import Refusal  # the kinds are the store's column values; their texts are here

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


class RemixForm(Enum):
    """What a remix (bot/requests/remix.py) asked for, which its reply says back."""

    CLASSES = "classes"  # these classes instead of the post's
    AGAIN = "again"  # the same classes, a new seed
    TWEAK = "tweak"  # more or less of a class
    DIVE = "dive"


def reply_text(acct: str, names: Sequence[str], ref: str, *, dive: bool, form: RemixForm | None = None,
               tweaks: Sequence[tuple[str, str]] = (), left_out: Sequence[tuple[str, Sequence[str]]] = ()) -> str:
    """The reply with a dream or dive; `form` for a remix."""
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


def remix_text(acct: str, names: Sequence[str], ref: str, form: RemixForm, tweaks: Sequence[tuple[str, str]] = (),
               left_out: Sequence[tuple[str, Sequence[str]]] = ()) -> str:
    """A remix's reply (bot/requests/remix.py), but a dive's; `tweaks` are ("more"|"less",
    class name) with names from the label list."""
    if form is RemixForm.AGAIN:
        body = f"Here it is again, with a new seed: {join_classes(names)}."
    elif form is RemixForm.TWEAK:
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


# What each refusal says (after the mention, before the link), as str.format templates over the
# fields `refusal_text` fills in; {how} is how to ask (or, for a remix, how to remix).
TEMPLATES: dict[Refusal, str] = {
    Refusal.UNKNOWN: 'I don\'t know the class "{term}".{did_you_mean}',
    Refusal.AMBIGUOUS: '"{term}" could mean several classes: {suggestions}. Which one?',
    Refusal.DENIED: "Sorry, I don't dream {term}. {how}",
    Refusal.TOO_MANY: "That is more than {max_classes} classes; please pick at most {max_classes}.",
    Refusal.BAD_WEIGHT: 'I could not read the weight in "{term}": write it like goldfish:0.7 (between -2 and 3).',
    Refusal.NO_CLASSES: "Which creatures should I dream into it? {how}",
    Refusal.NO_IMAGE: ("I need a photo: attach one image to your post (or reply to your own post that has one) "
                       "and name the classes. {how}"),
    Refusal.BAD_IMAGE: "I could not use that image: {unreadable}. {advice}",
    Refusal.TOO_BIG: "That image is too big for me ({detail}). Please send a smaller photo.",
    Refusal.LIMIT: "You have used today's dream requests; you can ask again {when}.",
    Refusal.DIVE_LIMIT: ("You have had today's dives (each costs me many pictures); you can ask for another {when}. "
                         "Ask without \"dive\" for a still dream now."),
    Refusal.REMIX_LIMIT: "You have had today's remixes; you can ask for another {when}.",
    Refusal.REMIX_GONE: ("I no longer have the photo behind that picture ({kept}), so I cannot remix it. "
                         "Mention me with a photo of your own and class names instead."),
    Refusal.REMIX_HELP: "What should I change? {how}",
    Refusal.REMIX_TWEAK: "{has} {names}. Write e.g. \"more {first}\" or \"less {last}\".",
    Refusal.QUEUE_FULL: "My dream queue is full right now; please ask again in an hour or so.",
    Refusal.FAILED: "Sorry, something went wrong while dreaming your photo; please try again later.",
    Refusal.CRASHED: ("Sorry, dreaming your photo keeps knocking me over (it may be too big for my machine); "
                      "please try a smaller one."),
    Refusal.TOO_LATE: ("Sorry, I could not answer this within {hours:g} hours: my server was unreachable. "
                       "Please ask again if you still want the dream."),
}
SEND_A_PHOTO = "Please send a JPEG, PNG or WebP photo."
# Why a picture could not be read (dreamer's ImageError.reason), in the bot's own words, and
# what to do instead of SEND_A_PHOTO where that says more. Never the loader's message: it names
# the file and may quote its bytes, and those are the sender's (or their server's) to choose.
UNREADABLE: dict[str, tuple[str, str]] = {
    "heic": ("iPhone HEIC photos I can't read yet",
             "Please send it as JPEG or PNG (on iPhone: Settings → Camera → Formats → Most Compatible)."),
    "web_page": ("the link gave me a web page, not a picture", SEND_A_PHOTO),
    "svg": ("SVG drawings I can't read", "Please send it as PNG or JPEG."),
    "not_a_picture": ("that file is not a picture", SEND_A_PHOTO),
    "truncated": ("it arrived cut short", "Please try sending it again."),
    "damaged": ("its picture data is damaged", "Please try sending it again, or as JPEG or PNG."),
    "unsupported": ("it is not a photo format I know", SEND_A_PHOTO),
}


def unreadable(reason: str) -> dict[str, str]:
    """The refusal_text details for a picture the loader gave up on with ImageError `reason`."""
    detail, advice = UNREADABLE.get(reason, ("it is not a picture I can read", SEND_A_PHOTO))
    return {"detail": detail, "advice": advice}


# Refusals that show the picture's classes: without any, they say {how} instead (as an unknown kind does).
NEEDS_NAMES = frozenset({Refusal.REMIX_TWEAK})


def refusal_text(acct: str, kind: Refusal | str, ref: str, *, max_classes: int = 3, term: str = "",
                 suggestions: Sequence[str] = (), retry_at: datetime | None = None, detail: str = "",
                 terms: Sequence[tuple[Refusal, str, Sequence[str]]] = (), hours: float = 0.0,
                 remix: bool = False, names: Sequence[str] = (), days: float = 0.0,
                 advice: str = SEND_A_PHOTO) -> str:
    """The reply for a request that cannot be dreamt; `kind` a `Refusal` (or its value).
    `terms`: (kind, term, suggestions) of every term that failed, when there are several.
    A remix (`remix`) is told how to remix instead of how to ask, with `names`, the classes of
    the picture it replies to. `advice`: what to do about a picture that could not be used."""
    how = HOW_TO_REMIX.format(n=max_classes, one=(list(names) or ["goldfish"])[0]) if remix else \
        HOW_TO_ASK.format(n=max_classes)
    try:
        template: str | None = TEMPLATES[Refusal(kind)]
    except ValueError:  # a kind this version does not know: how to ask
        template = None
    if kind in (Refusal.UNKNOWN, Refusal.AMBIGUOUS) and len(terms) > 1:
        body = _several_terms(terms, how)
    elif template is None or (kind in NEEDS_NAMES and not names):
        body = how
    else:
        body = template.format(
            term=term, suggestions=", ".join(suggestions), how=how, max_classes=max_classes, detail=detail,
            unreadable=detail or "it is not a picture I can read", advice=advice, when=_when(retry_at), hours=hours,
            did_you_mean=(" Did you mean: " + ", ".join(suggestions) + "?") if suggestions else " " + how,
            kept=f"I keep them {days:g} day{'' if days == 1 else 's'}" if days > 0 else "I do not keep them",
            has=f"That picture has no {term}: it has" if term else "More or less of which class? It has",
            names=words(names), first=names[0] if names else "", last=names[-1] if names else "",
        )
    return f"{mention(acct)} {body}\n{ref}"


def _several_terms(terms: Sequence[tuple[Refusal, str, Sequence[str]]], how: str) -> str:
    parts = []
    for kind, term, names in terms:
        if kind == Refusal.AMBIGUOUS:
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


def animation_note(text: str, frame: int) -> str:
    """A reply to an animated picture (GIF, WebP, APNG) says which of its frames was dreamt (the
    index `frame`), so a dream that stands still is no surprise."""
    from dreamer.image_io import frame_words

    body, _, ref = text.rpartition("\n")
    return f"{body} Your picture is animated: I dreamt {frame_words(frame)}.\n{ref}"


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
