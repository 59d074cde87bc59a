"""The evaluator: losses are a pure function of the patch, the same in one process or across workers."""

from __future__ import annotations

import numpy as np
import pytest

from matcher.evaluator import Evaluator
from synth.voices import SUBTRACTIVE

from tests.conftest import SR


def _patches(true_patch, n=9, seed=0):
    """The true patch, some neighbours, and random patches (all at the true duration)."""
    rng = np.random.default_rng(seed)
    space = SUBTRACTIVE.space.lock(duree=true_patch["duree"])
    out = [dict(true_patch), {**true_patch, "osc_freq": true_patch["osc_freq"] * 1.06}, {**true_patch, "filter_cutoff": true_patch["filter_cutoff"] * 2}]
    out += [space.decode(rng.random(space.dim)) for _ in range(n - len(out))]
    return out


def test_true_patch_scores_zero_and_others_do_not(valid_target):
    patch, audio = valid_target
    ev = Evaluator(audio, SR)
    losses, evaluated = ev.evaluate(_patches(patch))
    assert losses.shape == (9,) and np.all(np.isfinite(losses)) and np.all(losses >= 0)
    assert losses[0] == pytest.approx(0.0, abs=1e-9)
    assert np.all(losses[1:] > 0.1)
    assert losses[1] < np.median(losses[3:])  # a semitone off is nearer than a random patch
    assert evaluated == _patches(patch)  # without gain solving the patches come back unchanged


def test_losses_are_reproducible_in_process(valid_target):
    patch, audio = valid_target
    ps = _patches(patch, seed=4)
    a, _ = Evaluator(audio, SR).evaluate(ps)
    b, _ = Evaluator(audio, SR).evaluate(ps[::-1])
    np.testing.assert_array_equal(a, b[::-1])  # order of evaluation does not matter


def test_solve_gain_recovers_the_master_volume(valid_target):
    patch, audio = valid_target
    ev = Evaluator(audio, SR, solve_gain=True)
    wrong_gain = {**patch, "master_vol": 0.05}
    losses, evaluated = ev.evaluate([wrong_gain, {**patch, "osc_vol": 0.0, "noise_vol": 0.0}])
    assert evaluated[0]["master_vol"] == pytest.approx(patch["master_vol"], rel=1e-4)
    assert losses[0] < 1e-3
    # A silent candidate gets the highest gain, not a NaN.
    assert evaluated[1]["master_vol"] == SUBTRACTIVE.space["master_vol"].high
    assert np.isfinite(losses[1]) and losses[1] > 1.0


@pytest.mark.parametrize("solve_gain", [False, True])
def test_two_jobs_give_exactly_the_same_losses_as_one(valid_target, solve_gain):
    patch, audio = valid_target
    ps = _patches(patch, n=11, seed=1)
    one = Evaluator(audio, SR, jobs=1, solve_gain=solve_gain)
    two = Evaluator(audio, SR, jobs=2, solve_gain=solve_gain)
    try:
        two.warm_up()
        l1, p1 = one.evaluate(ps)
        l2, p2 = two.evaluate(ps)
        np.testing.assert_array_equal(l1, l2)
        assert p1 == p2
        # Twice in the same workers (cached target analysis) and a single patch (in process).
        l3, _ = two.evaluate(ps)
        np.testing.assert_array_equal(l1, l3)
        l4, _ = two.evaluate(ps[4:5])
        assert l4[0] == l1[4]
    finally:
        two.close()


def test_workers_switch_targets(valid_target, patch):
    """A worker that saw one target must not reuse its analysis for another."""
    true_patch, audio = valid_target
    from synth.render import render

    other_audio = render(patch(duree=true_patch["duree"]), SR, len(audio))
    ps = _patches(true_patch, n=6, seed=2)
    a = Evaluator(audio, SR, jobs=2)
    b = Evaluator(other_audio, SR, jobs=2)
    la, _ = a.evaluate(ps)
    lb, _ = b.evaluate(ps)
    la2, _ = a.evaluate(ps)
    np.testing.assert_array_equal(la, la2)
    np.testing.assert_array_equal(lb, Evaluator(other_audio, SR).evaluate(ps)[0])
    assert not np.array_equal(la, lb)


def test_empty_batch(valid_target):
    _, audio = valid_target
    losses, evaluated = Evaluator(audio, SR, jobs=1).evaluate([])
    assert losses.shape == (0,) and evaluated == []


def test_workers_stopped_by_a_command_are_started_again(valid_target):
    """``stop_workers`` (the CLI's, at its end) kills the workers; the next evaluator starts new ones."""
    from matcher.evaluator import stop_workers

    patch, audio = valid_target
    ps = _patches(patch, n=6, seed=3)
    l1, _ = Evaluator(audio, SR, jobs=1).evaluate(ps)
    Evaluator(audio, SR, jobs=2).evaluate(ps)
    stop_workers(2)
    two = Evaluator(audio, SR, jobs=2)
    two.warm_up()
    l2, _ = two.evaluate(ps)
    np.testing.assert_array_equal(l1, l2)
