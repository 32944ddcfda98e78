"""The outbox's gallery pages: each post a card with the source photo beside its dream.

Pages are plain HTML with relative links (they open straight from file://), every value
HTML-escaped (a hostile feed title cannot inject markup), light or dark as the reader's system
prefers, PAGE_SIZE posts a page: index.html, page-2.html, ...
"""
from __future__ import annotations

import html
import re
from datetime import datetime
from pathlib import Path
from typing import Any, Callable
from urllib.parse import quote

from bot.caption import hashtag

PAGE_SIZE = 24
_URL = re.compile(r"https?://[^\s<>\"']+[^\s<>\"'.,;:!?)\]]")
_PAGE_FILE = re.compile(r"^page-\d+\.html$")

_STYLE = """
:root { color-scheme: light dark; --bg: #f6f6f4; --card: #fff; --ink: #1d1d1f; --muted: #5f6368;
        --line: #deded9; --link: #0b57d0; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #121214; --card: #1e1e22; --ink: #ececf0; --muted: #a8a8b3; --line: #33333a;
          --link: #8ab4f8; }
}
* { box-sizing: border-box; }
body { font: 16px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto;
       max-width: 60rem; padding: 1rem; background: var(--bg); color: var(--ink); }
h1 { font-size: 1.6rem; margin: 0.5rem 0 1.5rem; }
a { color: var(--link); overflow-wrap: anywhere; }
article { background: var(--card); border: 1px solid var(--line); border-radius: 10px;
          padding: 1rem; margin: 0 0 1.5rem; }
.pair { display: grid; grid-template-columns: 1fr 2fr; gap: 0.75rem; align-items: start; }
.pair.single { grid-template-columns: 1fr; }
figure { margin: 0; min-width: 0; }
img, video { width: 100%; height: auto; display: block; border-radius: 6px; background: var(--line); }
figcaption { color: var(--muted); font-size: 0.85rem; margin-top: 0.25rem; }
.caption { white-space: pre-wrap; overflow-wrap: anywhere; margin: 0.75rem 0 0.25rem; }
.meta { color: var(--muted); font-size: 0.9rem; margin: 0; }
.tags { margin-left: 0.5rem; }
nav { display: flex; gap: 1rem; justify-content: center; margin: 2rem 0; }
/* A phone: the dream first at the card's full width, the photo before it as a thumbnail below. */
@media (max-width: 40rem) {
  .pair { grid-template-columns: 1fr; } body { padding: 0.5rem; }
  .pair figure.before { order: 2; max-width: 45%; }
}
"""


def readable_date(iso: str) -> str:
    """'1 December 2026, 18:32 UTC' from an ISO timestamp; the text itself when it is none."""
    try:
        when = datetime.fromisoformat(iso)
    except (TypeError, ValueError):
        return iso
    zone = "UTC" if when.utcoffset() is not None and not when.utcoffset() else when.strftime("%z")
    return f"{when.day} {when.strftime('%B %Y, %H:%M')} {zone}".rstrip()


def linkify(text: str) -> str:
    """Escaped text whose http(s) addresses are links (only those: no javascript: and such)."""
    out, last = [], 0
    for m in _URL.finditer(text):
        out.append(html.escape(text[last:m.start()]))
        url = html.escape(m.group(0))
        out.append(f'<a href="{url}" rel="nofollow noopener">{url}</a>')
        last = m.end()
    out.append(html.escape(text[last:]))
    return "".join(out)


def _hashtag(tag: str) -> str:
    return hashtag(str(tag))


