"""Render-free fits of a note's pitch envelope and vibrato (matcher.motion_fit)."""

from __future__ import annotations

import numpy as np
import pytest

from matcher.motion_features import MOTION_TIMES_S
from matcher.motion_fit import TRACK_LIMIT_ST, fit_pitch_envelope, fit_pitch_motion
from matcher.voice_race import carry_patch
from synth.render import render

SR = 22050


def _analog_note(**motion: float) -> np.ndarray:
    patch = carry_patch({"duree": 1.0, "osc_freq": 220.0, "osc_type": "saw", "osc_vol": 0.8, "noise_vol": 0.0, "filter_type": "lowpass",
                         "filter_cutoff": 3000.0, "filter_res": 0.7, "env_attack": 0.005, "env_decay": 0.2, "env_sustain": 0.8,
                         "env_release": 0.1, "master_vol": 0.8}, "analog")
    return render({**patch, **motion}, SR, SR, "analog")


def test_an_exponential_glide_is_recovered_from_its_track():
    fit = fit_pitch_envelope(MOTION_TIMES_S, 9.0 * np.exp(-MOTION_TIMES_S / 0.06))
    assert fit["pitch_env_st"] == pytest.approx(9.0, abs=0.25)
    assert fit["pitch_env_decay_s"] == pytest.approx(0.06, rel=0.1)


def test_a_clipped_start_is_a_lower_bound_not_the_amount():
    track = 20.0 * np.exp(-MOTION_TIMES_S / 0.05)
    clipped = np.minimum(track, 13.2)  # what the ±1.1-octave track reads
    assert clipped[0] >= TRACK_LIMIT_ST
    fit = fit_pitch_envelope(MOTION_TIMES_S, clipped)
    assert fit["pitch_env_st"] > 16.0


def test_a_steady_track_has_no_pitch_envelope():
    assert fit_pitch_envelope(MOTION_TIMES_S, np.full(len(MOTION_TIMES_S), 0.05)) is None


def test_a_rendered_vibrato_is_fitted_with_its_rate_and_depth():
    seeds = fit_pitch_motion(_analog_note(vib_depth_cents=30.0, vib_rate_hz=6.0, vib_delay_s=0.0), SR, 220.0)
    vibratos = [s for s in seeds if "vib_depth_cents" in s]
    assert vibratos and all(s["vib_rate_hz"] == pytest.approx(6.0, abs=0.3) for s in vibratos)
    assert all(s["vib_depth_cents"] == pytest.approx(30.0, rel=0.3) for s in vibratos)
    assert {s["vib_delay_s"] for s in vibratos} == {0.0, 0.2}


def test_a_rendered_pitch_drop_is_fitted_and_a_steady_note_gives_no_seed():
    seeds = fit_pitch_motion(_analog_note(pitch_env_st=7.0, pitch_env_decay_s=0.05), SR, 220.0)
    drops = [s for s in seeds if "pitch_env_st" in s]
    assert len(drops) == 1 and drops[0]["pitch_env_st"] == pytest.approx(7.0, abs=1.5)
    assert drops[0]["pitch_env_decay_s"] == pytest.approx(0.05, rel=0.5)
    assert fit_pitch_motion(_analog_note(), SR, 220.0) == []


def test_a_rendered_detuned_pair_is_fitted_centred_on_its_pitch():
    from matcher.motion_fit import detune_seeds

    cents = 20.0
    centre_hz = 220.0
    note = _analog_note(osc_freq=centre_hz * 2.0 ** (-cents / 2400.0), osc2_mix=0.5, osc2_coarse_st=0.0, osc2_detune_cents=cents)
    pairs = [s for s in fit_pitch_motion(note, SR, centre_hz) if "osc2_detune_cents" in s]
    best = min(pairs, key=lambda s: abs(s["osc2_detune_cents"] - cents))
    assert best["osc2_detune_cents"] == pytest.approx(cents, abs=2.0)
    assert best["osc_freq"] == pytest.approx(centre_hz * 2.0 ** (-best["osc2_detune_cents"] / 2400.0))
    assert best["osc2_mix"] == 0.5 and best["osc2_coarse_st"] == 0.0
    assert detune_seeds(centre_hz, 0.5) == []  # the floor of the modulation band: no beating


def test_a_detuned_seed_recentred_on_the_carried_pitch_keeps_its_detune():
    import matcher.voice_race as race
    from matcher.motion_fit import detune_seeds, recentred  # noqa: PLC0415

    (seed, *_) = detune_seeds(759.4, 13.2)  # a 30-cent pair read off its beat, centred on the f0 estimate
    moved = recentred(seed, 766.6)
    assert moved["osc2_detune_cents"] == seed["osc2_detune_cents"] and moved["osc2_mix"] == seed["osc2_mix"]
    centre_hz = moved["osc_freq"] * 2.0 ** (moved["osc2_detune_cents"] / 2400.0)  # between the two oscillators
    assert centre_hz == pytest.approx(766.6, rel=1e-9)
    vibrato = {"vib_depth_cents": 20.0, "vib_rate_hz": 5.0, "vib_delay_s": 0.0}
    assert recentred(vibrato, 766.6) == vibrato
    around = race._motion_around([vibrato, seed], {"osc_freq": 766.6})
    assert around == [vibrato, seed, moved]  # both centres are tried; the fitness decides
