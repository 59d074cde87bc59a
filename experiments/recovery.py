"""Recovery of in-domain targets, each method side by side, with the worst target and the per-target check against baselines.

Run ``python -m experiments.recovery --n 20 --budget 2000 --methods hybrid,cma,random --suite-seeds 11,12 --rates 22050,44100``.

Targets are valid random patches of the subtractive voice (:func:`experiments.suites.in_domain_suite`,
the broad sampler by default), rendered at each rate.  Every method matches every target through
:func:`matcher.pipeline.match_target` (what ``matcher match`` runs: the search at the target's own rate
unless the method says ``@RATE``), with the same budget and search seed, all in one run.  Printed per
(rate, suite):

- oscillator-type accuracy; filter-type accuracy over the targets whose filter is audible, where a wrong
  label counts as right when the match is audibly identical (see :func:`audibly_identical`);
- median and p90 f0 error in cents; median final distance (the fitness at the target's rate) and MFCC;
- the worst target of each method;
- for each method, the targets whose final distance is more than twice that of a baseline (``random``,
  ``cma``) at the same budget and seed.

A method ``NAME@RATE`` searches at RATE (e.g. ``hybrid@22050``: the old default, a search at
22.05 kHz and a polish at the target's rate); ``NAME@VOICE`` plays that voice, or ``NAME@auto`` races
them (e.g. ``hybrid@subtractive``, ``random@auto``); ``NAME`` alone uses ``matcher match``'s default voice.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed

from experiments.suites import SuiteTarget, in_domain_suite

__all__ = ["recover_one", "audibly_identical", "summarise", "baseline_check", "main", "IDENTICAL_MFCC", "IDENTICAL_DISTANCE"]

IDENTICAL_MFCC = 1.0
"""MFCC distance below which a match with a wrong filter label is taken as audibly identical."""

IDENTICAL_DISTANCE = 0.1
"""Fitness distance (RMS dB) below which, with the MFCC condition, a wrong label counts as audibly identical.

