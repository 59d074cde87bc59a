"""Evaluation metrics: zero on identical, positive on different, symmetric where they should be."""

from __future__ import annotations

import numpy as np
import pytest

from objectives.metrics import all_metrics, log_spectral_distance, mfcc_distance, multires_stft_distance
from synth.render import render

SR = 22050
N = SR // 2
BASE = dict(
    duree=0.5, osc_freq=440.0, osc_type="saw", osc_vol=0.8, noise_vol=0.05, filter_type="lowpass",
    filter_cutoff=3000.0, filter_res=1.0, env_attack=0.01, env_decay=0.1, env_sustain=0.6,
    env_release=0.1, master_vol=0.7,
)
METRICS = [mfcc_distance, log_spectral_distance, multires_stft_distance]


@pytest.fixture(scope="module")
def sounds():
    a = render(BASE, SR, N)
    b = render(dict(BASE, osc_freq=523.25, filter_cutoff=1500.0), SR, N)
    c = render(dict(BASE, osc_freq=450.0), SR, N)
    return a, b, c


@pytest.mark.parametrize("metric", METRICS)
def test_zero_on_identical(metric, sounds):
    a, _, _ = sounds
    assert metric(a, a.copy(), SR) == 0.0


@pytest.mark.parametrize("metric", METRICS)
def test_positive_and_ordered(metric, sounds):
    a, b, c = sounds
    far, near = metric(b, a, SR), metric(c, a, SR)
    assert np.isfinite(far) and far > 0
    assert 0 < near < far  # a 40-cent detune is closer than another note through another filter


@pytest.mark.parametrize("metric", [mfcc_distance, log_spectral_distance])
def test_symmetric(metric, sounds):
    a, b, _ = sounds
    assert metric(a, b, SR) == pytest.approx(metric(b, a, SR), rel=1e-9)


def test_multires_stft_is_relative_to_the_reference(sounds):
    a, _, _ = sounds
    # Spectral convergence is normalised by the reference: half the level is 0.5 away, double is 1.0 away.
    half, double = multires_stft_distance(0.5 * a, a, SR), multires_stft_distance(2.0 * a, a, SR)
    assert half < double


def test_length_mismatch_and_bad_input(sounds):
    a, _, _ = sounds
    padded = np.concatenate([a, np.zeros(1000, np.float32)])
    for metric in METRICS:
        assert np.isfinite(metric(a[: N // 2], a, SR))
        assert metric(a, padded, SR) == 0.0  # zero padding to the longer length
        bad = a.copy()
        bad[5] = np.nan
        with pytest.raises(ValueError):
            metric(bad, a, SR)


def test_all_metrics_names(sounds):
    a, b, _ = sounds
    m = all_metrics(b, a, SR)
    assert set(m) == {"mfcc", "lsd_db", "mrstft", "mss"} and all(v > 0 for v in m.values())
