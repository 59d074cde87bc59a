"""Which fitness weights rank a race's candidate matches the way the independent metrics do?

For every target of the given suites this runs a short race of the voices
(``--voice auto``, the hybrid, ``--budget`` evaluations) and keeps candidate
matches of every voice from it (:func:`race_candidates`):

- ``improvement``: up to 12 of the successive best patches, evenly spread;
- ``history``: per voice, 8 other evaluations at loss quantiles 0-0.6;
- ``perturbed``: per voice, its best with the continuous parameters moved by a
  Gaussian of 0.02, 0.06 and 0.15 in the unit cube (3 each, choices kept).

Each candidate is rendered in its voice with its gain solved as the search
solves it (:func:`matcher.evaluator.loss_of_patch`), then scored by every
fitness term (:meth:`objectives.distance.Fitness.terms`, ``frames`` included)
and by the metrics of :func:`objectives.metrics.all_metrics`.  A set of
weights scores a candidate by ``sum(weight * term)``, exactly the fitness
with those weights, so every weight set is judged on the same candidates.

Printed per suite and weight set: the median Spearman correlation between the
weighted fitness and the metrics' consensus rank (mean rank by MFCC, MSS and
MR-STFT), how often the fitness's best candidate is among the consensus's best
three, and the *regret*: the MFCC (and MSS) of the fitness's best candidate
over the best MFCC (MSS) among the candidates, median and worst over targets.

Usage::

    python -m experiments.race_fitness --suites scsynth:6,faust:6,gm:6,sox:4 --suite-seed 0 --budget 600 --jobs 2
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

__all__ = ["ScoredCandidate", "weight_sets", "race_candidates", "score", "summarise", "main"]

CONSENSUS = ("mfcc", "mss", "mrstft")
"""The metrics whose mean rank is the consensus (LSD is dominated by bins far below the signal)."""


def weight_sets() -> dict[str, object]:
    """The weight sets compared, by name."""
    from matcher.voice_race import RACE_WEIGHTS  # noqa: PLC0415
    from objectives.distance import FitnessWeights  # noqa: PLC0415

    return {
        "default": FitnessWeights(),
        "race before frames": FitnessWeights(time=1.0, envelope=0.75),
        "frames only": FitnessWeights(spectral=0.0, coarse=0.0, time=0.0, frames=1.0, envelope=0.0),
        "race (RACE_WEIGHTS)": RACE_WEIGHTS,
    }


@dataclass
class ScoredCandidate:
    """One candidate match: its kind, voice, the metrics and the fitness's unweighted terms (dB)."""

    kind: str
    voice: str
    metrics: dict[str, float]
    terms: dict[str, float] = field(default_factory=dict)


def race_candidates(target_audio: np.ndarray, sr: int, budget: int, seed: int = 0) -> list[tuple[str, str, dict]]:
    """``(kind, voice, patch)`` candidates of one target from a short race (see the module docstring)."""
    from matcher.search import MatchConfig  # noqa: PLC0415
    from matcher.strategies import run_strategy  # noqa: PLC0415
    from synth.voices import get_voice  # noqa: PLC0415

    rows: list[tuple[float, dict, str]] = []

    def on_batch(batch: Sequence) -> None:
        rows.extend((float(r.loss), dict(r.patch), r.voice or "subtractive") for r in batch)

    run_strategy(np.asarray(target_audio, dtype=np.float32), MatchConfig(optimizer="hybrid", voice="auto", budget=int(budget), seed=int(seed), jobs=1, sr=int(sr)), callback=on_batch)
    rng = np.random.default_rng(seed)
    out: list[tuple[str, str, dict]] = []
    best, improvements = math.inf, []
    for i, (loss, _, _) in enumerate(rows):
        if loss < best:
            best = loss
            improvements.append(i)
    picks = sorted({improvements[int(round(j))] for j in np.linspace(0, len(improvements) - 1, min(12, len(improvements)))}) if improvements else []
    out += [("improvement", rows[i][2], rows[i][1]) for i in picks]
    improved = set(improvements)
    voices = sorted({v for _, _, v in rows})
    for v in voices:
        finite = sorted((i for i, r in enumerate(rows) if r[2] == v and math.isfinite(r[0]) and i not in improved), key=lambda i: rows[i][0])
        out += [("history", v, rows[finite[int(q * (len(finite) - 1))]][1]) for q in np.linspace(0.0, 0.6, 8)] if finite else []
    for v in voices:
        own = [r for r in rows if r[2] == v and math.isfinite(r[0])]
        if not own:
            continue
        b = min(own, key=lambda r: r[0])[1]
        space = get_voice(v).space
        locked = space.lock(duree=float(b["duree"]), **{p.name: b[p.name] for p in space.params if p.is_choice})
        u = locked.encode(b)
        for sigma in (0.02, 0.06, 0.15):
            out += [("perturbed", v, locked.decode(np.clip(u + rng.normal(0.0, sigma, u.shape), 0.0, 1.0))) for _ in range(3)]
    return out


