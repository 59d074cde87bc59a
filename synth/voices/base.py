"""What every voice is made of: the :class:`Voice` record and the amp-envelope timing rule."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from synth.params import Param, ParamSpace

__all__ = ["Voice", "envelope_times", "AMP_ENVELOPE_PARAMS", "PITCH_MOTION_PARAMS", "PITCH_MOTION_NEUTRAL", "pitch_motion_seeds"]

MotionSeeds = Callable[[Mapping[str, float | str]], Sequence[Mapping[str, float | str]]]
"""``seeds(patch) -> variants``: partial patches that add one kind of movement to a static note."""


@dataclass(frozen=True)
class Voice:
    """A synth architecture.

    Parameters
    ----------
    name : str
        Registry name, e.g. ``"subtractive"``.
    space : ParamSpace
        Its parameters with units and ranges.
    build : callable
        ``build(pyo_module, patch, ctx) -> PyoObject`` creates the graph for one
        note and returns its (mono) output.  ``ctx`` is the renderer's
        :class:`synth.render.RenderContext` (wavetables, noise table, sr).
    doc : str
        One-line description.
    gain_param : str or None
        A parameter the output is exactly proportional to (a master volume in
        [0, 1]); the search solves it in closed form instead of searching it.
    predictor_model : str or None
        Stem of the trained predictor shipped for this voice in ``matcher/models/``
        (the ``hybrid`` strategy's seeds and fits); ``None``: the voice has none,
        and ``hybrid`` runs its search from the screening design alone.
    neutral : mapping
        Values of the parameters that switch the voice's extra parts off (no
        second oscillator, no filter envelope, no vibrato, ...).  A patch of
        another voice carried into this one (:func:`matcher.voice_race.carry_patch`)
        takes these for the parameters it does not have; when the other voice's
        parameters are a subset of this one's, the carried patch renders the same
        samples (tested for subtractive -> analog).
    motion_seeds : callable or None
        ``motion_seeds(patch)``: variants of a carried static patch that add the
        movements this voice can play (a closing filter, a pitch drop, vibrato,
        detune, FM at integer ratios), each a partial patch laid over ``patch``.
        The voice race evaluates them as seeds, so the fitness, not a guess,
        decides whether the target moves.
    motion_spreads : mapping
        Initial search spread (natural units: octaves for a log-scaled
        parameter, its unit otherwise) around the value a motion seed sets,
        for parameters whose distance is sharp there, overriding the race's
        ``MOVEMENT_SIGMA``: an FM ratio just off an integer makes the partials
        inharmonic, a coarse tune off a semitone beats.
    filter_families : mapping
        The filter family (``lowpass``, ``highpass``, ``bandpass``) of each
        ``filter_type`` choice whose name is not itself a family, e.g. a 24 dB
        ladder-style ``lowpass24`` is a lowpass: what a label of another
        engine's filter family is scored against.
    played_f0 : callable or None
        ``played_f0(patch) -> Hz``: where a patch's pitch sounds, when that is
        not ``osc_freq`` (the analog voice's detuned pair sounds between its
        oscillators); what an f0 label is scored against.
    fit_seeds : str or None
        Name of the render-free fits that also seed this voice's ``hybrid``
        search, a key of :data:`matcher.seeding.FIT_SEEDERS` (``"biquad"``: the
        subtractive voice's biquad filter, noise and ADSR fits, which model its
        own filter and wavetables); ``None``: its seeds are the predicted
        patches alone, one per choice combination.
    """

    name: str
    space: ParamSpace
    build: Callable[[Any, Mapping[str, float | str], Any], Any]
    doc: str = ""
    gain_param: str | None = None
    predictor_model: str | None = None
    neutral: Mapping[str, float | str] = field(default_factory=dict)
    motion_seeds: MotionSeeds | None = None
    motion_spreads: Mapping[str, float] = field(default_factory=dict)
    fit_seeds: str | None = None
    filter_families: Mapping[str, str] = field(default_factory=dict)
    played_f0: Callable[[Mapping[str, float | str]], float] | None = None

    def f0_hz(self, patch: Mapping[str, float | str]) -> float:
        """The pitch a patch plays, in Hz: ``played_f0(patch)``, or its ``osc_freq``."""
        return float(self.played_f0(patch)) if self.played_f0 is not None else float(patch["osc_freq"])

    def filter_family(self, filter_type: str) -> str:
        """The family of one of this voice's ``filter_type`` choices (see ``filter_families``)."""
        return str(self.filter_families.get(filter_type, filter_type))


