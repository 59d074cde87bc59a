"""The single-match report: ``report.png`` (spectrograms, envelopes, convergence)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np

__all__ = ["plot_match_report"]


def _log_mel_db(y: np.ndarray, sr: int) -> np.ndarray:
    import librosa  # noqa: PLC0415

    mel = librosa.feature.melspectrogram(y=y.astype(np.float32), sr=sr, n_fft=2048, hop_length=256, n_mels=96)
    return librosa.power_to_db(mel, ref=np.max(mel) if mel.size and mel.max() > 0 else 1.0, top_db=80.0)


def _rms_db(y: np.ndarray) -> np.ndarray:
    import librosa  # noqa: PLC0415

    return 20.0 * np.log10(np.maximum(librosa.feature.rms(y=y, frame_length=1024, hop_length=256)[0], 1e-6))


def _plot_front(ax, front: np.ndarray, knee: int | None) -> None:
    """The Pareto front (spectral against envelope distance) with the knee marked."""
    order = np.argsort(front[:, 0])
    ax.step(front[order, 0], front[order, 1], where="post", color="grey", lw=0.8, alpha=0.6)
    ax.plot(front[:, 0], front[:, 1], "o", ms=4, label=f"front ({len(front)} points)")
    if knee is not None:
        ax.plot(front[knee, 0], front[knee, 1], "*", ms=16, color="crimson", label="knee (the match)")
    ax.set(xlabel="spectral distance (dB)", ylabel="envelope distance (dB)", title="Pareto front")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)


def plot_match_report(
    path: str | os.PathLike,
    target: np.ndarray,
    match: np.ndarray,
    sr: int,
    best_loss: Sequence[float],
    title: str = "",
    polish_start: int | None = None,
    front: np.ndarray | None = None,
    knee: int | None = None,
    judge_start: int | None = None,
) -> None:
    """Write ``report.png``: target vs match log-mel spectrograms, RMS envelopes, convergence.

    Parameters
    ----------
    path : path-like
        PNG to write (atomically).
    target, match : ndarray, shape (n,)
        Mono audio at ``sr`` (the match is compared over the target's length).
    sr : int
        Sample rate in Hz.
    best_loss : sequence of float
        Best distance after each evaluation (the convergence curve).
    title : str
        Figure title (e.g. file name and distance).
    polish_start : int, optional
        First evaluation of the polish at the target's rate (its distances are
        on another scale); marked with a vertical line.
    front : ndarray, shape (n, 2), optional
        A two-objective match's Pareto front (spectral, envelope distance):
        drawn in a third panel on the bottom row.
    knee : int, optional
        Index in ``front`` of the point returned as the match, marked.
    judge_start : int, optional
        First evaluation of a voice race judged by its own fitness
        (:mod:`matcher.voice_race`; the best distance starts afresh there); marked.
    """
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import librosa.display  # noqa: PLC0415
    import matplotlib.pyplot as plt  # noqa: PLC0415

    n = len(target)
    match = np.pad(match[:n], (0, max(0, n - len(match))))
    # With a front (issue 11) the bottom row has three panels: a 6-column grid keeps the top row in halves.
    cols = 6 if front is not None else 2
    # Fixed margins, not constrained_layout: laying out the tick labels of five axes that way
    # took about as long again as drawing them (half of a match's time after its search).
    fig = plt.figure(figsize=(15 if front is not None else 12, 8))
    grid = fig.add_gridspec(2, cols, left=0.06, right=0.94, bottom=0.07, top=0.91, wspace=0.6 if front is not None else 0.18, hspace=0.3)
    top = (slice(0, cols // 2), slice(cols // 2, cols))
    bottom = (slice(0, 2), slice(2, 4), slice(4, 6)) if front is not None else (0, 1)
    for col, (name, y) in enumerate((("target", target), ("match", match))):
        ax = fig.add_subplot(grid[0, top[col]])
        img = librosa.display.specshow(_log_mel_db(y, sr), sr=sr, hop_length=256, x_axis="time", y_axis="mel", ax=ax, vmin=-80, vmax=0, cmap="magma")
        ax.set_title(f"{name}: log-mel spectrogram")
    fig.colorbar(img, ax=fig.axes[:2], format="%+.0f dB", shrink=0.8, pad=0.01, fraction=0.03)
    ax = fig.add_subplot(grid[1, bottom[0]])
    t = np.arange(len(_rms_db(target))) * 256 / sr
    ax.plot(t, _rms_db(target), label="target", lw=2)
    ax.plot(t, _rms_db(match)[: len(t)], label="match", lw=1.2, ls="--")
    ax.set(xlabel="time (s)", ylabel="RMS (dBFS)", title="RMS envelopes", ylim=(max(-100, float(np.min(_rms_db(target))) - 5), 3))
    ax.legend()
    ax = fig.add_subplot(grid[1, bottom[1]])
    losses = np.asarray(best_loss, dtype=float)
    ax.plot(np.arange(1, len(losses) + 1), np.maximum(losses, 1e-6))
    if judge_start is not None:
        ax.axvline(judge_start, color="tab:red", ls="--", label="race judged per frame from here")
    if polish_start is not None:
        ax.axvline(polish_start, color="grey", ls=":", label="polish at the target's rate")
    if judge_start is not None or polish_start is not None:
        ax.legend()
    ax.set(xlabel="evaluations", ylabel="best distance", title="convergence", yscale="log")
    ax.grid(True, which="both", alpha=0.3)
    if front is not None:  # issue 11
        _plot_front(fig.add_subplot(grid[1, bottom[2]]), np.asarray(front, dtype=float).reshape(-1, 2), knee)
    if title:
        fig.suptitle(title)
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".png", dir=path.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=100)
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        Path(tmp).unlink(missing_ok=True)
