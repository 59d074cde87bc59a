"""The ends of a morph from files, and the files a morph writes.

An end is a ``patch.json`` or a sound; a sound is matched first through the
match API (:func:`matcher.pipeline.match_target`, default settings unless the
caller gives others), exactly as ``matcher match`` would.  The morph's folder
holds ``step_00.wav … step_NN.wav``, ``step_00.json … step_NN.json``,
``morph.wav`` (every step in order with a short gap) and ``morph.png`` (a strip
of log-mel spectrograms); :func:`morph_files` returns their writers for
:func:`matcher.pipeline.publish_folder`, so no file is ever half-written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from matcher.morph import MorphEnd, MorphStep

__all__ = ["MorphInputError", "load_end", "morph_files", "step_document", "concatenate_steps", "plot_morph_strip", "GAP_S"]

GAP_S = 0.15
"""Silence between two steps in ``morph.wav``, in seconds."""


class MorphInputError(Exception):
    """An end of a morph cannot be used; the message is one line naming the file and the problem."""


def load_end(path: str | Path, settings=None, on_phase: Callable[[str], None] | None = None) -> MorphEnd:
    """A morph end from a ``.json`` patch file or a sound (matched first).

    Parameters
    ----------
    path : path-like
        A patch file (by its ``.json`` suffix) or a sound (WAV, FLAC, OGG).
    settings : matcher.pipeline.MatchSettings, optional
        Settings of the match of a sound (the defaults of ``matcher match`` if omitted).
    on_phase : callable, optional
        Told ``"matching <file>"`` before a sound is matched.

    Raises
    ------
    MorphInputError
        Missing file, bad patch (unknown voice, bad parameter), unusable sound.
    """
    from matcher.pipeline import MAX_DURATION_S, MatchInterrupted, MatchSettings, match_target  # noqa: PLC0415
    from objectives.audio_io import TargetError, load_target  # noqa: PLC0415
    from synth.patch_io import PatchFileError, read_patch  # noqa: PLC0415

    path = Path(path)
    if not path.exists():
        raise MorphInputError(f"{path}: no such file")
    if path.suffix.lower() == ".json":
        try:
            voice, params, _ = read_patch(path)
        except PatchFileError as exc:
            raise MorphInputError(str(exc)) from None
        return MorphEnd(voice, params, str(path))
    settings = settings if settings is not None else MatchSettings()
    try:
        target = load_target(path, sr=settings.sr, max_duration_s=MAX_DURATION_S)
    except TargetError as exc:
        raise MorphInputError(str(exc)) from None
    if on_phase is not None:
        on_phase(f"matching {path.name}")
    try:
        outcome = match_target(target, settings)
    except MatchInterrupted:
        raise KeyboardInterrupt from None
    return MorphEnd(outcome.voice, outcome.patch, f"{path} (matched, distance {outcome.loss:.4g})")


def step_document(step: MorphStep, side_gains: Sequence[float], n_steps: int, sr: int, ends: tuple[MorphEnd, MorphEnd]) -> dict:
    """The JSON document of one step.

    A step with one side is a patch file (``matcher render`` reads it) plus a
    ``morph`` object; its audio is the render of ``params`` times
    ``morph.level_gain``.  A crossfaded step has no top-level patch: its
    ``morph.mix`` lists both sides, each a patch document with its ``weight``
    (``1 - t`` or ``t``) and ``gain``, the factor its render enters the step's
    audio with (weight × level matching).
    """
    from synth.patch_io import patch_document  # noqa: PLC0415

    meta = {"step": step.index, "of": n_steps, "t": step.t, "a": ends[0].source, "b": ends[1].source}
    if not step.crossfaded:
        side = step.sides[0]
        return patch_document(side.params, side.voice, sr, morph={**meta, "level_gain": float(side_gains[0])})
    mix = [{**patch_document(s.params, s.voice, sr), "weight": float(s.weight), "gain": float(g)} for s, g in zip(step.sides, side_gains)]
    return {"format": 1, "sr": int(sr), "morph": {**meta, "mix": mix}}


def concatenate_steps(audio: Sequence[np.ndarray], sr: int, gap_s: float = GAP_S) -> np.ndarray:
    """Every step in order, separated by ``gap_s`` of silence (none after the last)."""
    gap = np.zeros(int(round(gap_s * sr)), dtype=np.float32)
    parts: list[np.ndarray] = []
    for i, y in enumerate(audio):
        if i:
            parts.append(gap)
        parts.append(np.asarray(y, dtype=np.float32))
    return np.concatenate(parts)


def plot_morph_strip(path: str | Path, audio: Sequence[np.ndarray], sr: int, steps: Sequence[MorphStep], title: str = "") -> None:
    """Write a strip of log-mel spectrograms, one panel per step (same colour scale, dB re the loudest step).

    Parameters
    ----------
    path : path-like
        PNG to write.
    audio : sequence of ndarray
        The steps' audio at ``sr``.
    sr : int
        Sample rate in Hz.
    steps : sequence of MorphStep
        For the panel titles (``t`` and whether the step is crossfaded).
    title : str
        Figure title.
    """
    import librosa  # noqa: PLC0415
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import librosa.display  # noqa: PLC0415
    import matplotlib.pyplot as plt  # noqa: PLC0415

    hop = 256
    mels = [librosa.feature.melspectrogram(y=np.asarray(y, dtype=np.float32), sr=sr, n_fft=2048, hop_length=hop, n_mels=96) for y in audio]
    ref = max((float(m.max()) for m in mels), default=1.0) or 1.0
    n = len(mels)
    fig, axes = plt.subplots(1, n, figsize=(min(1.7 * n + 1.0, 30.0), 3.2), constrained_layout=True, squeeze=False)
    img = None
    for k, (ax, m, step) in enumerate(zip(axes[0], mels, steps)):
        img = librosa.display.specshow(librosa.power_to_db(m, ref=ref, top_db=80.0), sr=sr, hop_length=hop, x_axis="time", y_axis="mel", ax=ax, vmin=-80, vmax=0, cmap="magma")
        if k:
            ax.set_ylabel("")
            ax.tick_params(labelleft=False)
        ax.set_title(f"{k:02d}: t={step.t:.2f}" + (" (mix)" if step.crossfaded else ""), fontsize=9)
        ax.set_xlabel("s", fontsize=8)
        ax.tick_params(labelsize=7)
    if img is not None:
        fig.colorbar(img, ax=axes[0].tolist(), format="%+.0f dB", shrink=0.9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def morph_files(steps: Sequence[MorphStep], audio: Sequence[np.ndarray], side_gains: Sequence[Sequence[float]], sr: int, ends: tuple[MorphEnd, MorphEnd]) -> dict[str, Callable[[Path], None]]:
    """Writers of every file of a morph's folder, by file name (for :func:`matcher.pipeline.publish_folder`)."""
    from objectives.audio_io import write_wav_atomic  # noqa: PLC0415
    from synth.patch_io import write_text_atomic  # noqa: PLC0415

    n_steps = len(steps) - 1
    files: dict[str, Callable[[Path], None]] = {}
    for step, y, gains in zip(steps, audio, side_gains):
        doc = step_document(step, gains, n_steps, sr, ends)
        files[f"step_{step.index:02d}.wav"] = lambda p, y=y: write_wav_atomic(p, y, sr)
        files[f"step_{step.index:02d}.json"] = lambda p, doc=doc: write_text_atomic(p, json.dumps(doc, indent=2) + "\n")
    files["morph.wav"] = lambda p: write_wav_atomic(p, concatenate_steps(audio, sr), sr)
    title = f"{Path(ends[0].source.split(' (')[0]).name} → {Path(ends[1].source.split(' (')[0]).name}, {n_steps} steps"
    files["morph.png"] = lambda p: plot_morph_strip(p, audio, sr, steps, title)
    return files
