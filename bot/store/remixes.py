"""What a remix by reply starts from (issue 30): the bot's Mastodon status someone replied to,
found as one of its posts (`posts.remote_id`) or one of its remix replies (`requests.reply_id`),
and the photo that post was dreamt from, while it is kept (`dreams.source_photo`, cleared when
the operator's retention ends; bot/kept_photos.py deletes the file)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .base import Base


@dataclass(frozen=True)
class RemixSource:
    """The recipe and photo of one of the bot's statuses. `photo` is None when it is gone."""

    key: str  # post_key of the dream whose photo it is (a remix of a remix keeps the first)
    photo: Path | None
    classes: tuple[tuple[int, str, float], ...]  # (class id, human name, weight)
    seed: int | None
    strength: float | None  # None: the recipe's own


class RemixesMixin(Base):
    def remix_source(self, status_id: str) -> RemixSource | None:
        """What the bot's Mastodon status `status_id` was dreamt from, or None when it is no
        dream of the bot's (a refusal, a dream of someone's own photo, not the bot's at all)."""
        rows = self._query(
            "SELECT d.post_key, d.source_photo, d.classes_json, d.recipe_json FROM posts p "
            "JOIN dreams d ON d.id = p.dream_id WHERE p.publisher = 'mastodon' AND p.remote_id = ? LIMIT 1",
            (status_id,))
        if rows:
            r = rows[0]
            return _source(r["post_key"], r["source_photo"], r["classes_json"], r["recipe_json"])
        rows = self._query(
            "SELECT r.source_key, d.source_photo, r.classes_json, r.recipe_json FROM requests r "
            "LEFT JOIN dreams d ON d.post_key = r.source_key "
            "WHERE r.reply_id = ? AND r.source_key IS NOT NULL AND r.state = 'replied' LIMIT 1", (status_id,))
        if rows:
            r = rows[0]
            return _source(r["source_key"], r["source_photo"], r["classes_json"] or "[]", r["recipe_json"] or "{}")
        return None

    def kept_photos(self) -> dict[str, str]:
        """Every kept photo the store knows: its path -> the time its dream was made."""
        rows = self._query("SELECT source_photo, created_at FROM dreams WHERE source_photo IS NOT NULL")
        return {r["source_photo"]: r["created_at"] for r in rows}

    def forget_photos(self, before: str) -> list[str]:
        """Stop keeping the photos of dreams made before `before` (an ISO time); returns their
        paths, for the caller to delete. The store forgets first: a photo it no longer names
        is gone for a remix even if deleting the file fails."""
        with self._tx() as db:
            rows = db.execute("SELECT id, source_photo FROM dreams WHERE source_photo IS NOT NULL AND created_at < ?",
                              (before,)).fetchall()
            for r in rows:
                db.execute("UPDATE dreams SET source_photo = NULL WHERE id = ?", (r["id"],))
        return [r["source_photo"] for r in rows]


def _source(key: str, photo: str | None, classes_json: str, recipe_json: str) -> RemixSource:
    recipe: dict[str, Any] = json.loads(recipe_json or "{}")
    classes = tuple((int(c[0]), str(c[1]), float(c[2])) for c in json.loads(classes_json or "[]")
                    if str(c[0]).isdigit())  # a class the store kept without its id cannot be dreamt again
    if recipe.get("mode", "lucid") != "lucid":
        classes = ()  # the picker's, recorded but never dreamt: "again" must not dream them as the post's
    seed, strength = recipe.get("seed"), recipe.get("strength")
    return RemixSource(key, Path(photo) if photo else None, classes, None if seed is None else int(seed),
                       None if strength is None else float(strength))

