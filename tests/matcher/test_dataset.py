"""Dataset generation: seed columns and codes, determinism across jobs, sanity rules, resume."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

import synth.dataset as ds
from matcher.predictor import FEATURE_VERSION, N_FEATURES, predictor_features
from synth.sampling import CLIP_PEAK, SILENCE_PEAK, audio_problems, rule_problems
from synth.voices import FILTER_TYPES, OSC_TYPES
from tests.objectives.test_audio_io import riff_chunks

SEED_COLUMNS = ["duree", "osc_freq", "osc_type", "osc_vol", "noise_vol", "filter_type", "filter_cutoff",
                "filter_res", "env_attack", "env_decay", "env_sustain", "env_release", "master_vol"]


def make(out, n=10, jobs=1, seed=3, **kw):
    return ds.generate_dataset(out, n, seed=seed, jobs=jobs, duration=0.5, features=predictor_features, feature_version=FEATURE_VERSION, **kw)


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(ds, "CHUNK", 4)


def snapshot(folder):
    """Everything a dataset consumer reads: CSV text, features, WAV bytes."""
    with np.load(folder / "features.npz") as z:
        x = z["X"].copy()
    wavs = {p.name: p.read_bytes() for p in sorted((folder / "wav").glob("*.wav"))}
    return (folder / "params.csv").read_text(), x, wavs


def test_columns_codes_and_files(tmp_path, small_chunks):
    s = make(tmp_path / "d", n=9)
    with (tmp_path / "d" / "params.csv").open() as f:
        rows = list(csv.reader(f))
    assert rows[0] == SEED_COLUMNS + ["file"]
    assert len(rows) == 10 and s.n == 9
    for row in rows[1:]:
        d = dict(zip(rows[0], row))
        assert d["osc_type"] in {str(i) for i in range(len(OSC_TYPES))}
        assert d["filter_type"] in {str(i) for i in range(len(FILTER_TYPES))}
        assert float(d["duree"]) == 0.5
        audio, sr = sf.read(tmp_path / "d" / d["file"])
        assert [c for c, _ in riff_chunks((tmp_path / "d" / d["file"]).read_bytes())] == [b"fmt ", b"data"]  # no PEAK chunk and its timestamp
        assert sr == 22050 and len(audio) == 11025
        assert SILENCE_PEAK <= np.max(np.abs(audio)) < CLIP_PEAK
    patches = ds.read_params_csv(tmp_path / "d" / "params.csv")
    assert all(rule_problems(p) == [] for p in patches)  # every kept sample passes the sanity rules
    x, _ = ds.load_features(tmp_path / "d", FEATURE_VERSION)
    assert x.shape == (9, N_FEATURES) and np.all(np.isfinite(x))
    assert sum(s.rejections.values()) > 0  # broad draws: some were rejected and counted


def test_deterministic_whatever_jobs(tmp_path, small_chunks):
    make(tmp_path / "a", n=10, jobs=1)
    make(tmp_path / "b", n=10, jobs=2)
    a, b = snapshot(tmp_path / "a"), snapshot(tmp_path / "b")
    assert a[0] == b[0]
    assert np.array_equal(a[1], b[1])
    assert a[2] == b[2]
    make(tmp_path / "c", n=10, jobs=1, seed=4)
    assert snapshot(tmp_path / "c")[0] != a[0]


def test_resume_after_interruption(tmp_path, small_chunks, monkeypatch):
    make(tmp_path / "ref", n=10)
    original = ds._make_chunk
    calls = {"n": 0}

    def interrupted(*args):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return original(*args)

    monkeypatch.setattr(ds, "_make_chunk", interrupted)
    with pytest.raises(KeyboardInterrupt):
        make(tmp_path / "run", n=10)
    assert not (tmp_path / "run" / "params.csv").exists()
    monkeypatch.setattr(ds, "_make_chunk", original)
    s = make(tmp_path / "run", n=10)
    assert s.resumed == 4 and s.generated == 6
    ref, run = snapshot(tmp_path / "ref"), snapshot(tmp_path / "run")
    assert ref[0] == run[0] and np.array_equal(ref[1], run[1]) and ref[2] == run[2]
    files = [r["file"] for r in ds.read_params_csv(tmp_path / "run" / "params.csv")]
    assert len(files) == len(set(files)) == 10
    # Re-running a finished dataset generates nothing and changes nothing.
    s = make(tmp_path / "run", n=10)
    assert s.generated == 0 and snapshot(tmp_path / "run")[0] == ref[0]


def test_other_settings_refused(tmp_path, small_chunks):
    make(tmp_path / "d", n=4)
    with pytest.raises(ds.DatasetError, match="seed"):
        make(tmp_path / "d", n=4, seed=99)
    with pytest.raises(ds.DatasetError, match="sampler"):
        make(tmp_path / "d", n=4, sampler="v1")


def test_sampler_is_recorded_and_v1_is_still_available(tmp_path, small_chunks):
    import json

    make(tmp_path / "v2", n=4)
    make(tmp_path / "v1", n=4, sampler="v1")
    assert json.loads((tmp_path / "v2" / "dataset.json").read_text())["sampler"] == "v2"
    assert json.loads((tmp_path / "v1" / "dataset.json").read_text())["sampler"] == "v1"
    v1 = ds.read_params_csv(tmp_path / "v1" / "params.csv")
    assert all(rule_problems(p, spec="v1") == [] for p in v1)
    assert (tmp_path / "v1" / "params.csv").read_text() != (tmp_path / "v2" / "params.csv").read_text()


def test_sanity_rules_reject_what_they_should():
    base = {"duree": 1.0, "osc_freq": 220.0, "osc_type": "saw", "osc_vol": 0.8, "noise_vol": 0.0, "filter_type": "lowpass",
            "filter_cutoff": 1760.0, "filter_res": 1.0, "env_attack": 0.01, "env_decay": 0.1, "env_sustain": 0.7,
            "env_release": 0.1, "master_vol": 0.8}
    assert rule_problems(base) == []
    assert "filter_cuts_note" in rule_problems({**base, "filter_cutoff": 110.0})  # lowpass below f0
    assert "filter_cuts_note" in rule_problems({**base, "filter_type": "highpass", "filter_cutoff": 110.0 * 0.5})
    assert "filter_inaudible" in rule_problems({**base, "filter_type": "highpass", "filter_cutoff": 220.0 * 20})  # highpass far above
    assert "noise_masks_note" in rule_problems({**base, "noise_vol": 0.7})
    assert "envelope_longer_than_note" in rule_problems({**base, "env_attack": 0.5, "env_decay": 0.4, "env_release": 0.3})
    assert audio_problems(np.zeros(100, np.float32)) == ["silent"]
    assert audio_problems(np.full(100, 0.999, np.float32)) == ["clipping"]


def test_cli_dataset_and_bad_input(tmp_path, small_chunks):
    from matcher.cli import app

    runner = CliRunner()
    r = runner.invoke(app, ["dataset", "--n", "5", "--out", str(tmp_path / "d"), "--duration", "0.5", "--seed", "2"])
    assert r.exit_code == 0, r.output
    assert "rejected draws" in r.output
    assert len((tmp_path / "d" / "params.csv").read_text().splitlines()) == 6
    r = runner.invoke(app, ["dataset", "--n", "0", "--out", str(tmp_path / "e")])
    assert r.exit_code == 2 and "error:" in r.output and not (tmp_path / "e").exists()
    r = runner.invoke(app, ["dataset", "--n", "5", "--out", str(tmp_path / "d"), "--duration", "0.5", "--seed", "3"])
    assert r.exit_code == 2 and "seed" in r.output
    r = runner.invoke(app, ["dataset", "--n", "5", "--out", str(tmp_path / "f"), "--sampler", "v9"])
    assert r.exit_code == 2 and "--sampler" in r.output and not (tmp_path / "f").exists()


@pytest.mark.parametrize("voice", ["analog", "fm"])
def test_a_dataset_of_another_voice_has_its_columns_and_reads_back(tmp_path, small_chunks, voice):
    import functools
    import json

    from matcher.predictor import FEATURE_VERSIONS, feature_version_for
    from synth.voice_samplers import get_voice_sampler
    from synth.voices import get_voice

    version = feature_version_for(voice)
    assert version == 2  # the voices that move get the motion features
    feats = functools.partial(predictor_features, version=version)
    s = ds.generate_dataset(tmp_path / "d", 6, seed=3, duration=0.5, features=feats, feature_version=version, voice=voice)
    space = get_voice(voice).space
    with (tmp_path / "d" / "params.csv").open() as f:
        rows = list(csv.reader(f))
    assert rows[0] == [*space.names, "file"] and len(rows) == 7 and s.n == 6
    assert json.loads((tmp_path / "d" / "dataset.json").read_text())["voice"] == voice
    assert ds.dataset_voice(tmp_path / "d") == voice
    patches = ds.read_params_csv(tmp_path / "d" / "params.csv")
    sampler = get_voice_sampler(voice)
    for p in patches:
        patch = {k: v for k, v in p.items() if k != "file"}
        assert space.check(patch) == patch and sampler.rules(patch, 22050) == []
    x, _ = ds.load_features(tmp_path / "d", version)
    assert x.shape == (6, FEATURE_VERSIONS[2]) and np.all(np.isfinite(x))
    with pytest.raises(ds.DatasetError, match="voice"):
        ds.generate_dataset(tmp_path / "d", 6, seed=3, duration=0.5, features=feats, feature_version=version, voice="subtractive")


def test_cli_dataset_of_a_voice(tmp_path, small_chunks):
    from matcher.cli import app

    runner = CliRunner()
    r = runner.invoke(app, ["dataset", "--voice", "fm", "--n", "4", "--out", str(tmp_path / "d"), "--duration", "0.5"])
    assert r.exit_code == 0, r.output
    assert ds.dataset_voice(tmp_path / "d") == "fm" and "fm WAVs" in r.output
    r = runner.invoke(app, ["dataset", "--voice", "nope", "--n", "4", "--out", str(tmp_path / "e")])
    assert r.exit_code == 2 and "--voice" in r.output and not (tmp_path / "e").exists()
    r = runner.invoke(app, ["dataset", "--voice", "analog", "--sampler", "v2", "--n", "4", "--out", str(tmp_path / "f")])
    assert r.exit_code == 2 and "--sampler" in r.output and not (tmp_path / "f").exists()
