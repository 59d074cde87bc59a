"""Hybrid strategy: evaluates its seed first, is never worse than it, reproducible; predict = one evaluation."""

from __future__ import annotations

import numpy as np
import pytest

from experiments.suites import in_domain_suite
from matcher.hybrid import run_hybrid, run_predict
from matcher.search import MatchConfig
from matcher.strategies import STRATEGIES, run_strategy
from objectives.filter_fit import RESONANT_HYPOTHESES


@pytest.fixture(scope="module")
def target():
    return in_domain_suite(1, seed=31337)[0]


def run(target, budget=40, seed=0, fn=run_hybrid):
    rows = []
    result = fn(target.audio, MatchConfig(optimizer="hybrid", budget=budget, seed=seed, sr=target.sr), callback=rows.extend)
    return result, rows


def test_hybrid_evaluates_its_seed_and_is_never_worse(target):
    result, rows = run(target)
    seed_row = rows[0]
    assert seed_row.eval == 1 and seed_row.arm == "predict"
    assert seed_row.loss == pytest.approx(result.info["seed_loss"])
    assert result.loss <= seed_row.loss
    assert result.loss == pytest.approx(min(r.loss for r in rows))
    assert [r.eval for r in rows] == list(range(1, len(rows) + 1))
    assert len(rows) == result.evals <= 40
    best = np.minimum.accumulate([r.loss for r in rows])
    assert np.allclose(best, [r.best_loss for r in rows])


def test_every_combination_gets_rendered_evidence_before_the_race(target):
    result, rows = run(target, budget=60)
    combos = {tuple(c) for c in result.info["combos_searched"]}
    assert len(combos) == 12
    seen = {(r.patch["osc_type"], r.patch["filter_type"]) for r in rows if r.arm in ("predict", "fit", "fit+envelope")}
    assert seen == combos
    assert {tuple(c) for c in result.info["combos_favoured"]} <= combos


class _WrongPredictor:
    """The shipped predictor with its combination ranking reversed: the true combination comes last."""

    def __init__(self, inner, true_combo):
        self.inner, self.true_combo = inner, tuple(true_combo)

    def predict_features(self, x, f0_hz, duree_s):
        from dataclasses import replace

        pred = self.inner.predict_features(x, f0_hz, duree_s)
        others = [(c, p) for c, p in pred.combo_probs if tuple(c) != self.true_combo]
        return replace(pred, combo_probs=[(others[0][0], 0.999)] + [(c, 1e-4) for c, _ in others[1:]] + [(self.true_combo, 1e-6)])

    def __getattr__(self, name):  # features, voice, layout, spread, ... as the shipped predictor's
        return getattr(self.inner, name)


def test_a_confidently_wrong_prediction_is_corrected_by_rendered_evidence(target):
    # DESIGN §5.10: the learning orders the search, it never prunes it.
    from matcher.predictor import load_default_model

    truth = (target.true_patch["osc_type"], target.true_patch["filter_type"])
    wrong = _WrongPredictor(load_default_model(), truth)
    rows = []
    result = run_hybrid(target.audio, MatchConfig(optimizer="hybrid", budget=300, sr=target.sr), callback=rows.extend, predictor=wrong)
    assert tuple(result.info["combos_favoured"][0]) != truth
    assert (result.patch["osc_type"], result.patch["filter_type"]) == truth
    assert result.loss < 0.5 * min(r.loss for r in rows if r.arm == "predict")


def test_hybrid_is_reproducible(target):
    a, rows_a = run(target, seed=5)
    b, rows_b = run(target, seed=5)
    assert a.patch == b.patch and a.loss == b.loss
    assert [r.loss for r in rows_a] == [r.loss for r in rows_b]


def test_hybrid_budget_one_is_the_prediction(target):
    h, rows = run(target, budget=1)
    p, prow = run(target, budget=1, fn=run_predict)
    assert len(rows) == len(prow) == 1 == h.evals == p.evals
    assert h.loss == p.loss and h.patch == p.patch


def test_strategies_registered(target):
    assert STRATEGIES["hybrid"] == "matcher.hybrid:run_hybrid"
    assert STRATEGIES["predict"] == "matcher.hybrid:run_predict"
    rows = []
    r = run_strategy(target.audio, MatchConfig(optimizer="predict", budget=50, sr=target.sr), callback=rows.extend)
    assert r.evals == 1 and len(rows) == 1


