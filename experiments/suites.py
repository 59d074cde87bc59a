"""Target suites for experiments: named lists of target sounds, with the truth where known."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from synth.render import render
from synth.sampling import SamplerSpec, filter_audible, get_sampler, sample_valid_patch

__all__ = ["SuiteTarget", "in_domain_suite"]


@dataclass(frozen=True)
class SuiteTarget:
    """One target of a suite.

    Parameters
    ----------
    name : str
        Unique name within the suite.
    audio : ndarray, shape (n_samples,), float32
        Mono audio at ``sr``.
    sr : int
        Sample rate in Hz.
    true_patch : mapping, optional
        The patch that made the target (in-domain suites only).
    labels : mapping
        Other known facts (e.g. oscillator type, f0) for scoring.
    """

    name: str
    audio: np.ndarray
    sr: int
    true_patch: Mapping[str, float | str] | None = None
    labels: Mapping[str, float | str] = field(default_factory=dict)


def in_domain_suite(
    n: int, seed: int = 0, sr: int = 22050, duration_s: float = 1.0, spec: SamplerSpec | str | None = None
) -> list[SuiteTarget]:
    """``n`` valid random patches of the subtractive voice, rendered (deterministic for a seed).

    Parameters
    ----------
    n : int
        Number of targets.
    seed : int
        Suite seed (one generator for the whole suite).
    sr : int
        Render rate in Hz.
    duration_s : float
        Note length in seconds.
    spec : SamplerSpec or str, optional
        The distribution (default :data:`synth.sampling.SAMPLER_V2`; ``"v1"`` gives the
        suites measured before issue #8, unchanged).

    Returns
    -------
    list of SuiteTarget
        Labels: ``osc_type``, ``filter_type``, ``f0_hz`` and ``filter_audible``
        (:func:`synth.sampling.filter_audible` at ``sr``: whether the filter type can
        be heard, so filter accuracy can be counted where it can).

    See :mod:`synth.sampling` for what makes a patch valid.
    """
    spec = get_sampler(spec)
    rng = np.random.default_rng(seed)
    targets = []
    for i in range(n):
        patch, audio = sample_valid_patch(rng, render, sr=sr, duree_s=duration_s, spec=spec)
        labels = {
            "osc_type": patch["osc_type"],
            "filter_type": patch["filter_type"],
            "f0_hz": patch["osc_freq"],
            "filter_audible": filter_audible(patch, sr),
        }
        targets.append(SuiteTarget(f"in-domain-{seed}-{i:03d}", audio, sr, patch, labels))
    return targets
