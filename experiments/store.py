"""The result store of a sweep: one SQLite file (``runs/NAME/store.sqlite``), standard library only.

Tables
------
``targets``
    Every target of the sweep with its audio (float32 bytes), sample rate, true
    patch and labels, so a report never needs to rebuild a suite.
``trials``
    One row per *finished* trial, keyed by ``(target, optimizer, seed, budget)``:
    final loss, evaluations, wall time, the best patch, the evaluation metrics,
    parameter errors and the worker that ran it.
``curves``
    The best-so-far curve of each trial, subsampled at log-spaced evaluation
    counts, with the wall time at each point.

A trial and its curve are written in one transaction (:meth:`Store.add_trial`),
so after Ctrl-C or a killed process a trial is either entirely there or not at
all; :meth:`Store.finished_keys` is what a resumed sweep skips.  The database
uses SQLite's write-ahead log and ``synchronous=FULL`` so a committed trial
survives a crash of the process.
"""

from __future__ import annotations

import csv
import json
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

__all__ = ["Store", "TrialKey", "STORE_NAME", "TRIAL_CSV_COLUMNS"]

STORE_NAME = "store.sqlite"
"""File name of the store inside a run folder."""

DB_SUFFIXES = (".sqlite", ".sqlite3", ".db")

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS targets (
    name TEXT PRIMARY KEY,
    suite TEXT NOT NULL,
    sr INTEGER NOT NULL,
    audio BLOB NOT NULL,
    true_patch TEXT,
    labels TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS trials (
    id INTEGER PRIMARY KEY,
    target TEXT NOT NULL REFERENCES targets(name),
    optimizer TEXT NOT NULL,
    seed INTEGER NOT NULL,
    budget INTEGER NOT NULL,
    status TEXT NOT NULL,
    final_loss REAL,
    evals INTEGER,
    wall_s REAL,
    patch TEXT,
    metrics TEXT NOT NULL,
    error TEXT,
    host TEXT,
    finished_at REAL,
    UNIQUE (target, optimizer, seed, budget)
);
CREATE TABLE IF NOT EXISTS curves (
    trial_id INTEGER NOT NULL REFERENCES trials(id) ON DELETE CASCADE,
    eval INTEGER NOT NULL,
    wall_s REAL NOT NULL,
    best_loss REAL NOT NULL,
    PRIMARY KEY (trial_id, eval)
);
"""

TRIAL_CSV_COLUMNS = ("target", "suite", "optimizer", "seed", "budget", "status", "final_loss", "evals", "wall_s")
"""Leading columns of ``trials.csv``; metric and parameter-error columns follow, then the best patch."""


@dataclass(frozen=True, order=True)
class TrialKey:
    """Identity of a trial: what a resumed sweep compares."""

    target: str
    optimizer: str
    seed: int
    budget: int


class Store:
    """A sweep's SQLite result store.

    Parameters
    ----------
    path : path-like
        The database file (ending in ``.sqlite``, ``.sqlite3`` or ``.db``), or
        a run folder (then ``<folder>/store.sqlite``).
        Created with its schema when missing.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        path = Path(path)
        if path.suffix not in DB_SUFFIXES or path.is_dir():
            path = path / STORE_NAME
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.conn = sqlite3.connect(str(path), timeout=30.0)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.execute("PRAGMA foreign_keys=ON")
        with self.conn:
            self.conn.executescript(_SCHEMA)
            self.conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))

    def close(self) -> None:
        """Close the connection (idempotent)."""
        self.conn.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ---- metadata -------------------------------------------------------
    def set_meta(self, key: str, value: Any) -> None:
        """Store a JSON-serialisable value under ``key`` (replacing it)."""
        with self.conn:
            self.conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value)))

    def get_meta(self, key: str, default: Any = None) -> Any:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    # ---- targets --------------------------------------------------------
    def add_targets(self, targets: Iterable[Any], suite: str) -> None:
        """Record targets (objects with ``name, audio, sr, true_patch, labels``); existing names are kept as they are."""
        with self.conn:
            for t in targets:
                self.conn.execute(
                    "INSERT OR IGNORE INTO targets VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        t.name,
                        suite,
                        int(t.sr),
                        np.asarray(t.audio, dtype=np.float32).tobytes(),
                        None if t.true_patch is None else json.dumps(dict(t.true_patch)),
                        json.dumps(dict(t.labels)),
                    ),
                )

    def targets(self) -> list[dict]:
        """Every stored target as a dict: ``name, suite, sr, audio, true_patch, labels``."""
        rows = self.conn.execute("SELECT name, suite, sr, audio, true_patch, labels FROM targets ORDER BY rowid").fetchall()
        return [
            {
                "name": n,
                "suite": s,
                "sr": sr,
                "audio": np.frombuffer(a, dtype=np.float32).copy(),
                "true_patch": None if tp is None else json.loads(tp),
                "labels": json.loads(lb),
            }
            for n, s, sr, a, tp, lb in rows
        ]

    # ---- trials ---------------------------------------------------------
    def finished_keys(self) -> set[TrialKey]:
        """Keys of every stored trial (finished or failed): what a resumed sweep skips."""
        return {TrialKey(*r) for r in self.conn.execute("SELECT target, optimizer, seed, budget FROM trials")}

    def add_trial(self, record: Mapping[str, Any], curve: Sequence[tuple[int, float, float]] = ()) -> bool:
        """Insert one finished trial and its curve in a single transaction.

        Parameters
        ----------
        record : mapping
            ``target, optimizer, seed, budget, status`` and optionally
            ``final_loss, evals, wall_s, patch (dict), metrics (dict), error, host``.
        curve : sequence of (eval, wall_s, best_loss)

        Returns
        -------
        bool
            False when a trial with the same key was already stored (nothing is written).
        """
        import time  # noqa: PLC0415

        try:
            with self.conn:
                cur = self.conn.execute(
                    "INSERT INTO trials (target, optimizer, seed, budget, status, final_loss, evals, wall_s, patch, metrics, error, host, finished_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        record["target"],
                        record["optimizer"],
                        int(record["seed"]),
                        int(record["budget"]),
                        record.get("status", "ok"),
                        _num(record.get("final_loss")),
                        record.get("evals"),
                        _num(record.get("wall_s")),
                        None if record.get("patch") is None else json.dumps(record["patch"]),
                        json.dumps({k: _jsonable(v) for k, v in dict(record.get("metrics") or {}).items()}),
                        record.get("error"),
                        record.get("host"),
                        time.time(),
                    ),
                )
                trial_id = cur.lastrowid
                self.conn.executemany(
                    "INSERT INTO curves VALUES (?, ?, ?, ?)", [(trial_id, int(e), float(w), float(b)) for e, w, b in curve]
                )
        except sqlite3.IntegrityError:
            return False
        return True

    def trials(self, status: str | None = "ok") -> list[dict]:
        """Stored trials joined with their target's suite; ``metrics`` and ``patch`` decoded."""
        sql = (
            "SELECT t.id, t.target, g.suite, t.optimizer, t.seed, t.budget, t.status, t.final_loss, t.evals, t.wall_s,"
            " t.patch, t.metrics, t.error, t.host FROM trials t JOIN targets g ON g.name = t.target"
        )
        args: tuple = ()
        if status is not None:
            sql += " WHERE t.status = ?"
            args = (status,)
        out = []
        for row in self.conn.execute(sql + " ORDER BY t.target, t.optimizer, t.seed, t.budget", args):
            tid, target, suite, opt, seed, budget, st, loss, evals, wall, patch, metrics, error, host = row
            out.append(
                {
                    "id": tid,
                    "target": target,
                    "suite": suite,
                    "optimizer": opt,
                    "seed": seed,
                    "budget": budget,
                    "status": st,
                    "final_loss": loss,
                    "evals": evals,
                    "wall_s": wall,
                    "patch": None if patch is None else json.loads(patch),
                    "metrics": json.loads(metrics),
                    "error": error,
                    "host": host,
                }
            )
        return out

    def curves(self) -> dict[int, np.ndarray]:
        """Trial id -> array of shape (n_points, 3): ``eval, wall_s, best_loss``."""
        out: dict[int, list] = {}
        for tid, e, w, b in self.conn.execute("SELECT trial_id, eval, wall_s, best_loss FROM curves ORDER BY trial_id, eval"):
            out.setdefault(tid, []).append((e, w, b))
        return {k: np.array(v, dtype=float) for k, v in out.items()}

    def count(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM trials").fetchone()[0])

    def export_csv(self, path: str | os.PathLike) -> int:
        """Write ``trials.csv`` (one row per stored trial, failed ones included); returns the row count.

        Written to a temporary file and renamed, so a reader never sees half a file.
        """
        rows = self.trials(status=None)
        metric_names = sorted({k for r in rows for k in r["metrics"]})
        patch_names: list[str] = []
        for r in rows:
            for k in r["patch"] or {}:
                if k not in patch_names:
                    patch_names.append(k)
        path = Path(path)
        tmp = path.with_name(f".{path.name}.tmp")
        with open(tmp, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow([*TRIAL_CSV_COLUMNS, *metric_names, *(f"patch_{n}" for n in patch_names), "error"])
            for r in rows:
                w.writerow(
                    [
                        *(_fmt(r[c]) for c in TRIAL_CSV_COLUMNS),
                        *(_fmt(r["metrics"].get(m)) for m in metric_names),
                        *(_fmt((r["patch"] or {}).get(n)) for n in patch_names),
                        r["error"] or "",
                    ]
                )
        os.replace(tmp, path)
        return len(rows)


def _num(v: Any) -> float | None:
    return None if v is None else float(v)


def _jsonable(v: Any) -> Any:
    if isinstance(v, (np.floating, np.integer)):
        return v.item()
    if isinstance(v, np.bool_):
        return bool(v)
    return v


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return str(int(v))
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)
