"""Issue 9's minimums, read from one benchmark run: the default against random search and plain CMA-ES.

Run the sweep first, every method side by side in one run (same targets, seeds, budget)::

    matcher bench --suite scsynth:12 --suite faust:12 --suite gm:16 --suite sox:8 \\
        --optimizers hybrid@auto,random@auto,cma@auto,hybrid --budget 2000 --seeds 3 --sr 44100 --out runs/real-world
    python -m experiments.real_world runs/real-world --default hybrid@auto --random random@auto --cma cma@auto

Per suite it prints the median MFCC distance of each method, the ratios the
issue bounds (default ≤ 0.6 × random, ≤ 0.8 × cma), the share of (target, seed)
pairs where the default ends below random (≥ 80 %), the worst pair (largest
default / random MFCC ratio), and on labelled engines the waveform and filter
family accuracy and the median f0 error of the default, with the winning voices.
The multi-scale spectral distance (Hayes et al. 2025) is given beside the MFCC.
The label figures are scored again from each stored patch and its target's labels
(:func:`experiments.bench.score_labels`), so a run made before a scoring fix reads
with the fix (until it, the analog voice's 24 dB ``lowpass24`` counted as a wrong
filter family on a note labelled ``lowpass``).
"""

from __future__ import annotations

import argparse
import collections
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from experiments.bench import score_labels
from experiments.store import Store

__all__ = ["suite_rows", "rescored", "main"]

LIMITS = {"random_ratio": 0.6, "cma_ratio": 0.8, "beats_random": 0.8, "osc_ok": 0.9, "filter_ok": 0.85, "f0_cents": 5.0}
"""Issue 9's minimums."""


def _pairs(trials: list[dict], method: str) -> dict[tuple[str, int], dict]:
    return {(t["target"], int(t["seed"])): t for t in trials if t["optimizer"] == method}


def suite_rows(trials: list[dict], default: str, random: str, cma: str) -> list[dict]:
    """One row of figures per suite (see the module docstring); pairs missing a method are left out."""
    rows = []
    by_suite: dict[str, list[dict]] = collections.defaultdict(list)
    for t in trials:
        by_suite[t["suite"]].append(t)
    for suite, ts in sorted(by_suite.items()):
        d, r, c = _pairs(ts, default), _pairs(ts, random), _pairs(ts, cma)
        keys = sorted(set(d) & set(r) & set(c))
        if not keys:
            continue
        mf = {m: np.array([p[k]["metrics"]["mfcc"] for k in keys]) for m, p in (("default", d), ("random", r), ("cma", c))}
        ms = {m: np.array([p[k]["metrics"]["mss"] for k in keys]) for m, p in (("default", d), ("random", r), ("cma", c))}
        ratio = mf["default"] / np.maximum(mf["random"], 1e-12)
        worst = int(np.argmax(ratio))
        row = {
            "suite": suite, "pairs": len(keys), "targets": len({k[0] for k in keys}),
            **{f"mfcc_{m}": float(np.median(v)) for m, v in mf.items()},
            **{f"mss_{m}": float(np.median(v)) for m, v in ms.items()},
            "random_ratio": float(np.median(mf["default"]) / np.median(mf["random"])),
            "cma_ratio": float(np.median(mf["default"]) / np.median(mf["cma"])),
            "beats_random": float(np.mean(mf["default"] < mf["random"])),
            "worst": f"{keys[worst][0]} seed {keys[worst][1]}: {mf['default'][worst]:.1f} vs random {mf['random'][worst]:.1f}",
        }
        for label in ("osc_ok", "filter_ok"):
            vals = [d[k]["metrics"][label] for k in keys if label in d[k]["metrics"]]
            row[label] = float(np.mean(vals)) if vals else None
        cents = [d[k]["metrics"]["f0_cents"] for k in keys if "f0_cents" in d[k]["metrics"]]
        row["f0_cents"] = float(np.median(cents)) if cents else None
        row["f0_cents_p90"] = float(np.percentile(cents, 90)) if cents else None
        voices = collections.Counter(str((d[k]["patch"] or {}).get("voice", "-")) for k in keys)
        row["voices"] = ", ".join(f"{v} {n}" for v, n in voices.most_common())
        rows.append(row)
    return rows


def rescored(trials: Sequence[dict], labels: Mapping[str, Mapping]) -> list[dict]:
    """``trials`` with their label metrics (waveform, filter family, f0) scored again from the stored patch and the target's ``labels``."""
    out = []
    for t in trials:
        patch = dict(t["patch"] or {})
        voice = str(patch.pop("voice", "subtractive"))
        metrics = {k: v for k, v in t["metrics"].items() if k not in ("osc_ok", "filter_ok", "choices_ok", "f0_cents", "f0_ok")}
        out.append({**t, "metrics": {**metrics, **score_labels(patch, labels.get(t["target"], {}), voice)}} if patch else t)
    return out


def _check(value: float | None, limit: float, upper: bool) -> str:
    if value is None:
        return "–"
    ok = value <= limit if upper else value >= limit
    return "met" if ok else "NOT met"


def markdown(rows: Sequence[dict], default: str, random: str, cma: str) -> str:
    """The minimums table (one row per suite) and the worst pairs."""
    head = (f"| suite | pairs | MFCC {default} | MFCC {random} | MFCC {cma} | ÷ random (≤ 0.6) | ÷ cma (≤ 0.8) | below random (≥ 80 %) "
            f"| MSS {default} / {random} / {cma} | waveform (≥ 90 %) | filter (≥ 85 %) | f0 median / p90 (≤ 5 c) | winning voices |")
    lines = [head, "|" + "---|" * 13]
    pct = lambda v: "–" if v is None else f"{100 * v:.0f} %"  # noqa: E731
    for r in rows:
        f0 = "–" if r["f0_cents"] is None else f"{r['f0_cents']:.1f} / {r['f0_cents_p90']:.0f} c"
        lines.append(
            f"| {r['suite']} | {r['pairs']} | {r['mfcc_default']:.1f} | {r['mfcc_random']:.1f} | {r['mfcc_cma']:.1f} "
            f"| {r['random_ratio']:.2f} {_check(r['random_ratio'], LIMITS['random_ratio'], True)} "
            f"| {r['cma_ratio']:.2f} {_check(r['cma_ratio'], LIMITS['cma_ratio'], True)} "
            f"| {pct(r['beats_random'])} {_check(r['beats_random'], LIMITS['beats_random'], False)} "
            f"| {r['mss_default']:.3f} / {r['mss_random']:.3f} / {r['mss_cma']:.3f} "
            f"| {pct(r['osc_ok'])} | {pct(r['filter_ok'])} | {f0} | {r['voices']} |"
        )
    lines.append("")
    lines.append("Worst pair per suite (largest default / random MFCC ratio):")
    lines.extend(f"- {r['suite']}: {r['worst']}" for r in rows)
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path, help="run folder of `matcher bench` (its store.sqlite)")
    ap.add_argument("--default", default="hybrid@auto")
    ap.add_argument("--random", default="random@auto")
    ap.add_argument("--cma", default="cma@auto")
    ap.add_argument("--budget", type=int, default=None, help="only trials of this budget")
    args = ap.parse_args(argv)
    with Store(args.run / "store.sqlite") as store:
        trials = [t for t in store.trials() if args.budget is None or t["budget"] == args.budget]
        labels = {t["name"]: t["labels"] for t in store.targets()}
    trials = rescored(trials, labels)
    rows = suite_rows(trials, args.default, args.random, args.cma)
    print(markdown(rows, args.default, args.random, args.cma))
    return rows


if __name__ == "__main__":
    main()
