"""The connection every part of the store shares: one SQLite file in WAL mode, one lock,
explicit transactions, migrations on open, and a small key-value table (`meta`)."""
from __future__ import annotations

import json
import sqlite3
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from bot.folders import private_dir, private_file

from .schema import MIGRATIONS, SCHEMA_VERSION, statements


class StoreError(Exception):
    pass


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def now_ms() -> str:
    """For comparing with retry times, which have milliseconds (a short backoff must not wait
    for the next whole second). Mixed precisions compare right: '+' sorts before '.'."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def today_start() -> str:
    """00:00 UTC today, as stored times are written: where the daily limits count from."""
    midnight = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight.isoformat(timespec="seconds")


class Base:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        # requests, direct messages and their JSON: readable by the bot's user only
        private_file(private_dir(self.path.parent) / self.path.name)
        # One connection shared by the scheduler's threads, serialised by a lock; autocommit
        # mode with explicit BEGIN so each step is durable the moment it returns.
        self._lock = threading.RLock()
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open the bot's database {self.path}: {exc}") from None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} was written by a newer bot (schema {version}, this one knows {SCHEMA_VERSION}); "
                "upgrade the bot or point data_dir elsewhere"
            )
        if version == SCHEMA_VERSION:
            return
        # Rebuilding a table that others reference (SQLite's way to change a CHECK) needs
        # foreign keys off, and that pragma cannot change inside a transaction.
        self._db.execute("PRAGMA foreign_keys=OFF")
        try:
            for v in range(version, SCHEMA_VERSION):
                with self._tx() as db:
                    for stmt in statements(MIGRATIONS[v]):
                        db.execute(stmt)
                    broken = db.execute("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise StoreError(f"migrating {self.path} to schema {v + 1} broke {len(broken)} references")
                    db.execute(f"PRAGMA user_version = {v + 1}")
        finally:
            self._db.execute("PRAGMA foreign_keys=ON")

    class _Tx:
        def __init__(self, store: "Base"):
            self.store = store

        def __enter__(self):
            self.store._lock.acquire()
            try:
                self.store._db.execute("BEGIN IMMEDIATE")
            except BaseException:
                # e.g. "database is locked" after the busy timeout: without this, every other
                # thread of the bot would wait on the lock forever
                self.store._lock.release()
                raise
            return self.store._db

        def __exit__(self, exc_type, exc, tb):
            try:
                self.store._db.execute("ROLLBACK" if exc_type else "COMMIT")
            finally:
                self.store._lock.release()
            return False

    def _tx(self) -> "_Tx":
        return Base._Tx(self)

    def _query(self, sql: str, args: Iterable[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, tuple(args)).fetchall()

    # --- small state shared with `status` (e.g. the running scheduler's next run) ----------
    def set_meta(self, key: str, value: Any) -> None:
        with self._tx() as db:
            db.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                       (key, json.dumps(value)))

    def get_meta(self, key: str) -> Any:
        rows = self._query("SELECT value FROM meta WHERE key = ?", (key,))
        return json.loads(rows[0]["value"]) if rows else None
