"""Random *valid* patches: the in-domain targets and the training data.

A patch is valid when the note it plays is audible and identifiable: the filter
neither destroys the note nor is inaudible, the envelope fits in the note, the
noise does not mask the oscillator, and the render neither is silent nor clips.
Draws are broad (log-uniform frequencies and times, balanced choices) and the
rules reject; rejected draws are redrawn and counted by reason.
"""

from __future__ import annotations

from collections import Counter
from typing import Callable, Mapping

import numpy as np

from synth.voices import FILTER_TYPES, OSC_TYPES, SUBTRACTIVE

__all__ = ["draw_patch", "rule_problems", "audio_problems", "sample_valid_patch", "FILTER_WINDOWS"]

FILTER_WINDOWS: dict[str, tuple[float, float]] = {
    "lowpass": (2.0, 16.0),
    "highpass": (1.0, 6.0),
    "bandpass": (1.0, 8.0),
}
"""Allowed cutoff / f0 ratio per filter type.

Below the window a lowpass removes the harmonics that tell the waveform apart
(or the note itself); above it the filter barely touches the note and the filter
type cannot be heard.  A highpass or bandpass far above f0 leaves only faint
upper harmonics."""

F0_RANGE_HZ = (55.0, 1760.0)
"""Pitch range of drawn notes (A1–A6), log-uniform."""

MAX_NOISE_TO_OSC = 0.5
"""Noise level may be at most this fraction of the oscillator level."""

MIN_NOISE_FOR_SINE = 0.05
"""A filtered pure sine is still a pure sine: only the filter's gain at f0 is
audible, so filter type, cutoff and resonance cannot be told apart.  A sine
note is valid only with noise at least this fraction of the oscillator level,
whose spectrum the filter shapes audibly."""

SILENCE_PEAK = 0.02
"""A render whose peak is below this is rejected as silent."""

CLIP_PEAK = 0.99
"""A render whose peak reaches this is rejected as clipping."""


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def draw_patch(rng: np.random.Generator, duree_s: float = 1.0) -> dict[str, float | str]:
    """One broad random draw of the subtractive voice (may break the rules).

    Parameters
    ----------
    rng : numpy.random.Generator
    duree_s : float
        Note duration in seconds.
    """
    space = SUBTRACTIVE.space
    noisy = rng.random() < 0.5
    return {
        "duree": float(duree_s),
        "osc_freq": _log_uniform(rng, *F0_RANGE_HZ),
        "osc_type": OSC_TYPES[int(rng.integers(len(OSC_TYPES)))],
        "osc_vol": float(rng.uniform(0.3, 1.0)),
        "noise_vol": float(rng.uniform(0.01, 0.5)) if noisy else 0.0,
        "filter_type": FILTER_TYPES[int(rng.integers(len(FILTER_TYPES)))],
        "filter_cutoff": _log_uniform(rng, space["filter_cutoff"].low, space["filter_cutoff"].high),
        "filter_res": _log_uniform(rng, 0.5, 8.0),
        "env_attack": _log_uniform(rng, 0.002, 0.2),
        "env_decay": _log_uniform(rng, 0.02, 0.5),
        "env_sustain": float(rng.uniform(0.2, 1.0)),
        "env_release": _log_uniform(rng, 0.02, 0.4),
        "master_vol": float(rng.uniform(0.3, 1.0)),
    }


def rule_problems(patch: Mapping[str, float | str], sr: int = 22050) -> list[str]:
    """Reasons (short keys) why a patch is not a valid target; empty if valid.

    These rules need no render.
    """
    problems = []
    f0 = float(patch["osc_freq"])
    ratio = float(patch["filter_cutoff"]) / f0
    lo, hi = FILTER_WINDOWS[str(patch["filter_type"])]
    if ratio < lo:
        problems.append("filter_cuts_note")
    elif ratio > hi:
        problems.append("filter_inaudible")
    if float(patch["filter_cutoff"]) > 0.4 * sr:
        problems.append("cutoff_near_nyquist")
    env_s = float(patch["env_attack"]) + float(patch["env_decay"]) + float(patch["env_release"])
    if env_s > 0.9 * float(patch["duree"]):
        problems.append("envelope_longer_than_note")
    if float(patch["noise_vol"]) > MAX_NOISE_TO_OSC * float(patch["osc_vol"]):
        problems.append("noise_masks_note")
    if patch["osc_type"] == "sine" and float(patch["noise_vol"]) < MIN_NOISE_FOR_SINE * float(patch["osc_vol"]):
        problems.append("filter_unidentifiable")
    return problems


def audio_problems(audio: np.ndarray) -> list[str]:
    """Reasons why a rendered note is not a valid target (silent or clipping)."""
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak < SILENCE_PEAK:
        return ["silent"]
    if peak >= CLIP_PEAK:
        return ["clipping"]
    return []


def sample_valid_patch(
    rng: np.random.Generator,
    render_fn: Callable[[Mapping[str, float | str], int, int], np.ndarray],
    sr: int = 22050,
    duree_s: float = 1.0,
    rejections: Counter | None = None,
    max_draws: int = 10_000,
) -> tuple[dict[str, float | str], np.ndarray]:
    """Draw until a patch passes every rule; return it with its render.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness (the result is a pure function of its state).
    render_fn : callable
        ``render_fn(patch, sr, n_samples) -> ndarray`` (e.g. :func:`synth.render.render`).
    sr : int
        Sample rate in Hz.
    duree_s : float
        Note duration and render length in seconds.
    rejections : collections.Counter, optional
        Incremented by reason for every rejected draw.

    Returns
    -------
    patch : dict
    audio : ndarray, shape (round(duree_s * sr),), float32
    """
    n_samples = int(round(duree_s * sr))
    for _ in range(max_draws):
        patch = draw_patch(rng, duree_s)
        problems = rule_problems(patch, sr)
        audio = None
        if not problems:
            audio = render_fn(patch, sr, n_samples)
            problems = audio_problems(audio)
        if not problems:
            return patch, audio
        if rejections is not None:
            rejections.update(problems)
    raise RuntimeError(f"no valid patch in {max_draws} draws")
