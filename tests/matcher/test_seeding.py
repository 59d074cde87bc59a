"""Seeds of the hybrid: evaluated once, within the budget, analysis renders charged, and better than the prediction."""

from __future__ import annotations

import pytest

from experiments.suites import in_domain_suite
from matcher.hybrid import run_hybrid
from matcher.predictor import load_default_model
from matcher.search import MatchConfig
from matcher.seeding import FIT_SPREAD, SeedRun
from objectives.pitch import estimate_pitch


@pytest.fixture(scope="module")
def target():
    # a saw note: both noise hypotheses of the filter fit apply
    return next(t for t in in_domain_suite(12, seed=4242) if t.true_patch["osc_type"] == "saw")


def _seed_run(target, budget):
    pitch = estimate_pitch(target.audio, target.sr)
    pred = load_default_model().predict(target.audio, target.sr, pitch)
    rows = []
    run = SeedRun(target.audio, MatchConfig(budget=budget, sr=target.sr), rows.extend)
    run.evaluate([pred.patch()], "predict")
    run.add_fitted(pitch, pred, [pred.combo_probs[0][0]])
    run.close()
    return run, rows


def test_seeds_are_numbered_labelled_and_the_analysis_render_is_charged(target):
    run, rows = _seed_run(target, budget=50)
    assert [r.arm for r in rows] == ["predict", "fit", "fit", "fit+envelope"]
    assert [r.eval for r in rows] == [1, 2, 3, 4]
    assert run.evals == 4 and run.spent == 5  # one render to measure the envelope fit's bias
    assert run.best.loss == min(r.loss for r in rows)
    assert [s.spread for s in run.seeds] == [None, FIT_SPREAD, FIT_SPREAD, FIT_SPREAD]
    # the fitted seeds start far closer than the prediction on this in-domain note
    assert run.best.loss < 0.5 * rows[0].loss


@pytest.mark.parametrize("budget", [1, 2, 3, 4])
def test_seeds_stay_within_a_small_budget(target, budget):
    run, rows = _seed_run(target, budget)
    assert run.spent <= budget and len(rows) == run.evals <= budget


def test_hybrid_counts_the_analysis_render_in_its_budget(target):
    rows = []
    result = run_hybrid(target.audio, MatchConfig(budget=40, sr=target.sr, seed=1), callback=rows.extend)
    assert len(rows) == result.evals == 39
    assert [r.eval for r in rows] == list(range(1, 40))
    assert result.loss == min(r.loss for r in rows)