def envelope_times(attack_s: float, decay_s: float, release_s: float, duree_s: float) -> tuple[float, float, float]:
    """Attack, decay and release as played in a note of ``duree_s`` seconds.

    Pyo's ``Adsr`` never releases when attack + decay runs past the start of
    the release (``duree - release``): the note would then sustain to the end
    of the buffer.  When the three stages do not fit in the note they are
    scaled down together so that they fill it exactly.
    """
    total = attack_s + decay_s + release_s
    if total <= duree_s:
        return attack_s, decay_s, release_s
    k = duree_s / total * (1.0 - 1e-6)
    return attack_s * k, decay_s * k, release_s * k


AMP_ENVELOPE_PARAMS: tuple[Param, ...] = (
    Param("env_attack", "s", 0.002, 0.5, "log", doc="ADSR attack time"),
    Param("env_decay", "s", 0.01, 0.8, "log", doc="ADSR decay time"),
    Param("env_sustain", "", 0.0, 1.0, doc="ADSR sustain level"),
    Param("env_release", "s", 0.01, 0.8, "log", doc="ADSR release time"),
)
"""The amp ADSR every voice shares (DESIGN §4's names, units and ranges)."""

PITCH_MOTION_PARAMS: tuple[Param, ...] = (
    Param("pitch_env_st", "st", -24.0, 24.0, "lin", doc="pitch at the note's start, relative to osc_freq"),
    Param("pitch_env_decay_s", "s", 0.005, 1.0, "log", doc="pitch envelope glide time constant"),
    Param("vib_rate_hz", "Hz", 0.5, 12.0, "log", doc="vibrato rate"),
    Param("vib_depth_cents", "cents", 0.0, 100.0, "lin", doc="vibrato depth (peak)"),
    Param("vib_delay_s", "s", 0.0, 2.0, "lin", doc="vibrato onset delay (then a fade-in as long)"),
)
"""Pitch envelope and vibrato, shared by the voices that have them."""

PITCH_MOTION_NEUTRAL: dict[str, float] = {"pitch_env_st": 0.0, "pitch_env_decay_s": 0.05, "vib_rate_hz": 5.5, "vib_depth_cents": 0.0, "vib_delay_s": 0.0}
""":data:`PITCH_MOTION_PARAMS` switched off: no pitch envelope, no vibrato."""


def pitch_motion_seeds(patch: Mapping[str, float | str]) -> list[dict[str, float]]:
    """Pitch movements worth trying on a static note: drops onto the note and a delayed vibrato.

    Drops of a fifth, an octave and two octaves (glide time constants of 15-60 ms,
    as plucked basses and toms have), a slight rise, and vibrato of 25 cents at
    5.5 Hz starting after 0 or 0.2 s.
    """
    del patch  # the variants do not depend on the note
    drops = [{"pitch_env_st": st, "pitch_env_decay_s": tau} for st, tau in ((7.0, 0.03), (12.0, 0.04), (24.0, 0.02), (12.0, 0.1), (-2.0, 0.05))]
    vibratos = [{"vib_depth_cents": 25.0, "vib_rate_hz": 5.5, "vib_delay_s": delay} for delay in (0.0, 0.2)]
    return [*drops, *vibratos]
