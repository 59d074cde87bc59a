"""Estimate an ADSR envelope from a target's amplitude envelope.

The subtractive voice multiplies a stationary signal (oscillator + noise through
a fixed filter) by a linear-segment ADSR, so the target's short-time RMS is, up to
a gain, the ADSR curve smoothed by the RMS window.  Fitting that curve directly
gives attack, decay, sustain and release without a single render; the search
then only refines them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares
from scipy.signal import fftconvolve

from synth.voices import envelope_times

__all__ = ["AdsrFit", "adsr_curve", "rms_envelope", "fit_adsr", "correct_adsr", "ENVELOPE_STEP_S"]

ENVELOPE_STEP_S = 0.001
"""Time step of the envelope the fit works on (1 ms)."""


@dataclass(frozen=True)
class AdsrFit:
    """Fitted envelope: times in seconds, sustain in [0, 1], gain in linear RMS units."""

    attack_s: float
    decay_s: float
    sustain: float
    release_s: float
    gain: float
    rms_error: float

    def as_patch(self) -> dict[str, float]:
        """The fit under the subtractive voice's parameter names."""
        return {"env_attack": self.attack_s, "env_decay": self.decay_s, "env_sustain": self.sustain, "env_release": self.release_s}

    def curve(self, n_samples: int, sr: int) -> np.ndarray:
        """The fitted envelope at every sample of a note of ``n_samples`` at ``sr`` Hz, shape (n_samples,), peak 1."""
        return adsr_curve(np.arange(n_samples) / sr, self.attack_s, self.decay_s, self.sustain, self.release_s, n_samples / sr)


def adsr_curve(t_s: np.ndarray, attack_s: float, decay_s: float, sustain: float, release_s: float, duree_s: float) -> np.ndarray:
    """Pyo ``Adsr`` with ``dur=duree_s``: linear attack to 1, decay to ``sustain``, release ending at ``duree_s``.

    Stages that do not fit in the note are scaled as the voice plays them
    (:func:`synth.voices.envelope_times`).

    Parameters
    ----------
    t_s : ndarray, shape (n,)
        Times in seconds.

    Returns
    -------
    ndarray, shape (n,)
        Envelope amplitude in [0, 1].
    """
    attack_s, decay_s, release_s = envelope_times(attack_s, decay_s, release_s, duree_s)
    t = np.asarray(t_s, dtype=float)
    rel_start = max(duree_s - release_s, 0.0)
    env = np.where(
        t < attack_s,
        t / max(attack_s, 1e-9),
        np.where(t < attack_s + decay_s, 1.0 - (1.0 - sustain) * (t - attack_s) / max(decay_s, 1e-9), sustain),
    )
    level_at_release = np.interp(rel_start, t, env) if len(t) else sustain
    release = level_at_release * (1.0 - (t - rel_start) / max(release_s, 1e-9))
    env = np.where(t >= rel_start, np.maximum(release, 0.0), env)
    return np.where(t >= duree_s, 0.0, env)


def rms_envelope(y: np.ndarray, sr: int, window_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Centred moving RMS sampled every :data:`ENVELOPE_STEP_S`.

    Returns
    -------
    t_s : ndarray, shape (m,)
        Times in seconds.
    rms : ndarray, shape (m,)
        RMS amplitude.
    """
    w = max(1, int(round(window_s * sr)))
    power = fftconvolve(np.asarray(y, dtype=float) ** 2, np.full(w, 1.0 / w), mode="same")
    step = max(1, int(round(ENVELOPE_STEP_S * sr)))
    idx = np.arange(0, len(y), step)
    return idx / sr, np.sqrt(np.maximum(power[idx], 0.0))


def fit_adsr(y: np.ndarray, sr: int, duree_s: float, f0_hz: float | None = None) -> AdsrFit:
    """Least-squares ADSR fit to the target's RMS envelope.

    Parameters
    ----------
    y : ndarray, shape (n,)
        Target audio.
    sr : int
        Sample rate in Hz.
    duree_s : float
        Note duration (the envelope ends there).
    f0_hz : float, optional
        Pitch; the RMS window spans at least two periods so it does not ripple.

    Returns
    -------
    AdsrFit
    """
    window_s = max(0.004, 2.0 / f0_hz if f0_hz else 0.02)
    t, rms = rms_envelope(y, sr, window_s)
    w = max(1, int(round(window_s / ENVELOPE_STEP_S)))
    kernel = np.full(w, 1.0 / w)
    scale = float(rms.max()) or 1.0
    target = rms / scale

    def model(x: np.ndarray) -> np.ndarray:
        a, d, s, r = np.exp(x[0]), np.exp(x[1]), x[2], np.exp(x[3])
        env2 = adsr_curve(t, a, d, s, r, duree_s) ** 2
        return np.sqrt(np.maximum(np.convolve(env2, kernel, mode="same"), 0.0))

    def residual(x: np.ndarray) -> np.ndarray:
        m = model(x)
        g = float(m @ target) / max(float(m @ m), 1e-12)
        return g * m - target

    lo = np.array([np.log(0.001), np.log(0.005), 0.0, np.log(0.005)])
    hi = np.array([np.log(max(duree_s, 0.01)), np.log(max(duree_s, 0.02)), 1.0, np.log(max(duree_s, 0.02))])
    best = None
    for a0, d0, s0, r0 in ((0.01, 0.1, 0.6, 0.1), (0.1, 0.3, 0.3, 0.3), (0.003, 0.03, 0.9, 0.03)):
        x0 = np.clip(np.array([np.log(a0), np.log(d0), s0, np.log(r0)]), lo + 1e-6, hi - 1e-6)
        sol = least_squares(residual, x0, bounds=(lo, hi), diff_step=1e-3, max_nfev=200)
        if best is None or sol.cost < best.cost:
            best = sol
    m = model(best.x)
    g = float(m @ target) / max(float(m @ m), 1e-12)
    rms_error = float(np.sqrt(np.mean((g * m - target) ** 2)))
    return AdsrFit(float(np.exp(best.x[0])), float(np.exp(best.x[1])), float(best.x[2]), float(np.exp(best.x[3])), g * scale, rms_error)


def correct_adsr(target_fit: AdsrFit, render_fit: AdsrFit, rendered: dict[str, float]) -> dict[str, float]:
    """Remove the fit's own bias, measured on a render whose envelope is known.

    :func:`fit_adsr` is biased by what its model leaves out (the filter's
    transient, the RMS window on a low note).  Fitting a render of a nearby
    patch (``rendered``, fitted as ``render_fit``) measures that bias for this
    sound; it is removed from the target's fit: times are scaled by
    ``rendered / render_fit`` and the sustain shifted by ``rendered - render_fit``.

    Parameters
    ----------
    target_fit : AdsrFit
        Fit of the target.
    render_fit : AdsrFit
        Fit of the render of ``rendered``.
    rendered : dict
        The rendered patch's ``env_attack``, ``env_decay``, ``env_sustain``, ``env_release``.

    Returns
    -------
    dict
        Corrected ``env_*`` values (times in seconds, sustain in [0, 1]).
    """
    out = {}
    for name, fitted, refit in (("env_attack", target_fit.attack_s, render_fit.attack_s),
                                ("env_decay", target_fit.decay_s, render_fit.decay_s),
                                ("env_release", target_fit.release_s, render_fit.release_s)):
        out[name] = float(fitted * float(rendered[name]) / max(refit, 1e-6))
    out["env_sustain"] = float(np.clip(target_fit.sustain + float(rendered["env_sustain"]) - render_fit.sustain, 0.0, 1.0))
    return out
