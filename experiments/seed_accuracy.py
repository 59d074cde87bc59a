"""Accuracy of the hybrid's starting points: the predictor against the render-free fits.

For valid random notes (balanced over oscillator × filter cells, never seen in
training), with the true combination: the predictor's patch, and the seed made
of :func:`objectives.filter_fit.fit_filters` (cutoff, Q, noise level; of its two
noise hypotheses the one with the lower fitness, as the search keeps) and
:func:`objectives.envelope.fit_adsr` (envelope), and that seed with its envelope
corrected by :func:`objectives.envelope.correct_adsr` (one render), all made by
the hybrid's own :class:`matcher.seeding.SeedRun`.  Prints, per parameter, the
mean absolute error in unit-cube coordinates of the voice's ranges, the noise /
oscillator ratio error, the median distance of each starting point, and times;
``--plot`` draws true against estimated cutoff and Q.

Usage::

    python -m experiments.seed_accuracy [--n-per-cell 20] [--seed 777] [--plot docs/img/filter_fit.png]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from experiments.pitch_accuracy import draw_cell_patch
from matcher.predictor import load_default_model
from matcher.search import MatchConfig
from matcher.seeding import SeedRun
from objectives.pitch import estimate_pitch
from synth.voices import FILTER_TYPES, OSC_TYPES, SUBTRACTIVE

__all__ = ["run", "main"]

PARAMS = ("filter_cutoff", "filter_res", "env_attack", "env_decay", "env_sustain", "env_release")


def _ratio(patch: dict) -> float:
    return float(patch["noise_vol"]) / max(float(patch["osc_vol"]), 1e-9)


def run(n_per_cell: int, seed: int, sr: int = 22050) -> list[dict]:
    """One row per note: truth, predictor and fit estimates, their distances and the fit time."""
    rng = np.random.default_rng(seed)
    model = load_default_model()
    space = SUBTRACTIVE.space
    rows = []
    for osc_type in OSC_TYPES:
        for filter_type in FILTER_TYPES:
            for _ in range(n_per_cell):
                truth, audio = draw_cell_patch(rng, osc_type, filter_type, sr)
                pitch = estimate_pitch(audio, sr)
                pred = model.predict(audio, sr, pitch)
                predicted = pred.patch((osc_type, filter_type))
                # the hybrid's own seeding, for the true combination
                seeding = SeedRun(audio, MatchConfig(budget=10, sr=sr))
                (first,) = seeding.evaluate([predicted], "predict")
                seeding.add_fitted(pitch, pred, [(osc_type, filter_type)])
                seeding.close()
                fitted_seed = min((s for s in seeding.seeds if s.label == "fit"), key=lambda s: s.loss)
                corrected_seed = next(s for s in seeding.seeds if s.label == "fit+envelope")
                fitted, corrected = fitted_seed.patch, corrected_seed.patch
                row = {"osc_type": osc_type, "filter_type": filter_type, "noisy": float(truth["noise_vol"]) > 0,
                       "f0_hz": float(truth["osc_freq"]), "fit_ms": seeding.info["fit_ms"],
                       "loss_pred": first.loss, "loss_fit": fitted_seed.loss, "loss_corr": corrected_seed.loss,
                       "noise_free_chosen": float(fitted["noise_vol"]) == 0.0}
                for who, patch in (("true", truth), ("pred", predicted), ("fit", fitted), ("corr", corrected)):
                    row[f"{who}_ratio"] = _ratio(patch)
                    for name in PARAMS:
                        row[f"{who}_{name}"] = float(patch[name])
                        row[f"{who}_{name}_u"] = float(space[name].encode(float(patch[name])))
                rows.append(row)
    return rows


def report(rows: list[dict]) -> str:
    """The accuracy table (markdown)."""
    lines = ["| parameter | predictor MAE (unit cube) | render-free fit MAE (unit cube) | fit, envelope bias-corrected |", "|---|---|---|---|"]
    for name in PARAMS:
        e = {who: np.mean([abs(r[f"{who}_{name}_u"] - r[f"true_{name}_u"]) for r in rows]) for who in ("pred", "fit", "corr")}
        lines.append(f"| `{name}` | {e['pred']:.3f} | {e['fit']:.3f} | {e['corr']:.3f} |")
    e = {who: np.mean([abs(r[f"{who}_ratio"] - r["true_ratio"]) for r in rows]) for who in ("pred", "fit")}
    lines.append(f"| noise / oscillator ratio (absolute) | {e['pred']:.3f} | {e['fit']:.3f} | |")
    oct_err = {who: np.abs(np.log2([r[f"{who}_filter_cutoff"] / r["true_filter_cutoff"] for r in rows])) for who in ("pred", "fit")}
    q_err = {who: np.abs(np.log2([r[f"{who}_filter_res"] / r["true_filter_res"] for r in rows])) for who in ("pred", "fit")}
    lines.append(f"| cutoff, median / p90 error (octaves) | {np.median(oct_err['pred']):.3f} / {np.percentile(oct_err['pred'], 90):.3f} "
                 f"| {np.median(oct_err['fit']):.3f} / {np.percentile(oct_err['fit'], 90):.3f} | |")
    lines.append(f"| Q, median / p90 error (octaves) | {np.median(q_err['pred']):.3f} / {np.percentile(q_err['pred'], 90):.3f} "
                 f"| {np.median(q_err['fit']):.3f} / {np.percentile(q_err['fit'], 90):.3f} | |")
    lp, lf, lc = ([r[k] for r in rows] for k in ("loss_pred", "loss_fit", "loss_corr"))
    lines.append("| distance of the starting patch, median (IQR) | "
                 + " | ".join(f"{np.median(x):.3f} ({np.percentile(x, 25):.3f}–{np.percentile(x, 75):.3f})" for x in (lp, lf, lc)) + " |")
    lines.append("")
    lines.append(f"{len(rows)} notes; the fitted seed is better than the predicted patch on "
                 f"{np.mean(np.array(lf) < np.array(lp)):.0%} of them; the noise-free hypothesis was kept on "
                 f"{np.mean([r['noise_free_chosen'] for r in rows if not r['noisy']]):.0%} of the clean notes and "
                 f"{np.mean([r['noise_free_chosen'] for r in rows if r['noisy']]):.0%} of the noisy ones; the bias correction "
                 f"lowers the fitted seed's distance on {np.mean(np.array(lc) < np.array(lf)):.0%} of the notes; "
                 f"fit time (envelope + both filter hypotheses, no render) median {np.median([r['fit_ms'] for r in rows]):.0f} ms.")
    lines.append("")
    lines.append("| cell | n | fit: median cutoff error (oct) | fit: median Q error (oct) | predictor: median cutoff error (oct) |")
    lines.append("|---|---|---|---|---|")
    for osc_type in OSC_TYPES:
        for filter_type in FILTER_TYPES:
            rs = [r for r in rows if r["osc_type"] == osc_type and r["filter_type"] == filter_type]
            if not rs:
                continue
            f = np.median([abs(np.log2(r["fit_filter_cutoff"] / r["true_filter_cutoff"])) for r in rs])
            q = np.median([abs(np.log2(r["fit_filter_res"] / r["true_filter_res"])) for r in rs])
            p = np.median([abs(np.log2(r["pred_filter_cutoff"] / r["true_filter_cutoff"])) for r in rs])
            lines.append(f"| {osc_type}/{filter_type} | {len(rs)} | {f:.3f} | {q:.3f} | {p:.3f} |")
    return "\n".join(lines)


def plot(rows: list[dict], path: str) -> None:
    """True against estimated cutoff (relative to f0) and Q, predictor and fit side by side."""
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, axes = plt.subplots(1, 2, figsize=(10, 4.6))
    for ax, name, label in ((axes[0], "filter_cutoff", "cutoff (Hz)"), (axes[1], "filter_res", "Q")):
        t = np.array([r[f"true_{name}"] for r in rows])
        for who, colour, lab in (("pred", "tab:orange", "predictor"), ("fit", "tab:blue", "render-free fit")):
            ax.scatter(t, [r[f"{who}_{name}"] for r in rows], s=9, alpha=0.6, color=colour, label=lab)
        lo, hi = t.min() / 1.5, t.max() * 1.5
        ax.plot([lo, hi], [lo, hi], color="k", lw=0.8)
        ax.set(xscale="log", yscale="log", xlabel=f"true {label}", ylabel=f"estimated {label}", title=label)
        ax.legend(loc="upper left")
    fig.suptitle(f"Starting points on {len(rows)} unseen notes: predictor vs render-free filter fit")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-per-cell", type=int, default=20)
    ap.add_argument("--seed", type=int, default=777)
    ap.add_argument("--plot", default=None, help="write the scatter plot here (PNG)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    rows = run(args.n_per_cell, args.seed)
    print(report(rows))
    print(f"\n({time.perf_counter() - t0:.0f} s)")
    if args.plot:
        plot(rows, args.plot)
        print(f"plot: {args.plot}")


if __name__ == "__main__":
    main()
