"""Recovery of in-domain targets: choice accuracy, f0 error and distances per optimiser.

Run ``python -m experiments.recovery [--n 20] [--budget 2000] [--optimizers cma,ga,random]``.
Targets are valid random patches of the subtractive voice (fixed seed, 1 s at
22.05 kHz); every optimiser sees the same targets with the same budget and
seed, in one run, and the table is printed side by side.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from joblib import Parallel, delayed

from experiments.suites import SuiteTarget, in_domain_suite
from matcher.search import MatchConfig
from matcher.strategies import run_strategy
from objectives.metrics import mfcc_distance
from synth.render import render

__all__ = ["recover_one", "summarise", "main"]


def recover_one(target: SuiteTarget, optimizer: str, budget: int, seed: int) -> dict:
    """Match one in-domain target and score it against its true patch."""
    t0 = time.perf_counter()
    result = run_strategy(target.audio, MatchConfig(optimizer=optimizer, budget=budget, seed=seed, sr=target.sr))
    wall_s = time.perf_counter() - t0
    truth, found = target.true_patch, result.patch
    match_audio = render(found, target.sr, len(target.audio))
    return {
        "target": target.name,
        "optimizer": optimizer,
        "osc_ok": found["osc_type"] == truth["osc_type"],
        "filter_ok": found["filter_type"] == truth["filter_type"],
        "f0_cents": abs(1200.0 * np.log2(float(found["osc_freq"]) / float(truth["osc_freq"]))),
        "loss": result.loss,
        "mfcc": mfcc_distance(match_audio, target.audio, target.sr),
        "evals": result.evals,
        "wall_s": wall_s,
        "truth": f"{truth['osc_type']}/{truth['filter_type']}",
        "found": f"{found['osc_type']}/{found['filter_type']}",
    }


def summarise(rows: list[dict]) -> dict:
    """Aggregate the rows of one optimiser."""
    return {
        "osc_acc": float(np.mean([r["osc_ok"] for r in rows])),
        "filter_acc": float(np.mean([r["filter_ok"] for r in rows])),
        "f0_med_cents": float(np.median([r["f0_cents"] for r in rows])),
        "f0_p90_cents": float(np.percentile([r["f0_cents"] for r in rows], 90)),
        "loss_med": float(np.median([r["loss"] for r in rows])),
        "mfcc_med": float(np.median([r["mfcc"] for r in rows])),
        "wall_med_s": float(np.median([r["wall_s"] for r in rows])),
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20, help="number of targets")
    ap.add_argument("--budget", type=int, default=2000)
    ap.add_argument("--optimizers", default="hybrid,cma,ga,random", help="optimisers or strategies (comma-separated)")
    ap.add_argument("--seed", type=int, default=0, help="search seed")
    ap.add_argument("--suite-seed", type=int, default=2024, help="seed of the target suite")
    ap.add_argument("--jobs", type=int, default=2, help="targets matched in parallel")
    ap.add_argument("--verbose", action="store_true", help="print one line per target")
    args = ap.parse_args(argv)
    targets = in_domain_suite(args.n, seed=args.suite_seed)
    optimizers = args.optimizers.split(",")
    tasks = [(t, o) for o in optimizers for t in targets]
    rows = Parallel(n_jobs=args.jobs)(delayed(recover_one)(t, o, args.budget, args.seed) for t, o in tasks)
    if args.verbose:
        for r in rows:
            flag = "" if r["osc_ok"] and r["filter_ok"] else "  <-- wrong choice"
            print(f"{r['optimizer']:>8} {r['target']}  {r['truth']:>18} -> {r['found']:<18} f0 {r['f0_cents']:6.2f} c  loss {r['loss']:.3f}{flag}")
    print(f"\nIn-domain recovery: {args.n} targets (suite seed {args.suite_seed}), budget {args.budget}, search seed {args.seed}\n")
    print("| optimizer | osc type acc | filter type acc | f0 err median (cents) | f0 err p90 (cents) | median fitness | median MFCC dist | median wall s |")
    print("|---|---|---|---|---|---|---|---|")
    summaries = {}
    for o in optimizers:
        s = summaries[o] = summarise([r for r in rows if r["optimizer"] == o])
        print(f"| {o} | {s['osc_acc']:.0%} | {s['filter_acc']:.0%} | {s['f0_med_cents']:.2f} | {s['f0_p90_cents']:.2f} | {s['loss_med']:.3f} | {s['mfcc_med']:.2f} | {s['wall_med_s']:.1f} |")
    if "random" in summaries:
        for o in optimizers:
            if o != "random":
                print(f"\n{o} median fitness / random median fitness = {summaries[o]['loss_med'] / summaries['random']['loss_med']:.3f}")


if __name__ == "__main__":
    main()