A re-render of a noisy target's own patch with another noise realisation lies 0.1–0.4 away
(``experiments.noise_floor``): a match closer than that cannot be told from the target."""

BASELINE_FLOOR = 0.01
"""Distances below this are inaudible; the twice-the-baseline check compares ``max(d, BASELINE_FLOOR)``."""


def _target_object(t: SuiteTarget):
    from objectives.audio_io import Target  # noqa: PLC0415

    audio = np.ascontiguousarray(t.audio, dtype=np.float32)
    return Target(audio=audio, sr=t.sr, orig_sr=t.sr, orig_audio=audio, path=t.name, duration_s=len(audio) / t.sr)


def recover_one(target: SuiteTarget, method: str, budget: int, seed: int) -> dict:
    """Match one in-domain target with ``method`` (``name`` or ``name@rate``) and score it against its true patch."""
    import soxr  # noqa: PLC0415

    from matcher.pipeline import MatchSettings, match_target  # noqa: PLC0415
    from objectives.distance import Fitness  # noqa: PLC0415
    from objectives.features import analyse  # noqa: PLC0415

    name, _, at = method.partition("@")
    rate, voice = (at, None) if at.isdigit() else ("", at or None)
    tgt = _target_object(target)
    if rate and int(rate) != target.sr:
        audio = soxr.resample(tgt.orig_audio, target.sr, int(rate), quality="HQ").astype(np.float32)
        tgt = type(tgt)(audio=audio, sr=int(rate), orig_sr=target.sr, orig_audio=tgt.orig_audio, path=target.name, duration_s=len(audio) / int(rate))
    t0 = time.perf_counter()
    settings = MatchSettings(optimizer=name, budget=budget, seed=seed, jobs=1)
    out = match_target(tgt, settings if voice is None else replace(settings, voice=voice))
    wall_s = time.perf_counter() - t0
    truth, found = target.true_patch, out.patch
    distance = float(Fitness(analyse(target.audio, target.sr))(out.match_audio))  # at the target's rate, whatever the search rate
    audible = bool(target.labels.get("filter_audible", not (truth["osc_type"] == "sine" and float(truth["noise_vol"]) == 0.0)))
    return {
        "target": target.name,
        "sr": target.sr,
        "method": method,
        "osc_ok": found.get("osc_type") == truth["osc_type"],
        "filter_ok": found.get("filter_type") == truth["filter_type"],
        "filter_audible": audible,
        "f0_cents": abs(1200.0 * np.log2(float(found["osc_freq"]) / float(truth["osc_freq"]))),
        "distance": distance,
        "mfcc": float(out.metrics["mfcc_distance"]),
        "evals": out.evals,
        "wall_s": wall_s,
        "truth": f"{truth['osc_type']}/{truth['filter_type']}",
        "found": ("" if out.voice == "subtractive" else f"{out.voice}: ") + f"{found.get('osc_type')}/{found.get('filter_type')}",
        "voice": out.voice,
        "truth_patch": dict(truth),
    }


def audibly_identical(row: dict) -> bool:
    """Whether a match is close enough that its labels cannot be heard to differ (see :data:`IDENTICAL_MFCC`)."""
    return row["mfcc"] <= IDENTICAL_MFCC and row["distance"] <= IDENTICAL_DISTANCE


def summarise(rows: list[dict]) -> dict:
    """Aggregate the rows of one method on one suite."""
    audible = [r for r in rows if r["filter_audible"]]
    worst = max(rows, key=lambda r: r["distance"])
    return {
        "n": len(rows),
        "osc_acc": float(np.mean([r["osc_ok"] for r in rows])),
        "filter_acc_strict": float(np.mean([r["filter_ok"] for r in audible])) if audible else float("nan"),
        "filter_acc": float(np.mean([r["filter_ok"] or audibly_identical(r) for r in audible])) if audible else float("nan"),
        "n_audible": len(audible),
        "f0_med_cents": float(np.median([r["f0_cents"] for r in rows])),
        "f0_p90_cents": float(np.percentile([r["f0_cents"] for r in rows], 90)),
        "distance_med": float(np.median([r["distance"] for r in rows])),
        "mfcc_med": float(np.median([r["mfcc"] for r in rows])),
        "wall_med_s": float(np.median([r["wall_s"] for r in rows])),
        "worst": {k: worst[k] for k in ("target", "truth", "found", "distance", "mfcc", "f0_cents")},
    }


def baseline_check(rows: list[dict], method: str, baseline: str) -> list[dict]:
    """Targets where ``method`` ended more than twice as far as ``baseline`` (distances floored at :data:`BASELINE_FLOOR`)."""
    by_target = {r["target"]: r for r in rows if r["method"] == baseline}
    bad = []
    for r in rows:
        if r["method"] != method or r["target"] not in by_target:
            continue
        b = by_target[r["target"]]
        if max(r["distance"], BASELINE_FLOOR) > 2 * max(b["distance"], BASELINE_FLOOR):
            bad.append({"target": r["target"], "truth": r["truth"], "found": r["found"], "distance": r["distance"], baseline: b["distance"]})
    return bad


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20, help="targets per suite")
    ap.add_argument("--budget", type=int, default=2000)
    ap.add_argument("--methods", default="hybrid,cma,random", help="strategies or optimisers, NAME, NAME@RATE or NAME@VOICE (comma-separated)")
    ap.add_argument("--seed", type=int, default=0, help="search seed")
    ap.add_argument("--suite-seeds", default="11,12", help="seeds of the target suites (comma-separated)")
    ap.add_argument("--rates", default="22050,44100", help="sample rates of the targets in Hz (comma-separated)")
    ap.add_argument("--baselines", default="random,cma", help="methods every other method is checked against")
    ap.add_argument("--jobs", type=int, default=2, help="matches run in parallel (each in one process)")
    ap.add_argument("--json", type=Path, default=None, help="write every row and summary here")
    ap.add_argument("--verbose", action="store_true", help="print one line per match")
    args = ap.parse_args(argv)
    methods = args.methods.split(",")
    baselines = [b for b in args.baselines.split(",") if b in methods]
    suites = [(int(sr), int(seed), in_domain_suite(args.n, seed=int(seed), sr=int(sr))) for sr in args.rates.split(",") for seed in args.suite_seeds.split(",")]
    tasks = [(t, m) for _, _, targets in suites for t in targets for m in methods]
    t0 = time.perf_counter()
    rows = Parallel(n_jobs=args.jobs, verbose=5 if args.verbose else 0)(delayed(recover_one)(t, m, args.budget, args.seed) for t, m in tasks)
    print(f"\nIn-domain recovery: budget {args.budget}, search seed {args.seed}, {len(rows)} matches in {time.perf_counter() - t0:.0f} s\n")
    report = {"args": vars(args) | {"json": str(args.json)}, "suites": []}
    for sr, seed, targets in suites:
        names = {t.name for t in targets}
        suite_rows = [r for r in rows if r["target"] in names and r["sr"] == sr]
        print(f"### {len(targets)} targets at {sr} Hz, suite seed {seed}\n")
        print("| method | osc type | filter type (audible; strict) | f0 median / p90 (cents) | median distance | median MFCC | worst target (truth -> found, distance) | > 2x a baseline |")
        print("|---|---|---|---|---|---|---|---|")
        entry = {"sr": sr, "suite_seed": seed, "methods": {}}
        for m in methods:
            mine = [r for r in suite_rows if r["method"] == m]
            s = summarise(mine)
            bad = {b: baseline_check(suite_rows, m, b) for b in baselines if b != m}
            entry["methods"][m] = {**s, "worse_than_2x": bad}
            w = s["worst"]
            n_bad = sum(len(v) for v in bad.values())
            print(f"| {m} | {s['osc_acc']:.0%} | {s['filter_acc']:.0%} of {s['n_audible']}; {s['filter_acc_strict']:.0%} | {s['f0_med_cents']:.2f} / {s['f0_p90_cents']:.2f} | "
                  f"{s['distance_med']:.4f} | {s['mfcc_med']:.2f} | {w['target'].rsplit('-', 1)[-1]} {w['truth']} -> {w['found']}, {w['distance']:.3f} | {n_bad} |")
        for m, e in entry["methods"].items():
            for b, bad in e["worse_than_2x"].items():
                for x in bad:
                    print(f"  {m} > 2x {b}: {x['target']} {x['truth']} -> {x['found']}: {x['distance']:.4f} vs {x[b]:.4f}")
        print()
        report["suites"].append(entry)
    if args.verbose:
        for r in rows:
            flag = "" if r["osc_ok"] and r["filter_ok"] else "  <-- wrong label"
            print(f"{r['method']:>14} {r['sr']} {r['target']}  {r['truth']:>18} -> {r['found']:<18} f0 {r['f0_cents']:6.2f} c  distance {r['distance']:.4f}  MFCC {r['mfcc']:.2f}{flag}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"report": report, "rows": rows}, indent=1, default=str))


if __name__ == "__main__":
    main()