def test_hybrid_does_not_evaluate_the_prediction_twice_and_tries_the_filter_fits(target):
    result, rows = run(target, budget=60)
    first = rows[0].patch
    assert sum(dict(r.patch) == dict(first) for r in rows) == 1
    fits = result.info["filter_fits"]
    assert len(fits) == len(result.info["combos_searched"]) and all(1 <= len(f) <= 2 + len(RESONANT_HYPOTHESES["lowpass"]) for f in fits)
    # after the predicted patches come the fitted seeds, the most probable combination's first
    fit_rows = [r for r in rows if r.arm == "fit"]
    top_fits = fits[0]
    for row, fit in zip(fit_rows, top_fits):
        assert row.patch["filter_cutoff"] == pytest.approx(fit["cutoff_hz"], rel=1e-6)
        assert row.patch["filter_res"] == pytest.approx(fit["q"], rel=1e-6)
    assert result.loss <= min(r.loss for r in fit_rows[: len(top_fits)])


def test_filter_fit_seeds_beat_the_prediction_on_this_target(target):
    with_fit, _ = run(target, budget=4)
    without, _ = run(target, budget=4, fn=lambda a, c, callback: run_hybrid(a, c, callback=callback, fit_seeds=False))
    assert with_fit.loss < without.loss


# -- voices without fits: the predicted patch of every combination seeds the race ------------------
@pytest.fixture(scope="module", params=["analog", "fm"])
def voice_target(request):
    """A valid note of a voice that moves, from its own sampler (0.5 s), and the voice's name."""
    import functools

    from synth.render import render
    from synth.voice_samplers import get_voice_sampler, sample_voice_patch

    voice = request.param
    patch, audio = sample_voice_patch(np.random.default_rng([4, 2]), functools.partial(render, voice=voice), get_voice_sampler(voice), 22050, 0.5)
    return voice, patch, audio


def test_a_voice_with_a_predictor_ships_it_and_names_no_fits():
    from matcher.predictor import load_voice_model
    from synth.voices import VOICES

    for name, voice in VOICES.items():
        assert voice.predictor_model is not None, name
        assert load_voice_model(name).voice == name
    assert VOICES["subtractive"].fit_seeds == "biquad"
    assert VOICES["analog"].fit_seeds is None and VOICES["fm"].fit_seeds is None


def test_hybrid_on_a_voice_seeds_every_combination_with_its_prediction_and_ends_no_worse(voice_target):
    from matcher.predictor_layout import layout_for

    voice, _, audio = voice_target
    rows = []
    result = run_hybrid(audio, MatchConfig(optimizer="hybrid", budget=60, seed=0, sr=22050, voice=voice), callback=rows.extend)
    layout = layout_for(voice)
    assert rows[0].eval == 1 and rows[0].arm == "predict" and rows[0].loss == pytest.approx(result.info["seed_loss"])
    assert result.loss <= rows[0].loss and result.loss == pytest.approx(min(r.loss for r in rows))
    assert len(rows) == result.evals <= 60
    assert not any(r.arm.startswith("fit") for r in rows)  # no subtractive-only fits for this voice
    seeds = [r for r in rows if r.arm == "predict"]
    assert len(seeds) == len(layout.combos)  # every combination once, the first one first
    assert {tuple(str(r.patch[n]) for n in layout.choice_names) for r in seeds} == set(layout.combos)
    assert set(result.patch) == set(get_voice_names(voice))
    assert {tuple(c) for c in result.info["combos_favoured"]} <= {tuple(c) for c in result.info["combos_searched"]}


def get_voice_names(voice):
    from synth.voices import get_voice

    return get_voice(voice).space.names


def test_hybrid_on_a_voice_is_reproducible(voice_target):
    voice, _, audio = voice_target
    a = run_hybrid(audio, MatchConfig(optimizer="hybrid", budget=40, seed=3, sr=22050, voice=voice))
    b = run_hybrid(audio, MatchConfig(optimizer="hybrid", budget=40, seed=3, sr=22050, voice=voice))
    assert a.patch == b.patch and a.loss == b.loss


def test_a_sine_through_a_narrow_bandpass_ends_in_the_bandpass_well():
    """A lone partial through a bandpass at 1.8 x f0, Q 6.5: only its ringing tells the filter.

    With two resonant hypotheses per type (0.5 and 2 x f0) the hybrid ended in a resonant
    lowpass at 0.169 on this note (suite 101's first); with four it finds the bandpass.
    """
    target = in_domain_suite(1, seed=101, sr=22050)[0]
    assert (target.true_patch["osc_type"], target.true_patch["filter_type"]) == ("sine", "bandpass")
    result = run_hybrid(target.audio, MatchConfig(optimizer="hybrid", budget=900, seed=0, jobs=1, sr=22050))
    assert result.patch["filter_type"] == "bandpass"
    assert result.loss < 0.1
