"""What the predictor of a voice outputs: its classes and its regression targets, read from the voice's space.

A voice's predictor has two heads (:mod:`matcher.predictor`):

* a classifier over the joint combinations of the voice's *choice*
  parameters, in space order, the first choice varying slowest
  (``subtractive``: ``osc_type`` × ``filter_type`` = 12; ``analog``: 4 × 4 =
  16; ``fm`` has no choice: one combination, and no classifier is trained);
* a regressor of its continuous parameters (all but ``duree``) in unit-cube
  coordinates, plus the audible ratios the voice has the parts for:
  ``noise_ratio`` (``noise_vol`` / ``osc_vol``) when it has both levels,
  ``cutoff_ratio`` (``filter_cutoff`` / f0, in octaves) when it has a filter.

Nothing here names a voice: the layout follows from the parameter names,
which keep DESIGN §4's meaning in every voice.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

from synth.voices import get_voice

__all__ = ["PredictorLayout", "layout_for", "CUTOFF_RATIO_OCT", "NOISE_RATIO_MAX", "MOTION_PARAMS", "SPREAD_EXCLUDED"]

CUTOFF_RATIO_OCT = (-1.0, 5.0)
"""log2(cutoff / f0) range mapped to [0, 1] for the ``cutoff_ratio`` target."""

NOISE_RATIO_MAX = 0.5
"""noise_vol / osc_vol range [0, NOISE_RATIO_MAX] mapped to [0, 1] (the sampler's cap)."""

MOTION_PARAMS: tuple[str, ...] = ("pitch_env_st", "vib_depth_cents", "fenv_amount_oct", "osc2_mix", "fm_index_env_amount")
"""Amounts of the parts that make a note move; a voice with any of them gets the motion features."""

SPREAD_EXCLUDED: tuple[str, ...] = ("osc_freq", "osc_vol", "master_vol")
"""Left out of a predicted patch's spread: the f0 stage sets the pitch, and the two levels multiply (not identifiable)."""


@dataclass(frozen=True)
class PredictorLayout:
    """The outputs of one voice's predictor.

    Attributes
    ----------
    voice : str
    choice_names : tuple of str
        The voice's choice parameters, in space order.
    combos : tuple of tuple of str
        Every joint combination of their values (the classifier's classes); ``((),)`` without choices.
    continuous : tuple of str
        Continuous parameters regressed in unit-cube coordinates (all but ``duree``).
    derived : tuple of str
        Audible ratios regressed as well (``noise_ratio``, ``cutoff_ratio``), in [0, 1].
    moves : bool
        Whether the voice has a part that moves (:data:`MOTION_PARAMS`).
    """

    voice: str
    choice_names: tuple[str, ...]
    combos: tuple[tuple[str, ...], ...]
    continuous: tuple[str, ...]
    derived: tuple[str, ...]
    moves: bool

    @property
    def reg_targets(self) -> tuple[str, ...]:
        """Regression outputs: the continuous parameters, then the derived ratios."""
        return self.continuous + self.derived

    @property
    def spread_params(self) -> tuple[str, ...]:
        """Continuous parameters a predicted patch's spread covers (all but :data:`SPREAD_EXCLUDED`)."""
        return tuple(n for n in self.continuous if n not in SPREAD_EXCLUDED)

    def choices_of(self, combo: tuple[str, ...]) -> dict[str, str]:
        """The combination as ``{choice name: value}``."""
        return dict(zip(self.choice_names, combo))


@functools.lru_cache(maxsize=None)
def layout_for(voice: str) -> PredictorLayout:
    """The predictor layout of a registered voice (see the module)."""
    space = get_voice(voice).space
    choices = tuple(p for p in space.params if p.is_choice)
    names = set(space.names)
    derived = tuple(d for d, needs in (("noise_ratio", ("noise_vol", "osc_vol")), ("cutoff_ratio", ("filter_cutoff", "osc_freq"))) if names.issuperset(needs))
    return PredictorLayout(
        voice=voice,
        choice_names=tuple(p.name for p in choices),
        combos=tuple(itertools.product(*(p.choices for p in choices))),
        continuous=tuple(p.name for p in space.params if not p.is_choice and p.name != "duree"),
        derived=derived,
        moves=bool(names.intersection(MOTION_PARAMS)),
    )
