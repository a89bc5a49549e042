"""The study's answers in SQLite (WAL mode): every trial shown and every answer, committed as it arrives.

One connection, shared by the server's threads under a lock; each write is its own transaction, so a server
killed at any moment keeps every answer it acknowledged, and a restart on the same file goes on from there.
An answer names its trial, which is unique: the same answer sent twice is stored once.
"""
from __future__ import annotations

import math
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from palette_kit.errors import InputError

SCHEMA = """
CREATE TABLE IF NOT EXISTS trials (
    trial TEXT PRIMARY KEY, rater TEXT NOT NULL, pair TEXT NOT NULL, model TEXT NOT NULL,
    real_side TEXT NOT NULL CHECK (real_side IN ('left', 'right')), practice INTEGER NOT NULL,
    settings TEXT NOT NULL, shown_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS answers (
    trial TEXT PRIMARY KEY REFERENCES trials (trial), rater TEXT NOT NULL, pair TEXT NOT NULL,
    model TEXT NOT NULL, real_side TEXT NOT NULL, choice TEXT NOT NULL CHECK (choice IN ('left', 'right')),
    response_ms REAL NOT NULL, settings TEXT NOT NULL, answered_at REAL NOT NULL
);
"""
#: The columns of the CSV export, in order.
ANSWER_COLUMNS = ("rater", "pair", "model", "real_side", "choice", "fooled", "response_ms", "settings",
                  "answered_at")


@dataclass(frozen=True)
class Trial:
    trial: str
    rater: str
    pair: str
    model: str
    real_side: str
    practice: bool


@dataclass(frozen=True)
class FoolRate:
    """How often raters took a model's picture for the real one: ``fooled`` of ``n``, with a 95% Wilson interval."""

    model: str
    fooled: int
    n: int

    @property
    def rate(self) -> float:
        return self.fooled / self.n if self.n else math.nan

    @property
    def interval(self) -> tuple[float, float]:
        return wilson(self.fooled, self.n)


def wilson(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """The Wilson score interval of a proportion ``k / n`` (95% for the default ``z``)."""
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (max(0.0, centre - half), min(1.0, centre + half))


class Store:
    """The study database at ``path`` (created if missing, reopened as it is otherwise)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")  # an acknowledged answer survives a crash of the machine
            self._db.executescript(SCHEMA)
        except sqlite3.Error as exc:
            raise InputError(f"--database {self.path}: cannot use it as the study's SQLite file ({exc})") from None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def add_trial(self, trial: Trial, settings: str) -> None:
        with self._lock, self._db:
            self._db.execute("INSERT INTO trials VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                             (trial.trial, trial.rater, trial.pair, trial.model, trial.real_side,
                              int(trial.practice), settings, time.time()))

    def trial(self, trial: str) -> Trial | None:
        with self._lock:
            row = self._db.execute("SELECT trial, rater, pair, model, real_side, practice FROM trials "
                                   "WHERE trial = ?", (trial,)).fetchone()
        return None if row is None else Trial(*row[:5], bool(row[5]))

    def answer(self, trial: Trial, choice: str, response_ms: float) -> bool:
        """Store the answer to ``trial``; False when it was answered before (the first answer stays)."""
        with self._lock, self._db:
            done = self._db.execute(
                "INSERT OR IGNORE INTO answers SELECT trial, rater, pair, model, real_side, ?, ?, settings, ? "
                "FROM trials WHERE trial = ?", (choice, response_ms, time.time(), trial.trial))
            return done.rowcount == 1

    def rater_progress(self, rater: str) -> tuple[int, set[str], Trial | None]:
        """How many study trials ``rater`` answered, the pairs they were shown, and a study trial shown but not
        answered yet (to show again rather than draw a new one)."""
        with self._lock:
            answered = self._db.execute("SELECT count(*) FROM answers WHERE rater = ?", (rater,)).fetchone()[0]
            pairs = {row[0] for row in self._db.execute(
                "SELECT pair FROM trials WHERE rater = ? AND practice = 0", (rater,))}
            open_row = self._db.execute(
                "SELECT trial, rater, pair, model, real_side, practice FROM trials WHERE rater = ? AND practice = 0 "
                "AND trial NOT IN (SELECT trial FROM answers) ORDER BY shown_at DESC LIMIT 1", (rater,)).fetchone()
        return answered, pairs, None if open_row is None else Trial(*open_row[:5], bool(open_row[5]))

    def answers(self) -> list[dict[str, Any]]:
        """Every answer, oldest first, with ``fooled`` (the model's picture was taken for the real one)."""
        with self._lock:
            rows = self._db.execute("SELECT rater, pair, model, real_side, choice, choice != real_side, "
                                    "response_ms, settings, answered_at FROM answers ORDER BY answered_at").fetchall()
        return [dict(zip(ANSWER_COLUMNS, row)) for row in rows]

    def fool_rates(self) -> list[FoolRate]:
        with self._lock:
            rows = self._db.execute("SELECT model, sum(choice != real_side), count(*) FROM answers "
                                    "GROUP BY model ORDER BY model").fetchall()
        return [FoolRate(model, int(fooled), n) for model, fooled, n in rows]
