"""The two-objective search (issue 11): the fitness splits into spectral + envelope, NSGA-II stays in
bounds and is reproducible, the front is non-dominated, the knee is on it, and ``matcher match
--optimizer nsga2`` returns the knee and writes ``pareto.csv``."""

from __future__ import annotations

import csv
import json
import random

import numpy as np
import pytest
from typer.testing import CliRunner

from matcher.cli import app
from matcher.evaluator import Evaluator
from matcher.optimizers import OPTIMIZERS, make_optimizer
from matcher.pareto import front_of_rows, is_two_objective, knee_index, non_dominated, pareto_csv
from matcher.search import MatchConfig, run_match
from objectives.distance import Fitness
from objectives.features import analyse
from synth.render import render
from synth.voices import get_voice

from tests.conftest import SR

pytestmark = pytest.mark.filterwarnings("ignore:Conversion of an array with ndim > 0:DeprecationWarning")

runner = CliRunner()


def _dominates(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.all(a <= b) and np.any(a < b))


def _assert_front(points: np.ndarray, front: np.ndarray) -> None:
    """``front`` is non-dominated, and every one of ``points`` is dominated by or equal to a front point."""
    for i, p in enumerate(front):
        assert not any(_dominates(q, p) for j, q in enumerate(front) if j != i), p
    for p in points:
        assert any(_dominates(f, p) or np.array_equal(f, p) for f in front), p


