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
    model = load_default_model()
    run = SeedRun(target.audio, MatchConfig(budget=budget, sr=target.sr), rows.extend, predicted_spread=model.spread())
    run.evaluate([pred.patch()], "predict", run.predicted_spread)
    run.add_fitted(pitch, pred, [pred.combo_probs[0][0]])
    run.close()
    return run, rows


def test_seeds_are_numbered_labelled_and_the_analysis_render_is_charged(target):
    run, rows = _seed_run(target, budget=50)
    n_fits = len(run.info["filter_fits"][0])  # noisy, clean and, where the noisy fit found noise, crossed
    assert n_fits in (2, 3)
    assert [r.arm for r in rows] == ["predict", *["fit"] * n_fits, "fit+envelope"]
    assert [r.eval for r in rows] == list(range(1, n_fits + 3))
    assert run.evals == n_fits + 2 and run.spent == n_fits + 3  # one render to measure the envelope fit's bias
    assert run.best.loss == min(r.loss for r in rows)
    assert [s.spread for s in run.seeds][1:] == [FIT_SPREAD] * (n_fits + 1)
    # the predicted patch carries the model's own uncertainty: wider than the fits' on cutoff and resonance
    predicted = run.seeds[0].spread
    assert predicted["filter_cutoff"] > 2 * FIT_SPREAD["filter_cutoff"]
    assert predicted["filter_res"] > 2 * FIT_SPREAD["filter_res"]
    assert "osc_freq" not in predicted and "osc_vol" not in predicted
    # the fitted seeds start far closer than the prediction on this in-domain note
    assert run.best.loss < 0.5 * rows[0].loss


@pytest.mark.parametrize("budget", [1, 2, 3, 4])
def test_seeds_stay_within_a_small_budget(target, budget):
    run, rows = _seed_run(target, budget)
    assert run.spent <= budget and len(rows) == run.evals <= budget


def test_hybrid_counts_the_analysis_render_in_its_budget(target):
    rows = []
    result = run_hybrid(target.audio, MatchConfig(budget=60, sr=target.sr, seed=1), callback=rows.extend)
    assert any(r.arm == "fit+envelope" for r in rows)  # so one analysis render was made
    assert len(rows) == result.evals == 59
    assert [r.eval for r in rows] == list(range(1, 60))
    assert result.loss == min(r.loss for r in rows)


def test_predictor_spread_comes_from_its_held_out_errors():
    model = load_default_model()
    spread = model.spread()
    mae = model.meta["holdout_metrics"]["mae"]
    # resonance: 1.25 x MAE in unit cube x log2(12 / 0.5) octaves
    assert spread["filter_res"] == pytest.approx(1.25 * mae["filter_res"] * 4.585, rel=1e-3)
    assert spread["env_sustain"] == pytest.approx(1.25 * mae["env_sustain"])
    bare = type(model)(model.x_mean, model.x_scale, model.cls_layers, model.reg_layers, {})
    assert bare.spread() is None
