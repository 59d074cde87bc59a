"""Valid random patches of every voice, by name: what ``matcher dataset --voice NAME`` draws.

Each voice has one or more named distributions (:class:`VoiceSampler`), its
first one the default:

- ``subtractive``: ``v2`` (default) and ``v1``, the :class:`synth.sampling.SamplerSpec`
  distributions, drawn exactly as :func:`synth.sampling.sample_valid_patch` draws them.
- ``analog`` ``v1``: :func:`draw_analog`, the subtractive ``v2`` note (broad
  pitch, balanced waveform and filter, cutoff inside a window around f0, noise
  on half the notes) with the analog voice's parts on top; half the notes move.
- ``fm`` ``v1``: :func:`draw_fm`, a carrier and a modulator at a harmonic or
  inharmonic ratio with an index, feedback and noise; half the notes move.

A *moving* note has at least one of the voice's movement parts on (each
part with probability 1/2, one drawn at random when none was): for
``analog`` the filter envelope, the pitch envelope, vibrato and a detuned
second oscillator; for ``fm`` the index envelope, the pitch envelope and
vibrato.  A still note has every movement amount exactly 0, so those parts
are bypassed (not built).  Parameters of a part that is off (its times, its
rate) are set to :data:`STILL_VALUES`, so a regressor is not asked to guess
a value that cannot be heard.

Every sampler's rules reject a draw whose envelope does not fit the note,
whose noise masks the oscillator or whose cutoff is out of range, and a
render that is silent or clips (:func:`synth.sampling.audio_problems`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np

from synth.sampling import SAMPLERS, _draw_resonance_envelope_level, _log_uniform, draw_patch, draw_until_valid, rule_problems
from synth.voices import OSC_TYPES, get_voice

__all__ = [
    "VoiceSampler", "VOICE_SAMPLERS", "get_voice_sampler", "sample_voice_patch", "draw_analog", "draw_fm",
    "STILL_VALUES", "ANALOG_FILTER_WINDOWS", "MOVING_PROBABILITY", "is_moving",
]

Patch = dict[str, float | str]

MOVING_PROBABILITY = 0.5
"""Fraction of the notes of the analog and fm samplers that move."""

STILL_VALUES: Mapping[str, float] = {
    "osc_pw": 0.5, "osc2_coarse_st": 0.0, "osc2_detune_cents": 0.0, "osc2_mix": 0.0,
    "fenv_amount_oct": 0.0, "fenv_attack_s": 0.01, "fenv_decay_s": 0.3, "fenv_sustain": 0.0,
    "pitch_env_st": 0.0, "pitch_env_decay_s": 0.05,
    "vib_rate_hz": 5.0, "vib_depth_cents": 0.0, "vib_delay_s": 0.0,
    "drive": 0.0, "fm_index_env_amount": 0.0, "fm_index_decay_s": 0.3, "fm_feedback": 0.0,
}
"""Values of the parameters of a part that is off (amounts exactly 0: the part is not built)."""

ANALOG_FILTER_WINDOWS: Mapping[str, tuple[float, float]] = {
    **SAMPLERS["v2"].filter_windows, "lowpass24": SAMPLERS["v2"].filter_windows["lowpass"],
}
"""Cutoff / f0 window per analog filter type (the subtractive ``v2`` windows; the 24 dB lowpass as the 12 dB one)."""

OSC2_INTERVALS_ST = (0, 0, 0, 0, 12, -12, 7, -5, 24)
"""Coarse intervals of a detuned second oscillator (unison most often, octaves and fifths)."""

FM_HARMONIC_RATIOS = (0.5, 1.0, 1.0, 2.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0)
"""Carrier:modulator ratios of a harmonic FM note (1 and 2 most often)."""

FM_HARMONIC_PROBABILITY = 0.7
"""Fraction of FM notes with a harmonic ratio; the others are log-uniform in 0.5-8 (bells, metal)."""


@dataclass(frozen=True)
class VoiceSampler:
    """One named distribution of valid patches of one voice.

    Attributes
    ----------
    voice : str
        The voice the patches belong to.
    name : str
        Name within the voice (``"v1"``, ``"v2"``), stored with datasets.
    draw : callable
        ``draw(rng, duree_s) -> patch``: one broad draw (may break the rules).
    rules : callable
        ``rules(patch, sr) -> list of str``: why a draw is not valid (render-free); empty if valid.
    doc : str
        One line on the distribution.
    """

    voice: str
    name: str
    draw: Callable[[np.random.Generator, float], Patch]
    rules: Callable[[Mapping[str, float | str], int], list[str]]
    doc: str = ""


def _sign(rng: np.random.Generator) -> float:
    return 1.0 if rng.random() < 0.5 else -1.0


def _moving_parts(rng: np.random.Generator, parts: tuple[str, ...]) -> set[str]:
    """The movement parts that are on: none for a still note (probability 1/2), else each with probability 1/2, at least one."""
    if rng.random() >= MOVING_PROBABILITY:
        return set()
    on = {p for p in parts if rng.random() < 0.5}
    return on or {parts[int(rng.integers(len(parts)))]}


def _pitch_motion(rng: np.random.Generator, on: set[str]) -> dict[str, float]:
    """Pitch envelope (a drop or a rise of 1-12 semitones gliding back in 10-300 ms) and vibrato (3-8 Hz, 10-60 cents)."""
    out = {k: STILL_VALUES[k] for k in ("pitch_env_st", "pitch_env_decay_s", "vib_rate_hz", "vib_depth_cents", "vib_delay_s")}
    if "pitch_env" in on:
        out["pitch_env_st"] = _sign(rng) * _log_uniform(rng, 1.0, 12.0)
        out["pitch_env_decay_s"] = _log_uniform(rng, 0.01, 0.3)
    if "vibrato" in on:
        out["vib_rate_hz"] = _log_uniform(rng, 3.0, 8.0)
        out["vib_depth_cents"] = float(rng.uniform(10.0, 60.0))
        out["vib_delay_s"] = float(rng.uniform(0.0, 0.3))
    return out


def _noise_level(rng: np.random.Generator, noisy: bool, osc_vol: float) -> float:
    """The subtractive ``v2`` noise: 0, or the oscillator level times a log-uniform ratio in 0.01-0.5."""
    lo, hi = SAMPLERS["v2"].noise_ratio_range  # type: ignore[misc]
    return osc_vol * _log_uniform(rng, lo, hi) if noisy else 0.0


ANALOG_PARTS = ("filter_env", "pitch_env", "vibrato", "detune")
"""Movement parts of the analog sampler."""

FM_PARTS = ("index_env", "pitch_env", "vibrato")
"""Movement parts of the fm sampler."""


def draw_analog(rng: np.random.Generator, duree_s: float = 1.0) -> Patch:
    """One broad draw of the ``analog`` voice (may break the rules).

    The static part is the subtractive ``v2`` note: f0 log-uniform 55-1760 Hz,
    balanced waveform and filter type (four types), cutoff log-uniform in the
    filter's window (:data:`ANALOG_FILTER_WINDOWS`) × f0, Q 0.5-8, noise on
    half the notes, levels 0.5-1.  Then: a pulse width 0.1-0.5 on half the
    squares; drive 0.1-0.8 on a quarter of the notes; and the movement parts
    (:data:`ANALOG_PARTS`, see the module): a filter envelope of 1-5 octaves
    (attack 1-50 ms, decay 30 ms-1 s, sustain 0-0.5; the cutoff is then the
    envelope's floor, drawn an octave lower), a pitch envelope, vibrato, and
    a second oscillator mixed 0.2-0.6 at an interval of
    :data:`OSC2_INTERVALS_ST` detuned ±3-30 cents.
    """
    space = get_voice("analog").space
    noisy = rng.random() < 0.5
    f0_hz = _log_uniform(rng, 55.0, 1760.0)
    osc_type = OSC_TYPES[int(rng.integers(len(OSC_TYPES)))]
    osc_vol = float(rng.uniform(0.5, 1.0))
    noise_vol = _noise_level(rng, noisy, osc_vol)
    filter_types = space["filter_type"].choices
    filter_type = filter_types[int(rng.integers(len(filter_types)))]
    on = _moving_parts(rng, ANALOG_PARTS)
    lo, hi = ANALOG_FILTER_WINDOWS[filter_type]
    if "filter_env" in on:
        lo, hi = lo / 2.0, hi / 2.0  # the envelope opens the filter from below its resting window
    cut = space["filter_cutoff"]
    patch: Patch = {
        "duree": float(duree_s), "osc_freq": f0_hz, "osc_type": osc_type, "osc_vol": osc_vol, "noise_vol": float(noise_vol),
        "filter_type": filter_type, "filter_cutoff": _log_uniform(rng, max(cut.low, lo * f0_hz), min(cut.high, hi * f0_hz)),
        **{k: v for k, v in STILL_VALUES.items() if k in space.names},
    }
    if osc_type == "square" and rng.random() < 0.5:
        patch["osc_pw"] = float(rng.uniform(0.1, 0.5))
    if rng.random() < 0.25:
        patch["drive"] = float(rng.uniform(0.1, 0.8))
    if "filter_env" in on:
        patch.update(fenv_amount_oct=float(rng.uniform(1.0, 5.0)), fenv_attack_s=_log_uniform(rng, 0.001, 0.05),
                     fenv_decay_s=_log_uniform(rng, 0.03, 1.0), fenv_sustain=float(rng.uniform(0.0, 0.5)))
    patch.update(_pitch_motion(rng, on))
    if "detune" in on:
        patch.update(osc2_coarse_st=float(OSC2_INTERVALS_ST[int(rng.integers(len(OSC2_INTERVALS_ST)))]),
                     osc2_detune_cents=_sign(rng) * float(rng.uniform(3.0, 30.0)), osc2_mix=float(rng.uniform(0.2, 0.6)))
    patch.update(_draw_resonance_envelope_level(rng, SAMPLERS["v2"]))
    return {n: patch[n] for n in space.names}


def draw_fm(rng: np.random.Generator, duree_s: float = 1.0) -> Patch:
    """One broad draw of the ``fm`` voice (may break the rules).

    f0 log-uniform 55-1760 Hz, carrier level 0.5-1, noise on half the notes
    (as the subtractive ``v2``); ratio harmonic (:data:`FM_HARMONIC_RATIOS`)
    on :data:`FM_HARMONIC_PROBABILITY` of the notes, else log-uniform 0.5-8;
    index uniform 0-5 (0 on a tenth of the notes: a pure sine); feedback
    0-0.9 on a third.  Movement parts (:data:`FM_PARTS`): an index envelope
    adding 1-6 rad at the start with a 20 ms-1 s time constant, a pitch
    envelope, vibrato.
    """
    space = get_voice("fm").space
    noisy = rng.random() < 0.5
    f0_hz = _log_uniform(rng, 55.0, 1760.0)
    osc_vol = float(rng.uniform(0.5, 1.0))
    noise_vol = _noise_level(rng, noisy, osc_vol)
    if rng.random() < FM_HARMONIC_PROBABILITY:
        ratio = FM_HARMONIC_RATIOS[int(rng.integers(len(FM_HARMONIC_RATIOS)))]
    else:
        ratio = _log_uniform(rng, 0.5, 8.0)
    index = 0.0 if rng.random() < 0.1 else float(rng.uniform(0.0, 5.0))
    on = _moving_parts(rng, FM_PARTS)
    patch: Patch = {
        "duree": float(duree_s), "osc_freq": f0_hz, "osc_vol": osc_vol, "noise_vol": float(noise_vol),
        "fm_ratio": float(ratio), "fm_index": index, **{k: v for k, v in STILL_VALUES.items() if k in space.names},
    }
    if rng.random() < 1.0 / 3.0:
        patch["fm_feedback"] = float(rng.uniform(0.0, 0.9))
    if "index_env" in on:
        patch.update(fm_index_env_amount=float(rng.uniform(1.0, 6.0)), fm_index_decay_s=_log_uniform(rng, 0.02, 1.0))
    patch.update(_pitch_motion(rng, on))
    levels = _draw_resonance_envelope_level(rng, SAMPLERS["v2"])
    patch.update({k: v for k, v in levels.items() if k in space.names})
    return {n: patch[n] for n in space.names}


def is_moving(patch: Mapping[str, float | str]) -> bool:
    """Whether a patch has a movement part on (filter, pitch or index envelope, vibrato, a second oscillator)."""
    amounts = ("fenv_amount_oct", "pitch_env_st", "vib_depth_cents", "osc2_mix", "fm_index_env_amount")
    return any(float(patch.get(k, 0.0)) != 0.0 for k in amounts)


def _common_rules(patch: Mapping[str, float | str], sr: int, voice: str) -> list[str]:
    """Rules of the analog and fm samplers: the envelope fits, the noise does not mask the note, the cutoff is in range."""
    space = get_voice(voice).space
    problems = []
    env_s = float(patch["env_attack"]) + float(patch["env_decay"]) + float(patch["env_release"])
    if env_s > 0.9 * float(patch["duree"]):
        problems.append("envelope_longer_than_note")
    if float(patch["noise_vol"]) > SAMPLERS["v2"].max_noise_to_osc * float(patch["osc_vol"]):
        problems.append("noise_masks_note")
    if "filter_cutoff" in patch:
        cutoff_hz = float(patch["filter_cutoff"])
        if cutoff_hz > 0.4 * sr:
            problems.append("cutoff_near_nyquist")
        if not space["filter_cutoff"].low <= cutoff_hz <= space["filter_cutoff"].high:
            problems.append("cutoff_out_of_range")
    return problems


def _subtractive(name: str) -> VoiceSampler:
    spec = SAMPLERS[name]
    return VoiceSampler("subtractive", name, lambda rng, d: draw_patch(rng, d, spec), lambda p, sr: rule_problems(p, sr, spec),
                        "the seed voice's distribution (synth.sampling)")


VOICE_SAMPLERS: dict[str, dict[str, VoiceSampler]] = {
    "subtractive": {"v2": _subtractive("v2"), "v1": _subtractive("v1")},
    "analog": {"v1": VoiceSampler("analog", "v1", draw_analog, lambda p, sr: _common_rules(p, sr, "analog"),
                                  "subtractive v2 notes with the analog parts; half the notes move")},
    "fm": {"v1": VoiceSampler("fm", "v1", draw_fm, lambda p, sr: _common_rules(p, sr, "fm"),
                              "harmonic or inharmonic 2-operator FM; half the notes move")},
}
"""Per voice, its distributions by name, the default first."""


def get_voice_sampler(voice: str, name: str | None = None) -> VoiceSampler:
    """The voice's distribution of that name (its default for ``None``).

    Raises
    ------
    ValueError
        The voice has no sampler, or none of that name (the message lists them).
    """
    samplers = VOICE_SAMPLERS.get(voice)
    if not samplers:
        raise ValueError(f"voice {voice!r} has no patch sampler (voices with one: {', '.join(VOICE_SAMPLERS)})")
    if name is None:
        return next(iter(samplers.values()))
    try:
        return samplers[name]
    except KeyError:
        raise ValueError(f"unknown sampler {name!r} for voice {voice!r} (expected one of {sorted(samplers)})") from None


def sample_voice_patch(
    rng: np.random.Generator,
    render_fn: Callable[[Mapping[str, float | str], int, int], np.ndarray],
    sampler: VoiceSampler,
    sr: int = 22050,
    duree_s: float = 1.0,
    rejections: Counter | None = None,
    max_draws: int = 10_000,
) -> tuple[Patch, np.ndarray]:
    """Draw until a patch passes every rule of ``sampler``; return it with its render.

    The same loop as :func:`synth.sampling.sample_valid_patch` (draw, render-free
    rules, render, audio rules), so a subtractive sampler gives its patches draw for draw.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness (the result is a pure function of its state).
    render_fn : callable
        ``render_fn(patch, sr, n_samples) -> ndarray`` rendering ``sampler.voice``.
    sampler : VoiceSampler
    sr : int
        Sample rate in Hz.
    duree_s : float
        Note duration and render length in seconds.
    rejections : collections.Counter, optional
        Incremented by reason for every rejected draw.
    max_draws : int
        Give up (RuntimeError) after this many draws.

    Returns
    -------
    patch : dict
    audio : ndarray, shape (round(duree_s * sr),), float32
    """
    return draw_until_valid(lambda: sampler.draw(rng, duree_s), lambda patch: sampler.rules(patch, sr), render_fn, sr, duree_s,
                            rejections, max_draws, f"no valid {sampler.voice} patch")
