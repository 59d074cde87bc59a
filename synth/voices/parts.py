"""Pyo building blocks shared by the ``analog`` and ``fm`` voices.

Each function creates playing Pyo objects through the ``pyo`` module object
and the renderer's :class:`synth.render.RenderContext` it is given, and
appends every object it creates to ``keep`` so that the voice can hand them
all to the renderer (which stops them after the render).  No function here
keeps state of its own: tables live in the context.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from synth.voices.base import envelope_times
from synth.voices.controls import band_ratio, control_step, control_times, pitch_ratio

__all__ = ["PITCH_KEYS", "control_signal", "pitch_signal", "oscillator", "noise_source", "amp_envelope", "silence", "keep_alive"]

PITCH_KEYS = ("pitch_env_st", "pitch_env_decay_s", "vib_rate_hz", "vib_depth_cents", "vib_delay_s")
"""Patch keys of the pitch envelope and vibrato (the keyword arguments of :func:`controls.pitch_cents`)."""


def control_signal(pyo: Any, ctx: Any, name: str, values: np.ndarray, keep: list, interp: int = 2) -> Any:
    """Play a control curve given at :func:`controls.control_times`.

    The curve is written into one of the context's scratch tables (its size
    rounded up to a power of two, padded with the last value) and read by a
    Pyo ``Osc`` at one point per :func:`controls.control_step` samples, with
    linear interpolation between points.  (``Osc`` rather than ``TableRead``:
    a ``TableRead`` also runs a trigger stream, one more Pyo object per block.)

    Parameters
    ----------
    name : str
        Which of the context's scratch tables to use (one per curve of a graph).
    values : ndarray, shape (n,)
        The curve at ``controls.control_times(duree_s, sr)``.
    interp : {2, 1}
        Pyo interpolation: 2 linear between points, 1 a step per point.

    Returns
    -------
    pyo.Osc
        The curve at audio rate.
    """
    n = len(values)
    size = 1 << max(4, (n - 1).bit_length())
    table = ctx.control_table(name, size)
    buffer = np.asarray(table.getBuffer())
    buffer[:n] = values
    buffer[n:] = values[-1]
    reader = pyo.Osc(table, freq=ctx.sr / (control_step(ctx.sr) * size), interp=interp)
    keep.append(reader)
    return reader


def pitch_signal(pyo: Any, ctx: Any, patch: Mapping[str, float | str], keep: list) -> tuple[Any, float, np.ndarray | None]:
    """The oscillator frequency of a note with pitch envelope and vibrato.

    Returns
    -------
    freq : float or PyoObject
        ``osc_freq`` in Hz when neither the pitch envelope nor the vibrato is
        on (a constant, exactly as the subtractive voice plays it), else the
        frequency curve ``osc_freq * controls.pitch_ratio(t)``.
    band_hz : float
        The frequency to band-limit the oscillators for
        (``osc_freq * controls.band_ratio``).
    curve_hz : ndarray, shape (n,), or None
        The frequency curve at ``controls.control_times`` (None when constant).
    """
    f0_hz = float(patch["osc_freq"])
    pitch = {k: float(patch[k]) for k in PITCH_KEYS}
    band_hz = f0_hz * band_ratio(pitch["pitch_env_st"], pitch["vib_depth_cents"])
    if pitch["pitch_env_st"] == 0.0 and pitch["vib_depth_cents"] == 0.0:
        return f0_hz, band_hz, None
    curve_hz = pitch_ratio(control_times(float(patch["duree"]), ctx.sr), **pitch)
    curve_hz *= np.float32(f0_hz)
    return control_signal(pyo, ctx, "pitch", curve_hz, keep), band_hz, curve_hz


def oscillator(pyo: Any, ctx: Any, osc_type: str, freq: Any, band_hz: float, pulse_width: float, mul: float, add: Any, keep: list) -> Any:
    """A band-limited oscillator (Pyo ``Osc`` over the renderer's wavetables) plus ``add``.

    ``square`` is a pulse of duty cycle ``pulse_width``, made as the difference
    of two saws ``pulse_width`` of a cycle apart, ``saw(p) - saw(p - pw)``:
    band-limited like the saw, zero mean, peak-to-peak 2, and at
    ``pulse_width = 0.5`` a square of amplitude 1 (the subtractive square's
    partials).  The other types read one table.

    Sources are summed through Pyo's ``add`` argument rather than ``+``: a
    ``+`` is one more Pyo object per block, about as costly as an oscillator.

    Parameters
    ----------
    freq : float or PyoObject
        Frequency in Hz.
    band_hz : float
        Highest fundamental the table must serve without partials above 0.45 sr.
    pulse_width : float
        Fraction of a cycle in (0, 1); only the square uses it.
    mul : float
        Level.
    add : float or PyoObject
        Signal the oscillator is added to (0 for none).

    Returns
    -------
    PyoObject
        ``oscillator * mul + add``.
    """
    if osc_type == "square":
        saw = ctx.wavetable("saw", band_hz)
        first = pyo.Osc(saw, freq=freq, phase=0.0, mul=mul, add=add)
        out = pyo.Osc(saw, freq=freq, phase=1.0 - float(pulse_width), mul=-mul, add=first)
        keep.extend((first, out))
    else:
        out = pyo.Osc(ctx.wavetable(osc_type, band_hz), freq=freq, mul=mul, add=add)
        keep.append(out)
    return out


def noise_source(pyo: Any, ctx: Any, level: float, add: Any, keep: list) -> Any:
    """The renderer's seeded noise table at ``level``, plus ``add`` (``add`` itself when the level is 0)."""
    if level == 0.0:
        return add
    table = ctx.noise_table()
    noise = pyo.TableRead(table, freq=table.getRate(), loop=1, interp=1, mul=float(level), add=add)
    noise.play()
    keep.append(noise)
    return noise


def amp_envelope(pyo: Any, patch: Mapping[str, float | str], gain: float, keep: list) -> Any:
    """The amp ADSR of DESIGN §4 (``env_*``, ``duree``), exactly as the subtractive voice plays it, times ``gain``."""
    duree_s = float(patch["duree"])
    attack_s, decay_s, release_s = envelope_times(float(patch["env_attack"]), float(patch["env_decay"]), float(patch["env_release"]), duree_s)
    env = pyo.Adsr(attack=attack_s, decay=decay_s, sustain=float(patch["env_sustain"]), release=release_s, dur=duree_s, mul=float(gain))
    env.play()
    keep.append(env)
    return env


def silence(pyo: Any, signal: Any, keep: list) -> Any:
    """``signal`` as a Pyo object: a silent ``Sig`` when no source was built (``signal`` is the number 0)."""
    if isinstance(signal, (int, float)):
        signal = pyo.Sig(float(signal))
        keep.append(signal)
    return signal


def keep_alive(out: Any, keep: list) -> Any:
    """Attach every object of the graph to its output, for the renderer to stop after the render."""
    out._matcher_keep = tuple(k for k in keep if k is not out)  # noqa: SLF001 - Pyo objects accept attributes
    return out
