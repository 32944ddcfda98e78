"""Dives being made: recorded (photo, classes, seed, video path) before the first keyframe is
dreamt, so a bot killed mid-dive takes the same photo again and resumes the same dive from its
keyframes (bot/dive.py) rather than dreaming a new one from scratch. `add_dream` marks it made
in the transaction that records the finished dream, so it can be posted only once."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .base import Base, now


@dataclass(frozen=True)
class DiveRow:
    id: int
    sha256: str
    post_key: str
    seed: int
    combo_key: str
    classes: list[list[Any]]  # [[id, name, weight], ...]
    video_path: Path


class DivesMixin(Base):
    def start_dive(self, *, sha256: str, post_key: str, seed: int, combo_key: str,
                   classes: list[list[Any]], video_path: Path) -> DiveRow:
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO dives (sha256, post_key, seed, combo_key, classes_json, video_path, state, created_at, "
                "updated_at) VALUES (?, ?, ?, ?, ?, ?, 'making', ?, ?)",
                (sha256, post_key, seed, combo_key, json.dumps(classes), str(video_path), now(), now()),
            )
            return DiveRow(int(cur.lastrowid), sha256, post_key, seed, combo_key, classes, Path(video_path))

    def dive_in_progress(self, sha256: str | None) -> DiveRow | None:
        """The dive a dead process was making of this photo, if any."""
        if not sha256:
            return None
        rows = self._query("SELECT * FROM dives WHERE sha256 = ? AND state = 'making' ORDER BY id DESC LIMIT 1",
                           (sha256,))
        if not rows:
            return None
        r = rows[0]
        return DiveRow(r["id"], r["sha256"], r["post_key"], r["seed"], r["combo_key"],
                       json.loads(r["classes_json"]), Path(r["video_path"]))

    def drop_dive(self, dive_id: int) -> None:
        """A dive that failed with an error (not a crash): the photo's next try starts afresh."""
        with self._tx() as db:
            db.execute("DELETE FROM dives WHERE id = ?", (dive_id,))

    def dive_files(self) -> set[str]:
        """Videos of dives being made (their files are not strays while the dive is resumable)."""
        return {r["video_path"] for r in self._query("SELECT video_path FROM dives WHERE state = 'making'")}

    def count_dreams(self) -> int:
        return int(self._query("SELECT COUNT(*) AS n FROM dreams")[0]["n"])
