"""Polish a match at the target's own sample rate.

The search runs at a working rate (22.05 kHz) where a render is cheap, but
``match.wav`` is rendered at the target's rate, and a Pyo biquad's response near
Nyquist depends on the rate: a lowpass at 22.05 kHz falls to zero at 11 kHz,
while at 44.1 kHz it keeps its 12 dB/octave slope up there.  So the best patch
at the working rate is refined by a short, local CMA-ES run at the target's
rate, starting from that patch (evaluated first, so the polish never makes the
match worse at the rate the user hears).
"""

from __future__ import annotations

import math
import time
from typing import Callable, Sequence

import numpy as np

from matcher.evaluator import Evaluator
from matcher.optimizers import make_optimizer
from matcher.search import Evaluation, MatchConfig, MatchResult
from synth.params import ParamSpace

__all__ = ["polish_budget", "polish_at_rate", "POLISH_SIGMA", "POLISH_SHARE", "POLISH_MAX_EVALS"]

POLISH_SHARE = 0.2
"""Share of the budget kept for the polish when the target's rate differs from the working rate."""

POLISH_MAX_EVALS = 400
"""Most evaluations a polish takes."""

POLISH_SIGMA = 0.05
"""Initial CMA-ES spread around the working-rate optimum, in unit-cube coordinates of the winning arm."""


def polish_budget(total_budget: int, working_sr: int, target_sr: int) -> int:
    """Evaluations to keep for the polish (0 when the rates agree or the budget is tiny)."""
    if target_sr == working_sr or total_budget < 50:
        return 0
    return int(min(POLISH_MAX_EVALS, POLISH_SHARE * total_budget))


def polish_at_rate(
    result: MatchResult,
    target_audio: np.ndarray,
    sr: int,
    config: MatchConfig,
    budget: int,
    callback: Callable[[Sequence[Evaluation]], None] | None = None,
    first_eval: int = 0,
    t0: float | None = None,
) -> MatchResult:
    """Refine ``result`` against ``target_audio`` at ``sr``.

    Parameters
    ----------
    result : MatchResult
        The working-rate match; its best arm's space (choices locked, ranges narrowed) is searched.
    target_audio : ndarray, shape (n,), float32
        The target at its own rate.
    sr : int
        That rate in Hz.
    config : MatchConfig
        Seed, jobs, voice and weights are reused.
    budget : int
        Evaluations, the start patch included.
    callback : callable, optional
        Receives :class:`Evaluation` rows; their ``arm`` is ``"polish@<sr>Hz"`` and
        their losses are distances at ``sr`` (not comparable with the working-rate rows).
    first_eval : int
        Number of evaluations already spent (rows continue the count).
    t0 : float, optional
        ``time.perf_counter()`` at the start of the match, for ``wall_s``.

    Returns
    -------
    MatchResult
        The best patch at ``sr``; ``loss`` is its distance at ``sr``.
    """
    t0 = time.perf_counter() if t0 is None else t0
    arms = [a for a in result.arms if a.optimizer is not None]
    if not arms or budget < 1:
        return result
    best_arm = min(arms, key=lambda a: a.best_loss)
    duree_s = min(max(len(target_audio) / sr, best_arm.space["duree"].low), best_arm.space["duree"].high)
    space: ParamSpace = best_arm.space.lock(duree=duree_s)
    label = f"polish@{sr}Hz"
    evaluator = Evaluator(target_audio, sr, config.voice, config.weights, config.jobs, solve_gain=True)
    x0 = space.encode(result.patch)
    opt = make_optimizer("cma", space.dim, budget=budget, seed=config.seed, x0=x0, sigma0=POLISH_SIGMA)
    best_loss, best_patch, n = math.inf, None, 0

    def run(u: np.ndarray) -> np.ndarray:
        nonlocal best_loss, best_patch, n
        losses, patches = evaluator.evaluate([space.decode(row) for row in u])
        now = time.perf_counter() - t0
        rows = []
        for loss, patch in zip(losses, patches):
            n += 1
            if loss < best_loss:
                best_loss, best_patch = float(loss), patch
            rows.append(Evaluation(first_eval + n, now, float(loss), best_loss, label, patch, voice=config.voice))  # a raced match's rows name their voice
        if callback is not None:
            callback(rows)
        return losses

    run(x0[None, :])
    while n < budget:
        if config.time_limit_s is not None and time.perf_counter() - t0 >= config.time_limit_s:
            break
        u = opt.ask()[: budget - n]
        losses = run(u)
        if len(losses) == opt.batch_size:
            opt.tell(u, losses)
    evaluator.close()
    return MatchResult(dict(best_patch), best_loss, result.evals + n, time.perf_counter() - t0, result.pitch, result.arms, result.stopped_by)
