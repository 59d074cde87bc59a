"""The ``subtractive`` voice, the seed project's architecture.

Oscillator (sine, saw, square, triangle) + white noise -> biquad filter
(lowpass, highpass, bandpass) with resonance -> ADSR -> master volume.
Its parameter names and choice codes are DESIGN.md §4's (dataset parity).
"""

from __future__ import annotations

from typing import Any, Mapping

from synth.params import Param, ParamSpace
from synth.voices.base import AMP_ENVELOPE_PARAMS, Voice, envelope_times

__all__ = ["SUBTRACTIVE", "VOICE", "OSC_TYPES", "FILTER_TYPES"]

OSC_TYPES: tuple[str, ...] = ("sine", "saw", "square", "triangle")
"""Oscillator choices, in the seed project's integer-code order."""

FILTER_TYPES: tuple[str, ...] = ("lowpass", "highpass", "bandpass")
"""Filter choices, in the seed project's integer-code order (also Pyo's Biquad ``type``)."""


def _build_subtractive(pyo: Any, patch: Mapping[str, float | str], ctx: Any) -> Any:
    """Oscillator + white noise -> biquad filter -> ADSR -> master volume."""
    sr = ctx.sr
    duree_s = float(patch["duree"])
    attack_s, decay_s, release_s = envelope_times(float(patch["env_attack"]), float(patch["env_decay"]), float(patch["env_release"]), duree_s)
    env = pyo.Adsr(
        attack=attack_s,
        decay=decay_s,
        sustain=float(patch["env_sustain"]),
        release=release_s,
        dur=duree_s,
        mul=float(patch["master_vol"]),
    )
    freq_hz = float(patch["osc_freq"])
    table = ctx.wavetable(str(patch["osc_type"]), freq_hz)
    osc = pyo.Osc(table=table, freq=freq_hz, mul=float(patch["osc_vol"]))
    noise_table = ctx.noise_table()
    noise = pyo.TableRead(noise_table, freq=noise_table.getRate(), loop=1, interp=1, mul=float(patch["noise_vol"]))
    # Biquad is unstable at or above Nyquist: keep the cutoff strictly inside.
    cutoff_hz = min(float(patch["filter_cutoff"]), 0.45 * sr)
    filt = pyo.Biquad(
        osc + noise,
        freq=cutoff_hz,
        q=float(patch["filter_res"]),
        type=FILTER_TYPES.index(str(patch["filter_type"])),
    )
    out = filt * env
    noise.play()
    env.play()
    # Keep every object referenced by the output so none is garbage collected mid-render.
    out._matcher_keep = (env, osc, noise, filt)  # noqa: SLF001 - Pyo objects accept attributes
    return out


SUBTRACTIVE = Voice(
    name="subtractive",
    space=ParamSpace(
        (
            Param("duree", "s", 0.05, 8.0, "log", doc="note duration (ADSR total length)"),
            Param("osc_freq", "Hz", 40.0, 2000.0, "log", doc="oscillator frequency"),
            Param("osc_type", choices=OSC_TYPES, doc="oscillator waveform"),
            Param("osc_vol", "", 0.0, 1.0, doc="oscillator level"),
            Param("noise_vol", "", 0.0, 1.0, doc="white noise level"),
            Param("filter_type", choices=FILTER_TYPES, doc="biquad filter type"),
            Param("filter_cutoff", "Hz", 40.0, 10000.0, "log", doc="filter cutoff / centre frequency"),
            Param("filter_res", "Q", 0.5, 12.0, "log", doc="filter resonance (quality factor)"),
            *AMP_ENVELOPE_PARAMS,
            Param("master_vol", "", 0.0, 1.0, doc="output level"),
        )
    ),
    build=_build_subtractive,
    doc="oscillator (sine/saw/square/triangle) + noise -> biquad (LP/HP/BP) -> ADSR -> master",
    gain_param="master_vol",
    predictor_model="default",
    fit_seeds="biquad",
)

VOICE = SUBTRACTIVE
"""The voice this module registers (see :mod:`synth.voices`)."""
