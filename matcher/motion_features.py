"""How a note moves: a fixed-size summary of its pitch, brightness and beating over time.

The predictor's static features (:func:`matcher.predictor.predictor_features`,
version 1) describe a long-term spectrum and an RMS envelope; they barely see
a filter envelope, a pitch drop, vibrato or a detuned second oscillator.
Feature version 2 appends this block, for voices that can move (``analog``, ``fm``):

* **pitch track**: the frequency of the strongest partial near the note's
  loudest harmonic ``h`` (of the last half second), per frame, as cents from
  ``h * f0``, at :data:`MOTION_TIMES_S` after the onset (a pitch envelope);
* **vibrato**: the standard deviation of that track after
  :data:`STEADY_FROM_S` (cents, as ``log1p``), and the rate and the share of
  its strongest modulation between 0.5 and 14 Hz (the track has a 5-frame median);
* **brightness track**: the spectral centroid over f0 (octaves) at the same
  times (a filter envelope, an index envelope);
* **beating**: the standard deviation (dB) of the level of that partial,
  relative to the frame's energy (so the amp envelope cancels), after :data:`STEADY_FROM_S`, and the rate of its strongest modulation (a
  detuned second oscillator beats).

Frames of 1024 samples every 256 (11.6 ms at 22.05 kHz), zero-padded to 4096
points; peaks are interpolated on the log spectrum (a parabola through three
bins).  About 5 ms for a 1 s note.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.fft
from numpy.lib.stride_tricks import sliding_window_view

__all__ = ["motion_features", "N_MOTION", "MOTION_TIMES_S", "STEADY_FROM_S"]

MOTION_TIMES_S = np.array([0.015, 0.04, 0.08, 0.15, 0.25, 0.4, 0.6, 0.85])
"""Times after the onset (s) at which the pitch and brightness tracks are read (clipped to the note)."""

STEADY_FROM_S = 0.15
"""Vibrato and beating are measured from this time on (after most pitch envelopes have settled)."""

_FRAME = 1024
_HOP = 256
_N_FFT = 4096
_RANGE_OCT = 1.1
"""The pitch track searches ``h f0 · 2^±_RANGE_OCT`` (a pitch envelope reaches ±12 semitones)."""

N_MOTION = 2 * len(MOTION_TIMES_S) + 5
"""Length of the block."""


def _peak(logp: np.ndarray, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """Per frame, the interpolated bin and log power of the strongest bin in ``[lo, hi)``.

    Parameters
    ----------
    logp : ndarray, shape (n_frames, n_bins)
        Log power.

    Returns
    -------
    bins, level : ndarray, shape (n_frames,)
    """
    seg = logp[:, lo:hi]
    i = np.argmax(seg, axis=1)
    i = np.clip(i, 1, seg.shape[1] - 2)
    rows = np.arange(len(seg))
    a, b, c = seg[rows, i - 1], seg[rows, i], seg[rows, i + 1]
    den = a - 2.0 * b + c
    delta = np.where(np.abs(den) > 1e-9, 0.5 * (a - c) / np.where(np.abs(den) > 1e-9, den, 1.0), 0.0)
    delta = np.clip(delta, -0.5, 0.5)
    return lo + i + delta, b - 0.25 * (a - c) * delta


def _modulation(track: np.ndarray, frame_rate_hz: float) -> tuple[float, float]:
    """Rate (Hz) and share of power of the strongest modulation of ``track`` between 0.5 and 14 Hz."""
    x = track - np.polyval(np.polyfit(np.arange(len(track)), track, 1), np.arange(len(track))) if len(track) > 2 else track * 0.0
    n = max(256, 1 << int(math.ceil(math.log2(max(len(x), 2)))) * 2)
    p = np.abs(np.fft.rfft(x * np.hanning(len(x)), n=n)) ** 2
    f = np.fft.rfftfreq(n, 1.0 / frame_rate_hz)
    band = (f >= 0.5) & (f <= 14.0)
    total = float(p[1:].sum()) + 1e-12
    if not band.any() or total <= 1e-11:
        return 0.5, 0.0
    j = int(np.argmax(np.where(band, p, -1.0)))
    return float(f[j]), float(p[max(j - 2, 0) : j + 3].sum() / total)


def motion_features(y: np.ndarray, sr: int, f0_hz: float) -> np.ndarray:
    """The motion block of one note (see the module).

    Parameters
    ----------
    y : ndarray, shape (n,), float32
        Mono note at ``sr``, starting at its onset.
    sr : int
        Sample rate in Hz (the predictor's feature rate).
    f0_hz : float
        The note's f0 (estimate, or the strongest peak when unpitched).

    Returns
    -------
    ndarray, shape (N_MOTION,), float32
        Pitch offsets (semitones) at :data:`MOTION_TIMES_S`, centroid / f0
        (octaves) at the same times, ``log1p`` of the vibrato's std in cents,
        its rate (log2 Hz) and share, the level's std (dB) after
        :data:`STEADY_FROM_S` and the rate of its modulation (log2 Hz).
    """
    y = np.asarray(y, dtype=np.float32)
    buf = np.zeros(max(len(y), _FRAME) + _FRAME, dtype=np.float32)
    buf[_FRAME // 2 : _FRAME // 2 + len(y)] = y
    frames = sliding_window_view(buf, _FRAME)[: max(1, len(y) // _HOP + 1) * _HOP : _HOP] * np.hanning(_FRAME + 1)[:-1].astype(np.float32)
    power = np.abs(scipy.fft.rfft(frames, n=_N_FFT, axis=1, workers=1)) ** 2
    t = np.arange(len(power)) * _HOP / sr
    energy = power.sum(axis=1)
    loud = energy >= 1e-4 * max(float(energy.max()), 1e-20)
    if not loud.any():
        return np.zeros(N_MOTION, np.float32)
    logp = np.log(power + 1e-20 * max(float(energy.max()), 1e-20))
    bin_hz = sr / _N_FFT
    top = int(0.45 * sr / bin_hz)
    # The loudest of the first four harmonics in the second half of the note sets the partial to track.
    late = loud & (t >= 0.5 * t[-1])
    late = late if late.any() else loud
    mean_late = power[late].mean(axis=0)
    harm = [k for k in range(1, 5) if k * f0_hz < 0.45 * sr] or [1]
    h = max(harm, key=lambda k: float(mean_late[int(round(k * f0_hz / bin_hz))]))
    centre = h * f0_hz
    lo = max(1, int(centre * 2.0**-_RANGE_OCT / bin_hz))
    hi = min(top, int(centre * 2.0**_RANGE_OCT / bin_hz) + 2)
    if hi - lo < 3:
        lo, hi = max(1, hi - 3), max(hi, 4)
    bins, level = _peak(logp, lo, hi)
    cents = 1200.0 * np.log2(np.maximum(bins * bin_hz, 1e-3) / centre)
    if len(cents) >= 5:  # a 5-frame median: a partial that beats away for a frame does not jump the track
        cents = np.median(sliding_window_view(np.pad(cents, 2, mode="edge"), 5), axis=1)
    freqs = np.arange(power.shape[1]) * bin_hz
    centroid = (power[:, :top] * freqs[:top]).sum(axis=1) / (power[:, :top].sum(axis=1) + 1e-30)
    bright = np.log2(np.maximum(centroid, 1.0) / f0_hz)
    tl = t[loud]
    times = np.minimum(MOTION_TIMES_S, t[-1])
    pitch_at = np.interp(times, tl, np.clip(cents[loud], -1500.0, 1500.0)) / 100.0
    bright_at = np.interp(times, tl, bright[loud])
    steady = loud & (t >= STEADY_FROM_S)
    if steady.sum() < 8:
        steady = loud
    frame_rate_hz = sr / _HOP
    track = np.clip(cents[steady], -1500.0, 1500.0)
    vib_std = float(np.std(track - np.median(track)))
    vib_rate, vib_share = _modulation(track, frame_rate_hz)
    # The partial's level relative to the frame's energy: the amp envelope cancels, beating stays.
    level_db = (level[steady] - np.log(energy[steady] + 1e-30)) * (10.0 / math.log(10.0))
    beat_std = float(np.std(level_db - np.polyval(np.polyfit(np.arange(len(level_db)), level_db, 1), np.arange(len(level_db))))) if len(level_db) > 2 else 0.0
    beat_rate, _ = _modulation(level_db, frame_rate_hz)
    out = np.concatenate([pitch_at, bright_at, [math.log1p(vib_std), math.log2(vib_rate), vib_share, min(beat_std, 40.0), math.log2(beat_rate)]])
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)
