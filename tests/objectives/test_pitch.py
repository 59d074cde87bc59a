"""Tests of the f0 stage on rendered notes (DESIGN §5 item 8)."""

from __future__ import annotations

import librosa
import numpy as np
import pytest

from objectives.pitch import PitchEstimate, estimate_pitch
from synth.render import render
from synth.sampling import sample_valid_patch

SR = 22050


def _patch(**overrides: float | str) -> dict[str, float | str]:
    patch: dict[str, float | str] = dict(
        duree=1.0, osc_freq=440.0, osc_type="saw", osc_vol=0.8, noise_vol=0.0,
        filter_type="highpass", filter_cutoff=1500.0, filter_res=2.0,
        env_attack=0.01, env_decay=0.1, env_sustain=0.6, env_release=0.2, master_vol=0.7,
    )
    patch.update(overrides)
    return patch


def _note(**overrides: float | str) -> np.ndarray:
    return render(_patch(**overrides), SR, SR)


def _cents(est_hz: float | None, true_hz: float) -> float:
    assert est_hz is not None, "expected a pitch"
    return float(1200.0 * np.log2(est_hz / true_hz))


def _pyin_median_hz(y: np.ndarray) -> float:
    f0, voiced, _ = librosa.pyin(y, fmin=30.0, fmax=4000.0, sr=SR, frame_length=2048)
    return float(np.median(f0[voiced & np.isfinite(f0)]))


def test_sine_within_5_cents() -> None:
    est = estimate_pitch(_note(osc_type="sine", filter_type="lowpass", filter_cutoff=4000.0), SR)
    assert isinstance(est, PitchEstimate)
    assert est.voiced is True
    assert abs(_cents(est.f0_hz, 440.0)) <= 5.0
    assert 0.0 <= est.confidence <= 1.0


# Notes whose fundamental (and for the bandpass, the low harmonics) the filter removes.
FILTERED = [
    # pyin (frame 2048, fmin 30 Hz) reports the 3rd harmonic (+1900 cents) on these two.
    dict(osc_type="square", osc_freq=220.0, filter_type="highpass", filter_cutoff=660.0, filter_res=6.0),
    dict(osc_type="square", osc_freq=220.0, filter_type="bandpass", filter_cutoff=660.0, filter_res=6.0),
    dict(osc_type="saw", osc_freq=220.0, filter_type="highpass", filter_cutoff=1300.0, filter_res=4.0),
    dict(osc_type="square", osc_freq=220.0, filter_type="highpass", filter_cutoff=1300.0, filter_res=4.0),
    dict(osc_type="saw", osc_freq=110.0, filter_type="bandpass", filter_cutoff=850.0, filter_res=8.0),
    dict(osc_type="square", osc_freq=110.0, filter_type="bandpass", filter_cutoff=850.0, filter_res=8.0),
    dict(osc_type="square", osc_freq=330.0, filter_type="bandpass", filter_cutoff=2300.0, filter_res=6.0),
]


@pytest.mark.parametrize("overrides", FILTERED, ids=lambda d: f"{d['osc_type']}-{d['filter_type']}-{d['osc_freq']:.0f}")
def test_filtered_fundamental_found(overrides: dict) -> None:
    est = estimate_pitch(_note(**overrides), SR)
    assert est.voiced
    assert abs(_cents(est.f0_hz, float(overrides["osc_freq"]))) <= 20.0


def test_pyin_reports_a_harmonic_on_filtered_notes() -> None:
    """Documents the problem: plain pyin reports a harmonic where we are right."""
    errors = [_cents(_pyin_median_hz(_note(**o)), float(o["osc_freq"])) for o in FILTERED[:2]]
    assert min(errors) >= 1100.0, errors


def test_true_f0_among_candidates_for_valid_random_patches() -> None:
    rng = np.random.default_rng(123)
    misses = []
    for _ in range(40):
        patch, audio = sample_valid_patch(rng, render, SR)
        est = estimate_pitch(audio, SR)
        assert 1 <= len(est.candidates) <= 6
        scores = [s for _, s in est.candidates]
        assert scores == sorted(scores, reverse=True)
        if not any(abs(_cents(f, float(patch["osc_freq"]))) <= 50.0 for f, _ in est.candidates):
            misses.append(patch)
    assert not misses


@pytest.mark.parametrize("filter_type,cutoff_hz,q", [("lowpass", 3000.0, 0.7), ("highpass", 800.0, 2.0),
                                                     ("bandpass", 1000.0, 12.0), ("bandpass", 300.0, 6.0)])
def test_noise_only_is_unvoiced(filter_type: str, cutoff_hz: float, q: float) -> None:
    y = _note(osc_vol=0.0, noise_vol=0.8, filter_type=filter_type, filter_cutoff=cutoff_hz, filter_res=q)
    est = estimate_pitch(y, SR)
    assert not est.voiced and est.f0_hz is None
    assert est.confidence <= 0.1


def test_silence_and_stereo() -> None:
    assert not estimate_pitch(np.zeros(SR, dtype=np.float32), SR).voiced
    mono = _note(osc_type="square", osc_freq=196.0, filter_type="lowpass", filter_cutoff=1500.0)
    est = estimate_pitch(np.stack([mono, 0.5 * mono]), SR)
    assert abs(_cents(est.f0_hz, 196.0)) <= 5.0


@pytest.mark.parametrize("depth_cents", [40.0, 60.0])
def test_a_deep_vibrato_is_read_at_its_centre(depth_cents: float) -> None:
    """A long window smears a vibrato's partials (the sieve alone read 3.6 kHz here); the frame-wise reading finds the centre."""
    patch = {"duree": 0.6, "osc_freq": 330.0, "osc_type": "saw", "osc_pw": 0.5, "osc_vol": 0.8, "osc2_coarse_st": 0.0, "osc2_detune_cents": 0.0,
             "osc2_mix": 0.0, "noise_vol": 0.0, "filter_type": "lowpass", "filter_cutoff": 2500.0, "filter_res": 0.8, "fenv_amount_oct": 0.0,
             "fenv_attack_s": 0.002, "fenv_decay_s": 0.15, "fenv_sustain": 0.0, "env_attack": 0.01, "env_decay": 0.2, "env_sustain": 0.7,
             "env_release": 0.1, "pitch_env_st": 0.0, "pitch_env_decay_s": 0.05, "vib_rate_hz": 5.5, "vib_depth_cents": depth_cents,
             "vib_delay_s": 0.0, "drive": 0.0, "master_vol": 0.8}
    est = estimate_pitch(render(patch, 22050, int(0.6 * 22050), "analog"), 22050)
    assert est.voiced
    assert abs(1200 * np.log2(est.f0_hz / 330.0)) < 10.0
