"""Report of a sweep: plots, a markdown summary table and an offline ``report.html``.

:func:`write_report` reads a run folder's store and writes into it:

- ``report.html``: one page, no external resource (no CDN, no script); images
  and sounds are relative files under ``report_files/``;
- ``report_files/convergence.png``: best distance vs evaluations and vs wall
  time, median and interquartile band over seeds × targets, one colour per
  optimiser, log axes, one row per suite;
- ``report_files/final_quality.png``: median and IQR per optimiser of the
  fitness and of the evaluation metrics the optimisers never saw (MFCC, LSD,
  MR-STFT, MSS), per suite;
- ``report_files/param_errors.png``: choice accuracy, f0 within 50 cents and
  the in-domain parameter MAE;
- ``report_files/winrate.png``: how often optimiser A ends below B on the same
  target and seed (ties count one half);
- ``report_files/ex*``: for a few targets, the target and each optimiser's
  match (seed of the lowest number) as WAV and spectrogram PNG;
- ``summary.md``: the markdown table (also returned, for printing).
"""

from __future__ import annotations

import html
import os
from collections import defaultdict
from pathlib import Path
from typing import Sequence

import numpy as np

from experiments.store import Store

__all__ = ["label_budgets", "summary_rows", "summary_markdown", "win_matrix", "aggregate_curves", "write_report", "REPORT_FILES"]

REPORT_FILES = "report_files"

QUALITY_METRICS = (("final_loss", "fitness (optimised)"), ("mfcc", "MFCC distance"), ("lsd_db", "log-spectral distance (dB)"), ("mrstft", "multi-res STFT distance"), ("mss", "multi-scale spectral distance"))


def _suite_kind(suite: str) -> str:
    return suite.split(":", 1)[0]


def _value(trial: dict, name: str) -> float | None:
    v = trial.get(name) if name in ("final_loss", "wall_s", "evals") else trial["metrics"].get(name)
    return None if v is None else float(v)


def _iqr(values: Sequence[float]) -> tuple[float, float, float]:
    a = np.asarray(values, dtype=float)
    if a.size == 0:
        return (np.nan, np.nan, np.nan)
    q1, med, q3 = np.percentile(a, [25, 50, 75])
    return float(med), float(q1), float(q3)


def label_budgets(trials: list[dict]) -> list[dict]:
    """When a store holds several budgets, name each optimiser ``name@budget`` so tables and plots keep them apart."""
    if len({t["budget"] for t in trials}) < 2:
        return trials
    return [dict(t, optimizer=f"{t['optimizer']}@{t['budget']}") for t in trials]


def _optimizers(trials: list[dict]) -> list[str]:
    return list(dict.fromkeys(t["optimizer"] for t in trials))


def _groups(trials: list[dict]) -> list[tuple[str, list[dict]]]:
    """(label, trials) per suite kind, and ``all`` when there is more than one."""
    kinds = list(dict.fromkeys(_suite_kind(t["suite"]) for t in trials))
    groups = [(k, [t for t in trials if _suite_kind(t["suite"]) == k]) for k in kinds]
    return groups + ([("all", trials)] if len(kinds) > 1 else [])


def win_matrix(trials: list[dict], optimizers: Sequence[str]) -> np.ndarray:
    """``W[i, j]``: share of (target, seed, budget) cells where optimiser i ends below j (ties count 1/2); NaN when none is shared."""
    by_cell: dict[tuple, dict[str, float]] = defaultdict(dict)
    for t in trials:
        by_cell[(t["target"], t["seed"], t["budget"])][t["optimizer"]] = float(t["final_loss"])
    n = len(optimizers)
    wins, counts = np.zeros((n, n)), np.zeros((n, n))
    for cell in by_cell.values():
        for i, a in enumerate(optimizers):
            for j, b in enumerate(optimizers):
                if i != j and a in cell and b in cell:
                    counts[i, j] += 1
                    wins[i, j] += 1.0 if cell[a] < cell[b] else 0.5 if cell[a] == cell[b] else 0.0
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, wins / np.maximum(counts, 1), np.nan)


