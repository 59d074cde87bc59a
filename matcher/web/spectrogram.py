"""One log-mel spectrogram per sound, as a PNG for the web page."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["write_spectrogram_png", "HOP_SAMPLES"]

HOP_SAMPLES = 256
"""Hop of the spectrogram in samples."""


def write_spectrogram_png(path: str | os.PathLike, audio: np.ndarray, sr: int, title: str) -> None:
    """Write the log-mel spectrogram of ``audio`` (dB re its maximum, 80 dB range) to ``path``, atomically.

    Uses a ``Figure`` without pyplot, so it is safe outside the main thread.
    """
    import librosa  # noqa: PLC0415
    import librosa.display  # noqa: PLC0415
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415
    from matplotlib.figure import Figure  # noqa: PLC0415

    y = np.asarray(audio, dtype=np.float32)
    mel = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=2048, hop_length=HOP_SAMPLES, n_mels=96)
    db = librosa.power_to_db(mel, ref=float(mel.max()) if mel.size and mel.max() > 0 else 1.0, top_db=80.0)
    fig = Figure(figsize=(6, 3.2), constrained_layout=True)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    img = librosa.display.specshow(db, sr=sr, hop_length=HOP_SAMPLES, x_axis="time", y_axis="mel", ax=ax, vmin=-80, vmax=0, cmap="magma")
    ax.set_title(title)
    fig.colorbar(img, ax=ax, format="%+.0f dB")
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".png", dir=path.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=100, format="png")
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
