"""The motion block of the predictor's features sees a pitch envelope, vibrato and a filter envelope."""

from __future__ import annotations

import numpy as np
import pytest

from matcher.motion_features import MOTION_TIMES_S, N_MOTION, motion_features
from matcher.predictor import FEATURE_VERSIONS, N_FEATURES, predictor_features
from synth.render import render
from synth.voice_samplers import STILL_VALUES

SR = 22050
T = len(MOTION_TIMES_S)

STILL = {"duree": 1.0, "osc_freq": 220.0, "osc_type": "saw", "osc_vol": 0.8, "noise_vol": 0.0, "filter_type": "lowpass",
         "filter_cutoff": 2000.0, "filter_res": 1.0, "env_attack": 0.01, "env_decay": 0.1, "env_sustain": 0.7, "env_release": 0.1,
         "master_vol": 0.7, **{k: v for k, v in STILL_VALUES.items() if not k.startswith("fm_")}}


def block(**overrides):
    p = {**STILL, **overrides}
    return motion_features(render(p, SR, SR, "analog"), SR, p["osc_freq"])


@pytest.fixture(scope="module")
def still():
    return block()


def test_a_still_note_has_a_flat_pitch_and_brightness(still):
    assert still.shape == (N_MOTION,) and still.dtype == np.float32
    assert np.all(np.abs(still[:T]) < 0.1)  # semitones
    assert np.ptp(still[T : 2 * T]) < 0.1  # octaves


def test_a_pitch_drop_shows_early_and_settles(still):
    m = block(pitch_env_st=-7.0, pitch_env_decay_s=0.08)
    assert m[0] < -4.0 and m[1] < m[3] < -0.5 and abs(m[T - 1]) < 0.1


def test_vibrato_shows_its_depth_and_rate(still):
    m = block(vib_rate_hz=6.0, vib_depth_cents=40.0)
    vib_std, vib_rate = np.expm1(m[2 * T]), 2.0 ** m[2 * T + 1]
    assert vib_std > 15.0 > np.expm1(still[2 * T]) * 5
    assert abs(vib_rate - 6.0) < 0.7


def test_a_closing_filter_darkens_the_note(still):
    m = block(filter_cutoff=300.0, fenv_amount_oct=4.0, fenv_decay_s=0.15)
    bright = m[T : 2 * T]
    assert bright[0] - bright[-1] > 0.8 and still[T] - still[2 * T - 1] < 0.1


def test_version_2_is_version_1_with_the_block_appended():
    audio = render(STILL, SR, SR, "analog")
    v1, v2 = predictor_features(audio, SR, 220.0), predictor_features(audio, SR, 220.0, version=2)
    assert v1.shape == (N_FEATURES,) and v2.shape == (FEATURE_VERSIONS[2],) == (N_FEATURES + N_MOTION,)
    np.testing.assert_array_equal(v2[:N_FEATURES], v1)
    with pytest.raises(ValueError, match="feature version"):
        predictor_features(audio, SR, 220.0, version=7)
