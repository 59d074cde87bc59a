"""The ``analog`` voice: two oscillators, noise, a 12 dB or 24 dB filter with its own envelope, drive.

Graph (one note)::

    pitch env + vibrato ─► f(t) ─┬─► osc 1 (osc_type, osc_pw)            ─┐ (1 - osc2_mix)·osc_vol
                                 └─► × 2^(coarse/12 + cents/1200) ─► osc 2 ─┤ osc2_mix·osc_vol
                                     seeded noise table ────────────────────┤ noise_vol
                                                                            ▼
       filter_cutoff · 2^(fenv_amount_oct · fenv(t)) ─► biquad LP/HP/BP (12 dB) or ButLP + biquad LP (24 dB), Q = filter_res
                                                                            ▼
                                                  drive: tanh(g x) / tanh(g), g = 8·drive, a lookup table (0: bypassed)
                                                                            ▼
                                                         × amp ADSR (env_*) × master_vol

Osc 2 plays the same waveform as osc 1 (see ``docs/voices.md``: a second
waveform choice would make 64 search arms instead of 16).  Parts that are
off (mix 0 or 1, noise 0, no envelope amount, no vibrato, drive 0) are not
built, so they cost nothing and are exactly bypassed.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

from synth.params import Param, ParamSpace
from synth.voices.base import AMP_ENVELOPE_PARAMS, PITCH_MOTION_NEUTRAL, PITCH_MOTION_PARAMS, Voice, pitch_motion_seeds
from synth.voices.controls import clamp_cutoff, control_times, cutoff_track
from synth.voices.parts import amp_envelope, control_signal, keep_alive, noise_source, oscillator, pitch_signal, silence
from synth.voices.subtractive import OSC_TYPES

__all__ = ["ANALOG", "VOICE", "ANALOG_FILTER_TYPES", "ANALOG_NEUTRAL", "DRIVE_MAX_GAIN", "drive_curve", "tanh_table", "coarse_semitones", "osc2_ratio", "detuned_pair", "played_f0_hz", "analog_motion_seeds"]

ANALOG_FILTER_TYPES: tuple[str, ...] = ("lowpass", "highpass", "bandpass", "lowpass24")
"""12 dB biquads (Pyo ``Biquad`` types 0-2) and a 24 dB lowpass.

