"""Strategies: how a match is run, selected by name like an optimiser.

A plain optimiser name (``cma``, ``ga``, ...) runs :func:`matcher.search.run_match`
with that optimiser.  Other strategies (e.g. ``hybrid``: predictor seeds, then
search) are registered in :data:`STRATEGIES` as ``"module:function"`` paths,
imported on first use; each takes the arguments of :func:`run_strategy` and
returns a :class:`matcher.search.MatchResult`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

if TYPE_CHECKING:  # the search stack is heavy to import; the CLI reads this module at start-up
    from matcher.search import Evaluation, MatchConfig, MatchResult
    from objectives.pitch import PitchEstimate

__all__ = ["STRATEGIES", "DEFAULT_STRATEGY", "AUTO_VOICE", "run_strategy"]

AUTO_VOICE = "auto"
"""The voice name that races every voice (:mod:`matcher.voice_race`)."""

DEFAULT_STRATEGY = "hybrid"
"""What ``matcher match`` runs without ``--optimizer``: predictor seeds, then CMA-ES.

Measured on 30 unseen in-domain targets (docs/learning.md): median distance
0.74 vs 3.5 for plain ``cma`` at 300 evaluations, 0.066 vs 0.48 at 1000."""

STRATEGIES: dict[str, str] = {
    "hybrid": "matcher.hybrid:run_hybrid",
    "predict": "matcher.hybrid:run_predict",
}
"""Strategy name -> ``"module:function"`` implementing it."""


def run_strategy(
    target_audio: np.ndarray,
    config: MatchConfig,
    callback: Callable[[Sequence[Evaluation]], None] | None = None,
    pitch: PitchEstimate | None = None,
) -> MatchResult:
    """Run the strategy named by ``config.optimizer`` (a plain optimiser runs :func:`run_match`).

    With ``config.voice == "auto"`` the voices race (:mod:`matcher.voice_race`),
    the base voice running this strategy; ``result.voice`` names the winner.
    """
    if config.voice == AUTO_VOICE:
        from matcher.voice_race import run_voice_race  # noqa: PLC0415

        return run_voice_race(target_audio, config, callback=callback, pitch=pitch)
    target = STRATEGIES.get(config.optimizer)
    if target is None:
        from matcher.search import run_match  # noqa: PLC0415

        return run_match(target_audio, config, callback=callback, pitch=pitch)
    module, func = target.split(":")
    fn = getattr(importlib.import_module(module), func)
    return fn(target_audio, config, callback=callback, pitch=pitch)