def summary_rows(trials: list[dict]) -> list[dict]:
    """One row per (suite kind, optimiser): medians, IQRs, accuracies, mean win rate."""
    rows = []
    for label, group in _groups(trials):
        opts = _optimizers(group)
        w = win_matrix(group, opts)
        for i, o in enumerate(opts):
            ts = [t for t in group if t["optimizer"] == o]
            row: dict = {"suite": label, "optimizer": o, "trials": len(ts)}
            for name in ("final_loss", "mfcc", "lsd_db", "mrstft", "mss", "param_mae", "f0_cents", "wall_s", "front_size"):
                vals = [v for v in (_value(t, name) for t in ts) if v is not None]
                row[name] = _iqr(vals) if vals else None
            for name in ("osc_ok", "filter_ok", "choices_ok", "f0_ok"):
                vals = [v for v in (_value(t, name) for t in ts) if v is not None]
                row[name] = float(np.mean(vals)) if vals else None
            others = np.delete(w[i], i) if len(opts) > 1 else np.array([])
            row["win_rate"] = float(np.nanmean(others)) if others.size and np.isfinite(others).any() else None
            rows.append(row)
    return rows


def _fmt_iqr(v: tuple | None, digits: int = 3) -> str:
    if v is None or not np.isfinite(v[0]):
        return "–"
    return f"{v[0]:.{digits}g} [{v[1]:.{digits}g}–{v[2]:.{digits}g}]"


def _fmt_pct(v: float | None) -> str:
    return "–" if v is None else f"{100 * v:.0f} %"


SUMMARY_COLUMNS = (
    "suite",
    "optimizer",
    "trials",
    "fitness median [IQR]",
    "MFCC",
    "LSD dB",
    "MR-STFT",
    "MSS",
    "osc ok",
    "filter ok",
    "f0 ±50 c",
    "param MAE",
    "win rate",
    "wall s",
    "front points",
)
"""Columns of the summary table.  ``MSS`` is the multi-scale spectral distance (metric ``mss``, where the
store has it); ``front points`` the median size of a two-objective optimiser's final Pareto front (``front_size``)."""


def summary_markdown(trials: list[dict], title: str | None = None) -> str:
    """The summary table in markdown (medians, IQR of the fitness, accuracies; ``–`` where a suite has no truth)."""
    lines = []
    if title:
        lines += [f"### {title}", ""]
    lines.append("| " + " | ".join(SUMMARY_COLUMNS) + " |")
    lines.append("|" + "---|" * len(SUMMARY_COLUMNS))
    for r in summary_rows(trials):
        med = lambda k, d=3: "–" if r[k] is None else f"{r[k][0]:.{d}g}"  # noqa: E731
        lines.append(
            "| "
            + " | ".join(
                [
                    r["suite"],
                    r["optimizer"],
                    str(r["trials"]),
                    _fmt_iqr(r["final_loss"]),
                    med("mfcc"),
                    med("lsd_db"),
                    med("mrstft"),
                    med("mss"),
                    _fmt_pct(r["osc_ok"]),
                    _fmt_pct(r["filter_ok"]),
                    _fmt_pct(r["f0_ok"]),
                    med("param_mae", 2),
                    _fmt_pct(r["win_rate"]),
                    med("wall_s", 2),
                    med("front_size"),
                ]
            )
            + " |"
        )
    return "\n".join(lines) + "\n"


# ---- convergence ----------------------------------------------------------


