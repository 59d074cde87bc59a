"""Render-free filter fit: the biquad model matches Pyo, and cutoff, Q and noise level are recovered."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import welch

from objectives.envelope import fit_adsr
from objectives.filter_fit import RESONANT_HYPOTHESES, FilterFit, biquad_power, fit_filter, fit_filters, line_leakage_density
from synth.render import render

SR = 22050
BASE = dict(duree=1.0, osc_freq=110.0, osc_type="saw", osc_vol=0.7, noise_vol=0.0, filter_type="lowpass",
            filter_cutoff=800.0, filter_res=2.0, env_attack=0.01, env_decay=0.2, env_sustain=0.6,
            env_release=0.2, master_vol=0.8)


def note(**kw) -> np.ndarray:
    patch = {**BASE, **kw}
    return render(patch, SR, int(round(patch["duree"] * SR)), "subtractive")


@pytest.mark.parametrize("filter_type", ["lowpass", "highpass", "bandpass"])
@pytest.mark.parametrize("cutoff_hz,q", [(300.0, 0.7), (2000.0, 6.0)])
def test_biquad_model_matches_pyo(filter_type, cutoff_hz, q):
    """White noise through Pyo's Biquad has the RBJ power response (within Welch's estimation noise)."""
    y = note(duree=2.0, osc_vol=0.0, noise_vol=0.5, filter_type=filter_type, filter_cutoff=cutoff_hz,
             filter_res=q, env_attack=0.002, env_decay=0.01, env_sustain=1.0, env_release=0.01, master_vol=1.0)
    freq, psd = welch(y[2000:-2000], SR, nperseg=1024)
    density = 2 * (0.5**2 / 3) / SR  # uniform noise in [-0.5, 0.5], one-sided density per Hz
    band = (freq > 60) & (freq < 9000)
    gain = biquad_power(freq[band], cutoff_hz, q, filter_type, SR)
    err_db = 10 * np.log10(psd[band] / density) - 10 * np.log10(gain)
    audible = gain > 1e-2
    assert abs(np.median(err_db[audible])) < 0.3
    # and another filter type would not fit: the model discriminates
    other = "highpass" if filter_type != "highpass" else "lowpass"
    wrong = 10 * np.log10(psd[band] / density) - 10 * np.log10(biquad_power(freq[band], cutoff_hz, q, other, SR))
    assert np.median(np.abs(wrong[audible])) > 3.0


@pytest.mark.parametrize("osc_type,filter_type,cutoff_hz,q,f0_hz", [
    ("saw", "lowpass", 700.0, 1.5, 155.0),
    ("square", "highpass", 290.0, 2.4, 98.0),
    ("triangle", "bandpass", 790.0, 1.3, 128.0),
    ("saw", "bandpass", 2600.0, 4.0, 420.0),
])
def test_clean_note_filter_is_recovered(osc_type, filter_type, cutoff_hz, q, f0_hz):
    y = note(osc_type=osc_type, filter_type=filter_type, filter_cutoff=cutoff_hz, filter_res=q, osc_freq=f0_hz)
    fit = fit_filter(y, SR, f0_hz, osc_type, filter_type, noise=False)
    assert fit.cutoff_hz == pytest.approx(cutoff_hz, rel=0.02)
    assert fit.q == pytest.approx(q, rel=0.05)
    assert fit.noise_ratio == 0.0
    assert fit.rms_error_db < 1.0


@pytest.mark.parametrize("osc_type,filter_type,cutoff_hz,q,f0_hz,ratio", [
    ("square", "lowpass", 900.0, 1.2, 163.0, 0.33),
    ("saw", "highpass", 520.0, 2.9, 218.0, 0.2),
    ("sine", "bandpass", 830.0, 2.2, 233.0, 0.45),
    ("triangle", "bandpass", 160.0, 6.6, 66.0, 0.2),
])
def test_noisy_note_filter_and_noise_level_are_recovered(osc_type, filter_type, cutoff_hz, q, f0_hz, ratio):
    y = note(osc_type=osc_type, filter_type=filter_type, filter_cutoff=cutoff_hz, filter_res=q, osc_freq=f0_hz,
             osc_vol=0.6, noise_vol=0.6 * ratio)
    fit = fit_filter(y, SR, f0_hz, osc_type, filter_type, noise=True)
    assert fit.cutoff_hz == pytest.approx(cutoff_hz, rel=0.05)
    assert fit.q == pytest.approx(q, rel=0.2)
    assert fit.noise_ratio == pytest.approx(ratio, abs=0.03)


def test_unvoiced_noise_fits_the_filter_alone():
    y = note(osc_vol=0.0, noise_vol=0.7, filter_type="bandpass", filter_cutoff=1500.0, filter_res=3.0)
    fit = fit_filter(y, SR, None, "saw", "bandpass")
    assert fit.cutoff_hz == pytest.approx(1500.0, rel=0.05)
    assert fit.noise_ratio == float("inf")
    assert fit.as_patch()["osc_vol"] == 0.0 and fit.as_patch()["noise_vol"] > 0


def test_fit_filters_gives_both_hypotheses_and_the_clean_one_is_exact_on_a_clean_note():
    y = note(osc_type="square", filter_type="lowpass", filter_cutoff=1200.0, filter_res=1.2, osc_freq=200.0)
    square_fits, sine_fits = fit_filters(y, SR, 200.0, [("square", "lowpass"), ("sine", "lowpass")])
    noisy, clean = square_fits[:2]
    assert noisy.noise_ratio >= 0 and clean.noise_ratio == 0.0
    assert clean.rms_error_db < noisy.rms_error_db
    # A crossed hypothesis exists only where the noisy fit found noise, and keeps the clean filter.
    for crossed in square_fits[2:]:
        assert (crossed.cutoff_hz, crossed.q) == (clean.cutoff_hz, clean.q) and crossed.noise_ratio == noisy.noise_ratio > 0
    sine_noisy, sine_clean, *resonant = sine_fits
    assert sine_noisy.osc_type == "sine"
    # One partial: the clean hypothesis is a filter that lets it through (nothing to fit), then resonant ones.
    assert sine_clean.noise_ratio == 0.0 and sine_clean.cutoff_hz == pytest.approx(8 * 200.0) and np.isnan(sine_clean.rms_error_db)
    assert [(f.cutoff_hz / 200.0, f.q) for f in resonant] == [pytest.approx(h) for h in RESONANT_HYPOTHESES["lowpass"]]
    assert all(f.noise_ratio == 0.0 and np.isnan(f.rms_error_db) for f in resonant)
    with pytest.raises(ValueError, match="two harmonics"):
        fit_filter(y, SR, 200.0, "sine", "lowpass", noise=False)


def test_crossed_hypothesis_takes_the_clean_filter_and_the_noisy_level():
    """A noisy note: the third hypothesis is the clean fit's filter with the noisy fit's noise ratio, near the truth."""
    y = note(osc_type="square", filter_type="bandpass", filter_cutoff=283.0, filter_res=1.8, osc_freq=197.0, osc_vol=0.6, noise_vol=0.05)
    (fits,) = fit_filters(y, SR, 197.0, [("square", "bandpass")])
    noisy, clean, crossed = fits
    assert crossed.cutoff_hz == clean.cutoff_hz and crossed.q == clean.q
    assert crossed.noise_ratio == noisy.noise_ratio == pytest.approx(0.05 / 0.6, abs=0.03)
    assert crossed.cutoff_hz == pytest.approx(283.0, rel=0.1)


def test_as_patch_keeps_levels_in_range():
    loud_noise = FilterFit("saw", "lowpass", 500.0, 1.0, 2.0, 0.5).as_patch(osc_vol=0.8)
    assert loud_noise["noise_vol"] == pytest.approx(1.0) and loud_noise["osc_vol"] == pytest.approx(0.5)
    quiet = FilterFit("saw", "lowpass", 500.0, 1.0, 0.25, 0.5).as_patch(osc_vol=0.8)
    assert quiet["osc_vol"] == 0.8 and quiet["noise_vol"] == pytest.approx(0.2)


def test_line_leakage_kernel_is_normalised_and_predicts_a_stationary_sine_skirt():
    """The kernel integrates to 1 over a line's window, and times the line's power it is Welch's skirt of a steady sine."""
    n_fft, f0_hz = 4096, 187.3
    half_hz = 0.1 * f0_hz
    offset_hz, kernel = line_leakage_density(np.ones(SR), SR, n_fft, half_hz)
    d_hz = offset_hz[1]
    assert (kernel[offset_hz <= half_hz].sum() * 2 - kernel[0]) * d_hz == pytest.approx(1.0)
    t = np.arange(SR) / SR
    y = 0.5 * np.cos(2 * np.pi * f0_hz * t)
    freq, psd = welch(y, SR, window="hann", nperseg=n_fft, noverlap=n_fft // 2, detrend=False)
    line_power = psd[np.abs(freq - f0_hz) <= half_hz].sum() * (SR / n_fft)
    skirt = (np.abs(freq - f0_hz) > 3 * SR / n_fft) & (np.abs(freq - f0_hz) < 60.0)
    predicted = line_power * np.interp(np.abs(freq[skirt] - f0_hz), offset_hz, kernel)
    # Band means (the sidelobes' nulls fall between bins differently for each).
    assert 10 * np.log10(predicted.mean() / psd[skirt].mean()) == pytest.approx(0.0, abs=1.0)


@pytest.mark.parametrize("patch,rel", [
    # Suite 101's note 8: a 61 Hz sine under a highpass at 228 Hz, little noise: the line's leakage
    # below it (20-50 Hz) is above the noise, and the fit must not read it as a lower cutoff.
    (dict(osc_freq=61.44, osc_type="sine", osc_vol=0.55, noise_vol=0.014, filter_type="highpass",
          filter_cutoff=228.1, filter_res=1.42, env_attack=0.011, env_decay=0.184, env_sustain=0.416,
          env_release=0.06, master_vol=0.654), 0.1),
    # Suite 101's note 11: a 94 Hz sine, much noise, a highpass at 124 Hz: its stop band is the
    # quietest percent of the bins, which a 1 % quantile floor clipped (fitted 89 Hz).
    (dict(osc_freq=94.08, osc_type="sine", osc_vol=0.66, noise_vol=0.184, filter_type="highpass",
          filter_cutoff=123.7, filter_res=0.94, env_attack=0.015, env_decay=0.041, env_sustain=0.763,
          env_release=0.368, master_vol=0.804), 0.1),
])
def test_a_low_sine_under_a_highpass_keeps_its_cutoff_with_the_lines_leakage_floored(patch, rel):
    y = note(**patch)
    envelope = fit_adsr(y, SR, len(y) / SR, patch["osc_freq"]).curve(len(y), SR)
    noisy = fit_filters(y, SR, patch["osc_freq"], [("sine", "highpass")], envelope=envelope)[0][0]
    assert noisy.cutoff_hz == pytest.approx(patch["filter_cutoff"], rel=rel)
    assert noisy.noise_ratio == pytest.approx(patch["noise_vol"] / patch["osc_vol"], rel=0.25)