def score(target_audio: np.ndarray, sr: int, candidates: Sequence[tuple[str, str, Mapping]]) -> list[ScoredCandidate]:
    """Render each candidate in its voice (gain solved as the search does); its metrics and fitness terms."""
    from matcher.evaluator import loss_of_patch  # noqa: PLC0415
    from objectives.distance import Fitness  # noqa: PLC0415
    from objectives.features import analyse  # noqa: PLC0415
    from objectives.metrics import all_metrics  # noqa: PLC0415
    from synth.render import render  # noqa: PLC0415
    from synth.voices import get_voice  # noqa: PLC0415

    target = np.ascontiguousarray(target_audio, dtype=np.float32)
    fitness = Fitness(analyse(target, sr))
    power = float(np.dot(target, target))
    out = []
    for kind, voice, patch in candidates:
        _, gain = loss_of_patch(fitness, patch, sr, len(target), voice, power)
        audio = render({**patch, get_voice(voice).gain_param: 1.0}, sr, len(target), voice) * np.float32(gain)
        if not np.any(audio) or not np.all(np.isfinite(audio)):
            continue  # nothing for the metrics to rank
        terms = {k: float(v) for k, v in fitness.terms(audio).items() if k != "total"}
        out.append(ScoredCandidate(kind, voice, {k: float(v) for k, v in all_metrics(audio, target, sr).items()}, terms))
    return out


def _target(spec: str, t, budget: int, seed: int) -> tuple[str, str, list[ScoredCandidate]]:
    return spec, t.name, score(t.audio, t.sr, race_candidates(t.audio, t.sr, budget, seed))


def summarise(cands: Sequence[ScoredCandidate], weights) -> dict[str, float]:
    """For one target and weight set: rho with the consensus, top-1 in the consensus's top 3, MFCC and MSS regret."""
    from dataclasses import fields  # noqa: PLC0415

    from scipy.stats import rankdata, spearmanr  # noqa: PLC0415

    w = {f.name: float(getattr(weights, f.name)) for f in fields(weights)}
    term_weight = {"fine": w["spectral"], "coarse": w["coarse"], "time": w["time"], "frames": w["frames"], "envelope": w["envelope"]}
    fit = np.array([sum(term_weight[k] * v for k, v in c.terms.items()) for c in cands])
    cons = np.mean([rankdata([c.metrics[m] for c in cands]) for m in CONSENSUS], axis=0)
    i = int(np.argmin(fit))
    mfcc = np.array([c.metrics["mfcc"] for c in cands])
    mss = np.array([c.metrics["mss"] for c in cands])
    return {
        "rho": float(spearmanr(fit, cons).statistic) if np.ptp(fit) > 0 else math.nan,
        "top3": float(i in set(np.argsort(cons, kind="stable")[:3].tolist())),
        "mfcc_regret": float(mfcc[i] / max(mfcc.min(), 1e-12)),
        "mss_regret": float(mss[i] / max(mss.min(), 1e-12)),
    }


def main(argv: Sequence[str] | None = None) -> dict:
    """Command line; prints one markdown table. Returns ``{(suite, weight set): summary}``."""
    ap = argparse.ArgumentParser(prog="python -m experiments.race_fitness", description=__doc__.split("\n\n")[0])
    ap.add_argument("--suites", default="scsynth:6,faust:6,gm:6,sox:4", help="comma-separated suite specs (see matcher bench --help)")
    ap.add_argument("--suite-seed", type=int, default=0)
    ap.add_argument("--sr", type=int, default=22050, help="rate of the race, the fitness and the metrics (Hz)")
    ap.add_argument("--budget", type=int, default=600, help="evaluations of the race that makes the candidates")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=1, help="targets scored in parallel (joblib)")
    args = ap.parse_args(argv)

    from joblib import Parallel, delayed  # noqa: PLC0415

    from experiments.sox_suite import load_suite  # noqa: PLC0415

    specs = [s.strip() for s in args.suites.split(",") if s.strip()]
    targets = [(spec, t) for spec in specs for t in load_suite(spec, seed=args.suite_seed, sr=args.sr)]
    scored = Parallel(n_jobs=args.jobs)(delayed(_target)(spec, t, args.budget, args.seed) for spec, t in targets)
    sets = weight_sets()
    print(f"\nRace candidates: suite seed {args.suite_seed}, race budget {args.budget}, {args.sr} Hz; "
          f"median candidates per target {int(np.median([len(c) for *_, c in scored]))}.\n")
    print("| suite | weights | rho with the metrics (median) | best in metrics' top 3 | MFCC regret median [worst] | MSS regret median [worst] |")
    print("|---|---|---|---|---|---|")
    out = {}
    for spec in specs:
        per_target = [c for s, _, c in scored if s == spec and len(c) > 2]
        for name, weights in sets.items():
            rows = [summarise(c, weights) for c in per_target]
            sm = {k: [r[k] for r in rows] for k in ("rho", "top3", "mfcc_regret", "mss_regret")}
            out[(spec, name)] = sm
            print(f"| {spec} | {name} | {np.nanmedian(sm['rho']):.2f} | {100 * np.mean(sm['top3']):.0f} % | "
                  f"{np.median(sm['mfcc_regret']):.2f} [{max(sm['mfcc_regret']):.2f}] | {np.median(sm['mss_regret']):.2f} [{max(sm['mss_regret']):.2f}] |")
    return out


if __name__ == "__main__":
    main()
