"""Lines `status` shows about recovery: what is in flight (and nothing else), and what ended
without being posted, with its reason."""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from bot.store.posts import PostState
from bot.store.sources import SourceStatus

if TYPE_CHECKING:
    from bot.store import Store


def in_flight(store: "Store") -> dict[str, int]:
    """Work not finished: photos being dreamt or interrupted, posts not done, open requests."""
    sources = store.source_counts()
    posts = store.open_posts()
    counts = {
        "photos being dreamt": sources.get(SourceStatus.TAKEN, 0),
        "photos to dream again (interrupted)": sources.get(SourceStatus.INTERRUPTED, 0),
        "posts pending": posts.get(PostState.PENDING, 0),
        "posts intended (maybe posted: checked before a retry)": posts.get(PostState.INTENDED, 0),
        "posts waiting to retry": posts.get(PostState.FAILED, 0),
        "requests open": len(store.open_requests(due_only=False)),
    }
    return {k: v for k, v in counts.items() if v}


def print_recovery(store: "Store", p: Callable[..., None], limit: int = 10) -> None:
    busy = in_flight(store)
    p("in flight: " + (", ".join(f"{v} {k}" for k, v in busy.items()) or "nothing"))
    total = store.ended_count()
    if not total:
        return
    p(f"ended without being posted ({total}" + (f", latest {limit}" if total > limit else "") + "):")
    for e in store.ended_items(limit):
        told = "" if e["notified_at"] is None else " (admin told)"
        p(f"  {e['created_at']} {e['what']}: {e['reason']}{told}")