``lowpass24`` is a 12 dB Butterworth stage (Pyo ``ButLP``) followed by the
resonant biquad lowpass (Q = ``filter_res``): at Q 0.707 it is a 4th-order
Linkwitz-Riley lowpass (-6 dB at the cutoff), above it resonates like the
12 dB lowpass.  It stands in for a ladder: Pyo's ``MoogLP`` was measured to
blow up to inf (then NaN) with a saw plus noise of peak 4 at any cutoff, and
with a peak of 2 above about 0.3 sr, which random patches reach.  Under a
filter envelope its cutoff moves in steps of one control point (0.73 ms), so
that ``ButLP`` (which recomputes its coefficients only when the cutoff
changes) stays cheap.
"""

DRIVE_MAX_GAIN = 8.0
"""Gain ``g`` of the waveshaper ``tanh(g x) / tanh(g)`` at ``drive = 1`` (``g = DRIVE_MAX_GAIN * drive``)."""

DRIVE_INPUT_RANGE = 4.0
"""Filter outputs in ``[-4, 4]`` are shaped; beyond, the input of the shaper is clipped at 4 in magnitude."""

DRIVE_TABLE_SIZE = 4096
"""Points of the ``tanh`` table (linear interpolation between them: error about 2e-5)."""


def _build_analog(pyo: Any, patch: Mapping[str, float | str], ctx: Any) -> Any:
    """Two oscillators + noise -> 12 or 24 dB filter with filter envelope -> drive -> ADSR -> master volume."""
    sr = ctx.sr
    keep: list = []
    drive_gain = DRIVE_MAX_GAIN * float(patch["drive"])  # g; 0 bypasses the shaper
    env = amp_envelope(pyo, patch, float(patch["master_vol"]) / (math.tanh(drive_gain) if drive_gain > 0.0 else 1.0), keep)
    osc_type = str(patch["osc_type"])
    osc_vol = float(patch["osc_vol"])
    osc2_mix = float(patch["osc2_mix"])
    pulse_width = float(patch["osc_pw"])
    freq, band_hz, _ = pitch_signal(pyo, ctx, patch, keep)

    source: Any = 0.0
    if osc_vol * (1.0 - osc2_mix) != 0.0:
        source = oscillator(pyo, ctx, osc_type, freq, band_hz, pulse_width, osc_vol * (1.0 - osc2_mix), source, keep)
    if osc_vol * osc2_mix != 0.0:
        ratio2 = osc2_ratio(float(patch["osc2_coarse_st"]), float(patch["osc2_detune_cents"]))
        freq2 = freq * ratio2
        if not isinstance(freq2, float):
            keep.append(freq2)
        source = oscillator(pyo, ctx, osc_type, freq2, band_hz * ratio2, pulse_width, osc_vol * osc2_mix, source, keep)
    source = silence(pyo, noise_source(pyo, ctx, float(patch["noise_vol"]), source, keep), keep)

    if float(patch["fenv_amount_oct"]) != 0.0:
        curve = cutoff_track(
            control_times(float(patch["duree"]), sr),
            sr,
            float(patch["filter_cutoff"]),
            float(patch["fenv_amount_oct"]),
            float(patch["fenv_attack_s"]),
            float(patch["fenv_decay_s"]),
            float(patch["fenv_sustain"]),
        )
        cutoff = control_signal(pyo, ctx, "cutoff", curve, keep, interp=1 if patch["filter_type"] == "lowpass24" else 2)
    else:
        cutoff = clamp_cutoff(float(patch["filter_cutoff"]), sr)

    filter_mul = drive_gain / (DRIVE_MAX_GAIN * DRIVE_INPUT_RANGE) if drive_gain > 0.0 else env
    filter_type = str(patch["filter_type"])
    q = float(patch["filter_res"])
    if filter_type == "lowpass24":
        first = pyo.ButLP(source, freq=cutoff)
        out = pyo.Biquad(first, freq=cutoff, q=q, type=0, mul=filter_mul)
        keep.extend((first, out))
    else:
        out = pyo.Biquad(source, freq=cutoff, q=q, type=ANALOG_FILTER_TYPES.index(filter_type), mul=filter_mul)
        keep.append(out)
    if drive_gain > 0.0:
        # tanh(g x) / tanh(g): the filter feeds g x / (g_max x_max) to a fixed
        # tanh table over [-g_max x_max, g_max x_max]; the 1 / tanh(g) goes to the amp envelope.
        out = pyo.Lookup(tanh_table(ctx), index=out, mul=env)
        keep.append(out)
    return keep_alive(out, keep)


def tanh_table(ctx: Any) -> Any:
    """The context's ``tanh`` waveshaper table (written on first use): see :func:`drive_curve`."""
    table = ctx.control_table("tanh", DRIVE_TABLE_SIZE)
    buffer = np.asarray(table.getBuffer())
    if buffer[-1] == 0.0:  # a fresh table is all zeros; tanh is 1 at its end
        buffer[:] = drive_curve(DRIVE_TABLE_SIZE)
    return table


def drive_curve(size: int) -> np.ndarray:
    """The ``tanh`` table a Pyo ``Lookup`` reads: ``tanh(g_max x_max v)`` for its index ``v`` in [-1, 1].

    ``Lookup`` maps ``v`` to the position ``(0.495 v + 0.5) size``.  With
    ``v = g x / (g_max x_max)`` (``g_max = DRIVE_MAX_GAIN``,
    ``x_max = DRIVE_INPUT_RANGE``) it returns ``tanh(g x)``; the voice divides
    by ``tanh(g)`` in the amp envelope, so that ±1 stays ±1 and the shaper
    tends to the identity as ``drive`` tends to 0 (where the voice bypasses it).

    Returns
    -------
    ndarray, shape (size,), float32
    """
    v = (np.arange(size, dtype=np.float64) / size - 0.5) / 0.495
    return np.tanh(v * (DRIVE_MAX_GAIN * DRIVE_INPUT_RANGE)).astype(np.float32)


