"""A status' HTML as the plain text of a request: mentions, hashtags, links, custom emoji and
quotes taken out.

Servers format a status' `content` differently (see tests/fixtures/requests/README.md):
Mastodon and GoToSocial wrap a mention in `<span class="h-card"><a class="u-url mention">
@<span>user</span></a></span>`, Pleroma/Akkoma add `data-user`, Misskey writes a bare
`<a class="u-url mention">@user@host</a>`, Friendica puts the "@" outside the link
(`<bdi>@<a class="userinfo mention">user</a></bdi>`). Hashtags are links with class
"hashtag" or rel="tag" (Mastodon marks them "mention hashtag", so hashtag wins). The
walk uses the stdlib HTML parser, never regexes over markup, so entities, nesting and
attribute order do not matter.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any, Mapping


@dataclass
class StatusText:
    """What a status says. `text` has mentions, links and hashtags taken out."""

    text: str
    mentions: list[str] = field(default_factory=list)  # hrefs of mention links
    hashtags: list[str] = field(default_factory=list)  # without '#', as written
    links: list[str] = field(default_factory=list)


# Where a mention, hashtag or link was: a space in the text, but no start of a quote line
# ("@dreambot > goldfish" points at goldfish; a line "> goldfish" quotes someone)
_LINK_GAP = "\x00"


class _Walker(HTMLParser):
    _BLOCKS = {"p", "div", "li", "blockquote", "pre", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol"}
    # A <blockquote> (servers that take Markdown or HTML) quotes someone else: not the request.
    _SKIP = {"script", "style", "template", "blockquote"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.result = StatusText("")
        self._anchor: list[str | None] = []  # per open <a>: 'mention' | 'hashtag' | 'link' | None
        self._anchor_text: list[list[str]] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v or "") for k, v in attrs}
        if tag in self._BLOCKS or tag == "br":  # a skipped block too: the text around it stays apart
            self.out.append("\n")
        if tag in self._SKIP:
            self._skip += 1
        elif tag == "a":
            classes = set(a.get("class", "").split())
            rel = set(a.get("rel", "").split())
            if "hashtag" in classes or "tag" in rel:
                kind = "hashtag"
            elif "mention" in classes:
                kind = "mention"
                if self.out and self.out[-1].endswith(("@", "!")):
                    # Friendica writes the "@" before the link, outside it.
                    self.out[-1] = self.out[-1][:-1]
                self.result.mentions.append(a.get("href", ""))
            else:
                kind = "link"
                if a.get("href"):
                    self.result.links.append(a["href"])
            self._anchor.append(kind)
            self._anchor_text.append([])

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # <br/>; an <img> (a custom emoji's alt=":blobfish:") leaves nothing: emoji name no class
        if tag == "br":
            self.out.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._BLOCKS:
            self.out.append("\n")
        if tag in self._SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag == "a" and self._anchor:
            kind = self._anchor.pop()
            text = "".join(self._anchor_text.pop()).strip()
            if kind == "hashtag" and text.lstrip("#"):
                self.result.hashtags.append(text.lstrip("#"))
            # mentions, hashtags and links leave a space, never their words
            self.out.append(_LINK_GAP)

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        if self._anchor:
            self._anchor_text[-1].append(data)
            return
        self.out.append(data)


def status_text(content: str) -> StatusText:
    """Parse a status' HTML `content` (any of the servers above)."""
    w = _Walker()
    w.feed(content or "")
    w.close()
    raw = drop_invisible("".join(w.out)).split("\n")
    # Quoted lines are someone else's words, unless the post is nothing but them ("> goldfish":
    # a ">" the sender typed as an arrow, or a quote of what they want)
    own = [ln for ln in raw if not _quoted(ln)]
    lines = own if any(ln.replace(_LINK_GAP, " ").strip() for ln in own) else [_unquote(ln) for ln in raw]
    lines = [re.sub(r"[ \t\u00a0]+", " ", ln.replace(_LINK_GAP, " ")).strip() for ln in lines]
    w.result.text = "\n".join(ln for ln in lines if ln)
    return w.result


def _quoted(line: str) -> bool:
    """A line that starts with ">" quotes someone (as in e-mail and Markdown): not the request."""
    return line.lstrip(" \t\u00a0").startswith(">")


def _unquote(line: str) -> str:
    return line.lstrip(" \t\u00a0").lstrip(">") if _quoted(line) else line


def request_text(status: "Mapping[str, Any]") -> StatusText:
    """`status_text` of a status dict, also removing plain "@user" / "@user@host" words for the
    accounts in its `mentions` list (some servers and clients leave mentions unlinked; a mentioned
    username goes with any host, as a local account's acct has none) and the ":shortcode:" of each of
    its custom `emojis` (Mastodon leaves them in the text, and they name no class)."""
    parsed = status_text(str(status.get("content") or ""))
    _drop_custom_emoji(parsed, status.get("emojis"))
    names = set()
    for m in status.get("mentions") or []:
        if isinstance(m, Mapping):
            for k in ("acct", "username"):
                if m.get(k):
                    names.add(str(m[k]).lower())
    if names:
        def drop(match: "re.Match[str]") -> str:
            who = match.group(1).lower()
            return " " if who in names or who.partition("@")[0] in names else match.group(0)

        text = re.sub(r"(?<![\w@])@([\w.-]+(?:@[\w.-]+\w)?)", drop, parsed.text)
        parsed.text = "\n".join(re.sub(r" +", " ", ln).strip() for ln in text.split("\n") if ln.strip())
    return parsed


def _drop_custom_emoji(parsed: StatusText, emojis: object) -> None:
    """Take the status' own custom emoji out of its text; a ":word:" it does not list stays."""
    listed = emojis if isinstance(emojis, list) else []
    codes = {str(e["shortcode"]) for e in listed if isinstance(e, Mapping) and e.get("shortcode")}
    if codes:
        parsed.text = re.sub(r":([\w+-]+):", lambda m: " " if m.group(1) in codes else m.group(0), parsed.text)


def drop_invisible(text: str) -> str:
    """Text without format characters (zero-width space and joiner, word joiner, soft hyphen,
    direction marks and overrides, BOM): they show as nothing, so "gold\u200bfish" is "goldfish",
    not "gold fish"."""
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