def card(m: dict[str, Any]) -> str:
    e = html.escape
    src = quote(str(m["image"]))
    caption = str(m.get("caption") or "")
    # The caption's template usually ends in the hashtags already: say each one once.
    tags = [h for h in map(_hashtag, m.get("tags") or []) if h and h.lower() not in caption.lower()]
    source = str(m.get("source_url") or "")
    source_html = (f'<a href="{e(source)}" rel="nofollow noopener">source photo</a>'
                   if source.startswith(("http://", "https://")) else "")
    alt = e(str(m.get("alt_text") or ""))
    if m.get("video"):
        # A dive plays where it is, silent and looping like a GIF, its poster frame until then.
        vsrc = quote(str(m["video"]))
        dream = (f'<figure><video controls loop muted playsinline preload="metadata" poster="{src}" '
                 f'aria-label="{alt}" {_size_attrs(m.get("image_size"))}>'
                 f'<source src="{vsrc}" type="{_video_type(vsrc)}">'
                 f'<a href="{vsrc}">the video</a></video><figcaption>the dive</figcaption></figure>')
    else:
        dream = (f'<figure><a href="{src}"><img src="{src}" alt="{alt}" loading="lazy" '
                 f'{_size_attrs(m.get("image_size"))}></a><figcaption>the dream</figcaption></figure>')
    before = ""
    if m.get("source_image"):
        bsrc = quote(str(m["source_image"]))
        title = str(m.get("title") or "")
        balt = e(f"The source photo{': ' + title if title else ''}, before the dream.")
        before = (f'<figure class="before"><a href="{bsrc}"><img src="{bsrc}" alt="{balt}" loading="lazy" '
                  f'{_size_attrs(m.get("source_size"))}></a><figcaption>before</figcaption></figure>')
    published = str(m.get("published_at", ""))
    return (
        f'<article id="post-{e(str(m["post_id"]))}">\n'
        f'  <div class="pair{"" if before else " single"}">{before}{dream}</div>\n'
        f'  <p class="caption">{linkify(caption)}</p>\n'
        f'  <p class="meta"><time datetime="{e(published)}">{e(readable_date(published))}</time> '
        f'{source_html}<span class="tags">{e(" ".join(tags))}</span></p>\n'
        "</article>"
    )


def _size_attrs(size: Any) -> str:
    # Width and height reserve the card's space before a lazy image arrives: no jumping page.
    if isinstance(size, (list, tuple)) and len(size) == 2 and all(isinstance(v, int) for v in size):
        return f'width="{size[0]}" height="{size[1]}"'
    return ""


def page_name(n: int) -> str:
    return "index.html" if n == 1 else f"page-{n}.html"


def render_pages(title: str, posts: list[dict[str, Any]], page_size: int = PAGE_SIZE) -> dict[str, str]:
    """File name -> HTML for every page of the gallery (newest posts first, as given)."""
    e = html.escape
    chunks = [posts[i:i + page_size] for i in range(0, len(posts), page_size)] or [[]]
    pages = {}
    for n, chunk in enumerate(chunks, start=1):
        body = "\n".join(card(m) for m in chunk) or '<p class="empty">No posts yet.</p>'
        links = []
        if n > 1:
            links.append(f'<a href="{page_name(n - 1)}" rel="prev">← newer</a>')
        if len(chunks) > 1:
            links.append(f"<span>page {n} of {len(chunks)}</span>")
        if n < len(chunks):
            links.append(f'<a href="{page_name(n + 1)}" rel="next">older →</a>')
        nav = f"<nav>{' '.join(links)}</nav>" if links else ""
        pages[page_name(n)] = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(title)}{f" — page {n}" if n > 1 else ""}</title>
<style>{_STYLE}</style>
</head>
<body>
<h1>{e(title)}</h1>
{body}
{nav}
</body>
</html>
"""
    return pages


def write_pages(folder: Path, title: str, posts: list[dict[str, Any]],
                write: Callable[[Path, str], None]) -> Path:
    pages = render_pages(title, posts)
    for name, text in pages.items():
        write(folder / name, text)
    for stale in folder.glob("page-*.html"):  # fewer pages than before (posts removed by hand)
        if _PAGE_FILE.match(stale.name) and stale.name not in pages:
            stale.unlink(missing_ok=True)
    return folder / "index.html"


def _video_type(name: str) -> str:
    return "video/webm" if name.lower().endswith(".webm") else "video/mp4"