def coarse_semitones(osc2_coarse_st: float) -> int:
    """The interval oscillator 2 plays: ``osc2_coarse_st`` rounded to whole semitones (halves up)."""
    return math.floor(osc2_coarse_st + 0.5)


def osc2_ratio(osc2_coarse_st: float, osc2_detune_cents: float) -> float:
    """Frequency of oscillator 2 over oscillator 1: the coarse interval rounded to whole semitones, plus the detune."""
    return 2.0 ** (coarse_semitones(osc2_coarse_st) / 12.0 + osc2_detune_cents / 1200.0)


ANALOG_NEUTRAL: dict[str, float] = {
    "osc_pw": 0.5, "osc2_coarse_st": 0.0, "osc2_detune_cents": 0.0, "osc2_mix": 0.0,
    "fenv_amount_oct": 0.0, "fenv_attack_s": 0.002, "fenv_decay_s": 0.15, "fenv_sustain": 0.0,
    **PITCH_MOTION_NEUTRAL, "drive": 0.0,
}
"""The analog voice with every extra part off: it then plays a subtractive patch sample for sample."""


def detuned_pair(cents: float, centre_hz: float | None = None) -> dict[str, float]:
    """A second oscillator at the first one's level, ``cents`` above it (a partial patch).

    With ``centre_hz`` the pair is centred on it, where it sounds: the first
    oscillator (``osc_freq``) goes half the detune below.
    """
    pair = {"osc2_mix": 0.5, "osc2_coarse_st": 0.0, "osc2_detune_cents": float(cents)}
    if centre_hz:
        pair["osc_freq"] = float(centre_hz) * 2.0 ** (-float(cents) / 2400.0)
    return pair


def played_f0_hz(patch: Mapping[str, float | str]) -> float:
    """Where the note's pitch sounds: a pair detuned by less than a semitone sounds between its oscillators.

    ``osc_freq`` moved towards oscillator 2 by its share of the mix (on a log
    scale): at ``osc2_mix`` 0.5 the centre of the pair (the inverse of
    :func:`detuned_pair` with a centre), at 0 oscillator 1.  A second
    oscillator a semitone or more away is another note: the pitch is oscillator 1's.
    """
    f0_hz = float(patch["osc_freq"])
    if coarse_semitones(float(patch.get("osc2_coarse_st", 0.0))) != 0:
        return f0_hz
    mix = min(max(float(patch.get("osc2_mix", 0.0)), 0.0), 1.0)
    return f0_hz * 2.0 ** (mix * float(patch.get("osc2_detune_cents", 0.0)) / 1200.0)


def analog_motion_seeds(patch: Mapping[str, float | str]) -> list[dict[str, float | str]]:
    """Movements of a static patch this voice can play (see :attr:`synth.voices.base.Voice.motion_seeds`).

    A closing filter (2 or 4 octaves above a resting cutoff one octave below the
    static one or 1.5 × f0, falling with a time constant of 60 or 200 ms; through
    the 24 dB lowpass too when the patch is a lowpass), a detuned second
    oscillator (8 or 20 cents, the pair centred on the patch's pitch), a
    narrower pulse for a square, and the shared pitch drops and vibrato.
    """
    resting_hz = {float(patch.get("filter_cutoff", 1000.0)) / 2.0}
    if "osc_freq" in patch:
        resting_hz.add(1.5 * float(patch["osc_freq"]))  # plucked strings and basses close onto their first harmonics
    plucks = [
        {"fenv_amount_oct": amount, "fenv_decay_s": decay_s, "fenv_attack_s": 0.002, "fenv_sustain": 0.0, "filter_cutoff": cutoff_hz}
        for cutoff_hz in sorted(resting_hz) for amount in (2.0, 4.0) for decay_s in (0.06, 0.2)
    ]
    if patch.get("filter_type") == "lowpass":
        plucks += [{**v, "filter_type": "lowpass24"} for v in plucks]
    centre_hz = float(patch["osc_freq"]) if "osc_freq" in patch else None  # measured by the f0 stage
    detunes = [detuned_pair(cents, centre_hz) for cents in (8.0, 20.0)]
    pulses = [{"osc_pw": 0.25}] if patch.get("osc_type") == "square" else []
    return [*plucks, *detunes, *pulses, *pitch_motion_seeds(patch)]


