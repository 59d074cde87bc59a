"""Control curves of the richer voices, as pure NumPy functions of time.

The ``analog`` and ``fm`` voices compute their pitch, cutoff and modulation
-index curves here, once per render, at one point every
:data:`CONTROL_PERIOD_S` (about 0.73 ms); the Pyo graph reads them back with linear interpolation
(:func:`synth.voices.parts.control_signal`).  Being plain functions of the
patch, the same curves serve any analysis that wants to model a voice without
rendering it (e.g. fitting ``pitch_env_*`` or ``vib_*`` to a target's f0 track).

Every time argument is in seconds, every curve has the shape of ``t``.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "CONTROL_PERIOD_S",
    "CUTOFF_MIN_HZ",
    "CUTOFF_MAX_FRACTION",
    "control_step",
    "control_times",
    "pitch_cents",
    "pitch_ratio",
    "band_ratio",
    "attack_decay_env",
    "cutoff_track",
    "clamp_cutoff",
]

CONTROL_PERIOD_S = 16 / 22050
"""Spacing of the control points, about 0.73 ms (16 samples at 22.05 kHz, 32 at 44.1 kHz)."""

CUTOFF_MIN_HZ = 20.0
"""Lowest cutoff a filter envelope may reach."""

CUTOFF_MAX_FRACTION = 0.45
"""Highest cutoff as a fraction of the sample rate (Pyo's biquad is unstable at Nyquist)."""


def control_step(sr: int) -> int:
    """Samples per control point at ``sr``: ``round(sr * CONTROL_PERIOD_S)``, at least 1."""
    return max(1, round(int(sr) * CONTROL_PERIOD_S))


def control_times(duree_s: float, sr: int) -> np.ndarray:
    """Times of the control points of a note, in seconds.

    One point every :func:`control_step` samples, covering ``duree_s`` and
    two points more; after ``duree_s`` the amp envelope is 0, so what a curve
    does there is never heard.

    Returns
    -------
    ndarray, shape (ceil(duree_s * sr / step) + 2,), float32
    """
    step = control_step(sr)
    n = math.ceil(float(duree_s) * int(sr) / step) + 2
    return np.arange(n, dtype=np.float32) * np.float32(step / int(sr))


def pitch_cents(
    t: np.ndarray,
    pitch_env_st: float,
    pitch_env_decay_s: float,
    vib_rate_hz: float,
    vib_depth_cents: float,
    vib_delay_s: float,
) -> np.ndarray:
    """Pitch offset from the note's f0, in cents.

    ``100 * pitch_env_st * exp(-t / pitch_env_decay_s)`` (the note starts
    ``pitch_env_st`` semitones away and glides back exponentially, time
    constant ``pitch_env_decay_s``) plus a vibrato
    ``vib_depth_cents * fade(t) * sin(2 pi vib_rate_hz (t - vib_delay_s))``
    that is silent for ``vib_delay_s`` and then fades in linearly over the next
    ``vib_delay_s`` (at once when the delay is 0).

    Parameters
    ----------
    t : ndarray, shape (n,)
        Times in seconds from the note's start (non-negative).

    Returns
    -------
    ndarray, shape (n,), float32
        Offset in cents; 0 everywhere when both amounts are 0.
    """
    t = np.asarray(t, dtype=np.float32)
    cents = np.zeros(t.shape, dtype=np.float32)
    if pitch_env_st != 0.0:
        cents = np.exp(t * np.float32(-1.0 / max(float(pitch_env_decay_s), 1e-6)))
        cents *= np.float32(100.0 * float(pitch_env_st))
    if vib_depth_cents != 0.0:
        delay_s = float(vib_delay_s)
        since = t - np.float32(delay_s)
        vibrato = np.sin(since * np.float32(2.0 * np.pi * float(vib_rate_hz)))
        vibrato *= np.float32(vib_depth_cents)
        if delay_s > 0.0:
            # fade = clip(since / delay, 0, 1): silent before the delay, then a linear fade-in.
            vibrato *= np.minimum(np.maximum(since * np.float32(1.0 / delay_s), np.float32(0.0)), np.float32(1.0))
        cents += vibrato
    return cents


def pitch_ratio(t: np.ndarray, **pitch: float) -> np.ndarray:
    """Instantaneous frequency over the note's f0, shape of ``t``, float32: ``2 ** (pitch_cents / 1200)``.

    ``pitch`` holds the keyword arguments of :func:`pitch_cents`.
    """
    return np.exp2(pitch_cents(t, **pitch) * np.float32(1.0 / 1200.0))


def band_ratio(pitch_env_st: float, vib_depth_cents: float) -> float:
    """Frequency ratio a voice band-limits its oscillators for.

    The highest pitch after one decay time constant of the pitch envelope,
    vibrato peak included: ``2 ** ((100 max(st, 0) / e + depth) / 1200)``.
    A rising pitch envelope therefore aliases a little during its first time
    constant instead of dulling the whole note.
    """
    cents = 100.0 * max(float(pitch_env_st), 0.0) / math.e + abs(float(vib_depth_cents))
    return 2.0 ** (cents / 1200.0)


def attack_decay_env(t: np.ndarray, attack_s: float, decay_s: float, sustain: float) -> np.ndarray:
    """Envelope in [0, 1]: a linear rise to 1 over ``attack_s``, then an exponential fall to ``sustain``.

    After the attack: ``sustain + (1 - sustain) * exp(-(t - attack_s) / decay_s)``
    (``decay_s`` is the time constant: 63 % of the way to the sustain level).

    Returns
    -------
    ndarray, shape of ``t``, float32
    """
    t = np.asarray(t, dtype=np.float32)
    attack_s = max(float(attack_s), 1e-9)
    fall = np.exp(np.maximum(t - np.float32(attack_s), np.float32(0.0)) * np.float32(-1.0 / max(float(decay_s), 1e-6)))
    fall *= np.float32(1.0 - float(sustain))
    fall += np.float32(sustain)
    rising = t < np.float32(attack_s)
    fall[rising] = t[rising] * np.float32(1.0 / attack_s)
    return fall


def clamp_cutoff(cutoff_hz: np.ndarray | float, sr: int) -> np.ndarray | float:
    """Clip a cutoff to ``[CUTOFF_MIN_HZ, CUTOFF_MAX_FRACTION * sr]``."""
    hi = CUTOFF_MAX_FRACTION * int(sr)
    if np.ndim(cutoff_hz) == 0:
        return float(min(max(float(cutoff_hz), CUTOFF_MIN_HZ), hi))
    return np.minimum(np.maximum(cutoff_hz, np.float32(CUTOFF_MIN_HZ)), np.float32(hi))


def cutoff_track(
    t: np.ndarray,
    sr: int,
    filter_cutoff: float,
    fenv_amount_oct: float,
    fenv_attack_s: float,
    fenv_decay_s: float,
    fenv_sustain: float,
) -> np.ndarray:
    """Filter cutoff over time, in Hz: ``filter_cutoff * 2 ** (fenv_amount_oct * env(t))``.

    ``env`` is :func:`attack_decay_env`; the result is clipped by
    :func:`clamp_cutoff` (above 20 Hz, below 0.45 sr).

    Returns
    -------
    ndarray, shape of ``t``, float32
    """
    env = attack_decay_env(t, fenv_attack_s, fenv_decay_s, fenv_sustain)
    env *= np.float32(fenv_amount_oct)
    cutoff = np.exp2(env)
    cutoff *= np.float32(filter_cutoff)
    return clamp_cutoff(cutoff, sr)