# -- front bookkeeping ------------------------------------------------------------------------
def test_non_dominated_matches_brute_force():
    rng = np.random.default_rng(0)
    for n in (1, 2, 17, 300):
        pts = rng.random((n, 2))
        pts[::3, 0] = np.round(pts[::3, 0], 1)  # ties in one objective
        pts = np.concatenate([pts, pts[: n // 3]])  # identical twins
        keep = non_dominated(pts)
        brute = [i for i, p in enumerate(pts) if not any(_dominates(q, p) for q in pts)]
        assert {tuple(pts[i]) for i in keep} == {tuple(pts[i]) for i in brute}
        assert len({tuple(pts[i]) for i in keep}) == len(keep)  # identical points once
        assert np.all(np.diff(pts[keep, 0]) > 0) and np.all(np.diff(pts[keep, 1]) < 0)
        _assert_front(pts, pts[keep])


def test_non_dominated_keeps_the_first_of_twins_and_drops_nan():
    pts = np.array([[1.0, 2.0], [1.0, 2.0], [np.nan, 0.0], [2.0, 1.0], [1.0, 3.0]])
    assert non_dominated(pts).tolist() == [0, 3]


def test_knee_is_on_the_front_and_at_the_bend():
    x = np.linspace(0.0, 1.0, 21)
    front = np.stack([x, (1.0 - np.sqrt(x)) ** 2], axis=1)  # symmetric, bends at x = 0.25
    k = knee_index(front)
    assert front[k, 0] == pytest.approx(0.25)
    assert knee_index(front[:1]) == 0
    # Scaling an objective does not move the knee (each is normalised over the front).
    assert knee_index(front * [1000.0, 0.01]) == k
    with pytest.raises(ValueError):
        knee_index(np.zeros((0, 2)))


# -- the fitness in two parts -------------------------------------------------------------------
def test_objectives_sum_to_the_fitness(valid_target, patch):
    true_patch, audio = valid_target
    fitness = Fitness(analyse(audio, SR))
    assert fitness.objectives(audio) == (0.0, 0.0)
    for p in (patch(), patch(env_attack=0.2), patch(filter_cutoff=800.0), {**true_patch, "env_sustain": 0.1}):
        cand = render({**p, "duree": len(audio) / SR}, SR, len(audio))
        spectral, envelope = fitness.objectives(cand)
        assert spectral >= 0 and envelope >= 0
        assert spectral + envelope == pytest.approx(fitness(cand), rel=1e-12)
    # A slower attack shows up mostly in the envelope objective.
    base = render({**true_patch}, SR, len(audio))
    slow = render({**true_patch, "env_attack": min(0.5, 4 * float(true_patch["env_attack"]) + 0.05)}, SR, len(audio))
    s0, e0 = fitness.objectives(base)
    s1, e1 = fitness.objectives(slow)
    assert e1 - e0 > s1 - s0


def test_nonfinite_audio_is_penalised_in_both(valid_target):
    _, audio = valid_target
    bad = audio.copy()
    bad[10] = np.nan
    fitness = Fitness(analyse(audio, SR))
    s, e = fitness.objectives(bad)
    assert s == e and s + e == fitness(bad)


def test_evaluator_objectives_agree_with_its_losses(valid_target, patch):
    _, audio = valid_target
    ev = Evaluator(audio, SR, solve_gain=True)
    patches = [patch(duree=len(audio) / SR), patch(duree=len(audio) / SR, osc_type="square", filter_cutoff=900.0)]
    losses, evaluated = ev.evaluate(patches)
    losses2, objectives, evaluated2 = ev.evaluate_objectives(patches)
    assert objectives.shape == (2, 2)
    np.testing.assert_allclose(losses2, losses, rtol=1e-12)
    np.testing.assert_allclose(objectives.sum(axis=1), losses, rtol=1e-12)
    assert evaluated2 == evaluated


# -- the optimiser ------------------------------------------------------------------------------
def _zdt1(u: np.ndarray) -> np.ndarray:
    g = 1.0 + 9.0 * np.mean(u[:, 1:], axis=1)
    return np.stack([u[:, 0], g * (1.0 - np.sqrt(u[:, 0] / g))], axis=1)


def _run_zdt1(seed: int, generations: int = 25, dim: int = 4):
    opt = make_optimizer("nsga2", dim, budget=32 * generations, seed=seed, x0=np.full(dim, 0.5), sigma0=0.3)
    asked, told = [], []
    for _ in range(generations):
        u = opt.ask()
        obj = _zdt1(u)
        opt.tell(u, obj.sum(axis=1), objectives=obj)
        asked.append(u)
        told.append(obj)
    return opt, np.concatenate(asked), np.concatenate(told)


def test_nsga2_is_registered_as_two_objective():
    assert "nsga2" in OPTIMIZERS and OPTIMIZERS["nsga2"].n_objectives == 2
    assert is_two_objective("nsga2") and not is_two_objective("cma") and not is_two_objective("hybrid")


def test_nsga2_stays_in_bounds_is_reproducible_and_leaves_random_alone():
    state = random.getstate()
    opt, asked, told = _run_zdt1(seed=4)
    assert random.getstate() == state
    assert asked.min() >= 0.0 and asked.max() <= 1.0
    assert opt.ask().shape == (32, 4)
    _, asked_again, _ = _run_zdt1(seed=4)
    np.testing.assert_array_equal(asked, asked_again)
    _, asked_other, _ = _run_zdt1(seed=5)
    assert not np.array_equal(asked, asked_other)
    np.testing.assert_array_equal(opt.recommend(), asked[int(np.argmin(told.sum(axis=1)))])


def test_nsga2_approaches_the_true_front():
    _, _, told = _run_zdt1(seed=0, generations=30)
    first, last = told[:32], told[-32 * 5 :]
    # distance of the points to ZDT1's true front f2 = 1 - sqrt(f1) (g = 1) shrinks
    gap = lambda o: float(np.median(o[:, 1] - (1.0 - np.sqrt(o[:, 0]))))  # noqa: E731
    assert gap(last) < 0.5 * gap(first)
    front = told[non_dominated(told)]
    assert len(front) >= 5 and np.ptp(front[:, 0]) > 0.3  # a spread front, not one point


# -- the search and the match -------------------------------------------------------------------
def _nsga_match(audio, budget=120, seed=0):
    rows = []
    config = MatchConfig(optimizer="nsga2", budget=budget, seed=seed, sr=SR)
    result = run_match(audio, config, callback=rows.extend, combos=[{"osc_type": "saw", "filter_type": "bandpass"}, {"osc_type": "square", "filter_type": "lowpass"}])
    return result, rows


def test_search_records_both_objectives_and_is_reproducible(valid_target):
    _, audio = valid_target
    result, rows = _nsga_match(audio)
    assert len(rows) == result.evals == 120
    assert all(r.objectives is not None and sum(r.objectives) == pytest.approx(r.loss, rel=1e-12) for r in rows)
    space = get_voice("subtractive").space
    for r in rows:
        space.check(r.patch)  # every evaluated patch is within the parameter ranges
    # The front is the winning arm's (the arm of the best scalar loss), over all its evaluations.
    front = front_of_rows(rows)
    winner = min(rows, key=lambda r: r.loss)
    mine = [r for r in rows if r.arm == winner.arm]
    assert len({r.arm for r in rows}) > 1 and {p.arm for p in front.points} == {winner.arm}
    obj = np.array([r.objectives for r in mine])
    _assert_front(obj, front.objectives())
    assert 0 <= front.knee < len(front)
    assert tuple(front.objectives()[front.knee]) in {tuple(o) for o in obj}
    assert winner.objectives in {(p.spectral, p.envelope) for p in front.points}  # the best scalar point is on it
    everywhere = front_of_rows(rows, all_arms=True)
    _assert_front(np.array([r.objectives for r in rows]), everywhere.objectives())
    _, again = _nsga_match(audio)
    assert [(r.loss, r.objectives) for r in again] == [(r.loss, r.objectives) for r in rows]
    _, other = _nsga_match(audio, seed=1)
    assert [r.loss for r in other] != [r.loss for r in rows]


def test_single_objective_rows_have_no_front(valid_target):
    _, audio = valid_target
    rows = []
    run_match(audio, MatchConfig(optimizer="random", budget=40, sr=SR), callback=rows.extend)
    assert all(r.objectives is None for r in rows) and front_of_rows(rows) is None


def test_match_cli_returns_the_knee_and_writes_pareto_csv(valid_target, tmp_path):
    import soundfile as sf

    _, audio = valid_target
    wav = tmp_path / "target.wav"
    sf.write(wav, audio, SR, subtype="FLOAT")
    out = tmp_path / "m"
    result = runner.invoke(app, ["match", str(wav), "--optimizer", "nsga2", "--budget", "160", "--out", str(out)])
    assert result.exit_code == 0, (result.output, result.exception)
    assert (out / "report.png").stat().st_size > 0
    with open(out / "pareto.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    names = get_voice("subtractive").space.names
    with open(out / "pareto.csv", newline="") as f:
        header = next(csv.reader(f))
    assert header[:3 + len(names)] == ["spectral", "envelope", "fitness", *names]
    obj = np.array([(float(r["spectral"]), float(r["envelope"])) for r in rows])
    _assert_front(obj, obj)  # non-dominated as written
    assert sum(r["knee"] == "1" for r in rows) == 1
    knee = next(r for r in rows if r["knee"] == "1")
    assert int(np.argmin(np.hypot(*((obj - obj.min(0)) / np.where(np.ptp(obj, 0) > 0, np.ptp(obj, 0), 1)).T))) == rows.index(knee)
    doc = json.loads((out / "patch.json").read_text())
    assert doc["distance"] == pytest.approx(float(knee["fitness"]))
    assert doc["pareto"]["front_size"] == len(rows)
    for n in names:
        v = doc["params"][n]
        assert (v == knee[n]) if isinstance(v, str) else v == pytest.approx(float(knee[n]))
    assert doc["polish_evals"] == 0 and doc["evals"] == 160
    with open(out / "history.csv", newline="") as f:
        history = list(csv.DictReader(f))
    assert len(history) == 160
    assert min(float(h["loss"]) for h in history) <= float(knee["fitness"]) * (1 + 1e-5)  # history.csv has 6 digits
    # One arm's front (the winner's), which holds the best evaluation of the match.
    assert len({r["arm"] for r in rows}) == 1
    assert min(float(r["fitness"]) for r in rows) == pytest.approx(min(float(h["loss"]) for h in history), rel=1e-5)


def test_pareto_csv_round_trip():
    from matcher.pareto import FrontPoint, ParetoFront

    names = ["a", "kind"]
    front = ParetoFront((FrontPoint(1.0 / 3.0, 2.0, 7.0 / 3.0, {"a": 0.1, "kind": "saw"}, 5, "x"), FrontPoint(0.5, 1.0, 1.5, {"a": 0.2, "kind": "sine"}, 9, "y")), knee=1)
    rows = list(csv.DictReader(pareto_csv(front, names).splitlines()))
    assert [float(r["spectral"]) for r in rows] == [1.0 / 3.0, 0.5]  # full precision
    assert [r["knee"] for r in rows] == ["0", "1"] and rows[1]["kind"] == "sine"


def test_bench_trial_answers_with_the_knee_and_records_the_front_size(valid_target):
    from experiments.bench import run_trial
    from experiments.suites import SuiteTarget
    from experiments.sweep_report import summary_markdown

    true_patch, audio = valid_target
    target = SuiteTarget("t0", audio, SR, true_patch, {"osc_type": true_patch["osc_type"], "filter_type": true_patch["filter_type"], "f0_hz": true_patch["osc_freq"]})
    out = run_trial(target, "nsga2", seed=0, budget=100)
    rec = out.record
    assert rec["status"] == "ok", rec.get("error")
    assert rec["metrics"]["front_size"] >= 1 and "mfcc" in rec["metrics"]
    assert rec["final_loss"] >= out.curve[-1][2] - 1e-9  # the knee, never better than the best evaluated
    trial = {"id": 0, "target": "t0", "suite": "in-domain:1", "optimizer": "nsga2", "seed": 0, "budget": 100, "final_loss": rec["final_loss"], "wall_s": rec["wall_s"], "evals": rec["evals"], "metrics": rec["metrics"]}
    md = summary_markdown([trial])
    assert "front points" in md.splitlines()[0]
    assert md.splitlines()[2].rstrip(" |").endswith(f"{rec['metrics']['front_size']:.3g}")


@pytest.mark.slow  # starts worker processes
def test_objectives_do_not_depend_on_the_worker_processes(valid_target, patch):
    _, audio = valid_target
    patches = [patch(duree=len(audio) / SR, filter_cutoff=c, osc_type=o) for c in (500.0, 1500.0, 4000.0) for o in ("saw", "square", "sine")]
    here = Evaluator(audio, SR, solve_gain=True).evaluate_objectives(patches)
    shared = Evaluator(audio, SR, jobs=2, solve_gain=True)
    shared.warm_up()
    there = shared.evaluate_objectives(patches)
    np.testing.assert_array_equal(there[0], here[0])
    np.testing.assert_array_equal(there[1], here[1])
    assert there[2] == here[2]


@pytest.mark.parametrize("voice_name", sorted(__import__("synth.voices", fromlist=["VOICES"]).VOICES))
def test_nsga2_searches_every_voice(valid_target, voice_name):
    _, audio = valid_target
    rows = []
    space = get_voice(voice_name).space
    combo = {p.name: p.choices[0] for p in space.params if p.is_choice}
    result = run_match(audio, MatchConfig(optimizer="nsga2", budget=70, voice=voice_name, sr=SR), callback=rows.extend, combos=[combo] if combo else None)
    assert result.evals == 70 and all(r.objectives is not None for r in rows)
    for r in rows:
        space.check(r.patch)
    front = front_of_rows(rows)
    assert len(front) >= 1 and 0 <= front.knee < len(front)
