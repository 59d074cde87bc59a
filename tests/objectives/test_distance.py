"""The fitness: exact zero, monotone in detune, robust to the noise realisation, cheap."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from objectives.distance import NONFINITE_PENALTY, Fitness, FitnessWeights
from objectives.features import Featurizer, analyse
from synth.render import render

SR = 22050
N = SR
BASE = dict(
    duree=1.0, osc_freq=440.0, osc_type="saw", osc_vol=0.8, noise_vol=0.3, filter_type="lowpass",
    filter_cutoff=3000.0, filter_res=1.0, env_attack=0.01, env_decay=0.1, env_sustain=0.6,
    env_release=0.2, master_vol=0.7,
)

NOISE_RATIO_MAX = 0.5
"""Noise-realisation distance / neighbour distance must stay below this.

Measured with the default weights (``python -m experiments.noise_floor``): at
noise_vol 0.05 the worst ratio over these patches and neighbours is about 0.2;
at noise_vol 0.3 (noise at 3/8 of the oscillator, the sampler's limit is 1/2)
it is about 0.4, the worst case being +50 cents on a highpassed triangle whose
few audible harmonics sit in noise.  The naive log-mel L1 gives 0.6 to 10."""


def _fitness(patch, **kw) -> Fitness:
    return Fitness(analyse(render(patch, SR, N), SR), **kw)


@pytest.fixture(scope="module")
def saw():
    audio = render(BASE, SR, N)
    return audio, Fitness(analyse(audio, SR))


def test_zero_on_identical_audio_also_after_pickling(saw):
    audio, fit = saw
    assert fit(audio) == 0.0
    assert fit(audio.copy()) == 0.0
    assert pickle.loads(pickle.dumps(fit))(audio) == 0.0
    assert fit(audio.astype(np.float64)) == 0.0


def test_positive_and_finite_otherwise(saw):
    audio, fit = saw
    d = fit(render(dict(BASE, filter_cutoff=2000.0), SR, N))
    assert np.isfinite(d) and d > 0.5
    assert fit(np.zeros(N, np.float32)) > 10.0


def test_grows_monotonically_with_detune():
    for patch in (BASE, dict(BASE, osc_type="square", filter_type="bandpass", filter_cutoff=900.0, osc_freq=220.0)):
        fit = _fitness(patch)
        d = [fit(render(dict(patch, osc_freq=patch["osc_freq"] * 2 ** (c / 1200)), SR, N)) for c in (0, 25, 100, 300)]
        assert d[0] == 0.0
        assert all(x < y for x, y in zip(d, d[1:])), d


def _neighbours(p):
    out = {
        "cutoff x1.2": dict(p, filter_cutoff=p["filter_cutoff"] * 1.2),
        "+50 cents": dict(p, osc_freq=p["osc_freq"] * 2 ** (50 / 1200)),
        "sustain -0.1": dict(p, env_sustain=p["env_sustain"] - 0.1),
    }
    if p["env_attack"] >= 0.03:  # a 10 ms -> 20 ms attack is inaudible next to the noise
        out["attack x2"] = dict(p, env_attack=p["env_attack"] * 2)
    return out


PATCHES = [
    BASE,
    dict(BASE, osc_type="square", filter_type="bandpass", filter_cutoff=900.0, filter_res=3.0, osc_freq=220.0),
    dict(BASE, osc_type="triangle", filter_type="highpass", filter_cutoff=600.0, osc_freq=330.0, env_attack=0.05),
]


@pytest.mark.parametrize("noise_vol", [0.05, 0.3])
@pytest.mark.parametrize("patch", PATCHES, ids=["saw-lp", "square-bp", "triangle-hp"])
def test_noise_realisations_are_closer_than_neighbours(patch, noise_vol):
    p = dict(patch, noise_vol=noise_vol)
    fit = _fitness(p)
    d_noise = max(fit(render(p, SR, N, noise_seed=s)) for s in (1, 2))
    assert d_noise > 0.0  # the realisations do differ
    for name, q in _neighbours(p).items():
        d_nb = fit(render(q, SR, N))
        assert d_noise < NOISE_RATIO_MAX * d_nb, (name, d_noise, d_nb)


def test_non_finite_audio_gets_a_finite_penalty(saw):
    audio, fit = saw
    for bad in (np.nan, np.inf, -np.inf):
        y = audio.copy()
        y[123] = bad
        assert fit(y) == NONFINITE_PENALTY
    assert fit(np.full(N, 1e30, np.float32)) == NONFINITE_PENALTY
    assert np.isfinite(fit(np.full(N, 1e3, np.float32)))
    # The featurizer's buffers are not poisoned by a bad call.
    assert fit(audio) == 0.0


def test_length_mismatch_is_padded_or_trimmed(saw):
    audio, fit = saw
    longer = np.concatenate([audio, np.ones(5000, np.float32)])
    assert fit(longer) == 0.0  # the tail beyond the target is ignored
    shorter = audio[: N // 2]
    d = fit(shorter)
    assert np.isfinite(d) and d > 0.0
    assert fit(audio) == 0.0  # a short call leaves no stale samples behind
    assert fit(np.zeros(0, np.float32)) == fit(np.zeros(N, np.float32))


def test_weights_are_named_and_validated(saw):
    audio, _ = saw
    other = render(dict(BASE, env_sustain=0.3), SR, N)
    feats = analyse(audio, SR)
    only_env = Fitness(feats, FitnessWeights(spectral=0, coarse=0, time=0, envelope=1))
    terms = only_env.terms(other)
    assert only_env(other) == pytest.approx(terms["envelope"], rel=1e-6)
    assert set(terms) == {"fine", "coarse", "time", "frames", "envelope", "total"}
    with pytest.raises(ValueError):
        FitnessWeights(envelope=-1.0)
    with pytest.raises(ValueError):
        FitnessWeights(spectral=float("nan"))


def test_envelope_term_sees_level_and_attack():
    fit = _fitness(dict(BASE, env_attack=0.05))
    quieter = fit.terms(render(dict(BASE, env_attack=0.05, master_vol=0.35), SR, N))
    assert quieter["envelope"] == pytest.approx(20 * np.log10(2), abs=0.5)  # -6 dB everywhere
    slower = fit.terms(render(dict(BASE, env_attack=0.2), SR, N))
    assert slower["envelope"] > 1.0


def test_featurizer_rms_matches_time_domain():
    rng = np.random.default_rng(0)
    y = (0.3 * rng.standard_normal(N)).astype(np.float32)
    feat = Featurizer(SR, N)
    env = feat.powers(y)[feat.term_names.index("envelope")]
    assert env.shape == (-(-N // 128),)
    assert np.median(env) == pytest.approx(0.09, rel=0.1)  # mean square of 0.3 * N(0, 1)


def test_other_lengths_and_rates():
    for sr, n in ((22050, 1103), (44100, 3 * 44100), (16000, 16000)):
        y = render(BASE, sr, n)
        fit = Fitness(analyse(y, sr))
        assert fit(y) == 0.0
        assert fit(render(dict(BASE, osc_freq=466.16), sr, n)) > 0.5


def test_cost_is_a_fraction_of_a_render(saw):
    """Loose guard (the measured cost is ~0.2 ms; see experiments/noise_floor.py)."""
    import timeit

    audio, fit = saw
    best_s = min(timeit.repeat(lambda: fit(audio), number=1, repeat=200))
    assert best_s < 0.6e-3


def test_the_frames_term_has_its_own_floor_and_is_skipped_when_weighted_zero(saw):
    audio, _ = saw
    feats = analyse(audio, SR)
    names = feats.term_names
    fine, frames = names.index("fine"), names.index("frames")
    # The floor sits 80 dB (not the default 60 dB) below the target's loudest cell of the term.
    assert feats.floors[frames] == pytest.approx(float(feats.powers[frames].max()) * 1e-8, rel=1e-5)
    assert feats.floors[fine] == pytest.approx(float(feats.powers[fine].max()) * 1e-6, rel=1e-5)
    # Weighted 0 (the default), it is not computed, and the fitness is the weighted sum of the other terms.
    skipped = feats.featurizer.powers(audio, skip=frozenset({"frames"}))
    assert skipped[frames] is None and skipped[fine] is not None
    other = render(dict(BASE, filter_cutoff=1500.0), SR, N)
    default = Fitness(feats)
    terms = default.terms(other)
    assert terms["frames"] > 0  # reported even when it does not count
    w = FitnessWeights()
    assert default(other) == pytest.approx(w.spectral * terms["fine"] + w.coarse * terms["coarse"] + w.time * terms["time"] + w.envelope * terms["envelope"], rel=1e-5)
    # Weighted, it counts, and identical audio is still exactly 0.
    with_frames = Fitness(feats, FitnessWeights(frames=1.0))
    assert with_frames(other) == pytest.approx(default(other) + terms["frames"], rel=1e-5)
    assert with_frames(audio) == 0.0
