"""Sweeps: trial scoring, resume after a killed run, dask == loky, the report."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from experiments.bench import PAUSE_ENV, Trial, curve_grid, plan_sweep, run_sweep, run_trial, score_patch
from experiments.sox_suite import SOX_OSC_TO_OURS, load_suite, sox_available
from experiments.store import Store, TrialKey
from experiments.suites import in_domain_suite

REPO = Path(__file__).resolve().parents[2]


def _matcher_cmd() -> list[str]:
    script = Path(sys.executable).parent / "matcher"
    return [str(script)] if script.exists() else [sys.executable, "-c", "from matcher.cli import main; main()"]


def tiny_run(out: Path, budget: int = 40, optimizers=("random", "cma"), workers: int = 2) -> Path:
    """A two-target sweep (in-domain, plus SoX when installed) used by the report tests."""
    targets = in_domain_suite(1, seed=3)
    suites = [("in-domain:1", targets)]
    if sox_available():
        sox = load_suite("sox:1", seed=3)
        suites.append(("sox:1", sox))
        targets = targets + sox
    with Store(out) as store:
        for spec, ts in suites:
            store.add_targets(ts, spec)
        store.set_meta("sweeps", ["(tiny test sweep)"])
        run_sweep(store, targets, list(optimizers), [0], budget, workers=workers)
        store.export_csv(out / "trials.csv")
    return out


def test_curve_grid_is_log_spaced_and_ends_at_the_budget():
    g = curve_grid(1000)
    assert g[0] == 1 and g[-1] == 1000 and np.all(np.diff(g) > 0) and len(g) <= 40
    assert list(curve_grid(1)) == [1]


def test_score_patch_against_truth_and_labels():
    (t,) = in_domain_suite(1, seed=5)
    perfect = score_patch(t.true_patch, t)
    assert perfect["osc_ok"] == perfect["filter_ok"] == perfect["choices_ok"] == perfect["f0_ok"] == 1.0
    assert perfect["f0_cents"] == pytest.approx(0.0, abs=1e-9) and perfect["param_mae"] == pytest.approx(0.0, abs=1e-9)
    wrong = dict(t.true_patch, osc_freq=2 * float(t.true_patch["osc_freq"]), osc_type="sine" if t.true_patch["osc_type"] != "sine" else "saw")
    s = score_patch(wrong, t)
    assert s["osc_ok"] == 0.0 and s["choices_ok"] == 0.0 and s["f0_cents"] == pytest.approx(1200.0) and s["f0_ok"] == 0.0


@pytest.mark.skipif(not sox_available(), reason="sox is not installed (Debian package 'sox'; .ci/install-system-deps.sh installs it)")
def test_sox_suite_is_deterministic_and_labelled():
    a, b = load_suite("sox:3", seed=1), load_suite("sox:3", seed=1)
    for x, y in zip(a, b):
        assert x.name == y.name and x.labels == y.labels
        np.testing.assert_array_equal(x.audio, y.audio)
        assert x.sr == 22050 and 0.1 < float(np.max(np.abs(x.audio))) <= 1.0
        assert x.labels["osc_type"] in SOX_OSC_TO_OURS.values() and x.labels["filter_type"] in ("lowpass", "highpass", "bandpass")
        assert x.labels["sox_command"].startswith("sox -n")


def test_run_trial_records_metrics_curve_and_is_reproducible():
    (t,) = in_domain_suite(1, seed=4)
    a, b = run_trial(t, "random", 1, 30), run_trial(t, "random", 1, 30)
    assert a.record["status"] == "ok", a.record.get("error")
    for k in ("final_loss", "evals", "patch"):
        assert a.record[k] == b.record[k]
    assert {"mfcc", "lsd_db", "mrstft", "osc_ok", "filter_ok", "f0_cents", "param_mae"} <= set(a.record["metrics"])
    evals = [e for e, _, _ in a.curve]
    bests = [v for _, _, v in a.curve]
    assert evals[-1] == a.record["evals"] == 30 and bests[-1] == pytest.approx(a.record["final_loss"])
    assert all(x >= y for x, y in zip(bests, bests[1:]))


def test_a_failing_strategy_is_recorded_not_raised():
    (t,) = in_domain_suite(1, seed=4)
    out = run_trial(t, "no-such-optimizer", 0, 10)
    assert out.record["status"] == "error" and "no-such-optimizer" in out.record["error"]


BENCH = {"suite": "in-domain:2", "suite_seed": 7, "optimizers": ["random", "cma"], "seeds": 3, "budget": 30}


def _bench_args(out: Path) -> list[str]:
    b = BENCH
    return ["bench", "--suite", b["suite"], "--optimizers", ",".join(b["optimizers"]), "--budget", str(b["budget"]), "--seeds", str(b["seeds"]), "--workers", "2", "--suite-seed", str(b["suite_seed"]), "--out", str(out)]


def _keys_and_losses(out: Path) -> dict[TrialKey, tuple]:
    with Store(out) as store:
        return {TrialKey(t["target"], t["optimizer"], t["seed"], t["budget"]): (t["final_loss"], t["evals"], t["patch"]) for t in store.trials(status=None)}


def _run_until(cmd: list[str], out: Path, n_new: int, sig: int) -> tuple[int, int, str]:
    """Start a sweep that pauses once it has committed ``n_new`` trials (the ``PAUSE_ENV`` hook); then send ``sig`` to its group.

    Returns the exit status, the number of stored trials and the sweep's stderr.

    The sweep cannot finish before the signal, however fast the machine: it
    waits at the pause, and the test waits for the store to show the ``n_new``
    commits (polling the store, not timing anything).
    """
    def stored() -> int:
        if not (out / "store.sqlite").exists():  # the sweep has not created its store yet
            return 0
        with Store(out) as store:
            return store.count()

    before = stored()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env[PAUSE_ENV] = str(n_new)
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    count = before
    try:
        deadline = time.monotonic() + 300  # a hung sweep fails the test instead of hanging it
        while count < before + n_new and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
            count = stored()
        assert proc.poll() is None, f"the sweep ended (status {proc.returncode}) before pausing: {proc.communicate()[1]}"
        assert count == before + n_new, f"{count - before} trials committed, the sweep should pause after {n_new}"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, sig)  # the whole sweep, CLI and loky workers, as Ctrl-C or a kill would
    _, stderr = proc.communicate(timeout=300)  # a safety net against a hang, not a speed limit: a loaded machine took over 60 s to stop
    return proc.returncode, count, stderr


def test_resume_after_ctrl_c_and_a_killed_run_gives_the_same_trials(tmp_path):
    cmd = _matcher_cmd() + _bench_args(tmp_path / "run")
    out = tmp_path / "run"
    total = len(BENCH["optimizers"]) * BENCH["seeds"] * int(BENCH["suite"].split(":")[1])

    status, n1, stderr = _run_until(cmd, out, 1, signal.SIGINT)  # Ctrl-C after the first trial
    assert status == 130 and "interrupted" in stderr, stderr
    status, n2, _ = _run_until(cmd, out, 2, signal.SIGKILL)  # killed outright after two more
    assert status == -signal.SIGKILL
    partial = _keys_and_losses(out)
    assert (n1, n2, len(partial)) == (1, 3, 3) and len(partial) < total

    env = {k: v for k, v in os.environ.items() if k != PAUSE_ENV}
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert f"{len(partial)} already in" in " ".join(done.stderr.split())
    resumed = _keys_and_losses(out)

    # The uninterrupted sweep, trial by trial in this process.
    b = BENCH
    expected = {}
    for t in load_suite(b["suite"], seed=b["suite_seed"]):
        for seed in range(b["seeds"]):
            for o in b["optimizers"]:
                r = run_trial(t, o, seed, b["budget"]).record
                expected[TrialKey(t.name, o, seed, b["budget"])] = (r["final_loss"], r["evals"], r["patch"])
    assert len(expected) == total
    assert resumed == expected  # same set of trials, none lost or doubled, same results
    with Store(out) as store:
        assert store.count() == total
    assert len((out / "trials.csv").read_text().strip().splitlines()) == 1 + total


def test_dask_local_cluster_gives_the_same_results_as_loky(tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    targets = in_domain_suite(1, seed=11)
    optimizers, budget = ["random", "cma"], 420  # past the screening design, so the optimisers matter
    results = {}
    for backend in ("loky", "dask"):
        with Store(tmp_path / backend) as store:
            store.add_targets(targets, "in-domain:1")
            if backend == "dask":
                with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None) as cluster:
                    run_sweep(store, targets, optimizers, [0], budget, backend="dask", scheduler=cluster.scheduler_address)
            else:
                run_sweep(store, targets, optimizers, [0], budget, workers=2)
            results[backend] = {(t["target"], t["optimizer"], t["seed"]): t for t in store.trials(status=None)}
            hosts = {t["host"].split(":")[1] for t in results[backend].values()}
            assert str(os.getpid()) not in hosts  # trials ran in worker processes
    assert results["loky"].keys() == results["dask"].keys() and len(results["loky"]) == 2
    for k, a in results["loky"].items():
        b = results["dask"][k]
        assert a["status"] == b["status"] == "ok", (a["error"], b["error"])
        assert (a["final_loss"], a["evals"], a["patch"]) == (b["final_loss"], b["evals"], b["patch"])
        assert a["metrics"] == pytest.approx(b["metrics"])


def test_plan_skips_finished_trials(tmp_path):
    targets = in_domain_suite(2, seed=2)
    with Store(tmp_path) as store:
        store.add_targets(targets, "in-domain:2")
        store.add_trial({"target": targets[0].name, "optimizer": "cma", "seed": 1, "budget": 50, "status": "ok", "final_loss": 1.0, "evals": 50, "wall_s": 0.1})
        plan = plan_sweep(store, targets, ["cma", "ga"], range(2), 50)
    assert len(plan.trials) == 8 and plan.done == 1
    assert Trial(targets[0], "cma", 1, 50).key not in {t.key for t in plan.todo}


def test_report_renders_from_a_tiny_sweep(tmp_path):
    from experiments.sweep_report import write_report

    run = tiny_run(tmp_path / "run")
    page, md = write_report(run, n_examples=2)
    text = page.read_text()
    for name in ("convergence.png", "final_quality.png", "param_errors.png", "winrate.png"):
        assert (run / "report_files" / name).stat().st_size > 1000
        assert f"report_files/{name}" in text
    assert "http://" not in text and "https://" not in text  # offline page
    n_targets = 2 if sox_available() else 1
    assert text.count("<audio") == n_targets * 3  # per target: the target and 2 optimisers' matches
    for src in [s.split("'")[0] for s in text.split("src='")[1:]]:
        assert (run / src).is_file(), src
    assert (run / "summary.md").read_text().endswith(md.split("\n\n", 1)[1])
    assert "| in-domain | random |" in md and "| in-domain | cma |" in md


def test_cli_bench_rejects_bad_input_without_a_traceback(tmp_path):
    cmd = _matcher_cmd()
    for args, message in (
        (["--suite", "nope:3"], "unknown suite"),
        (["--optimizers", "cma,bogus"], "unknown optimizer 'bogus'"),
        (["--backend", "dask"], "--scheduler"),
        (["--suite", f"dir:{tmp_path / 'missing'}"], "not a folder"),
    ):
        r = subprocess.run(cmd + ["bench", "--out", str(tmp_path / "o"), *args], capture_output=True, text=True, cwd=REPO)
        assert r.returncode == 2 and message in " ".join(r.stderr.split()) and "Traceback" not in r.stderr, r.stderr
    r = subprocess.run(cmd + ["report", str(tmp_path)], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 2 and "no store.sqlite" in r.stderr


def test_sox_suite_says_clearly_when_sox_is_absent(monkeypatch):
    from experiments.sox_suite import SuiteError

    monkeypatch.setattr("experiments.sox_suite.shutil.which", lambda name: None)
    with pytest.raises(SuiteError, match="not installed.*apt-get install -y sox"):
        load_suite("sox:1")


def test_win_matrix_curves_and_budget_labels_on_synthetic_trials():
    from experiments.sweep_report import aggregate_curves, label_budgets, summary_markdown, win_matrix

    trials, curves = [], {}
    for i, (target, seed, opt, loss) in enumerate(
        [("a", 0, "x", 1.0), ("a", 0, "y", 2.0), ("a", 1, "x", 3.0), ("a", 1, "y", 3.0), ("b", 0, "x", 5.0), ("b", 0, "y", 4.0)]
    ):
        trials.append({"id": i, "target": target, "suite": "in-domain:2", "optimizer": opt, "seed": seed, "budget": 10, "final_loss": loss, "wall_s": 1.0, "evals": 10, "metrics": {"mfcc": loss}})
        curves[i] = np.array([[1, 0.1, 10 * loss], [10, 1.0, loss]])
    w = win_matrix(trials, ["x", "y"])
    assert w[0, 1] == pytest.approx((1 + 0.5 + 0) / 3) and w[1, 0] == pytest.approx((0 + 0.5 + 1) / 3) and np.isnan(w[0, 0])
    grid, stats = aggregate_curves(trials, curves, "eval")
    assert grid[0] == 1 and grid[-1] == pytest.approx(10)
    np.testing.assert_allclose(stats["x"][1, [0, -1]], [30.0, 3.0])  # medians of (10, 30, 50) and (1, 3, 5)
    md = summary_markdown(trials)
    assert "| in-domain | x | 3 | 3 [2–4] |" in md and "50 %" in md
    mixed = label_budgets(trials + [dict(trials[0], id=99, budget=20)])
    assert {t["optimizer"] for t in mixed} == {"x@10", "y@10", "x@20"}
    assert label_budgets(trials) == trials


def test_a_resumed_sweep_uses_the_stored_targets_and_says_when_the_suite_changed(tmp_path):
    import io

    from rich.console import Console

    from experiments.cli_bench import _stored_versions
    from experiments.suites import SuiteTarget

    (t,) = in_domain_suite(1, seed=9)
    old = SuiteTarget(t.name, 0.5 * t.audio, t.sr, t.true_patch, t.labels)  # as an older voice made it
    buf = io.StringIO()
    with Store(tmp_path) as store:
        store.add_targets([old], "in-domain:1")
        ((spec, (used,)),) = _stored_versions(store, [("in-domain:1", [t])], Console(file=buf, width=200))
        np.testing.assert_array_equal(used.audio, old.audio)
        assert "1 target(s) would now be made differently" in buf.getvalue()
        buf.truncate(0)
        (t2,) = in_domain_suite(1, seed=10)
        ((_, (new,)),) = _stored_versions(store, [("in-domain:1", [t2])], Console(file=buf, width=200))
        assert new is t2 and buf.getvalue() == "" and len(store.targets()) == 2
