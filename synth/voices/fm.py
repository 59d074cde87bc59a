"""The ``fm`` voice: two-operator FM (a feedback sine modulating a sine carrier's phase).

Graph (one note)::

    pitch env + vibrato ─► f(t) ──────────────────────────────┐
        │                                                       ▼
        └─► × fm_ratio ─► modulator: feedback sine (fm_feedback) × I(t)/2π ─► wrap ─► carrier phase
                                                                carrier: sine at f(t), × osc_vol
                                                                  + seeded noise × noise_vol
                                                                  × amp ADSR (env_*) × master_vol

    I(t) = fm_index + fm_index_env_amount · exp(-t / fm_index_decay_s),
           capped at (0.45 sr - f(t)) / (fm_ratio f(t)) - 1 (Carson's rule: no
           strong sideband above 0.45 sr), and 0 when the modulator itself is above it.

The carrier is ``sin(2 pi f t + I(t) m(t))`` with ``m`` the modulator in
[-1, 1] (phase modulation, as in DX7-style FM: a sine modulator at index
``I`` gives Bessel sidebands ``J_k(I)`` at ``f ± k fm_ratio f``).  The
voice has no choices, so it makes one search arm.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Mapping

import numpy as np

from synth.params import Param, ParamSpace
from synth.voices.base import AMP_ENVELOPE_PARAMS, PITCH_MOTION_NEUTRAL, PITCH_MOTION_PARAMS, Voice, pitch_motion_seeds
from synth.voices.controls import CUTOFF_MAX_FRACTION, control_times
from synth.voices.parts import amp_envelope, control_signal, keep_alive, noise_source, pitch_signal

__all__ = ["FM", "VOICE", "FM_NEUTRAL", "fm_motion_seeds", "index_curve", "max_index", "feedback_wave", "FEEDBACK_MAX_RAD"]

FEEDBACK_MAX_RAD = 0.9
"""Highest modulator feedback: below 1 rad the feedback sine is smooth (harmonics fall off fast)."""

FEEDBACK_TABLE_SIZE = 512
"""Points per cycle of the modulator table."""

FEEDBACK_LEVELS = 33
"""Feedback amounts tabulated in ``[0, FEEDBACK_MAX_RAD]``; others are interpolated between neighbours."""


@functools.cache
def _feedback_grid() -> np.ndarray:
    """One cycle of the feedback sine at every tabulated feedback, shape (FEEDBACK_LEVELS, FEEDBACK_TABLE_SIZE), read-only.

    Solves ``y = sin(phi + beta y)`` by Newton's method (6 steps reach
    machine precision for ``beta <= 0.95``).  Computed once per process, on
    first use.
    """
    beta = np.linspace(0.0, FEEDBACK_MAX_RAD, FEEDBACK_LEVELS)[:, None]
    phi = np.arange(FEEDBACK_TABLE_SIZE)[None, :] * (2.0 * np.pi / FEEDBACK_TABLE_SIZE)
    y = np.sin(phi) + 0.0 * beta
    for _ in range(6):
        a = phi + beta * y
        y = y - (y - np.sin(a)) / (1.0 - beta * np.cos(a))
    grid = y.astype(np.float32)
    grid.flags.writeable = False
    return grid


def feedback_wave(feedback_rad: float) -> np.ndarray:
    """One cycle of a sine with self-feedback ``beta``: ``y(phi) = sin(phi + beta y(phi))``.

    The steady state of a DX7-style feedback operator ``y[n] = sin(phi[n] + beta y[n-1])``
    (the one-sample delay is negligible below 0.45 sr), interpolated linearly
    between the tabulated feedback amounts.  ``y(0) = 0``, as the table's
    guard point.

    Returns
    -------
    ndarray, shape (FEEDBACK_TABLE_SIZE,), float32
    """
    grid = _feedback_grid()
    x = min(max(float(feedback_rad), 0.0), FEEDBACK_MAX_RAD) / FEEDBACK_MAX_RAD * (FEEDBACK_LEVELS - 1)
    i = min(int(x), FEEDBACK_LEVELS - 2)
    w = np.float32(x - i)
    return grid[i] * (np.float32(1.0) - w) + grid[i + 1] * w



def max_index(carrier_hz: np.ndarray | float, fm_ratio: float, sr: int) -> np.ndarray | float:
    """Highest modulation index whose Carson bandwidth stays below 0.45 sr.

    ``(0.45 sr - f) / (fm_ratio f) - 1``, clipped at 0 (a modulator above
    the band is switched off).

    Parameters
    ----------
    carrier_hz : float or ndarray
        Carrier frequency in Hz (any shape).
    """
    top_hz = CUTOFF_MAX_FRACTION * int(sr)
    return np.maximum((top_hz - np.asarray(carrier_hz, dtype=np.float64)) / (float(fm_ratio) * np.asarray(carrier_hz, dtype=np.float64)) - 1.0, 0.0)


def index_curve(t: np.ndarray, carrier_hz: np.ndarray | float, patch: Mapping[str, float | str], sr: int) -> np.ndarray:
    """The modulation index over time, in radians, band-limited by :func:`max_index`.

    Parameters
    ----------
    t : ndarray, shape (n,)
        Times in seconds.
    carrier_hz : float or ndarray, shape (n,)
        Carrier frequency at those times.

    Returns
    -------
    ndarray, shape (n,), float32
    """
    t = np.asarray(t, dtype=np.float32)
    index = np.exp(t * np.float32(-1.0 / float(patch["fm_index_decay_s"])))
    index *= np.float32(patch["fm_index_env_amount"])
    index += np.float32(patch["fm_index"])
    return np.minimum(index, np.asarray(max_index(carrier_hz, float(patch["fm_ratio"]), sr), dtype=np.float32))


def _build_fm(pyo: Any, patch: Mapping[str, float | str], ctx: Any) -> Any:
    """Feedback-sine modulator -> phase of a sine carrier, + noise -> ADSR -> master volume."""
    sr = ctx.sr
    keep: list = []
    env = amp_envelope(pyo, patch, float(patch["master_vol"]), keep)
    freq, _, curve_hz = pitch_signal(pyo, ctx, patch, keep)
    fm_ratio = float(patch["fm_ratio"])
    f0_hz = float(patch["osc_freq"])

    static_pitch = curve_hz is None
    index: Any
    if float(patch["fm_index"]) == 0.0 and float(patch["fm_index_env_amount"]) == 0.0:
        index = peak_index = 0.0
    elif static_pitch and float(patch["fm_index_env_amount"]) == 0.0:
        index = peak_index = float(index_curve(np.zeros(1), f0_hz, patch, sr)[0])
    else:
        t = control_times(float(patch["duree"]), sr)
        curve = index_curve(t, f0_hz if curve_hz is None else curve_hz, patch, sr)
        peak_index = float(curve.max())
        curve *= np.float32(1.0 / (2.0 * math.pi))
        index = control_signal(pyo, ctx, "fm_index", curve, keep)

    carrier_table = ctx.wavetable("sine", f0_hz)
    if peak_index > 0.0:
        mod_freq = freq * fm_ratio
        if not static_pitch:
            keep.append(mod_freq)
        feedback_rad = float(patch["fm_feedback"])
        if feedback_rad > 0.0:
            # Not Pyo's SineLoop: its single-precision phase wrap can round to
            # the end of its table, and the value read past it, fed back, sent
            # the index out of the table (a segfault on a random patch).  The
            # feedback is a wavetable of its steady state instead.
            mod_table = ctx.control_table("fm_modulator", FEEDBACK_TABLE_SIZE)
            np.asarray(mod_table.getBuffer())[:] = feedback_wave(feedback_rad)
        else:
            mod_table = ctx.wavetable("sine", f0_hz)
        modulator = pyo.Osc(mod_table, freq=mod_freq, mul=index / (2.0 * math.pi) if isinstance(index, float) else index)
        phase = pyo.Wrap(modulator, min=0.0, max=1.0)
        keep.extend((modulator, phase))
        carrier = pyo.Osc(carrier_table, freq=freq, phase=phase, mul=float(patch["osc_vol"]))
    else:
        carrier = pyo.Osc(carrier_table, freq=freq, mul=float(patch["osc_vol"]))
    keep.append(carrier)
    source = noise_source(pyo, ctx, float(patch["noise_vol"]), carrier, keep)
    out = source * env
    return keep_alive(out, keep)


FM_NEUTRAL: dict[str, float] = {
    "fm_ratio": 1.0, "fm_index": 0.0, "fm_index_env_amount": 0.0, "fm_index_decay_s": 0.2, "fm_feedback": 0.0,
    **PITCH_MOTION_NEUTRAL,
}
"""No modulation: a sine carrier (plus noise), with no pitch movement."""

FM_SEED_RATIOS = (1.0, 2.0, 3.0, 4.0, 0.5)
"""Modulator/carrier ratios the seeds try: harmonic spectra at integer ratios, and a sub-octave."""


FM_SEED_INDEX_SHAPES: tuple[tuple[float, float, float], ...] = ((1.0, 0.0, 0.2), (3.0, 0.0, 0.2), (0.5, 2.5, 0.12), (1.0, 4.0, 0.2), (0.7, 2.5, 0.4))
"""(steady index, index added at the start, its decay time constant in s) of the seeds: the index
envelope's fitness is steep, so the seeds cover fast and slow falls from moderate and large starts."""


