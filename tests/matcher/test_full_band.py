"""Full band at any rate (DESIGN §5.11): the fitness sees the target's top octave, and a match has no hole above 10 kHz."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import sosfiltfilt, butter, welch

from objectives.audio_io import Target, working_rate
from objectives.distance import Fitness
from objectives.features import analyse
from synth.render import render


def _band_db(y: np.ndarray, sr: int, lo_hz: float, hi_hz: float) -> float:
    f, p = welch(y, fs=sr, nperseg=2048)
    band = (f >= lo_hz) & (f < hi_hz)
    return float(10 * np.log10(np.mean(p[band]) + 1e-30))


NOISY = dict(osc_type="saw", osc_freq=220.0, noise_vol=0.3, filter_type="highpass", filter_cutoff=300.0, filter_res=0.7, env_sustain=0.8, duree=0.6)


@pytest.mark.parametrize("sr", [44100, 48000])
def test_the_fitness_sees_a_hole_above_10_khz(patch, sr):
    target = render(patch(**NOISY), sr, int(0.6 * sr))
    holed = sosfiltfilt(butter(8, 10000.0, "lowpass", fs=sr, output="sos"), target).astype(np.float32)
    assert _band_db(target, sr, 12000, 0.45 * sr) - _band_db(holed, sr, 12000, 0.45 * sr) > 20  # the hole is real
    fitness = Fitness(analyse(target, sr))
    # A re-render with other noise samples is the same sound; the holed one is not, by far.
    other_noise = fitness(render(patch(**NOISY), sr, len(target), noise_seed=7))
    assert fitness(holed) > 3 * other_noise


def test_targets_are_searched_at_their_own_rate_up_to_48_khz():
    assert working_rate(44100) == 44100 and working_rate(48000) == 48000 and working_rate(22050) == 22050
    assert working_rate(96000) == 48000


@pytest.mark.parametrize("sr", [44100, 48000])
def test_a_noisy_target_is_matched_without_a_hole_above_10_khz(patch, sr):
    from matcher.pipeline import MatchSettings, match_target

    audio = render(patch(**NOISY), sr, int(0.6 * sr), noise_seed=99)  # a noise realisation the search never plays
    target = Target(audio=audio, sr=sr, orig_sr=sr, orig_audio=audio, path="noisy.wav", duration_s=0.6)
    out = match_target(target, MatchSettings(budget=120, jobs=1))
    assert out.distance_sr == sr and out.polish_evals == 0  # searched at the target's rate, no polish needed
    for lo, hi in ((2000, 8000), (12000, 0.45 * sr)):
        assert abs(_band_db(out.match_audio, sr, lo, hi) - _band_db(audio, sr, lo, hi)) < 3.0, (lo, hi)
