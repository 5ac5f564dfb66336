"""The live-update store of an export: an append-only event log in SQLite (WAL mode).

``<export>/updates/updates.sqlite`` holds what a running service learned after
the export was written:

* ``interaction`` events (user, item, domain): the user's vector is updated by
  fold-in (:class:`gnnrec.export.query.Retriever`), the item is excluded from
  the user's next recommendations; an unknown user becomes a new user;
* ``item`` events (item, domain, title, vector): a new item known by its text,
  whose vector the model's text path gave (``gnnrec add-items``).

Every event is one row of the table ``events`` with an increasing ``seq`` and a
sha256 of its fields (``checksum``); readers verify it and refuse a damaged
row, naming it. Appends are single SQLite transactions: several workers (or
processes) may append at once without losing a write -- SQLite serialises the
writers (``busy_timeout``), WAL lets readers go on meanwhile. Synchronous mode
``NORMAL``: a committed event survives a crash of the process; a power loss may
lose the last commits but never corrupts the log. A reader applies the events
after the last ``seq`` it has seen (``PRAGMA data_version`` tells cheaply
whether another connection committed), so every worker of a server converges
on the same state, and a restarted server replays the whole log.

``updates/`` is the one mutable area of an export: it is excluded by name from
the export's file check (:func:`gnnrec.export.contract.verify_files`), and the
store records the sha256 of the export's ``manifest.json`` so that a log is
never replayed onto another export. Re-exporting into the folder replaces it
(the log goes with the old export).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from gnnrec.errors import GnnrecError
from gnnrec.export.contract import UPDATES

STORE_FILE = f"{UPDATES}/updates.sqlite"
SCHEMA = 1
_SEP = "\x1f"


class LiveError(GnnrecError, ValueError):
    """A live-update store that cannot be opened or trusted; the message names it and the fix."""


class StoreUnavailable(LiveError):
    """The store cannot be opened or created here (a read-only export folder, no store yet)."""


@dataclass(frozen=True)
class Event:
    """One row of the log: ``kind`` "interaction" (user, item, domain) or "item" (item, domain,
    title, vector float32 (dim,))."""

    seq: int
    kind: str
    item: str
    domain: str
    user: str | None = None
    title: str = ""
    vector: np.ndarray | None = None
    created: float = 0.0


def _checksum(kind: str, user: str | None, item: str, domain: str, title: str, vector: bytes | None,
              created: float) -> str:
    h = hashlib.sha256(_SEP.join([kind, user or "", item, domain, title, repr(float(created))]).encode())
    h.update(vector or b"")
    return h.hexdigest()


def export_identity(folder: str | os.PathLike) -> str:
    """sha256 of the export's ``manifest.json`` (``plain`` for a folder without one)."""
    m = Path(folder) / "manifest.json"
    if not m.is_file():
        return "plain"
    return hashlib.sha256(m.read_bytes()).hexdigest()


