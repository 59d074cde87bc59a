"""Render-free fits of how a note's pitch moves: a pitch envelope, a vibrato and a detuned pair, read off its motion block.

The hybrid's fits of the subtractive voice (:mod:`matcher.seeding`: filter,
noise, ADSR) model that voice's own parts.  These fit the pitch movement that
every voice with :data:`synth.voices.base.PITCH_MOTION_PARAMS` plays the same
way (:func:`synth.voices.controls.pitch_cents`), from the pitch track of
:func:`matcher.motion_features.motion_features`:

* **pitch envelope**: ``pitch_env_st * exp(-t / pitch_env_decay_s)`` fitted by
  least squares to the track's offsets at :data:`~matcher.motion_features.MOTION_TIMES_S`,
  over a grid of both (:data:`ST_GRID`, :data:`DECAY_GRID_S`).  The track looks
  for the partial within 1.1 octaves, so an offset at or beyond
  :data:`TRACK_LIMIT_ST` is a lower bound (a drop of two octaves reads as about
  13 semitones) and only penalises a fit that stays below it;
* **vibrato**: a steady-part pitch spread of at least :data:`VIBRATO_MIN_CENTS`
  gives a sine of that spread × √2 at the track's strongest modulation rate,
  starting at once or after 0.2 s;
* **detune**: a tracked partial whose level beats at :data:`BEAT_MIN_HZ` or
  faster gives a second oscillator at equal level, detuned so that harmonic
  ``h`` (1 to 4: the block does not say which it tracked) beats at that rate,
  the pair centred on the f0 estimate (the first oscillator half the detune
  below it).  On the detuned notes of suite seeds 7, 11 and 23 (12-30 cents)
  ``h = 1`` read 12.2, 20.4, 30.2, 12.6 and 19.3 cents for 12.3, 20.6, 30.0,
  13.3 and 19.2, and ``h = 3`` 29.9 for 29.7; the plain notes beat at the
  0.5 Hz floor of the modulation band.

Each fit is a partial patch for the voice race to lay over a carried note and
evaluate as a seed (``matcher.voice_race``), as the predictor's patches are:
the fitness, not the fit, decides.  On tuning suite seed 7 the voice predictor
put two SuperCollider and Faust pitch drops of 17-19 semitones at 3-4, and
every vibrato at about 5 Hz (true 5.1 and 6.9 Hz); the track read 5.08 and 6.91 Hz.  The detune
keys exist in the analog voice only; a voice without them skips that seed.
"""

from __future__ import annotations

import math
from typing import Mapping

import numpy as np

from matcher.motion_features import MOTION_TIMES_S, motion_features

__all__ = ["fit_pitch_motion", "fit_pitch_envelope", "detune_seeds", "recentred", "TRACK_LIMIT_ST", "VIBRATO_MIN_CENTS", "MIN_DROP_ST", "BEAT_MIN_HZ"]

TRACK_LIMIT_ST = 12.5
"""Offsets (semitones) at or beyond this are clipped by the track's ±1.1-octave search: lower bounds."""

MIN_DROP_ST = 1.0
"""A fitted pitch envelope smaller than this (semitones) is no pitch envelope: no seed."""

VIBRATO_MIN_CENTS = 5.0
"""Steady-part pitch spread (cents, standard deviation) from which the track is taken for a vibrato.
On tuning suite seed 7 the notes without vibrato read 0.0-3.7, the vibratos 13-15."""

BEAT_MIN_HZ = 1.0
"""Beating of the tracked partial (Hz) from which the note is taken for a detuned pair (no beating reads 0.5)."""

ST_GRID = np.linspace(-24.0, 24.0, 193)
"""Pitch envelope amounts tried, in semitones (the parameter's range, quarter-semitone steps)."""

DECAY_GRID_S = np.geomspace(0.005, 1.0, 48)
"""Glide time constants tried, in seconds (the parameter's range)."""


