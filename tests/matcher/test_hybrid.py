"""Hybrid strategy: evaluates its seed first, is never worse than it, reproducible; predict = one evaluation."""

from __future__ import annotations

import numpy as np
import pytest

from experiments.suites import in_domain_suite
from matcher.hybrid import run_hybrid, run_predict
from matcher.search import MatchConfig
from matcher.strategies import STRATEGIES, run_strategy


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
    assert len(fits) == len(result.info["combos_searched"]) and all(1 <= len(f) <= 2 for f in fits)
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
