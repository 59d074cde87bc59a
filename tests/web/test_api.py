"""The job API of ``matcher serve``: bad uploads, the queue, live events, results, restarts."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from starlette.testclient import TestClient
from typer.testing import CliRunner

from matcher.cli import app as cli_app
from matcher.web.app import create_app

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "targets" / "saw_lowpass.wav"
SMALL_BUDGET = 60
"""Evaluations of the matches these tests run (enough to see progress, small enough to be quick)."""

WAIT_S = 240.0
"""Generous upper bound on waiting for a job (the machine is shared); tests wait for a state, not a time."""


def wait_for(client: TestClient, job_id: str, states: tuple[str, ...] = ("done", "failed")) -> dict:
    deadline = time.monotonic() + WAIT_S
    while True:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["state"] in states or time.monotonic() > deadline:
            return job
        time.sleep(0.1)


def post(client: TestClient, path: Path, **fields: str):
    with open(path, "rb") as fh:
        return client.post("/api/jobs", files={"file": (path.name, fh, "application/octet-stream")}, data=fields)


def data_files(data_dir: Path) -> list[Path]:
    return sorted(p for p in data_dir.rglob("*") if p.is_file())


def _write(path: Path, audio: np.ndarray, sr: int) -> Path:
    sf.write(path, audio.astype(np.float32), sr, subtype="FLOAT")
    return path


def bad_files(folder: Path) -> dict[str, Path]:
    """One file per kind of bad upload."""
    t = np.arange(22050 * 9) / 22050
    (folder / "empty.wav").write_bytes(b"")
    (folder / "notes.txt").write_text("not audio at all\n")
    return {
        "empty": folder / "empty.wav",
        "not audio": folder / "notes.txt",
        "too long": _write(folder / "long.wav", 0.3 * np.sin(2 * np.pi * 220 * t), 22050),
        "silence": _write(folder / "silence.wav", np.zeros(22050), 22050),
    }


@pytest.fixture
def client(tmp_path):
    with TestClient(create_app(tmp_path / "data", jobs=1)) as c:
        yield c


@pytest.mark.parametrize("kind", ["empty", "not audio", "too long", "silence"])
def test_bad_upload_gets_the_clis_one_line_message_and_leaves_nothing(tmp_path, client, monkeypatch, kind):
    path = bad_files(tmp_path)[kind]
    monkeypatch.chdir(tmp_path)
    cli = CliRunner().invoke(cli_app, ["match", path.name, "--budget", "5"])
    assert cli.exit_code == 2
    cli_message = cli.output.strip().removeprefix("error: ")
    response = post(client, path)
    assert response.status_code == 400
    assert response.json() == {"error": cli_message}
    assert "\n" not in cli_message and cli_message.startswith(f"{path.name}: ")
    assert data_files(tmp_path / "data") == []
    assert client.get("/api/jobs").json() == {"jobs": []}


def test_upload_over_the_size_cap_is_refused_and_leaves_nothing(tmp_path):
    with TestClient(create_app(tmp_path / "data", upload_cap_bytes=50_000)) as c:
        response = post(c, EXAMPLE)  # 1 s of 44.1 kHz float: about 176 kB
        assert response.status_code == 400
        assert response.json() == {"error": "saw_lowpass.wav: larger than the upload cap of 0.05 MB"}
        assert data_files(tmp_path / "data") == []


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"voice": "theremin"}, "unknown voice 'theremin'"),
        ({"optimizer": "annealing"}, "unknown optimizer 'annealing'"),
        ({"budget": "0"}, "--budget must be a positive number of evaluations, got 0"),
        ({"budget": "lots"}, "--budget must be a positive number of evaluations, got 'lots'"),
    ],
)
def test_bad_settings_are_refused_with_the_clis_message(tmp_path, client, fields, message):
    response = post(client, EXAMPLE, **fields)
    assert response.status_code == 400 and message in response.json()["error"]
    assert data_files(tmp_path / "data") == []


def test_two_uploads_queue_and_run_one_at_a_time_with_live_events(tmp_path, client):
    first = post(client, EXAMPLE, budget=str(SMALL_BUDGET))
    second = post(client, EXAMPLE, budget=str(SMALL_BUDGET), optimizer="cma")
    assert first.status_code == second.status_code == 201
    assert first.json()["state"] == second.json()["state"] == "queued"
    ids = [first.json()["id"], second.json()["id"]]

    events = []
    with client.stream("GET", f"/api/jobs/{ids[0]}/events") as stream:  # the hybrid reports several batches
        for line in stream.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[len("data: "):]))
    states = [e["state"] for e in events]
    assert states[0] in ("queued", "running") and states[-1] == "done"
    running = [e for e in events if e["state"] == "running" and e["evals"] > 0]
    assert len({e["evals"] for e in running}) >= 2  # progress arrived while the search ran
    points = [p for e in events for p in e["history"]]
    assert [e["history_start"] for e in events] == list(np.cumsum([0] + [len(e["history"]) for e in events[:-1]]))
    assert [p[0] for p in points] == sorted(p[0] for p in points)

    jobs = [wait_for(client, job_id) for job_id in ids]
    assert [j["state"] for j in jobs] == ["done", "done"]
    assert jobs[1]["started_s"] >= jobs[0]["finished_s"]  # one search at a time, in order
    assert jobs[1]["settings"]["optimizer"] == "cma" and jobs[0]["settings"]["optimizer"] == "hybrid"
    for job in jobs:
        assert {p["name"] for p in job["result"]["params"]} >= {"osc_freq", "osc_type"}
        assert all("unit" in p for p in job["result"]["params"])
        assert job["evals"] <= SMALL_BUDGET
    files = client.get(f"/api/jobs/{ids[0]}/files/patch.json?download=1")
    assert files.status_code == 200 and "attachment" in files.headers["content-disposition"]
    assert json.loads(files.content)["voice"] == "subtractive"
    assert client.get(f"/api/jobs/{ids[0]}/files/target").content == EXAMPLE.read_bytes()
    for name in ("match.wav", "synth.py", "target.png", "match.png", "report.png", "history.csv"):
        assert client.get(f"/api/jobs/{ids[0]}/files/{name}").status_code == 200, name
    assert client.get(f"/api/jobs/{ids[0]}/files/..%2Fjob.json").status_code == 404
    assert client.get("/api/jobs/nonexistent").status_code == 404
    leftovers = [p for p in (tmp_path / "data").rglob(".*")]
    assert leftovers == []


def test_a_restarted_server_finds_finished_jobs_and_fails_interrupted_ones(tmp_path):
    data = tmp_path / "data"
    with TestClient(create_app(data)) as c:
        job_id = post(c, EXAMPLE, budget=str(SMALL_BUDGET), optimizer="random").json()["id"]
        assert wait_for(c, job_id)["state"] == "done"
    # A job the previous process was still running when it died.
    stale = json.loads((data / "jobs" / job_id / "job.json").read_text())
    stale.update(id="deadbeef0000", state="running", result=None, finished_s=None)
    (data / "jobs" / "deadbeef0000").mkdir()
    (data / "jobs" / "deadbeef0000" / "job.json").write_text(json.dumps(stale))
    with TestClient(create_app(data)) as c:
        again = c.get(f"/api/jobs/{job_id}").json()
        assert again["state"] == "done" and again["result"]["evals"] == again["evals"]
        assert c.get(f"/api/jobs/{job_id}/files/match.wav").status_code == 200
        dead = c.get("/api/jobs/deadbeef0000").json()
        assert dead["state"] == "failed" and "server stopped" in dead["error"]
        # An event stream of a finished job sends its final state once and ends.
        with c.stream("GET", f"/api/jobs/{job_id}/events") as stream:
            lines = [line for line in stream.iter_lines() if line.startswith("data: ")]
        assert len(lines) == 1 and json.loads(lines[0][6:])["state"] == "done"


def _finished_job_on_disk(data: Path, job_id: str, finished_s: float) -> None:
    """A finished job as an earlier server left it: job.json, a result folder and the upload."""
    from matcher.web.jobs import Job  # noqa: PLC0415

    job = Job(id=job_id, file_name="a.wav", settings={}, state="done", created_s=finished_s - 5, finished_s=finished_s)
    (data / "jobs" / job_id / "result").mkdir(parents=True)
    (data / "jobs" / job_id / "result" / "patch.json").write_text("{}")
    (data / "jobs" / job_id / "job.json").write_text(json.dumps(job.snapshot()))
    (data / "uploads" / job_id).mkdir(parents=True)
    (data / "uploads" / job_id / "a.wav").write_bytes(b"RIFF")


def test_finished_jobs_beyond_the_cap_or_too_old_are_deleted_with_their_upload(tmp_path):
    from matcher.web.jobs import JobManager  # noqa: PLC0415

    data = tmp_path / "data"
    now = time.time()
    for job_id, age_s in (("new", 10), ("middle", 20), ("old", 30), ("ancient", 9 * 86400)):
        _finished_job_on_disk(data, job_id, now - age_s)
    (data / "uploads" / ".half-written.tmp").mkdir()  # what a killed upload leaves
    manager = JobManager(data, keep_jobs=2, keep_s=7 * 86400)
    try:
        assert [j["id"] for j in manager.list_jobs()] == ["new", "middle"]
        assert sorted(p.name for p in (data / "jobs").iterdir()) == ["middle", "new"]
        assert sorted(p.name for p in (data / "uploads").iterdir()) == ["middle", "new"]
        assert manager.prune(now_s=now + 7 * 86400 - 15) == ["middle"]  # a week later, "middle" is older than a week
        assert [j["id"] for j in manager.list_jobs()] == ["new"]
        assert not (data / "uploads" / "middle").exists() and (data / "uploads" / "new" / "a.wav").is_file()
    finally:
        manager.close()


def test_uploaded_file_names_cannot_escape_or_hide_in_the_data_folder():
    from matcher.web.jobs import safe_file_name  # noqa: PLC0415

    assert safe_file_name("../../etc/my note.wav") == "my_note.wav"
    assert safe_file_name(".hidden.wav") == "hidden.wav"
    assert safe_file_name("") == "upload" and safe_file_name("..") == "upload"
