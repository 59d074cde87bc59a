"""Shared fixtures: patches of the subtractive voice and a rendered in-domain target.

Fixtures render their own audio (no stored test files).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pytest

SR = 22050
"""Working sample rate of the tests (the search's default)."""

BASE_PATCH: dict[str, float | str] = {
    "duree": 0.5,
    "osc_freq": 440.0,
    "osc_type": "saw",
    "osc_vol": 0.8,
    "noise_vol": 0.0,
    "filter_type": "lowpass",
    "filter_cutoff": 3000.0,
    "filter_res": 0.7,
    "env_attack": 0.01,
    "env_decay": 0.1,
    "env_sustain": 0.7,
    "env_release": 0.1,
    "master_vol": 0.8,
}
"""A plain, audible saw note; every parameter of the subtractive voice."""


@pytest.fixture
def patch() -> Callable[..., dict[str, float | str]]:
    """Factory: ``patch(**overrides)`` is :data:`BASE_PATCH` with the given values replaced."""

    def make(**overrides: float | str) -> dict[str, float | str]:
        unknown = set(overrides) - set(BASE_PATCH)
        if unknown:
            raise KeyError(f"not a subtractive parameter: {sorted(unknown)}")
        return {**BASE_PATCH, **overrides}

    return make


@pytest.fixture(scope="session")
def valid_target() -> tuple[dict[str, float | str], np.ndarray]:
    """A random *valid* patch (fixed seed, 0.5 s) and its render at :data:`SR`.

    Seed 1 gives a saw through a bandpass at about 248 Hz; its pitch is
    estimated correctly, so a short search recovers it.
    """
    from synth.render import render
    from synth.sampling import sample_valid_patch

    p, audio = sample_valid_patch(np.random.default_rng(1), render, SR, 0.5)
    return p, audio