ANALOG = Voice(
    name="analog",
    space=ParamSpace(
        (
            Param("duree", "s", 0.05, 8.0, "log", doc="note duration (ADSR total length)"),
            Param("osc_freq", "Hz", 40.0, 2000.0, "log", doc="oscillator 1 frequency (the note's f0)"),
            Param("osc_type", choices=OSC_TYPES, doc="waveform of both oscillators"),
            Param("osc_pw", "cycle", 0.05, 0.5, "lin", doc="pulse width of the square (0.5: square)"),
            Param("osc_vol", "", 0.0, 1.0, doc="level of the two oscillators together"),
            Param("osc2_coarse_st", "st", -24.0, 24.0, "lin", doc="oscillator 2 interval, rounded to whole semitones"),
            Param("osc2_detune_cents", "cents", -50.0, 50.0, "lin", doc="oscillator 2 fine detune"),
            Param("osc2_mix", "", 0.0, 1.0, doc="crossfade osc 1 -> osc 2 (0: osc 1 only, 0.5: equal, 1: osc 2 only)"),
            Param("noise_vol", "", 0.0, 1.0, doc="white noise level"),
            Param("filter_type", choices=ANALOG_FILTER_TYPES, doc="12 dB biquad (LP/HP/BP) or 24 dB lowpass (Butterworth + resonant biquad)"),
            Param("filter_cutoff", "Hz", 40.0, 16000.0, "log", doc="filter cutoff / centre frequency before the filter envelope"),
            Param("filter_res", "Q", 0.5, 12.0, "log", doc="filter resonance (quality factor; lowpass24: of its resonant stage)"),
            Param("fenv_amount_oct", "oct", 0.0, 8.0, "lin", doc="octaves the cutoff rises at the filter envelope's peak"),
            Param("fenv_attack_s", "s", 0.001, 1.0, "log", doc="filter envelope linear rise time"),
            Param("fenv_decay_s", "s", 0.005, 4.0, "log", doc="filter envelope fall time constant (63 % to sustain)"),
            Param("fenv_sustain", "", 0.0, 1.0, doc="filter envelope sustain level"),
            *AMP_ENVELOPE_PARAMS,
            *PITCH_MOTION_PARAMS,
            Param("drive", "", 0.0, 1.0, "lin", doc="soft saturation after the filter (0: off)"),
            Param("master_vol", "", 0.0, 1.0, doc="output level"),
        )
    ),
    build=_build_analog,
    doc="2 oscillators (sine/saw/pulse/triangle, detune) + noise -> biquad LP/HP/BP or 24 dB LP with filter env -> drive -> ADSR; pitch env, vibrato",
    gain_param="master_vol",
    predictor_model="analog",
    neutral=ANALOG_NEUTRAL,
    motion_seeds=analog_motion_seeds,
    motion_spreads={"osc2_coarse_st": 0.05},  # the detune seeds set the interval; the fine detune moves
    filter_families={"lowpass24": "lowpass"},
    played_f0=played_f0_hz,
)

VOICE = ANALOG
"""The voice this module registers (see :mod:`synth.voices`)."""
