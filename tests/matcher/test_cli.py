"""The command line: every bad input is a one-line error, exit status 2, no traceback, nothing written;
the happy path writes the four files; render and voices work; no Pyo notice in the output."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from matcher.cli import MAX_DURATION_S, app
from synth.patch_io import read_patch, write_patch
from synth.render import render
from synth.voices import VOICES

from tests.conftest import BASE_PATCH

pytestmark = pytest.mark.filterwarnings("ignore:Conversion of an array with ndim > 0:DeprecationWarning")

runner = CliRunner()
TARGET_SR = 44100


def _tone(sr: int = 22050, duration_s: float = 0.4, freq_hz: float = 330.0) -> np.ndarray:
    t = np.arange(int(sr * duration_s)) / sr
    return (0.4 * np.sin(2 * np.pi * freq_hz * t) * np.minimum(1.0, 10 * (duration_s - t))).astype(np.float32)


def _invoke(args: list[str]):
    result = runner.invoke(app, [str(a) for a in args])
    return result


def _assert_usage_error(result, *fragments: str) -> None:
    """Exit 2, one line on stderr that starts with ``error:`` and names the problem, no traceback."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    err = result.stderr.strip()
    assert err.startswith("error:"), err
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in result.output
    for f in fragments:
        assert f in err, (f, err)


# -- bad target files -----------------------------------------------------------------------
def _bad_targets(tmp: Path) -> dict[str, Path]:
    """name -> path of each bad input of the issue."""
    files: dict[str, Path] = {}
    good = tmp / "good.wav"
    sf.write(good, _tone(), 22050, subtype="PCM_16")
    raw = good.read_bytes()

    def put(name: str, data: bytes) -> None:
        files[name] = tmp / name
        files[name].write_bytes(data)

    def put_audio(name: str, audio: np.ndarray, sr: int = 22050, subtype: str = "FLOAT") -> None:
        files[name] = tmp / name
        sf.write(files[name], audio, sr, subtype=subtype)

    files["missing.wav"] = tmp / "missing.wav"
    (tmp / "folder.wav").mkdir()
    files["folder.wav"] = tmp / "folder.wav"
    put("empty.wav", b"")
    put("truncated.wav", raw[: len(raw) // 2])
    put("header_cut.wav", raw[:44])  # a header declaring audio that is not there
    put_audio("header_only.wav", np.zeros(0, np.float32), subtype="PCM_16")  # a valid header of 0 frames
    put("corrupt_header.wav", raw[:12] + b"fmt \xff\xff\xff\x7f" + b"\x00" * 16 + raw[36:])
    put("text.wav", b"this is plain text, not audio, whatever the extension says\n" * 20)
    put_audio("silence.wav", np.zeros(22050, np.float32), subtype="PCM_16")
    put_audio("dc.wav", np.full(22050, 0.25, np.float32))
    nan = _tone()
    nan[1000] = np.nan
    put_audio("nan.wav", nan)
    inf = _tone()
    inf[2000] = np.inf
    put_audio("inf.wav", inf)
    put_audio("one_sample.wav", np.array([0.5], np.float32))
    put_audio("too_long.wav", _tone(8000, MAX_DURATION_S + 1.0), sr=8000)
    return files


BAD_TARGETS = {
    "missing.wav": "no such file",
    "folder.wav": "is a directory",
    "empty.wav": "empty",
    "truncated.wav": "truncated",
    "header_cut.wav": "truncated",
    "header_only.wav": "no audio frames",
    "corrupt_header.wav": "not a readable audio file",
    "text.wav": "not a readable audio file",
    "silence.wav": "no audible content",
    "dc.wav": "DC offset",
    "nan.wav": "NaN or infinite",
    "inf.wav": "NaN or infinite",
    # A single sample has no variation at all: objectives/audio_io.py reports "no audible
    # content (only a constant DC offset ...)" before its length check; "too short" would be clearer.
    "one_sample.wav": ("too short", "no audible content"),
    "too_long.wav": "too long",
}


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("name", list(BAD_TARGETS))
def test_bad_target_file(in_tmp, name):
    path = _bad_targets(in_tmp)[name]
    out = in_tmp / "out"
    result = _invoke(["match", path, "--budget", "5", "--out", out])
    expected = BAD_TARGETS[name]
    _assert_usage_error(result, str(path))
    if isinstance(expected, tuple):
        assert any(e in result.stderr for e in expected), result.stderr
    else:
        assert expected in result.stderr, result.stderr
    assert not out.exists()
    # Nor the default output folder, nor a temporary one.
    result = _invoke(["match", path, "--budget", "5"])
    _assert_usage_error(result, str(path))
    assert not (in_tmp / "matches").exists()
    assert not [p for p in in_tmp.iterdir() if p.name.startswith(".")]


def _good_target(tmp: Path) -> Path:
    path = tmp / "good.wav"
    sf.write(path, _tone(), 22050, subtype="PCM_16")
    return path


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["--optimizer", "simulated-annealing"], ["unknown optimizer 'simulated-annealing'", "cma"]),
        (["--voice", "fm9000"], ["unknown voice 'fm9000'", "subtractive"]),
        (["--budget", "0"], ["--budget", "positive"]),
        (["--budget", "-5"], ["--budget", "positive"]),
        (["--time-limit", "0"], ["--time-limit"]),
        (["--jobs", "0"], ["--jobs"]),
    ],
    ids=["optimizer", "voice", "budget_zero", "budget_negative", "time_limit", "jobs"],
)
def test_bad_options(in_tmp, args, fragments):
    out = in_tmp / "out"
    result = _invoke(["match", _good_target(in_tmp), "--out", out, *args])
    _assert_usage_error(result, *fragments)
    assert not out.exists() and not (in_tmp / "matches").exists()


