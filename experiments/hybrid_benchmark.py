"""Side-by-side benchmark: predict, hybrid and unseeded optimisers on in-domain targets.

Run ``python -m experiments.hybrid_benchmark [--n 30] [--budgets 300,1000] [--methods predict,hybrid,cma,ga,random]``.

Targets are ``experiments.suites.in_domain_suite(n, seed=--suite-seed)``; the
default suite seed (2025) is neither the training set's (dataset seed 1, one
generator per sample) nor the model evaluation's (777).  Every method sees the
same targets, budget and search seed, in one run.  A method is a strategy or
optimiser name; ``hybrid:screen=1+sigma=0.05+k=2`` runs a hybrid variant
(options: screen, fit, spread, envfix, sigma, k, mass, opt).

For each budget it prints: median final distance (and IQR), oscillator /
filter accuracy, median f0 error, median wall time; then, against the best
unseeded optimiser (lowest median distance among the plain optimisers), the
number of evaluations hybrid needs to reach that optimiser's final median
distance (on the median best-so-far curve over targets, and per target) and
the ratio of the medians at equal budget.  Raw rows go to ``--out`` (JSON).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed

from experiments.suites import SuiteTarget, in_domain_suite
from matcher.search import MatchConfig

__all__ = ["run_one", "main"]


def _parse(method: str) -> tuple[str, dict]:
    name, _, opts = method.partition(":")
    kw: dict = {}
    for item in filter(None, opts.split("+")):
        k, _, v = item.partition("=")
        kw[{"screen": "screen", "sigma": "sigma0", "k": "k_max", "mass": "mass", "opt": "optimizer", "fit": "fit_seeds", "spread": "fit_spread", "envfix": "correct_envelope"}[k]] = (
            bool(int(v)) if k in ("screen", "fit", "spread", "envfix") else int(v) if k == "k" else v if k == "opt" else float(v)
        )
    return name, kw


def run_one(target: SuiteTarget, method: str, budget: int, seed: int) -> dict:
    """Match one target with one method; return scores and the best-so-far curve."""
    import os  # noqa: PLC0415

    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from matcher.hybrid import run_hybrid, run_predict  # noqa: PLC0415
    from matcher.search import run_match  # noqa: PLC0415

    name, kw = _parse(method)
    config = MatchConfig(optimizer=name, budget=budget, seed=seed, sr=target.sr)
    rows: list = []
    t0 = time.perf_counter()
    if name == "hybrid":
        result = run_hybrid(target.audio, config, callback=rows.extend, **kw)
    elif name == "predict":
        result = run_predict(target.audio, config, callback=rows.extend)
    else:
        result = run_match(target.audio, config, callback=rows.extend)
    wall = time.perf_counter() - t0
    truth, found = target.true_patch, result.patch
    return {
        "target": target.name, "method": method, "budget": budget,
        "loss": float(result.loss), "evals": int(result.evals), "wall_s": wall,
        "osc_ok": found["osc_type"] == truth["osc_type"], "filter_ok": found["filter_type"] == truth["filter_type"],
        "f0_cents": float(abs(1200.0 * np.log2(float(found["osc_freq"]) / float(truth["osc_freq"])))),
        "curve": [float(r.best_loss) for r in rows],
    }


def _curve(rows: list[dict], budget: int) -> np.ndarray:
    """Per target best-so-far after e evaluations (e = 1..budget), padded with the final value."""
    out = np.full((len(rows), budget), np.nan)
    for i, r in enumerate(rows):
        c = np.asarray(r["curve"])
        out[i, : len(c)] = c
        out[i, len(c):] = c[-1] if len(c) else np.inf
    return out


def _first_reach(curve: np.ndarray, level: float) -> int | None:
    hit = np.nonzero(curve <= level)[0]
    return int(hit[0]) + 1 if len(hit) else None


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=30)
    ap.add_argument("--suite-seed", type=int, default=2025)
    ap.add_argument("--budgets", default="300,1000")
    ap.add_argument("--methods", default="predict,hybrid,cma,ga,random")
    ap.add_argument("--seed", type=int, default=0, help="search seed")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("runs/hybrid_benchmark.json"))
    args = ap.parse_args(argv)
    budgets = [int(b) for b in args.budgets.split(",")]
    methods = args.methods.split(",")
    targets = in_domain_suite(args.n, seed=args.suite_seed)
    tasks = [(t, m, b) for b in budgets for m in methods if not (m == "predict" and b != budgets[0]) for t in targets]
    t0 = time.perf_counter()
    rows = Parallel(n_jobs=args.jobs)(delayed(run_one)(t, m, b, args.seed) for t, m, b in tasks)
    total_s = time.perf_counter() - t0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "rows": rows}) + "\n")
    print(f"\n{args.n} in-domain targets (suite seed {args.suite_seed}), search seed {args.seed}, {total_s:.0f} s in all\n")
    summary: dict = {}
    for b in budgets:
        print(f"### budget {b}\n")
        print("| method | median distance | IQR | osc acc | filter acc | median f0 err (cents) | median evals | median wall s |")
        print("|---|---|---|---|---|---|---|---|")
        for m in methods:
            rs = [r for r in rows if r["method"] == m and (r["budget"] == b or m == "predict")]
            losses = [r["loss"] for r in rs]
            q1, q3 = np.percentile(losses, [25, 75])
            summary[(m, b)] = float(np.median(losses))
            print(f"| {m} | {np.median(losses):.3f} | {q1:.3f}–{q3:.3f} | {np.mean([r['osc_ok'] for r in rs]):.0%} | "
                  f"{np.mean([r['filter_ok'] for r in rs]):.0%} | {np.median([r['f0_cents'] for r in rs]):.2f} | "
                  f"{np.median([r['evals'] for r in rs]):.0f} | {np.median([r['wall_s'] for r in rs]):.2f} |")
        plain = [m for m in methods if _parse(m)[0] not in ("hybrid", "predict")]
        hybrids = [m for m in methods if _parse(m)[0] == "hybrid"]
        if plain and hybrids:
            best = min(plain, key=lambda m: summary[(m, b)])
            level = summary[(best, b)]
            ref = {r["target"]: r["loss"] for r in rows if r["method"] == best and r["budget"] == b}
            print(f"\nbest unseeded optimiser at budget {b}: {best}, median final distance {level:.3f}")
            for h in hybrids:
                hr = sorted((r for r in rows if r["method"] == h and r["budget"] == b), key=lambda r: r["target"])
                curves = _curve(hr, b)
                med = np.median(curves, axis=0)
                e_med = _first_reach(med, level)
                per = [_first_reach(c, ref[r["target"]]) for c, r in zip(curves, hr)]
                reached = [e for e in per if e is not None]
                per_med = np.median([e if e is not None else np.inf for e in per])
                print(f"- {h}: median best-so-far reaches {level:.3f} after {e_med if e_med else f'> {b}'} evaluations "
                      f"({'' if e_med is None else f'{e_med / b:.1%} of the budget, '}minimum: ≤ {b // 5}); "
                      f"per target, reaches {best}'s final distance on {len(reached)}/{len(per)} targets, median {per_med:.0f} evaluations; "
                      f"median distance ratio {summary[(h, b)] / level:.2f} (minimum: ≤ 0.5)")
        print()


if __name__ == "__main__":
    main()