def fm_motion_seeds(patch: Mapping[str, float | str]) -> list[dict[str, float]]:
    """FM spectra to try on a carried note (see :attr:`synth.voices.base.Voice.motion_seeds`).

    Each ratio of :data:`FM_SEED_RATIOS` with each index shape of
    :data:`FM_SEED_INDEX_SHAPES` (steady, or falling like a struck or plucked
    FM tone), then the shared pitch drops and vibrato on the plain carrier.
    """
    seeds = [{"fm_ratio": ratio, "fm_index": index, "fm_index_env_amount": amount, "fm_index_decay_s": decay_s}
             for ratio in FM_SEED_RATIOS for index, amount, decay_s in FM_SEED_INDEX_SHAPES]
    return [*seeds, *pitch_motion_seeds(patch)]


FM = Voice(
    name="fm",
    space=ParamSpace(
        (
            Param("duree", "s", 0.05, 8.0, "log", doc="note duration (ADSR total length)"),
            Param("osc_freq", "Hz", 40.0, 2000.0, "log", doc="carrier frequency (the note's f0 at integer ratios)"),
            Param("osc_vol", "", 0.0, 1.0, doc="carrier level"),
            Param("fm_ratio", "", 0.5, 8.0, "log", doc="modulator frequency / carrier frequency"),
            Param("fm_index", "rad", 0.0, 8.0, "lin", doc="modulation index after the index envelope"),
            Param("fm_index_env_amount", "rad", 0.0, 8.0, "lin", doc="index added at the note's start, decaying"),
            Param("fm_index_decay_s", "s", 0.005, 4.0, "log", doc="index envelope time constant"),
            Param("fm_feedback", "rad", 0.0, FEEDBACK_MAX_RAD, "lin", doc="modulator self-feedback (0: sine; towards 0.9 saw-like)"),
            Param("noise_vol", "", 0.0, 1.0, doc="white noise level"),
            *AMP_ENVELOPE_PARAMS,
            *PITCH_MOTION_PARAMS,
            Param("master_vol", "", 0.0, 1.0, doc="output level"),
        )
    ),
    build=_build_fm,
    doc="2-operator FM: feedback sine modulator (ratio, index envelope) -> sine carrier, + noise -> ADSR; pitch env, vibrato",
    gain_param="master_vol",
    predictor_model="fm",
    neutral=FM_NEUTRAL,
    motion_seeds=fm_motion_seeds,
    motion_spreads={"fm_ratio": 0.002},  # 0.14 %: at 350 Hz a ratio 0.5 % off an integer beats at 1.7 Hz
)

VOICE = FM
"""The voice this module registers (see :mod:`synth.voices`)."""