class UpdateStore:
    """The SQLite event log of one export folder (module docstring)."""

    def __init__(self, folder: str | os.PathLike, create: bool = True) -> None:
        self.folder = Path(folder)
        self.path = self.folder / STORE_FILE
        if not self.path.is_file() and not create:
            raise StoreUnavailable(f"{self.path}: no live-update store in this export")
        try:
            self.path.parent.mkdir(exist_ok=True)
            self.conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None,
                                        check_same_thread=False)
            self.conn.execute("PRAGMA busy_timeout = 30000")
            self.conn.execute("PRAGMA journal_mode = WAL")
            self.conn.execute("PRAGMA synchronous = NORMAL")
        except (sqlite3.Error, OSError) as e:
            raise StoreUnavailable(f"{self.path}: cannot open the live-update store ({type(e).__name__}: "
                                   f"{e}); the export folder must be writable (or serve it with --no-live)"
                                   ) from None
        try:
            self._init_schema()
        except sqlite3.Error as e:
            raise StoreUnavailable(f"{self.path}: cannot use the live-update store ({type(e).__name__}: "
                                   f"{e}); the export folder must be writable (or serve it with --no-live)"
                                   ) from None

    def _init_schema(self) -> None:
        c = self.conn
        c.execute("BEGIN IMMEDIATE")
        try:
            c.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            c.execute("CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
                      "kind TEXT NOT NULL, user TEXT, item TEXT NOT NULL, domain TEXT NOT NULL, "
                      "title TEXT NOT NULL DEFAULT '', vector BLOB, created REAL NOT NULL, "
                      "checksum TEXT NOT NULL)")
            c.execute("CREATE INDEX IF NOT EXISTS events_user ON events (user)")
            ident = export_identity(self.folder)
            row = c.execute("SELECT value FROM meta WHERE key = 'export'").fetchone()
            if row is None:
                c.executemany("INSERT INTO meta VALUES (?, ?)", [("export", ident), ("schema", str(SCHEMA))])
            elif row[0] != ident:
                raise LiveError(f"{self.path} belongs to another export (its manifest sha256 is {row[0][:12]}.., "
                                f"this export's is {ident[:12]}..): a log is replayed onto the export it was "
                                f"written for only; move {self.path.parent} away to start a new log")
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self.conn.close()

    # ---- writes ---------------------------------------------------------------
    def _append(self, rows: Iterable[tuple]) -> int:
        """Insert event rows (kind, user, item, domain, title, vector bytes | None) in one
        transaction; returns the last seq."""
        rows = list(rows)
        created = time.time()
        vals = [(k, u, i, d, t, v, created, _checksum(k, u, i, d, t, v, created)) for k, u, i, d, t, v in rows]
        c = self.conn
        c.execute("BEGIN IMMEDIATE")
        try:
            c.executemany("INSERT INTO events (kind, user, item, domain, title, vector, created, checksum) "
                          "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", vals)
            seq = c.execute("SELECT max(seq) FROM events").fetchone()[0]
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise
        return int(seq)

    def append_interactions(self, rows: Iterable[tuple[str, str, str]]) -> int:
        """(user, item, domain) rows, one transaction; returns the last seq."""
        return self._append(("interaction", u, i, d, "", None) for u, i, d in rows)

    def append_items(self, rows: Iterable[tuple[str, str, str, np.ndarray]]) -> int:
        """(item, domain, title, vector (dim,)) rows, one transaction; returns the last seq."""
        return self._append(("item", None, i, d, t, np.ascontiguousarray(v, dtype="<f4").tobytes())
                            for i, d, t, v in rows)

    def forget_users(self, users: Iterable[str]) -> int:
        """Delete every interaction of ``users``; returns the number of rows deleted."""
        users = sorted(set(users))
        c = self.conn
        c.execute("BEGIN IMMEDIATE")
        try:
            n = 0
            for lo in range(0, len(users), 500):
                chunk = users[lo:lo + 500]
                cur = c.execute(f"DELETE FROM events WHERE kind = 'interaction' AND user IN "
                                f"({','.join('?' * len(chunk))})", chunk)
                n += cur.rowcount
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise
        return n

    # ---- reads ------------------------------------------------------------------
    def data_version(self) -> int:
        """Changes whenever another connection commits (SQLite ``PRAGMA data_version``)."""
        return int(self.conn.execute("PRAGMA data_version").fetchone()[0])

    def events_after(self, seq: int) -> list[Event]:
        """Every event with a larger ``seq``, in order; a row whose checksum does not match is a
        :class:`LiveError` naming it."""
        cur = self.conn.execute("SELECT seq, kind, user, item, domain, title, vector, created, checksum "
                                "FROM events WHERE seq > ? ORDER BY seq", (int(seq),))
        out = []
        for s, k, u, i, d, t, v, created, digest in cur.fetchall():
            if _checksum(k, u, i, d, t, v, created) != digest:
                raise LiveError(f"{self.path}: event {s} ({k} {u or ''} {i}) does not match its checksum: "
                                f"the log was edited or damaged; delete that row (sqlite3 {self.path} "
                                f"\"DELETE FROM events WHERE seq = {s}\") or move {self.path.parent} away")
            vec = np.frombuffer(v, dtype="<f4").astype(np.float32) if v is not None else None
            out.append(Event(int(s), k, i, d, u, t, vec, float(created)))
        return out

    def count(self) -> dict[str, int]:
        return {k: int(n) for k, n in self.conn.execute("SELECT kind, count(*) FROM events GROUP BY kind")}
