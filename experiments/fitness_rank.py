"""Does the fitness rank candidate matches the way the independent metrics do, on foreign targets?

For every target of the given suites this builds a set of candidate matches of
the subtractive voice (see :func:`candidate_patches`):

- ``history_best``: the successive best patches of a short search (``--optimizer``,
  ``--budget``), at most ``--n-history`` of them, evenly spread over the improvements;
- ``history``: other evaluations of that search, picked at evenly spaced loss quantiles;
- ``perturb_small`` / ``perturb_large``: the search's best with its continuous
  parameters moved by a Gaussian of 0.03 / 0.12 in the unit cube (choices kept);
- ``choice_swap``: the best with another oscillator type or filter type;
- ``random_f0``: random patches (:func:`synth.sampling.draw_patch`) at the target's
  labelled f0 (its estimate when unlabelled);
- ``random``: random patches at random pitch.

Each candidate is rendered with :func:`synth.render.render`, its gain solved the
way the search solves it (:func:`matcher.evaluator.loss_of_patch`), and scored by
the fitness (``Fitness(analyse(target, sr))``) and by the metrics of
:func:`objectives.metrics.all_metrics` (MFCC, MSS, MR-STFT, LSD) on the same audio.
Per target it prints the Spearman rank correlation between the fitness and each
metric and per suite their median and worst over targets. It also says where
they disagree: per candidate kind, the mean of (rank by fitness − rank by the
metrics' consensus), both as fractions of the candidate count (positive: the
fitness ranks that kind worse than the metrics do), and per target whether the
fitness's best candidate is among the consensus's best three.

The fitness itself is not changed here.

Usage::

    python -m experiments.fitness_rank --suites scsynth:6,faust:6,gm:8 --budget 300 --per-target
"""

from __future__ import annotations

import argparse
import math
import zlib
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

__all__ = ["Candidate", "TargetRanks", "candidate_patches", "score_candidates", "rank_target", "suite_summary", "main"]

METRICS = ("mfcc", "mss", "mrstft", "lsd_db")
CONSENSUS = ("mfcc", "mss", "mrstft")
"""The metrics whose mean rank is the "consensus" the fitness is compared with (LSD is reported but, being
dominated by bins far below the signal, left out of the consensus)."""

KIND_ORDER = ("history_best", "history", "perturb_small", "perturb_large", "choice_swap", "random_f0", "random")


@dataclass
class Candidate:
    """One candidate match of a target: its kind, its patch (gain solved), its fitness and metrics."""

    kind: str
    patch: Mapping[str, float | str]
    fitness: float = math.nan
    metrics: dict[str, float] = field(default_factory=dict)
    terms: dict[str, float] = field(default_factory=dict)
    """The fitness's unweighted terms (dB), from :meth:`objectives.distance.Fitness.terms`."""


@dataclass
class TargetRanks:
    """The rank agreement on one target.

    ``rho`` maps each metric to the Spearman correlation between the candidates'
    fitness and that metric (NaN when either is constant). ``kind_gap`` maps a
    candidate kind to the mean of (fitness rank − consensus rank) / n over its
    candidates. ``top1_in_top3`` says whether the fitness's best candidate is
    among the consensus's best three; ``fitness_best_kind`` / ``consensus_best_kind``
    name the kinds of the two bests.
    """

    suite: str
    target: str
    n: int
    rho: dict[str, float]
    kind_gap: dict[str, float]
    top1_in_top3: bool
    fitness_best_kind: str
    consensus_best_kind: str
    rho_consensus: float = math.nan
    """Spearman's rho between the fitness and the metrics' consensus rank."""
    term_rho: dict[str, float] = field(default_factory=dict)
    """Spearman's rho between each fitness term and the metrics' consensus rank (when the candidates carry terms)."""


def _search_history(audio: np.ndarray, sr: int, optimizer: str, budget: int, seed: int) -> tuple[list[tuple[float, dict]], dict]:
    from matcher.search import MatchConfig  # noqa: PLC0415
    from matcher.strategies import run_strategy  # noqa: PLC0415

    rows: list[tuple[float, dict]] = []

    def on_batch(batch: Sequence) -> None:
        rows.extend((float(r.loss), dict(r.patch)) for r in batch)

    result = run_strategy(np.asarray(audio, dtype=np.float32), MatchConfig(optimizer=optimizer, budget=int(budget), seed=int(seed), jobs=1, sr=int(sr)), callback=on_batch)
    return rows, dict(result.patch)