def _step_at(x: np.ndarray, y: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Best-so-far value at each grid point (the last point with ``x <= grid``); NaN before the first point."""
    idx = np.searchsorted(x, grid, side="right") - 1
    out = np.where(idx >= 0, y[np.clip(idx, 0, len(y) - 1)], np.nan)
    return out


def aggregate_curves(trials: list[dict], curves: dict[int, np.ndarray], axis: str, n_grid: int = 60) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Median and quartiles of best-so-far over trials, per optimiser, on a log grid.

    Parameters
    ----------
    axis : {"eval", "wall"}
        Evaluations or wall-clock seconds.

    Returns
    -------
    grid : ndarray, shape (n,)
    stats : dict optimiser -> ndarray, shape (3, n): q25, median, q75 (NaN until
        every trial of the optimiser has a point, e.g. before the first batch of
        a search has been evaluated)
    """
    col = 0 if axis == "eval" else 1
    pts = [curves[t["id"]] for t in trials if t["id"] in curves and len(curves[t["id"]])]
    if not pts:
        return np.array([]), {}
    lo = max(min(float(c[0, col]) for c in pts), 1.0 if axis == "eval" else 1e-3)
    hi = max(float(c[-1, col]) for c in pts)
    grid = np.geomspace(lo, max(hi, lo * 1.0001), n_grid)
    stats = {}
    for o in _optimizers(trials):
        rows = [_step_at(curves[t["id"]][:, col], curves[t["id"]][:, 2], grid) for t in trials if t["optimizer"] == o and t["id"] in curves]
        if not rows:
            continue
        m = np.array(rows)
        # Only where every trial has a point: a median over a changing set of trials is not monotone.
        enough = np.all(np.isfinite(m), axis=0)
        with np.errstate(all="ignore"):
            import warnings  # noqa: PLC0415

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                q = np.nanpercentile(m, [25, 50, 75], axis=0)
        q[:, ~enough] = np.nan
        stats[o] = q
    return grid, stats


def _colours(optimizers: Sequence[str]) -> dict[str, tuple]:
    import matplotlib  # noqa: PLC0415

    cmap = matplotlib.colormaps["tab10"]
    return {o: cmap(i % 10) for i, o in enumerate(optimizers)}


def plot_convergence(path: Path, trials: list[dict], curves: dict[int, np.ndarray], optimizers: Sequence[str]) -> None:
    import matplotlib.pyplot as plt  # noqa: PLC0415

    groups = [g for g in _groups(trials) if g[0] != "all"]
    colours = _colours(optimizers)
    fig, axes = plt.subplots(len(groups), 2, figsize=(11, 3.6 * len(groups)), squeeze=False)
    for r, (label, group) in enumerate(groups):
        n_targets = len({t["target"] for t in group})
        n_seeds = len({t["seed"] for t in group})
        for c, (axis, xlabel) in enumerate((("eval", "evaluations"), ("wall", "wall time (s)"))):
            ax = axes[r, c]
            grid, stats = aggregate_curves(group, curves, axis)
            for o in optimizers:
                if o not in stats:
                    continue
                q = stats[o]
                ax.plot(grid, q[1], color=colours[o], label=o, lw=1.6)
                ax.fill_between(grid, q[0], q[2], color=colours[o], alpha=0.15, lw=0)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel(xlabel)
            ax.set_ylabel("best distance so far")
            ax.set_title(f"{label}: median and IQR over {n_targets} targets × {n_seeds} seeds", fontsize=9)
            ax.grid(True, which="both", alpha=0.3)
        axes[r, 0].legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _median_iqr_panel(ax, group_trials: list[tuple[str, list[dict]]], optimizers: Sequence[str], metric: str, label: str, log: bool = False) -> None:
    width = 0.8 / max(1, len(group_trials))
    for g, (gname, ts) in enumerate(group_trials):
        xs, meds, lo, hi = [], [], [], []
        for i, o in enumerate(optimizers):
            vals = [v for v in (_value(t, metric) for t in ts if t["optimizer"] == o) if v is not None]
            if not vals:
                continue
            m, q1, q3 = _iqr(vals)
            xs.append(i - 0.4 + width * (g + 0.5))
            meds.append(m)
            lo.append(m - q1)
            hi.append(q3 - m)
        if xs:
            ax.errorbar(xs, meds, yerr=[lo, hi], fmt="o", ms=4, capsize=3, label=gname)
    ax.set_xticks(range(len(optimizers)))
    ax.set_xticklabels(optimizers, rotation=35, ha="right", fontsize=8)
    ax.set_title(label, fontsize=9)
    if log:
        ax.set_yscale("log")
    ax.grid(True, axis="y", alpha=0.3)


def plot_final_quality(path: Path, trials: list[dict], optimizers: Sequence[str]) -> None:
    import matplotlib.pyplot as plt  # noqa: PLC0415

    groups = [g for g in _groups(trials) if g[0] != "all"]
    fig, axes = plt.subplots(1, len(QUALITY_METRICS), figsize=(3.2 * len(QUALITY_METRICS), 3.4), squeeze=False)
    for ax, (metric, label) in zip(axes[0], QUALITY_METRICS):
        _median_iqr_panel(ax, groups, optimizers, metric, f"{label}\nmedian and IQR", log=metric == "final_loss")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_param_errors(path: Path, trials: list[dict], optimizers: Sequence[str]) -> bool:
    """Choice accuracy, f0 hit rate and in-domain parameter MAE; False (nothing written) when no target has labels."""
    import matplotlib.pyplot as plt  # noqa: PLC0415

    labelled = [t for t in trials if "osc_ok" in t["metrics"] or "param_mae" in t["metrics"]]
    if not labelled:
        return False
    groups = [g for g in _groups(labelled) if g[0] != "all"]
    fig, axes = plt.subplots(1, 4, figsize=(13, 3.4))
    width = 0.8 / max(1, len(groups))
    for ax, (metric, label) in zip(axes[:3], (("osc_ok", "oscillator type correct"), ("filter_ok", "filter type correct"), ("f0_ok", "f0 within 50 cents"))):
        for g, (gname, ts) in enumerate(groups):
            xs, ys = [], []
            for i, o in enumerate(optimizers):
                vals = [v for v in (_value(t, metric) for t in ts if t["optimizer"] == o) if v is not None]
                if vals:
                    xs.append(i - 0.4 + width * (g + 0.5))
                    ys.append(100 * float(np.mean(vals)))
            if xs:
                ax.bar(xs, ys, width=width * 0.9, label=gname)
        ax.set_ylim(0, 100)
        ax.set_ylabel("% of trials")
        ax.set_title(label, fontsize=9)
        ax.set_xticks(range(len(optimizers)))
        ax.set_xticklabels(optimizers, rotation=35, ha="right", fontsize=8)
        ax.grid(True, axis="y", alpha=0.3)
    axes[0].legend(fontsize=7)
    _median_iqr_panel(axes[3], [g for g in groups if any("param_mae" in t["metrics"] for t in g[1])], optimizers, "param_mae", "in-domain parameter MAE (unit cube)\nmedian and IQR")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def plot_win_matrix(path: Path, trials: list[dict], optimizers: Sequence[str]) -> None:
    import matplotlib.pyplot as plt  # noqa: PLC0415

    w = win_matrix(trials, optimizers)
    n = len(optimizers)
    fig, ax = plt.subplots(figsize=(1.0 + 0.65 * n, 0.8 + 0.6 * n))
    im = ax.imshow(np.where(np.isfinite(w), w, 0.5), cmap="RdYlGn", vmin=0, vmax=1)
    for i in range(n):
        for j in range(n):
            if i != j and np.isfinite(w[i, j]):
                ax.text(j, i, f"{100 * w[i, j]:.0f}", ha="center", va="center", fontsize=8)
    ax.set_xticks(range(n))
    ax.set_yticks(range(n))
    ax.set_xticklabels(optimizers, rotation=35, ha="right", fontsize=8)
    ax.set_yticklabels(optimizers, fontsize=8)
    ax.set_xlabel("B")
    ax.set_ylabel("A")
    ax.set_title("% of (target, seed) where A ends below B", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _spectrogram_png(path: Path, audio: np.ndarray, sr: int, title: str) -> None:
    import matplotlib.pyplot as plt  # noqa: PLC0415
    from scipy.signal import spectrogram  # noqa: PLC0415

    f, t, s = spectrogram(np.asarray(audio, dtype=np.float64), fs=sr, nperseg=1024, noverlap=768)
    fig, ax = plt.subplots(figsize=(3.2, 2.2))
    ax.pcolormesh(t, f, 10 * np.log10(s + 1e-12), shading="auto", vmin=-120, vmax=-20, cmap="magma")
    ax.set_ylim(0, min(8000, sr / 2))
    ax.set_title(title, fontsize=8)
    ax.tick_params(labelsize=6)
    ax.set_xlabel("s", fontsize=6)
    ax.set_ylabel("Hz", fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=70)
    plt.close(fig)


def _pick_examples(targets: list[dict], n: int) -> list[dict]:
    """Up to ``n`` targets, alternating between suites so each suite is shown."""
    by_suite: dict[str, list[dict]] = defaultdict(list)
    for t in targets:
        by_suite[_suite_kind(t["suite"])].append(t)
    picked: list[dict] = []
    while len(picked) < n and any(by_suite.values()):
        for k in list(by_suite):
            if by_suite[k] and len(picked) < n:
                picked.append(by_suite[k].pop(0))
    return picked


def write_examples(files: Path, targets: list[dict], trials: list[dict], optimizers: Sequence[str], n: int = 3) -> list[dict]:
    """Target and per-optimiser match WAV + spectrogram for ``n`` targets; returns what the page shows."""
    from experiments.bench import split_method  # noqa: PLC0415
    from objectives.audio_io import write_wav_atomic  # noqa: PLC0415
    from synth.render import render  # noqa: PLC0415

    shown = []
    with_trials = {t["target"] for t in trials}
    for k, tgt in enumerate(_pick_examples([t for t in targets if t["name"] in with_trials], n)):
        items = []
        stem = f"ex{k}_target"
        write_wav_atomic(files / f"{stem}.wav", tgt["audio"], tgt["sr"])
        _spectrogram_png(files / f"{stem}.png", tgt["audio"], tgt["sr"], "target")
        items.append({"label": "target", "stem": stem, "loss": None})
        for i, o in enumerate(optimizers):
            ts = sorted((t for t in trials if t["target"] == tgt["name"] and t["optimizer"] == o and t["patch"]), key=lambda t: (t["seed"], t["budget"]))
            if not ts:
                continue
            t = ts[0]
            played_by = t["patch"].get("voice") or split_method(o)[1]  # a raced trial names its winner; a method may name its voice (cma@analog)
            audio = render({k: v for k, v in t["patch"].items() if k != "voice"}, tgt["sr"], len(tgt["audio"]), played_by)
            stem = f"ex{k}_m{i}"
            write_wav_atomic(files / f"{stem}.wav", audio, tgt["sr"])
            _spectrogram_png(files / f"{stem}.png", audio, tgt["sr"], f"{o} (seed {t['seed']}): {t['final_loss']:.3g}")
            items.append({"label": f"{o} (seed {t['seed']}, budget {t['budget']})", "stem": stem, "loss": t["final_loss"], "mfcc": t["metrics"].get("mfcc")})
        shown.append({"target": tgt, "items": items})
    return shown


# ---- page -----------------------------------------------------------------

_CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em; max-width: 1200px; color: #222; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: right; }
th { background: #f3f3f3; } td:first-child, td:nth-child(2) { text-align: left; }
img { max-width: 100%; }
.examples { display: flex; flex-wrap: wrap; gap: 0.8em; }
.card { border: 1px solid #ddd; padding: 0.4em; font-size: 0.8em; width: 240px; }
.card img { width: 230px; } .card audio { width: 230px; }
code { background: #f3f3f3; padding: 0 0.2em; }
"""


def _html_table(trials: list[dict]) -> str:
    out = ["<table><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in SUMMARY_COLUMNS) + "</tr>"]
    for line in summary_markdown(trials).splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        out.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def write_report(run: str | os.PathLike, n_examples: int = 3) -> tuple[Path, str]:
    """Write ``report.html``, its ``report_files/`` and ``summary.md`` into ``run``.

    Returns
    -------
    (path of report.html, markdown summary)

    Raises
    ------
    FileNotFoundError
        No store in ``run``.
    ValueError
        The store has no finished trial.
    """
    run = Path(run)
    store_path = run / "store.sqlite"
    if not store_path.is_file():
        raise FileNotFoundError(f"{run}: no store.sqlite (run 'matcher bench --out {run}' first)")
    with Store(store_path) as store:
        trials = store.trials()
        failed = store.trials(status="error")
        curves = store.curves()
        targets = store.targets()
        sweeps = store.get_meta("sweeps", [])
    if not trials:
        raise ValueError(f"{run}: the store has no finished trial yet")
    trials = label_budgets(trials)
    optimizers = _optimizers(trials)
    files = run / REPORT_FILES
    files.mkdir(parents=True, exist_ok=True)
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    plot_convergence(files / "convergence.png", trials, curves, optimizers)
    plot_final_quality(files / "final_quality.png", trials, optimizers)
    has_params = plot_param_errors(files / "param_errors.png", trials, optimizers)
    plot_win_matrix(files / "winrate.png", trials, optimizers)
    examples = write_examples(files, targets, trials, optimizers, n_examples)

    n_targets = len({t["target"] for t in trials})
    seeds = sorted({t["seed"] for t in trials})
    budgets = sorted({t["budget"] for t in trials})
    md = summary_markdown(trials)
    header = (
        f"{len(trials)} trials: {n_targets} targets × {len(optimizers)} optimisers × seeds {seeds[0]}..{seeds[-1]} "
        f"at budget {', '.join(map(str, budgets))}" + (f"; {len(failed)} failed trials not counted" if failed else "")
    )
    (run / "summary.md").write_text(f"{header}\n\n{md}")

    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>matcher sweep report</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Sweep report: {html.escape(run.name)}</h1>",
        f"<p>{html.escape(header)}.</p>",
    ]
    if sweeps:
        parts.append("<p>Command(s): " + "<br>".join(f"<code>{html.escape(s)}</code>" for s in sweeps) + "</p>")
    parts += [
        "<h2>Summary</h2>",
        "<p>Medians over seeds × targets; fitness with its interquartile range; MFCC, LSD, MR-STFT and MSS (multi-scale spectral distance) are evaluation metrics the optimisers never saw; "
        "accuracies are over the trials whose suite knows the truth (in-domain: true patch; SoX: its settings); win rate is the mean over the other optimisers "
        "of the share of (target, seed) where this one ends below.</p>",
        _html_table(trials),
        "<h2>Convergence</h2><img src='report_files/convergence.png' alt='convergence'>",
        "<h2>Final quality</h2><img src='report_files/final_quality.png' alt='final quality'>",
    ]
    if has_params:
        parts.append("<h2>Parameter errors</h2><img src='report_files/param_errors.png' alt='parameter errors'>")
    parts.append("<h2>Win rate</h2><img src='report_files/winrate.png' alt='win rate'>")
    parts.append("<h2>Examples</h2>")
    for ex in examples:
        tgt = ex["target"]
        labels = {k: v for k, v in tgt["labels"].items() if k != "sox_command"}
        parts.append(f"<h3>{html.escape(tgt['name'])}</h3><p>{html.escape(', '.join(f'{k}={v}' for k, v in labels.items()))}</p><div class='examples'>")
        for it in ex["items"]:
            caption = html.escape(it["label"]) + ("" if it["loss"] is None else f"<br>fitness {it['loss']:.3g}, MFCC {it.get('mfcc') or float('nan'):.3g}")
            parts.append(
                f"<div class='card'>{caption}<br><img src='report_files/{it['stem']}.png' alt='{html.escape(it['label'])} spectrogram'>"
                f"<audio controls preload='auto' src='report_files/{it['stem']}.wav'></audio></div>"
            )
        parts.append("</div>")
    if failed:
        parts.append("<h2>Failed trials</h2><table><tr><th>target</th><th>optimizer</th><th>seed</th><th>error</th></tr>")
        for t in failed[:50]:
            parts.append(f"<tr><td>{html.escape(t['target'])}</td><td>{html.escape(t['optimizer'])}</td><td>{t['seed']}</td><td>{html.escape(t['error'] or '')}</td></tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    page = run / "report.html"
    tmp = run / ".report.html.tmp"
    tmp.write_text("\n".join(parts))
    os.replace(tmp, page)
    return page, f"{header}\n\n{md}"
