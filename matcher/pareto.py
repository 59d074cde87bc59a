"""The Pareto front of a two-objective match: spectral against envelope distance.

``matcher match --optimizer nsga2`` (:class:`matcher.optimizers.DeapNSGA2`)
records each evaluation's ``(spectral, envelope)`` split of the fitness
(:meth:`objectives.distance.Fitness.objectives`; their sum is the fitness).
:func:`front_of_rows` keeps the non-dominated set over **every evaluation of
the winning arm** (the arm of the best scalar fitness, where successive
halving ends; every generation, not only the last population, so no good
trade-off found on the way is lost), and the match returned is its **knee**: after each objective is normalised to [0, 1] over the front, the
point closest (Euclidean) to the utopia point (0, 0), i.e. to the best of both
objectives at once.  Ties go to the lower fitness.

Why one arm: a front over every arm mixes choice combinations, and its knee
was then often a wrong oscillator or filter type with a low envelope distance
(measured in docs/morph_pareto.md: in-domain filter type right in 67 % of the
runs instead of 100 %).  ``all_arms=True`` gives the front over every arm.

Both objectives are minimised; a point dominates another when it is no worse
in both and better in one.  Points with identical objectives are kept once
(the earliest evaluation).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

__all__ = ["FrontPoint", "ParetoFront", "non_dominated", "knee_index", "front_of_rows", "is_two_objective", "pareto_csv", "KNEE_RULE", "read_pareto_csv"]

KNEE_RULE = "closest to the utopia point after normalising each objective over the front"
"""How the knee is chosen (recorded in ``patch.json``)."""


@dataclass(frozen=True)
class FrontPoint:
    """One non-dominated evaluation.

    Attributes
    ----------
    spectral, envelope : float
        The two objectives, in dB (weighted terms of the fitness).
    fitness : float
        The scalar distance of the evaluation (``spectral + envelope`` up to rounding).
    patch : mapping
        The patch as evaluated (physical values).
    eval : int
        Its evaluation number in the match.
    arm : str
        Its arm's label.
    """

    spectral: float
    envelope: float
    fitness: float
    patch: Mapping[str, float | str]
    eval: int = 0
    arm: str = ""


@dataclass(frozen=True)
class ParetoFront:
    """Non-dominated points sorted by rising spectral (so falling envelope) distance, and the knee."""

    points: tuple[FrontPoint, ...]
    knee: int

    @property
    def knee_point(self) -> FrontPoint:
        return self.points[self.knee]

    def objectives(self) -> np.ndarray:
        """Shape (n, 2): ``spectral, envelope`` of each point."""
        return np.array([(p.spectral, p.envelope) for p in self.points], dtype=float).reshape(-1, 2)

    def __len__(self) -> int:
        return len(self.points)


def non_dominated(objectives: np.ndarray) -> np.ndarray:
    """Indices of the non-dominated rows of ``objectives`` (both minimised), sorted by the first objective.

    Parameters
    ----------
    objectives : array_like, shape (n, 2)

    Returns
    -------
    ndarray of int
        Of the rows with identical objectives, only the first (lowest index) is kept.
        Rows with a NaN are never on the front.
    """
    obj = np.asarray(objectives, dtype=float).reshape(-1, 2)
    idx = np.flatnonzero(~np.isnan(obj).any(axis=1))
    order = idx[np.lexsort((idx, obj[idx, 1], obj[idx, 0]))]  # by first objective, then second, then index
    keep: list[int] = []
    best_second = np.inf
    for i in order:
        if obj[i, 1] < best_second:
            keep.append(int(i))
            best_second = obj[i, 1]
    return np.array(keep, dtype=int)


def knee_index(front: np.ndarray, fitness: Sequence[float] | None = None) -> int:
    """The knee of a front: closest to the utopia point once each objective is scaled to [0, 1] over the front.

    Parameters
    ----------
    front : array_like, shape (n, 2), n >= 1
        Non-dominated objectives.
    fitness : sequence of float, optional
        Tie-breaker (lower wins); the sum of the objectives otherwise.
    """
    obj = np.asarray(front, dtype=float).reshape(-1, 2)
    if not len(obj):
        raise ValueError("an empty front has no knee")
    lo, hi = obj.min(axis=0), obj.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    dist = np.hypot(*((obj - lo) / span).T)
    tie = np.asarray(fitness if fitness is not None else obj.sum(axis=1), dtype=float)
    return int(np.lexsort((tie, np.round(dist, 12)))[0])


def front_of_rows(rows: Sequence[Any], all_arms: bool = False) -> ParetoFront | None:
    """The front over the evaluations that carry objectives (:class:`matcher.search.Evaluation` rows).

    Parameters
    ----------
    rows : sequence of Evaluation
    all_arms : bool
        Use every arm's evaluations; by default only those of the arm of the
        lowest scalar loss (ties: the earliest).

    Returns
    -------
    ParetoFront or None
        ``None`` when no row has objectives (a single-objective match).
    """
    scored = [r for r in rows if getattr(r, "objectives", None) is not None]
    if not scored:
        return None
    if not all_arms:
        winner = min(scored, key=lambda r: r.loss).arm
        scored = [r for r in scored if r.arm == winner]
    keep = non_dominated(np.array([r.objectives for r in scored], dtype=float))
    points = tuple(FrontPoint(float(scored[i].objectives[0]), float(scored[i].objectives[1]), float(scored[i].loss), dict(scored[i].patch), int(scored[i].eval), str(scored[i].arm)) for i in keep)
    knee = knee_index(np.array([(p.spectral, p.envelope) for p in points]), [p.fitness for p in points])
    return ParetoFront(points, knee)


def is_two_objective(optimizer: str) -> bool:
    """Whether the registered optimiser ``optimizer`` searches two objectives (strategies: no)."""
    from matcher.optimizers import OPTIMIZERS  # noqa: PLC0415

    return getattr(OPTIMIZERS.get(optimizer), "n_objectives", 1) == 2


def pareto_csv(front: ParetoFront, param_names: Sequence[str]) -> str:
    """``pareto.csv`` text: ``spectral, envelope, fitness``, every parameter, then ``knee`` (1 on the knee), ``eval`` and ``arm``.

    One row per point, sorted by rising spectral distance; numbers at full
    precision (``repr``), so the file is as non-dominated as the front.
    """
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["spectral", "envelope", "fitness", *param_names, "knee", "eval", "arm"])
    for i, p in enumerate(front.points):
        values = (p.patch[n] if isinstance(p.patch[n], str) else repr(float(p.patch[n])) for n in param_names)
        w.writerow([repr(p.spectral), repr(p.envelope), repr(p.fitness), *values, int(i == front.knee), p.eval, p.arm])
    return buf.getvalue()


def read_pareto_csv(text: str) -> list[dict[str, str]]:
    """The rows of a ``pareto.csv`` text, as dictionaries of strings."""
    return list(csv.DictReader(io.StringIO(text)))