def candidate_patches(
    history: Sequence[tuple[float, Mapping]],
    best: Mapping[str, float | str],
    f0_hz: float | None,
    duration_s: float,
    rng: np.random.Generator,
    n_history: int = 10,
    n_perturb: int = 6,
    n_random: int = 6,
) -> list[tuple[str, dict]]:
    """The candidate patches of one target, by kind (see the module docstring).

    Parameters
    ----------
    history : sequence of (loss, patch)
        The search's evaluations in order.
    best : mapping
        The search's result.
    f0_hz : float or None
        The target's f0 for ``random_f0`` (``None``: that kind is skipped).
    duration_s : float
        Note length (the ``duree`` of random patches).
    rng : numpy.random.Generator
    n_history, n_perturb, n_random : int
        Candidates of each history, perturbation and random kind.

    Returns
    -------
    list of (kind, patch)
    """
    from synth.sampling import draw_patch  # noqa: PLC0415
    from synth.voices import get_voice  # noqa: PLC0415

    out: list[tuple[str, dict]] = []
    improvements, best_so_far = [], math.inf
    for i, (loss, _) in enumerate(history):
        if loss < best_so_far:
            best_so_far = loss
            improvements.append(i)
    picks = sorted({improvements[int(round(j))] for j in np.linspace(0, len(improvements) - 1, min(n_history, len(improvements)))}) if improvements else []
    out += [("history_best", dict(history[i][1])) for i in picks]
    improved = set(improvements)
    rest = [i for i in range(len(history)) if i not in improved and math.isfinite(history[i][0])]
    if rest:
        order = sorted(rest, key=lambda i: history[i][0])
        qs = np.linspace(0.05, 0.95, min(n_history, len(order)))
        out += [("history", dict(history[order[int(q * (len(order) - 1))]][1])) for q in qs]
    space = get_voice("subtractive").space
    choices = {p.name for p in space.params if p.is_choice}
    space = space.lock(duree=float(best["duree"]), **{c: best[c] for c in choices})
    u = space.encode(best)
    for kind, sigma in (("perturb_small", 0.03), ("perturb_large", 0.12)):
        for _ in range(n_perturb):
            out.append((kind, space.decode(np.clip(u + rng.normal(0.0, sigma, u.shape), 0.0, 1.0))))
    for c in sorted(choices):
        for other in get_voice("subtractive").space[c].choices:
            if other != best[c]:
                out.append(("choice_swap", {**best, c: other}))
    for _ in range(n_random):
        if f0_hz is not None:
            out.append(("random_f0", {**draw_patch(rng, duration_s), "osc_freq": float(f0_hz)}))
    for _ in range(n_random):
        out.append(("random", draw_patch(rng, duration_s)))
    return out


def score_candidates(target_audio: np.ndarray, sr: int, patches: Sequence[tuple[str, Mapping]]) -> list[Candidate]:
    """Render each candidate with its gain solved as the search does; its fitness and :data:`METRICS`.

    Parameters
    ----------
    target_audio : ndarray, shape (n,), float32
        The target at ``sr``.
    sr : int
        Rate of the fitness, the renders and the metrics, in Hz.
    patches : sequence of (kind, patch)
    """
    from matcher.evaluator import loss_of_patch  # noqa: PLC0415
    from objectives.distance import Fitness  # noqa: PLC0415
    from objectives.features import analyse  # noqa: PLC0415
    from objectives.metrics import all_metrics  # noqa: PLC0415
    from synth.render import render  # noqa: PLC0415
    from synth.voices import get_voice  # noqa: PLC0415

    target = np.ascontiguousarray(target_audio, dtype=np.float32)
    fitness = Fitness(analyse(target, sr))
    power = float(np.dot(target, target))
    gain_param = get_voice("subtractive").gain_param
    out = []
    for kind, patch in patches:
        loss, gain = loss_of_patch(fitness, patch, sr, len(target), "subtractive", power)
        full = {**patch, gain_param: gain}
        audio = render({**full, gain_param: 1.0}, sr, len(target)) * np.float32(gain)
        if not np.any(audio):
            continue  # a silent render (e.g. a sine far below a highpass): nothing for the metrics to rank
        m = all_metrics(audio, target, sr)
        terms = {k: float(v) for k, v in fitness.terms(audio).items() if k != "total"}
        out.append(Candidate(kind, full, float(loss), {k: float(m[k]) for k in METRICS}, terms))
    return out


