"""Accuracy of the f0 stage on valid random patches, by oscillator × filter type.

Compares :func:`objectives.pitch.estimate_pitch` with plain ``librosa.pyin``
(median over voiced frames) on the same rendered notes and prints, per cell:
accuracy of the best estimate within 50 cents, median |cents| error, the rate
at which the true f0 is among the candidates, and the accuracy on the noisy
(``noise_vol > 0``) part of the cell.

Usage::

    python -m experiments.pitch_accuracy [--n-per-cell 10] [--seed 0] [--plot pitch.png] [--skip-pyin]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import librosa
import numpy as np

from objectives.pitch import estimate_pitch
from synth.render import render
from synth.sampling import audio_problems, draw_patch, rule_problems
from synth.voices import FILTER_TYPES, OSC_TYPES

__all__ = ["Trial", "draw_cell_patch", "run", "main"]

HIT_CENTS = 50.0
"""An estimate within this many cents of the true f0 counts as correct."""


@dataclass(frozen=True)
class Trial:
    """One rendered note and the estimates made on it.

    Attributes
    ----------
    osc_type, filter_type : str
    noisy : bool
        ``noise_vol > 0``.
    true_hz : float
    ours_cents : float
        Error of our best estimate in cents (``nan`` if unvoiced).
    ours_in_candidates : bool
        The true f0 is within ``HIT_CENTS`` of one of our candidates.
    pyin_cents : float
        Error of pyin's median voiced f0 in cents (``nan`` if skipped or unvoiced).
    ours_s : float
        Wall time of our estimator in seconds.
    """

    osc_type: str
    filter_type: str
    noisy: bool
    true_hz: float
    ours_cents: float
    ours_in_candidates: bool
    pyin_cents: float
    ours_s: float


def _cents(est_hz: float | None, true_hz: float) -> float:
    if est_hz is None or not np.isfinite(est_hz) or est_hz <= 0:
        return float("nan")
    return float(1200.0 * np.log2(est_hz / true_hz))


def draw_cell_patch(
    rng: np.random.Generator, osc_type: str, filter_type: str, sr: int, duree_s: float = 1.0
) -> tuple[dict[str, float | str], np.ndarray]:
    """A valid random patch with the given oscillator and filter types, and its render.

    Draws like :func:`synth.sampling.sample_valid_patch`, forces the two
    choices, and redraws until the rules and the audio checks pass.

    Returns
    -------
    patch : dict
    audio : ndarray, shape (round(duree_s * sr),), float32
    """
    n_samples = int(round(duree_s * sr))
    for _ in range(10_000):
        patch = draw_patch(rng, duree_s)
        patch["osc_type"] = osc_type
        patch["filter_type"] = filter_type
        if rule_problems(patch, sr):
            continue
        audio = render(patch, sr, n_samples)
        if not audio_problems(audio):
            return patch, audio
    raise RuntimeError("no valid patch in 10000 draws")


def _pyin_hz(audio: np.ndarray, sr: int) -> float:
    f0, voiced, _ = librosa.pyin(audio, fmin=30.0, fmax=4000.0, sr=sr, frame_length=2048)
    f0 = f0[voiced & np.isfinite(f0)]
    return float(np.median(f0)) if len(f0) else float("nan")


def run(n_per_cell: int, seed: int, sr: int = 22050, skip_pyin: bool = False) -> list[Trial]:
    """Render ``n_per_cell`` valid notes per oscillator × filter cell and estimate their f0."""
    rng = np.random.default_rng(seed)
    estimate_pitch(np.sin(2 * np.pi * 440.0 * np.arange(sr) / sr), sr)  # warm up lazy imports before timing
    trials = []
    for osc_type in OSC_TYPES:
        for filter_type in FILTER_TYPES:
            for _ in range(n_per_cell):
                patch, audio = draw_cell_patch(rng, osc_type, filter_type, sr)
                true_hz = float(patch["osc_freq"])
                t0 = time.perf_counter()
                est = estimate_pitch(audio, sr)
                dt = time.perf_counter() - t0
                in_cands = any(abs(_cents(f, true_hz)) <= HIT_CENTS for f, _ in est.candidates)
                pyin_c = float("nan") if skip_pyin else _cents(_pyin_hz(audio, sr), true_hz)
                trials.append(
                    Trial(osc_type, filter_type, float(patch["noise_vol"]) > 0, true_hz,
                          _cents(est.f0_hz, true_hz), in_cands, pyin_c, dt)
                )
    return trials


def _acc(cents: np.ndarray) -> float:
    return float(np.mean(np.abs(np.nan_to_num(cents, nan=1e9)) <= HIT_CENTS)) if len(cents) else float("nan")


def _med(cents: np.ndarray) -> float:
    return float(np.median(np.abs(np.nan_to_num(cents, nan=1e9)))) if len(cents) else float("nan")


def _pct(x: float) -> str:
    return "     -" if not np.isfinite(x) else f"{x:6.1%}"


def _row(label: str, ts: list[Trial]) -> str:
    ours = np.array([t.ours_cents for t in ts])
    pyin = np.array([t.pyin_cents for t in ts])
    cand = np.mean([t.ours_in_candidates for t in ts])
    noisy = np.array([t.ours_cents for t in ts if t.noisy])
    clean = np.array([t.ours_cents for t in ts if not t.noisy])
    skipped = bool(np.all(np.isnan(pyin)))
    pyin_cols = f"{'-':>6} {'-':>8}" if skipped else f"{_pct(_acc(pyin))} {_med(pyin):>8.2f}"
    p95 = float(np.percentile(np.abs(np.nan_to_num(ours, nan=1e9)), 95))
    return (f"{label:<20} {len(ts):>4}  {_pct(_acc(ours))} {_med(ours):>8.3f} {p95:>8.2f} {cand:>7.1%}"
            f"  {_pct(_acc(clean)):>7} {_pct(_acc(noisy)):>7}   {pyin_cols}")


def report(trials: list[Trial]) -> str:
    """The accuracy table as text."""
    head = (f"{'cell':<20} {'n':>4}  {'acc50':>6} {'med|c|':>8} {'p95|c|':>8} {'in_cand':>7}  {'clean':>7} {'noisy':>7}"
            f"   {'pyin50':>6} {'pyin|c|':>8}")
    lines = ["ours: acc50 / med and p95 |cents| / true f0 in candidates / acc50 on noise_vol=0 / on noise_vol>0;"
             "  pyin: acc50 / med |cents|",
             head, "-" * len(head)]
    for osc_type in OSC_TYPES:
        for filter_type in FILTER_TYPES:
            ts = [t for t in trials if t.osc_type == osc_type and t.filter_type == filter_type]
            lines.append(_row(f"{osc_type}/{filter_type}", ts))
    lines.append("-" * len(head))
    lines.append(_row("noise_vol=0", [t for t in trials if not t.noisy]))
    lines.append(_row("noise_vol>0", [t for t in trials if t.noisy]))
    lines.append(_row("OVERALL", trials))
    times = np.array([t.ours_s for t in trials]) * 1000
    lines.append(f"estimate_pitch time per 1 s note: median {np.median(times):.1f} ms, max {times.max():.1f} ms")
    return "\n".join(lines)


def plot(trials: list[Trial], path: str) -> None:
    """Save heatmaps of acc50 (ours, pyin) by oscillator × filter type to ``path``."""
    import matplotlib  # noqa: PLC0415 - optional, only for --plot

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), constrained_layout=True)
    for ax, key, title in zip(axes, ("ours_cents", "pyin_cents"), ("estimate_pitch", "librosa.pyin")):
        grid = np.array([[_acc(np.array([getattr(t, key) for t in trials
                                         if t.osc_type == o and t.filter_type == f]))
                          for f in FILTER_TYPES] for o in OSC_TYPES])
        im = ax.imshow(grid, vmin=0, vmax=1, cmap="viridis")
        ax.set_xticks(range(len(FILTER_TYPES)), FILTER_TYPES)
        ax.set_yticks(range(len(OSC_TYPES)), OSC_TYPES)
        for i in range(grid.shape[0]):
            for j in range(grid.shape[1]):
                ax.text(j, i, f"{grid[i, j]:.0%}", ha="center", va="center", color="w" if grid[i, j] < 0.6 else "k")
        ax.set_title(f"{title}: within {HIT_CENTS:.0f} cents")
    fig.colorbar(im, ax=axes, shrink=0.8)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-per-cell", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sr", type=int, default=22050)
    ap.add_argument("--plot", default=None, help="save a PNG heatmap of accuracy here")
    ap.add_argument("--skip-pyin", action="store_true", help="skip the (slow) pyin baseline")
    ap.add_argument("--show-misses", action="store_true", help="list the notes our estimator got wrong")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    trials = run(args.n_per_cell, args.seed, args.sr, args.skip_pyin)
    print(f"python -m experiments.pitch_accuracy --n-per-cell {args.n_per_cell} --seed {args.seed}  (sr {args.sr} Hz)")
    print(report(trials))
    if args.show_misses:
        for t in trials:
            if not abs(np.nan_to_num(t.ours_cents, nan=1e9)) <= HIT_CENTS or not t.ours_in_candidates:
                print(f"  miss: {t.osc_type}/{t.filter_type} f0 {t.true_hz:.1f} Hz noisy={t.noisy} "
                      f"err {t.ours_cents:+.0f} c in_cand={t.ours_in_candidates}")
    if args.plot:
        plot(trials, args.plot)
        print(f"figure: {args.plot}")
    print(f"wall {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
