"""experiments.fitness_rank: candidate kinds, scoring on the search's footing, and the rank statistics."""

from __future__ import annotations

import numpy as np
import pytest

from experiments.fitness_rank import METRICS, Candidate, candidate_patches, rank_target, score_candidates, suite_summary
from synth.render import render

SR = 22050
TRUE = dict(duree=0.5, osc_freq=220.0, osc_type="saw", osc_vol=0.8, noise_vol=0.0, filter_type="lowpass", filter_cutoff=1500.0,
            filter_res=1.2, env_attack=0.01, env_decay=0.1, env_sustain=0.6, env_release=0.1, master_vol=0.5)


def _cands(fitness, metric_values, kinds):
    return [Candidate(k, {}, f, {m: v for m in METRICS}) for f, v, k in zip(fitness, metric_values, kinds)]


def test_rank_target_agreement_and_gaps():
    kinds = ["a", "a", "b", "b"]
    agree = rank_target("s", "t", _cands([1, 2, 3, 4], [10, 20, 30, 40], kinds))
    assert all(agree.rho[m] == pytest.approx(1.0) for m in METRICS)
    assert agree.top1_in_top3 and agree.fitness_best_kind == agree.consensus_best_kind == "a"
    assert agree.kind_gap == {"a": 0.0, "b": 0.0}
    flip = rank_target("s", "t", _cands([3, 4, 1, 2], [10, 20, 30, 40], kinds))  # the fitness prefers b, the metrics a
    assert flip.rho["mfcc"] < 0 and flip.kind_gap["a"] > 0 > flip.kind_gap["b"]
    assert flip.fitness_best_kind == "b" and flip.consensus_best_kind == "a"
    s = suite_summary([agree, flip])
    assert s["mfcc_median"] == pytest.approx((1.0 + flip.rho["mfcc"]) / 2) and s["mfcc_worst"] == pytest.approx(flip.rho["mfcc"])


def test_candidate_kinds():
    history = [(5.0, dict(TRUE, filter_cutoff=600.0)), (3.0, dict(TRUE, filter_cutoff=900.0)), (4.0, dict(TRUE, osc_type="square")), (1.0, TRUE), (2.0, dict(TRUE, osc_freq=230.0))]
    out = candidate_patches(history, TRUE, 220.0, 0.5, np.random.default_rng(0), n_history=3, n_perturb=2, n_random=2)
    kinds = [k for k, _ in out]
    assert kinds.count("history_best") == 3 and kinds.count("history") == 2
    assert kinds.count("perturb_small") == kinds.count("perturb_large") == 2
    assert kinds.count("choice_swap") == 3 + 2  # the other oscillators and filters
    assert kinds.count("random_f0") == kinds.count("random") == 2
    for k, p in out:
        if k.startswith("perturb"):
            assert p["osc_type"] == "saw" and p["filter_type"] == "lowpass" and p["duree"] == 0.5
        if k == "random_f0":
            assert p["osc_freq"] == 220.0
    assert "random_f0" not in [k for k, _ in candidate_patches(history, TRUE, None, 0.5, np.random.default_rng(0), n_random=1)]


def test_score_candidates_solves_the_gain_and_ranks_the_truth_first():
    target = render(TRUE, SR, SR // 2)
    cands = score_candidates(target, SR, [("truth", dict(TRUE, master_vol=1.0)), ("near", dict(TRUE, filter_cutoff=1300.0)), ("far", dict(TRUE, osc_type="square", osc_freq=330.0))])
    assert [c.kind for c in cands] == ["truth", "near", "far"]
    assert cands[0].fitness < 1e-3 and cands[0].patch["master_vol"] == pytest.approx(0.5, rel=1e-3)
    assert cands[0].fitness < cands[1].fitness < cands[2].fitness
    for m in METRICS:
        assert cands[0].metrics[m] < cands[1].metrics[m] < cands[2].metrics[m]
    r = rank_target("in-domain", "t", cands)
    assert all(r.rho[m] == pytest.approx(1.0) for m in METRICS)