def _ranks(x: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata  # noqa: PLC0415

    return rankdata(x, method="average")


def rank_target(suite: str, name: str, cands: Sequence[Candidate]) -> TargetRanks:
    """Spearman's rho between the fitness and each metric over ``cands``, and where they disagree."""
    from scipy.stats import spearmanr  # noqa: PLC0415

    fit = np.array([c.fitness for c in cands])
    rho = {}
    for m in METRICS:
        vals = np.array([c.metrics[m] for c in cands])
        rho[m] = float(spearmanr(fit, vals).statistic) if np.ptp(fit) > 0 and np.ptp(vals) > 0 else math.nan
    n = len(cands)
    r_fit = _ranks(fit)
    r_cons = _ranks(np.mean([_ranks(np.array([c.metrics[m] for c in cands])) for m in CONSENSUS], axis=0))
    gap = (r_fit - r_cons) / n
    kinds = [c.kind for c in cands]
    order = [k for k in KIND_ORDER if k in kinds] + [k for k in dict.fromkeys(kinds) if k not in KIND_ORDER]
    kind_gap = {k: float(np.mean([g for g, kk in zip(gap, kinds) if kk == k])) for k in order}
    i_fit, i_cons = int(np.argmin(fit)), int(np.argmin(r_cons))
    top3 = set(np.argsort(r_cons, kind="stable")[:3].tolist())
    term_rho = {}
    for term in cands[0].terms if cands else ():
        vals = np.array([c.terms[term] for c in cands])
        term_rho[term] = float(spearmanr(vals, r_cons).statistic) if np.ptp(vals) > 0 else math.nan
    rho_cons = float(spearmanr(fit, r_cons).statistic) if np.ptp(fit) > 0 else math.nan
    return TargetRanks(suite, name, n, rho, kind_gap, i_fit in top3, kinds[i_fit], kinds[i_cons], rho_cons, term_rho)


def explain(cands: Sequence[Candidate], top: int = 3) -> str:
    """The ``top`` candidates by fitness and by the metrics' consensus, with their kind, scores and main parameters."""
    cons = np.mean([_ranks(np.array([c.metrics[m] for c in cands])) for m in CONSENSUS], axis=0)
    fit = np.array([c.fitness for c in cands])

    def line(i: int) -> str:
        c, p = cands[i], cands[i].patch
        return (f"    {c.kind:13s} fitness {c.fitness:7.3f} (rank {int(_ranks(fit)[i])}) consensus rank {int(round(_ranks(cons)[i]))}"
                f" mfcc {c.metrics['mfcc']:6.1f} mss {c.metrics['mss']:5.2f} mrstft {c.metrics['mrstft']:5.2f} | {p['osc_type']} {float(p['osc_freq']):.1f} Hz,"
                f" {p['filter_type']} {float(p['filter_cutoff']):.0f} Hz q {float(p['filter_res']):.2f}, noise {float(p['noise_vol']):.2f}/{float(p['osc_vol']):.2f},"
                f" ADSR {float(p['env_attack']):.3f}/{float(p['env_decay']):.3f}/{float(p['env_sustain']):.2f}/{float(p['env_release']):.3f}")

    out = ["  best by fitness:"] + [line(i) for i in np.argsort(fit, kind="stable")[:top]]
    out += ["  best by the metrics' consensus (MFCC, MSS, MR-STFT mean rank):"] + [line(i) for i in np.argsort(cons, kind="stable")[:top]]
    return "\n".join(out)


def suite_summary(rows: Sequence[TargetRanks]) -> dict:
    """Median and worst rho per metric, mean kind gaps and the top-1-in-top-3 rate over a suite's targets."""
    out: dict = {"targets": len(rows)}
    for m in METRICS:
        vals = np.array([r.rho[m] for r in rows], dtype=float)
        vals = vals[np.isfinite(vals)]
        out[f"{m}_median"] = float(np.median(vals)) if vals.size else math.nan
        out[f"{m}_worst"] = float(np.min(vals)) if vals.size else math.nan
    for k in KIND_ORDER:
        vals = [r.kind_gap[k] for r in rows if k in r.kind_gap]
        out[f"gap_{k}"] = float(np.mean(vals)) if vals else math.nan
    out["top1_in_top3"] = float(np.mean([r.top1_in_top3 for r in rows])) if rows else math.nan
    for term in rows[0].term_rho if rows else ():
        vals = np.array([r.term_rho.get(term, math.nan) for r in rows], dtype=float)
        out[f"term_{term}"] = float(np.nanmedian(vals)) if np.isfinite(vals).any() else math.nan
    return out


def _f(x: float, d: int = 2) -> str:
    return "–" if not np.isfinite(x) else f"{x:+.{d}f}" if d and x < 0 else f"{x:.{d}f}"


def main(argv: Sequence[str] | None = None) -> list[TargetRanks]:
    """Command line; prints per-target and per-suite markdown tables. Returns the per-target rows."""
    ap = argparse.ArgumentParser(prog="python -m experiments.fitness_rank", description=__doc__.split("\n\n")[0])
    ap.add_argument("--suites", default="scsynth:6,faust:6,gm:8", help="comma-separated suite specs (see matcher bench --help)")
    ap.add_argument("--suite-seed", type=int, default=0)
    ap.add_argument("--sr", type=int, default=22050, help="rate of the search, the fitness and the metrics (Hz)")
    ap.add_argument("--optimizer", default="hybrid", help="strategy of the short search that makes the history candidates")
    ap.add_argument("--budget", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0, help="seed of the search and of the random candidates")
    ap.add_argument("--n-history", type=int, default=10)
    ap.add_argument("--n-perturb", type=int, default=6)
    ap.add_argument("--n-random", type=int, default=6)
    ap.add_argument("--per-target", action="store_true", help="print every target's row")
    ap.add_argument("--only", default="", help="comma-separated substrings: keep only the targets whose name contains one")
    ap.add_argument("--explain", action="store_true", help="print each target's kind gaps and its top candidates by fitness and by the metrics")
    args = ap.parse_args(argv)

    from experiments.sox_suite import load_suite  # noqa: PLC0415
    from objectives.pitch import estimate_pitch  # noqa: PLC0415

    rows: list[TargetRanks] = []
    by_suite: dict[str, list[TargetRanks]] = {}
    for spec in [s.strip() for s in args.suites.split(",") if s.strip()]:
        for t in load_suite(spec, seed=args.suite_seed, sr=args.sr):
            if args.only and not any(x.strip() and x.strip() in t.name for x in args.only.split(",")):
                continue
            history, best = _search_history(t.audio, t.sr, args.optimizer, args.budget, args.seed)
            f0 = t.labels.get("f0_hz")
            if f0 is None:
                est = estimate_pitch(t.audio, t.sr)
                f0 = est.f0_hz if est.voiced else None
            rng = np.random.default_rng([args.seed, zlib.crc32(t.name.encode())])  # per target: the same whichever suites run with it
            patches = candidate_patches(history, best, f0, len(t.audio) / t.sr, rng, args.n_history, args.n_perturb, args.n_random)
            cands = score_candidates(t.audio, t.sr, patches)
            r = rank_target(spec, t.name, cands)
            rows.append(r)
            by_suite.setdefault(spec, []).append(r)
            if args.per_target:
                print(f"{t.name}: n={r.n} " + " ".join(f"{m}={_f(r.rho[m])}" for m in METRICS)
                      + f" top1∈top3={int(r.top1_in_top3)} best(fitness)={r.fitness_best_kind} best(metrics)={r.consensus_best_kind}"
                      + (" terms vs consensus: " + " ".join(f"{k}={_f(v)}" for k, v in r.term_rho.items()) if r.term_rho else ""), flush=True)
            if args.explain:
                print(f"{t.name}: kind gaps " + " ".join(f"{k}={_f(v)}" for k, v in r.kind_gap.items()) + "\n" + explain(cands), flush=True)

    print("\n### Spearman rank correlation of the fitness with each metric, per target: median [worst] over targets\n")
    print("| suite | targets | MFCC | MSS | MR-STFT | LSD | fitness best in metrics' top 3 |")
    print("|---|---|---|---|---|---|---|")
    summaries = {s: suite_summary(rs) for s, rs in by_suite.items()}
    for s, sm in summaries.items():
        cells = [f"{_f(sm[f'{m}_median'])} [{_f(sm[f'{m}_worst'])}]" for m in METRICS]
        print(f"| {s} | {sm['targets']} | " + " | ".join(cells) + f" | {100 * sm['top1_in_top3']:.0f} % |")
    print("\n### Where they disagree: mean (fitness rank − metrics' consensus rank) / n, per candidate kind\n")
    print("Positive: the fitness ranks these candidates worse than MFCC, MSS and MR-STFT do; negative: better.\n")
    print("| suite | " + " | ".join(KIND_ORDER) + " |")
    print("|---|" + "---|" * len(KIND_ORDER))
    for s, sm in summaries.items():
        print(f"| {s} | " + " | ".join(_f(sm[f'gap_{k}']) for k in KIND_ORDER) + " |")
    terms = [k[5:] for k in next(iter(summaries.values()), {}) if k.startswith("term_")]
    if terms:
        print("\n### Each fitness term against the metrics' consensus rank: median rho over targets\n")
        print("| suite | " + " | ".join(terms) + " | weighted fitness vs consensus |")
        print("|---|" + "---|" * (len(terms) + 1))
        for s, rs in by_suite.items():
            cons = np.median([r.rho_consensus for r in rs])
            print(f"| {s} | " + " | ".join(_f(summaries[s][f'term_{t}']) for t in terms) + f" | {_f(cons)} |")
    worst = sorted(rows, key=lambda r: np.nanmean([r.rho[m] for m in CONSENSUS]))[:5]
    print("\n### Worst targets (lowest mean rho over MFCC, MSS, MR-STFT)\n")
    print("| target | MFCC | MSS | MR-STFT | LSD | best by fitness | best by metrics |")
    print("|---|---|---|---|---|---|---|")
    for r in worst:
        print(f"| {r.target} | " + " | ".join(_f(r.rho[m]) for m in METRICS) + f" | {r.fitness_best_kind} | {r.consensus_best_kind} |")
    return rows


if __name__ == "__main__":
    main()
