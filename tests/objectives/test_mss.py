"""The multi-scale spectral distance (Hayes et al. 2025): zero on identical audio, grows with the change, finite on near-silence."""

from __future__ import annotations

import numpy as np
import pytest

from objectives.metrics import MSS_SCALES, all_metrics, multiscale_spectral_distance
from synth.render import render

BASE = dict(
    duree=0.5, osc_freq=440.0, osc_type="saw", osc_vol=0.8, noise_vol=0.05, filter_type="lowpass",
    filter_cutoff=3000.0, filter_res=1.0, env_attack=0.01, env_decay=0.1, env_sustain=0.6,
    env_release=0.1, master_vol=0.7,
)


@pytest.fixture(scope="module", params=[22050, 44100])
def rate_and_base(request):
    sr = request.param
    return sr, render(BASE, sr, sr // 2)


def test_scales_are_the_papers():
    assert MSS_SCALES == ((0.010, 32), (0.025, 64), (0.100, 128))


def test_zero_on_identical_and_symmetric(rate_and_base):
    sr, a = rate_and_base
    b = render(dict(BASE, filter_cutoff=1200.0), sr, sr // 2)
    assert multiscale_spectral_distance(a, a.copy(), sr) == 0.0
    assert multiscale_spectral_distance(a, b, sr) == pytest.approx(multiscale_spectral_distance(b, a, sr), rel=1e-12)


def test_grows_with_detune(rate_and_base):
    sr, a = rate_and_base
    d = [multiscale_spectral_distance(render(dict(BASE, osc_freq=440.0 * 2 ** (c / 1200)), sr, sr // 2), a, sr) for c in (5, 40, 300)]
    assert 0 < d[0] < d[1] < d[2]


def test_grows_with_filter_change(rate_and_base):
    sr, a = rate_and_base
    d = [multiscale_spectral_distance(render(dict(BASE, filter_cutoff=c), sr, sr // 2), a, sr) for c in (2700.0, 1500.0, 500.0)]
    assert 0 < d[0] < d[1] < d[2]
    other_type = multiscale_spectral_distance(render(dict(BASE, filter_type="highpass"), sr, sr // 2), a, sr)
    assert other_type > d[0]


def test_finite_on_near_silence(rate_and_base):
    sr, a = rate_and_base
    quiet = np.full(a.size, 1e-9, np.float32)
    zeros = np.zeros(a.size, np.float32)
    assert multiscale_spectral_distance(zeros, zeros, sr) == 0.0
    far = multiscale_spectral_distance(quiet, a, sr)
    assert np.isfinite(far) and far > multiscale_spectral_distance(render(dict(BASE, filter_cutoff=500.0), sr, sr // 2), a, sr)


def test_in_all_metrics(rate_and_base):
    sr, a = rate_and_base
    b = render(dict(BASE, osc_type="square"), sr, sr // 2)
    m = all_metrics(b, a, sr)
    assert set(m) >= {"mfcc", "lsd_db", "mrstft", "mss"}
    assert m["mss"] == multiscale_spectral_distance(b, a, sr)
