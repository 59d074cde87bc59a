"""What every voice is made of: the :class:`Voice` record and the amp-envelope timing rule."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from synth.params import ParamSpace

__all__ = ["Voice", "envelope_times"]


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
    """

    name: str
    space: ParamSpace
    build: Callable[[Any, Mapping[str, float | str], Any], Any]
    doc: str = ""
    gain_param: str | None = None
    predictor_model: str | None = None


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