def fit_pitch_envelope(times_s: np.ndarray, offsets_st: np.ndarray) -> dict[str, float] | None:
    """The pitch envelope that best fits a pitch track, or ``None`` when it does not move.

    Parameters
    ----------
    times_s : ndarray, shape (n,)
        Times after the onset, in seconds.
    offsets_st : ndarray, shape (n,)
        Pitch offset from the note's f0 at those times, in semitones; values at
        or beyond :data:`TRACK_LIMIT_ST` in magnitude are lower bounds.

    Returns
    -------
    dict or None
        ``{"pitch_env_st", "pitch_env_decay_s"}``.
    """
    t = np.asarray(times_s, dtype=float)[:, None, None]
    y = np.asarray(offsets_st, dtype=float)[:, None, None]
    if not np.any(np.abs(y) >= MIN_DROP_ST):
        return None
    model = ST_GRID[None, :, None] * np.exp(-t / DECAY_GRID_S[None, None, :])  # (n, st, decay)
    clipped = np.abs(y) >= TRACK_LIMIT_ST
    bound = np.sign(y) * TRACK_LIMIT_ST
    miss = np.where(clipped, np.maximum(0.0, np.abs(bound) - model * np.sign(bound)), model - y)
    cost = np.sum(miss**2, axis=0)
    i, j = np.unravel_index(int(np.argmin(cost)), cost.shape)
    st = float(ST_GRID[i])
    if abs(st) < MIN_DROP_ST:
        return None
    return {"pitch_env_st": st, "pitch_env_decay_s": float(DECAY_GRID_S[j])}


def detune_seeds(f0_hz: float, beat_hz: float) -> list[dict[str, float]]:
    """Detuned pairs centred on ``f0_hz`` whose harmonic 1, 2, 3 or 4 beats at ``beat_hz``.

    Returns
    -------
    list of dict
        ``osc2_mix``, ``osc2_coarse_st``, ``osc2_detune_cents`` and ``osc_freq``
        (Hz: the first oscillator, half the detune below ``f0_hz``), one per
        harmonic whose detune is within the analog voice's range
        (:func:`synth.voices.analog.detuned_pair`); none below :data:`BEAT_MIN_HZ`.
    """
    from synth.voices import get_voice  # noqa: PLC0415
    from synth.voices.analog import detuned_pair  # noqa: PLC0415

    if beat_hz < BEAT_MIN_HZ:
        return []
    max_cents = get_voice("analog").space["osc2_detune_cents"].high
    seeds = []
    for harmonic in (1, 2, 3, 4):
        delta_hz = beat_hz / harmonic
        if delta_hz >= 2.0 * f0_hz:
            continue
        cents = 1200.0 * math.log2((f0_hz + delta_hz / 2.0) / (f0_hz - delta_hz / 2.0))
        if cents <= max_cents:
            seeds.append(detuned_pair(cents, f0_hz))
    return seeds


def recentred(seed: Mapping[str, float], centre_hz: float) -> dict[str, float]:
    """A detuned-pair seed (:func:`detune_seeds`) centred on ``centre_hz`` instead; any other seed unchanged.

    The voice race lays the fits over a carried patch whose pitch the base
    voice has already searched: on a beating pair the f0 estimate can sit
    15 cents off the pair's centre, where the base found it.
    """
    from synth.voices.analog import detuned_pair  # noqa: PLC0415

    if "osc2_detune_cents" not in seed:
        return dict(seed)
    return {**seed, **detuned_pair(float(seed["osc2_detune_cents"]), float(centre_hz))}


def fit_pitch_motion(y: np.ndarray, sr: int, f0_hz: float) -> list[dict[str, float]]:
    """Partial patches of the pitch envelope, vibrato and detune a note's motion block shows (none for a steady note).

    Parameters
    ----------
    y : ndarray, shape (n_samples,), float32
        Mono note at ``sr``, starting at its onset.
    sr : int
        Sample rate in Hz.
    f0_hz : float
        The note's f0 estimate.

    Returns
    -------
    list of dict
        Each with keys of :data:`synth.voices.base.PITCH_MOTION_PARAMS`, or of
        the analog voice's second oscillator (:func:`detune_seeds`).
    """
    block = motion_features(y, sr, f0_hz)
    n = len(MOTION_TIMES_S)
    times_s = np.minimum(MOTION_TIMES_S, len(y) / sr)
    seeds: list[dict[str, float]] = []
    drop = fit_pitch_envelope(times_s, block[:n])
    if drop is not None:
        seeds.append(drop)
    spread_cents = math.expm1(float(block[2 * n]))
    if spread_cents >= VIBRATO_MIN_CENTS:
        depth_cents = min(100.0, math.sqrt(2.0) * spread_cents)
        rate_hz = float(min(max(2.0 ** float(block[2 * n + 1]), 0.5), 12.0))
        seeds += [{"vib_depth_cents": depth_cents, "vib_rate_hz": rate_hz, "vib_delay_s": delay_s} for delay_s in (0.0, 0.2)]
    seeds += detune_seeds(f0_hz, 2.0 ** float(block[2 * n + 4]))
    return seeds
