"""Morph between two patches: the plan of each step, its render and its level.

A morph of ``n_steps`` steps has ``n_steps + 1`` points at ``t = k / n_steps``,
``k = 0 … n_steps``: step 0 is A's render, step ``n_steps`` is B's.

* **Continuous parameters** move in the unit cube of their parameter
  (:meth:`synth.params.Param.encode`), so a log-scaled one (a cutoff, a time)
  moves geometrically.
* **Choices and voices are crossfaded, never switched halfway.** When A and B
  differ in a choice (an oscillator type, a filter type) or in their voice, a
  step renders two patches, the *A side* (A's choices and voice) and the *B
  side* (B's), each with the interpolated continuous parameters, and mixes them
  with weights ``1 - t`` and ``t`` after matching their levels.  When voices
  differ, the continuous parameters both voices have (same name, both
  continuous) interpolate on each side; the others keep their side's value.
* **The level stays steady.** Every inner step is scaled to the RMS
  interpolated geometrically (linearly in dB) between A's and B's, so no step
  is louder or quieter than the line between the ends; each side's factor is
  recorded with the step (``side_gains``).

Nothing here matches a sound: :mod:`matcher.cli_morph` turns a sound into a
patch with :func:`matcher.pipeline.match_target` first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from synth.params import ParamSpace
from synth.voices import get_voice

__all__ = ["MorphEnd", "MorphSide", "MorphStep", "plan_morph", "render_step", "render_morph", "rms", "interpolated_rms", "MAX_STEPS"]

MAX_STEPS = 99
"""Most steps of a morph (file names have two digits: ``step_00`` … ``step_99``)."""


@dataclass(frozen=True)
class MorphEnd:
    """One end of a morph: a voice and a full patch of it.

    Attributes
    ----------
    voice : str
        Registered voice name.
    params : mapping
        Every parameter of the voice (physical values, choices by name).
    source : str
        Where it came from (a patch file, or the sound it was matched to).
    """

    voice: str
    params: Mapping[str, float | str]
    source: str = ""


@dataclass(frozen=True)
class MorphSide:
    """One patch a step renders, and its weight in the step's mix."""

    voice: str
    params: dict[str, float | str]
    weight: float


@dataclass(frozen=True)
class MorphStep:
    """One step: its position ``t`` in [0, 1] and the one or two patches it mixes."""

    index: int
    t: float
    sides: tuple[MorphSide, ...]

    @property
    def crossfaded(self) -> bool:
        """Whether the step mixes two renders (A and B differ in a choice or a voice)."""
        return len(self.sides) > 1


def _side_params(own: MorphEnd, other: MorphEnd, space: ParamSpace, t_own_to_other: float) -> dict[str, float | str]:
    """``own``'s patch with every continuous parameter shared with ``other`` moved a fraction towards it.

    ``t_own_to_other`` is 0 at ``own`` and 1 at ``other``; the move is linear in
    the unit cube of ``own``'s parameter (the other's value is clipped to its range).
    """
    other_space = get_voice(other.voice).space
    other_continuous = {p.name for p in other_space.params if not p.is_choice}
    out: dict[str, float | str] = {}
    for p in space.params:
        value = own.params[p.name]
        if not p.is_choice and p.name in other_continuous and t_own_to_other > 0.0 and other.params[p.name] != value:
            if t_own_to_other >= 1.0:
                value = min(max(float(other.params[p.name]), p.low), p.high)
            else:
                u = (1.0 - t_own_to_other) * p.encode(value) + t_own_to_other * p.encode(other.params[p.name])
                value = float(p.decode(u))
        out[p.name] = value
    return out


def _differ_in_choice(a: MorphEnd, b: MorphEnd) -> bool:
    if a.voice != b.voice:
        return True
    space = get_voice(a.voice).space
    return any(p.is_choice and a.params[p.name] != b.params[p.name] for p in space.params)


def _with_duration(end: MorphEnd, duration_s: float | None) -> MorphEnd:
    """``end`` with its note duration (``duree``, when the voice has one) set to ``duration_s``, clipped to its range."""
    space = get_voice(end.voice).space
    if duration_s is None or "duree" not in space.names:
        return end
    p = space["duree"]
    return MorphEnd(end.voice, {**end.params, "duree": min(max(float(duration_s), p.low), p.high)}, end.source)


