"""The sweep store: transactional trials, resume keys, CSV export."""

from __future__ import annotations

import csv
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from experiments.store import Store, TrialKey
from experiments.suites import SuiteTarget


def _target(name: str = "t0") -> SuiteTarget:
    audio = np.sin(np.linspace(0, 100, 2205)).astype(np.float32)
    return SuiteTarget(name, audio, 22050, {"osc_type": "saw", "osc_freq": 220.0}, {"osc_type": "saw"})


def _record(target: str = "t0", optimizer: str = "cma", seed: int = 0, **extra) -> dict:
    return {"target": target, "optimizer": optimizer, "seed": seed, "budget": 100, "status": "ok", "final_loss": 1.5, "evals": 100, "wall_s": 0.7, "patch": {"osc_type": "saw", "osc_freq": 221.0}, "metrics": {"mfcc": 3.0, "osc_ok": 1.0}, **extra}


def test_targets_round_trip_with_audio_truth_and_labels(tmp_path):
    with Store(tmp_path / "run") as store:
        store.add_targets([_target()], "in-domain:1")
        store.add_targets([_target()], "in-domain:1")  # idempotent
        (t,) = store.targets()
    assert t["name"] == "t0" and t["suite"] == "in-domain:1" and t["sr"] == 22050
    np.testing.assert_array_equal(t["audio"], _target().audio)
    assert t["true_patch"]["osc_type"] == "saw" and t["labels"] == {"osc_type": "saw"}


def test_trial_and_curve_are_stored_once(tmp_path):
    with Store(tmp_path) as store:
        store.add_targets([_target()], "s")
        assert store.add_trial(_record(), [(1, 0.01, 5.0), (10, 0.1, 2.0), (100, 0.7, 1.5)])
        assert not store.add_trial(_record(final_loss=0.1), [(1, 0.0, 0.1)])  # same key: kept as it was
        (trial,) = store.trials()
        assert trial["final_loss"] == 1.5 and trial["metrics"] == {"mfcc": 3.0, "osc_ok": 1.0}
        assert store.finished_keys() == {TrialKey("t0", "cma", 0, 100)}
        np.testing.assert_array_equal(store.curves()[trial["id"]][:, 0], [1, 10, 100])


def test_a_failing_curve_rolls_the_trial_back(tmp_path):
    with Store(tmp_path) as store:
        store.add_targets([_target()], "s")
        assert not store.add_trial(_record(), [(1, 0.0, 2.0), (1, 0.0, 2.0)])  # duplicate curve point
        assert store.count() == 0 and store.curves() == {}


def test_a_process_killed_inside_a_transaction_leaves_no_trace(tmp_path):
    with Store(tmp_path) as store:
        store.add_targets([_target()], "s")
        store.add_trial(_record(seed=0))
    script = textwrap.dedent(
        f"""
        import os
        from experiments.store import Store
        s = Store({str(tmp_path)!r})
        s.conn.execute("BEGIN")
        s.conn.execute("INSERT INTO trials (target, optimizer, seed, budget, status, metrics) VALUES ('t0', 'cma', 1, 100, 'ok', '{{}}')")
        os._exit(9)  # dies before COMMIT
        """
    )
    assert subprocess.run([sys.executable, "-c", script]).returncode == 9
    with Store(tmp_path) as store:
        assert store.finished_keys() == {TrialKey("t0", "cma", 0, 100)}


def test_failed_trials_count_as_finished_and_export(tmp_path):
    with Store(tmp_path) as store:
        store.add_targets([_target()], "s")
        store.add_trial(_record())
        store.add_trial({"target": "t0", "optimizer": "ga", "seed": 0, "budget": 100, "status": "error", "error": "KeyError: boom"})
        assert len(store.finished_keys()) == 2 and len(store.trials()) == 1
        assert store.export_csv(tmp_path / "trials.csv") == 2
    rows = list(csv.DictReader(open(tmp_path / "trials.csv")))
    assert {"target", "optimizer", "seed", "budget", "final_loss", "evals", "wall_s", "mfcc", "osc_ok", "patch_osc_type"} <= set(rows[0])
    by_opt = {r["optimizer"]: r for r in rows}
    assert by_opt["cma"]["final_loss"] == "1.5" and by_opt["cma"]["patch_osc_type"] == "saw"
    assert by_opt["ga"]["status"] == "error" and by_opt["ga"]["error"] == "KeyError: boom"


def test_meta_round_trip(tmp_path):
    with Store(tmp_path) as store:
        store.set_meta("sweeps", ["matcher bench --seeds 3"])
    with Store(tmp_path) as store:
        assert store.get_meta("sweeps") == ["matcher bench --seeds 3"]
        assert store.get_meta("missing", 7) == 7


@pytest.mark.parametrize("name", ["store.sqlite", "other.db"])
def test_store_accepts_a_file_path(tmp_path, name):
    with Store(tmp_path / name) as store:
        assert store.path == tmp_path / name


def test_a_run_folder_with_a_dot_in_its_name_is_a_folder(tmp_path):
    with Store(tmp_path / "sweep.v2") as store:
        assert store.path == tmp_path / "sweep.v2" / "store.sqlite"