def test_bad_input_in_a_real_process_exits_2_with_one_clean_line(tmp_path):
    """Exit status and stderr as a shell sees them (no Click/typer traceback, no Pyo notice)."""
    missing = tmp_path / "nope.wav"
    proc = subprocess.run(
        [sys.executable, "-m", "matcher.cli", "match", str(missing), "--out", str(tmp_path / "o")],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and str(missing) in lines[0] and "no such file" in lines[0]
    assert proc.stdout == ""
    assert not (tmp_path / "o").exists()


# -- bad patch files for render ------------------------------------------------------------------
def _doc(**params) -> dict:
    return {"voice": "subtractive", "format": 1, "params": {**BASE_PATCH, **params}, "sr": 22050}


BAD_PATCHES = {
    "not_json": ("{'voice': 'subtractive',", "not valid JSON"),
    "not_object": (json.dumps([1, 2, 3]), "expected a JSON object"),
    "unknown_voice": (json.dumps({**_doc(), "voice": "fm9000"}), "unknown voice 'fm9000'"),
    "unknown_choice": (json.dumps(_doc(osc_type="sawtooth")), "osc_type: unknown choice 'sawtooth'"),
    "missing_param": (json.dumps({**_doc(), "params": {k: v for k, v in BASE_PATCH.items() if k != "env_decay"}}), "missing parameter(s): env_decay"),
    "wrong_type": (json.dumps(_doc(filter_cutoff="3000")), "filter_cutoff: expected a number"),
    "nan": (json.dumps(_doc(osc_freq=float("nan"))), "osc_freq: value nan is not finite"),
    "out_of_range": (json.dumps(_doc(osc_vol=2.5)), "osc_vol: 2.5"),
}


@pytest.mark.parametrize("name", list(BAD_PATCHES))
def test_render_bad_patch(in_tmp, name):
    text, fragment = BAD_PATCHES[name]
    if name == "nan":
        assert "NaN" in text  # JSON's NaN token, as Python writes it
    patch_file = in_tmp / "patch.json"
    patch_file.write_text(text)
    out_wav = in_tmp / "sub" / "out.wav"
    result = _invoke(["render", patch_file, out_wav])
    _assert_usage_error(result, str(patch_file), fragment)
    assert not out_wav.exists() and not out_wav.parent.exists()


def test_render_missing_patch_and_bad_options(in_tmp):
    out_wav = in_tmp / "out.wav"
    _assert_usage_error(_invoke(["render", in_tmp / "nope.json", out_wav]), "nope.json", "no such file")
    good = in_tmp / "good.json"
    write_patch(good, BASE_PATCH, "subtractive", sr=22050)
    _assert_usage_error(_invoke(["render", good, out_wav, "--sr", "100"]), "sample rate")
    _assert_usage_error(_invoke(["render", good, out_wav, "--duration", "0"]), "--duration")
    _assert_usage_error(_invoke(["render", good, in_tmp]), "is a directory")
    assert not out_wav.exists()


def test_render_writes_a_wav_of_the_right_length_and_rate(in_tmp):
    good = in_tmp / "good.json"
    write_patch(good, BASE_PATCH, "subtractive", sr=22050)
    out_wav = in_tmp / "a" / "b.wav"
    result = _invoke(["render", good, out_wav])
    assert result.exit_code == 0, result.output
    y, sr = sf.read(out_wav, dtype="float32")
    assert sr == 22050 and len(y) == round(BASE_PATCH["duree"] * 22050)
    np.testing.assert_array_equal(y, render(BASE_PATCH, 22050, len(y)))
    result = _invoke(["render", good, out_wav, "--sr", "16000", "--duration", "0.25"])
    assert result.exit_code == 0, result.output
    y, sr = sf.read(out_wav)
    assert sr == 16000 and len(y) == 4000


# -- voices ---------------------------------------------------------------------------------------
def test_voices_lists_every_parameter_with_its_unit():
    result = runner.invoke(app, ["voices"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for voice in VOICES.values():
        assert voice.name in result.stdout
        for p in voice.space.params:
            assert p.name in result.stdout
            if p.unit:
                assert p.describe() in result.stdout


# -- happy path, in a real process ----------------------------------------------------------------
def _run_cli(args: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "160"}
    return subprocess.run([sys.executable, "-m", "matcher.cli", *map(str, args)], capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env)


def _assert_clean(proc: subprocess.CompletedProcess) -> None:
    for stream in (proc.stdout, proc.stderr):
        assert "wxpython" not in stream.lower(), stream[:500]
        assert "Traceback" not in stream, stream[-2000:]


def test_match_writes_the_four_files_and_render_plays_the_patch(tmp_path):
    patch = {**BASE_PATCH, "duree": 0.3, "osc_type": "square", "env_release": 0.05}
    target_audio = render(patch, TARGET_SR, int(0.3 * TARGET_SR))
    target = tmp_path / "note.wav"
    sf.write(target, target_audio, TARGET_SR, subtype="FLOAT")
    budget = 40

    proc = _run_cli(["match", target, "--budget", budget, "--seed", 1], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    _assert_clean(proc)
    out = tmp_path / "matches" / "note"  # the default folder
    assert sorted(p.name for p in out.iterdir()) == ["history.csv", "match.wav", "patch.json", "report.png"]
    assert "distance" in proc.stdout and "osc_freq" in proc.stdout

    voice, params, doc = read_patch(out / "patch.json")
    assert voice == "subtractive" and doc["format"] == 1 and doc["sr"] == TARGET_SR
    assert 0 <= doc["distance"] < float("inf")

    with open(out / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {"eval", "wall_s", "loss", "best_loss"} <= set(rows[0])
    assert 1 <= len(rows) <= budget and len(rows) == doc["evals"]
    assert [int(r["eval"]) for r in rows] == list(range(1, len(rows) + 1))
    losses = np.array([float(r["loss"]) for r in rows])
    best = np.array([float(r["best_loss"]) for r in rows])
    np.testing.assert_allclose(best, np.minimum.accumulate(losses), rtol=1e-5)
    assert doc["distance"] == pytest.approx(losses.min(), rel=1e-5)
    wall = [float(r["wall_s"]) for r in rows]
    assert wall == sorted(wall) and wall[0] >= 0

    match_audio, sr = sf.read(out / "match.wav", dtype="float32")
    assert sr == TARGET_SR
    assert abs(len(match_audio) - len(target_audio)) <= 0.002 * TARGET_SR + 1  # leading-silence trim keeps a 2 ms pre-roll
    assert np.all(np.isfinite(match_audio)) and np.max(np.abs(match_audio)) > 0.01

    with open(out / "report.png", "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"

    rendered = tmp_path / "again.wav"
    proc = _run_cli(["render", out / "patch.json", rendered], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    _assert_clean(proc)
    y, sr = sf.read(rendered, dtype="float32")
    assert sr == TARGET_SR and len(y) == round(params["duree"] * TARGET_SR)
    # The patch's duree is the target's length, so this is the match itself.
    n = min(len(y), len(match_audio))
    np.testing.assert_allclose(y[:n], match_audio[:n], atol=1e-6)


def test_match_same_seed_same_patch_whatever_jobs(in_tmp):
    target = _good_target(in_tmp)
    docs = []
    for jobs, out in ((1, "a"), (2, "b")):
        result = _invoke(["match", target, "--budget", "30", "--seed", "4", "--jobs", str(jobs), "--out", in_tmp / out])
        assert result.exit_code == 0, result.output
        docs.append(read_patch(in_tmp / out / "patch.json")[1])
    assert docs[0] == docs[1]


def test_match_into_an_existing_folder_replaces_the_files(in_tmp):
    target = _good_target(in_tmp)
    out = in_tmp / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    result = _invoke(["match", target, "--budget", "10", "--out", out])
    assert result.exit_code == 0, result.output
    assert {p.name for p in out.iterdir()} == {"keep.txt", "history.csv", "match.wav", "patch.json", "report.png"}
    assert not [p for p in in_tmp.iterdir() if p.name.startswith(".out")]  # no temporary folder left


def test_out_is_a_file(in_tmp):
    target = _good_target(in_tmp)
    out = in_tmp / "taken"
    out.write_text("x")
    _assert_usage_error(_invoke(["match", target, "--budget", "5", "--out", out]), str(out), "not a folder")
    assert out.read_text() == "x"


def test_output_under_a_file_is_a_usage_error_before_any_work(in_tmp):
    target = _good_target(in_tmp)
    blocker = in_tmp / "afile"
    blocker.write_text("x")
    _assert_usage_error(_invoke(["match", target, "--budget", "5", "--out", blocker / "sub"]), str(blocker / "sub"), "not a folder")
    good = in_tmp / "good.json"
    write_patch(good, BASE_PATCH, "subtractive", sr=22050)
    _assert_usage_error(_invoke(["render", good, blocker / "out.wav"]), str(blocker / "out.wav"), "not a folder")
    assert blocker.read_text() == "x"


# -- the console entry point's quick exit ----------------------------------------------------------
@pytest.mark.parametrize(("code", "status"), [(None, 0), (0, 0), (2, 2), (130, 130), ("boom", 1)])
def test_exit_status_maps_system_exit_as_the_interpreter_does(code, status, capsys):
    from matcher.cli import _exit_status

    assert _exit_status(code) == status
    assert capsys.readouterr().err == ("boom\n" if code == "boom" else "")


def test_a_piped_command_delivers_all_of_its_output_before_the_quick_exit(tmp_path):
    """``main`` ends with ``os._exit``: stdout must have been flushed, whole, into the pipe."""
    proc = _run_cli(["voices", "--json"], cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert len(doc["voices"]) >= 3 and all(v["params"] for v in doc["voices"])


def test_main_still_runs_exit_handlers_and_waits_for_a_non_daemon_thread(tmp_path):
    """A handler registered by a command runs; a non-daemon thread it left behind is joined."""
    marker, done = tmp_path / "handler-ran", tmp_path / "thread-done"
    script = f"""
import atexit, threading, time
from pathlib import Path
import matcher.cli as cli

@cli.app.command("probe")
def probe(thread: bool = False):
    atexit.register(Path({str(marker)!r}).write_text, "yes")
    if thread:
        threading.Thread(target=lambda: (time.sleep(0.2), Path({str(done)!r}).write_text("yes"))).start()

cli.main()
"""
    for thread in (False, True):
        marker.unlink(missing_ok=True)
        args = [sys.executable, "-c", script, "probe", *(["--thread"] if thread else ["--no-thread"])]
        proc = subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert marker.read_text() == "yes"
    assert done.read_text() == "yes"