def plan_morph(a: MorphEnd, b: MorphEnd, n_steps: int, duration_s: float | None = None) -> list[MorphStep]:
    """The ``n_steps + 1`` steps from A to B.

    Parameters
    ----------
    a, b : MorphEnd
        The ends; their parameters are checked against their voices.
    n_steps : int
        Steps between A and B (at least 1): the morph has ``n_steps + 1`` points.
    duration_s : float, optional
        Note duration of every step in seconds (overrides both ends' ``duree``).

    Returns
    -------
    list of MorphStep
        Step 0 is exactly A (one side), the last exactly B; an inner step has one
        side when A and B share voice and choices, else an A side of weight
        ``1 - t`` and a B side of weight ``t``.

    Raises
    ------
    ValueError
        ``n_steps`` below 1 or above :data:`MAX_STEPS`; a KeyError for an unknown voice.
    """
    if not 1 <= int(n_steps) <= MAX_STEPS:
        raise ValueError(f"steps must be from 1 to {MAX_STEPS}, got {n_steps}")
    n_steps = int(n_steps)
    a, b = _with_duration(a, duration_s), _with_duration(b, duration_s)
    space_a, space_b = get_voice(a.voice).space, get_voice(b.voice).space
    a = MorphEnd(a.voice, space_a.check(a.params), a.source)
    b = MorphEnd(b.voice, space_b.check(b.params), b.source)
    crossfade = _differ_in_choice(a, b)
    steps = []
    for k in range(n_steps + 1):
        t = k / n_steps
        if k == 0:
            sides: tuple[MorphSide, ...] = (MorphSide(a.voice, dict(a.params), 1.0),)
        elif k == n_steps:
            sides = (MorphSide(b.voice, dict(b.params), 1.0),)
        elif not crossfade:
            sides = (MorphSide(a.voice, _side_params(a, b, space_a, t), 1.0),)
        else:
            sides = (MorphSide(a.voice, _side_params(a, b, space_a, t), 1.0 - t), MorphSide(b.voice, _side_params(b, a, space_b, 1.0 - t), t))
        steps.append(MorphStep(k, t, sides))
    return steps


def rms(audio: np.ndarray) -> float:
    """Root mean square of ``audio`` (float64 accumulation)."""
    y = np.asarray(audio, dtype=np.float64)
    return float(math.sqrt(np.mean(y * y))) if y.size else 0.0


def _level_gain(audio: np.ndarray, level_rms: float) -> float:
    """The factor that brings ``audio`` to RMS ``level_rms`` (1.0 for silent audio)."""
    r = rms(audio)
    if not (r > 0.0 and math.isfinite(r)) or not level_rms > 0.0:
        return 1.0
    return float(level_rms / r)


def render_step(step: MorphStep, sr: int, n_samples: int, level_rms: float | None) -> tuple[np.ndarray, list[float]]:
    """Render one step, mixing its sides, at the level ``level_rms``.

    Each side is rendered and scaled to ``level_rms`` (so a quiet waveform is
    not masked by a loud one), the sides are mixed with their weights, and the
    mix is scaled to ``level_rms`` again.

    Parameters
    ----------
    step : MorphStep
    sr : int
        Sample rate in Hz.
    n_samples : int
        Length in samples.
    level_rms : float or None
        RMS of the step; ``None`` keeps the renders' own level (the ends).

    Returns
    -------
    audio : ndarray, shape (n_samples,), float32
    side_gains : list of float
        Per side, the factor its render enters the step with:
        ``audio = sum(gain_i * render(side_i))`` (up to float32 rounding).
    """
    from synth.render import render  # noqa: PLC0415 - Pyo is heavy

    renders = [render(side.params, sr, n_samples, side.voice) for side in step.sides]
    if level_rms is None:
        if len(renders) == 1:
            return renders[0], [1.0]
        gains = [float(s.weight) for s in step.sides]
    else:
        gains = [float(s.weight) * _level_gain(y, level_rms) for s, y in zip(step.sides, renders)]
    mix = np.zeros(n_samples, dtype=np.float32)
    for g, y in zip(gains, renders):
        mix += np.float32(g) * y
    if level_rms is not None:
        g_mix = _level_gain(mix, level_rms)
        mix *= np.float32(g_mix)
        gains = [g * g_mix for g in gains]
    return mix, gains


def render_morph(steps: Sequence[MorphStep], sr: int, n_samples: int) -> tuple[list[np.ndarray], list[list[float]]]:
    """Render every step; inner steps at the RMS interpolated in dB between the ends'.

    Returns
    -------
    audio : list of ndarray, shape (n_samples,), float32
        Step 0 is A's render and the last B's, untouched.
    side_gains : list of list of float
        Per step, see :func:`render_step`.
    """
    first, g_first = render_step(steps[0], sr, n_samples, None)
    last, g_last = render_step(steps[-1], sr, n_samples, None)
    rms_a, rms_b = rms(first), rms(last)
    audio, gains = [first], [g_first]
    for step in steps[1:-1]:
        y, g = render_step(step, sr, n_samples, interpolated_rms(rms_a, rms_b, step.t))
        audio.append(y)
        gains.append(g)
    audio.append(last)
    gains.append(g_last)
    return audio, gains


def interpolated_rms(rms_a: float, rms_b: float, t: float) -> float:
    """RMS at ``t`` on the line in dB between ``rms_a`` (t = 0) and ``rms_b`` (t = 1); linear if an end is silent."""
    if rms_a > 0.0 and rms_b > 0.0:
        return float(rms_a ** (1.0 - t) * rms_b**t)
    return float((1.0 - t) * rms_a + t * rms_b)
