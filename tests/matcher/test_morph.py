"""``matcher morph``: ends equal A and B, log parameters move geometrically, a cutoff morph brightens
step by step, differing choices crossfade, the level stays steady, the files, and bad input."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from matcher.cli import app
from matcher.morph import MorphEnd, interpolated_rms, plan_morph, render_morph, rms
from matcher.morph_files import GAP_S, load_end
from matcher.pipeline import MatchSettings
from synth.patch_io import read_patch, write_patch
from synth.render import render
from synth.voices import get_voice

from tests.conftest import BASE_PATCH
from tests.matcher.test_cli import _assert_usage_error

SR = 22050
DUREE_S = 0.3
N_SAMPLES = int(DUREE_S * SR)

runner = CliRunner()


def _end(**overrides) -> MorphEnd:
    return MorphEnd("subtractive", {**BASE_PATCH, "duree": DUREE_S, **overrides}, "test")


def _centroid_hz(audio: np.ndarray, sr: int = SR) -> float:
    spectrum = np.abs(np.fft.rfft(audio.astype(np.float64))) ** 2
    freqs = np.fft.rfftfreq(len(audio), 1.0 / sr)
    return float(np.sum(freqs * spectrum) / np.sum(spectrum))


def test_ends_are_the_renders_of_a_and_b():
    a, b = _end(filter_cutoff=500.0, osc_type="saw"), _end(filter_cutoff=4000.0, osc_type="square", master_vol=0.3)
    steps = plan_morph(a, b, 4)
    audio, _ = render_morph(steps, SR, N_SAMPLES)
    assert len(audio) == 5
    np.testing.assert_array_equal(audio[0], render(a.params, SR, N_SAMPLES))
    np.testing.assert_array_equal(audio[-1], render(b.params, SR, N_SAMPLES))
    assert steps[0].sides[0].params == a.params and steps[-1].sides[0].params == b.params


def test_continuous_parameters_move_in_the_unit_cube():
    steps = plan_morph(_end(filter_cutoff=400.0, filter_res=0.7, osc_vol=0.2), _end(filter_cutoff=6400.0, filter_res=0.7, osc_vol=1.0), 4)
    mid = steps[2].sides[0].params
    assert not steps[2].crossfaded
    assert mid["filter_cutoff"] == pytest.approx(math.sqrt(400.0 * 6400.0))  # log scale: geometric
    assert mid["osc_vol"] == pytest.approx(0.6)  # linear scale: arithmetic
    assert mid["filter_res"] == 0.7  # equal at both ends: exactly kept
    cutoffs = [s.sides[0].params["filter_cutoff"] for s in steps]
    assert np.allclose(np.diff(np.log(cutoffs)), math.log(16.0) / 4)


def test_cutoff_morph_has_a_strictly_rising_centroid():
    a, b = _end(filter_cutoff=400.0, osc_freq=220.0), _end(filter_cutoff=6000.0, osc_freq=220.0)
    audio, _ = render_morph(plan_morph(a, b, 6), SR, N_SAMPLES)
    centroids = [_centroid_hz(y) for y in audio]
    assert all(c1 > c0 for c0, c1 in zip(centroids, centroids[1:])), centroids
    assert centroids[-1] > 1.5 * centroids[0]


def test_different_oscillators_crossfade():
    a, b = _end(osc_type="sine", noise_vol=0.0), _end(osc_type="square", noise_vol=0.0)
    steps = plan_morph(a, b, 4)
    assert [s.crossfaded for s in steps] == [False, True, True, True, False]
    assert [round(s.sides[-1].weight, 6) for s in steps[1:-1]] == [0.25, 0.5, 0.75]
    audio, gains = render_morph(steps, SR, N_SAMPLES)
    ra, rb = render(a.params, SR, N_SAMPLES), render(b.params, SR, N_SAMPLES)
    # The middle step is a mix of both ends' renders (every continuous parameter is shared) ...
    mid = audio[2].astype(np.float64)
    basis = np.stack([ra, rb], axis=1).astype(np.float64)
    coef, *_ = np.linalg.lstsq(basis, mid, rcond=None)
    residual = np.linalg.norm(basis @ coef - mid) / np.linalg.norm(mid)
    assert residual < 1e-4, residual
    np.testing.assert_allclose(coef, gains[2], rtol=1e-4)
    # ... with both at the same level (level-matched, equal weights), so it is neither end.
    assert coef[0] * rms(ra) == pytest.approx(coef[1] * rms(rb), rel=1e-3)
    # The B share grows from step to step.
    shares = [np.linalg.lstsq(basis, y.astype(np.float64), rcond=None)[0] for y in audio[1:-1]]
    b_share = [c[1] * rms(rb) / (c[0] * rms(ra) + c[1] * rms(rb)) for c in shares]
    assert np.allclose(b_share, [0.25, 0.5, 0.75], atol=1e-3)


def test_level_stays_on_the_line_between_the_ends():
    # A loud dark saw to a quiet bright square: without level matching the middle steps would dip or bulge.
    a = _end(osc_type="saw", filter_cutoff=300.0, master_vol=0.9)
    b = _end(osc_type="square", filter_cutoff=8000.0, filter_res=6.0, master_vol=0.05)
    n = 5
    audio, _ = render_morph(plan_morph(a, b, n), SR, N_SAMPLES)
    db = np.array([20 * math.log10(rms(y)) for y in audio])
    expected = np.array([20 * math.log10(interpolated_rms(rms(audio[0]), rms(audio[-1]), k / n)) for k in range(n + 1)])
    np.testing.assert_allclose(db, expected, atol=0.01)
    step_db = abs(db[-1] - db[0]) / n
    assert np.all(np.abs(np.diff(db)) <= step_db + 0.02)


def test_bad_plans():
    with pytest.raises(ValueError, match="steps"):
        plan_morph(_end(), _end(), 0)
    with pytest.raises(KeyError, match="unknown voice"):
        plan_morph(MorphEnd("no-such-voice", {}), _end(), 2)


def test_duration_sets_every_note():
    steps = plan_morph(_end(duree=0.2), _end(duree=0.8), 2, duration_s=0.5)
    assert {s.sides[0].params["duree"] for s in steps} == {0.5}


# -- the command ---------------------------------------------------------------------------
def _patch_file(path: Path, **overrides) -> Path:
    write_patch(path, {**BASE_PATCH, "duree": DUREE_S, **overrides}, "subtractive", SR)
    return path


def test_cli_writes_every_file(tmp_path):
    a = _patch_file(tmp_path / "a.json", osc_type="saw", filter_cutoff=500.0)
    b = _patch_file(tmp_path / "b.json", osc_type="triangle", filter_cutoff=3000.0)
    out = tmp_path / "morph"
    result = runner.invoke(app, ["morph", str(a), str(b), "--steps", "3", "--out", str(out), "--sr", str(SR)])
    assert result.exit_code == 0, (result.output, result.exception)
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted([*(f"step_{k:02d}.{ext}" for k in range(4) for ext in ("wav", "json")), "morph.wav", "morph.png"])
    steps = [sf.read(out / f"step_{k:02d}.wav", dtype="float32") for k in range(4)]
    assert all(sr == SR and len(y) == N_SAMPLES for y, sr in steps)
    whole, whole_sr = sf.read(out / "morph.wav", dtype="float32")
    assert whole_sr == SR
    assert len(whole) == 4 * N_SAMPLES + 3 * int(round(GAP_S * SR))
    np.testing.assert_array_equal(steps[0][0], render(read_patch(a)[1], SR, N_SAMPLES))
    # The ends are patch files again; a crossfaded step records both sides and their gains.
    assert read_patch(out / "step_00.json")[1] == read_patch(a)[1]
    assert read_patch(out / "step_03.json")[1] == read_patch(b)[1]
    mid = json.loads((out / "step_01.json").read_text())
    mix = mid["morph"]["mix"]
    assert [m["params"]["osc_type"] for m in mix] == ["saw", "triangle"]
    assert [m["weight"] for m in mix] == pytest.approx([2 / 3, 1 / 3])
    rebuilt = sum(m["gain"] * render(m["params"], SR, N_SAMPLES, m["voice"]) for m in mix)
    np.testing.assert_allclose(rebuilt, steps[1][0], atol=1e-5)
    assert not list(tmp_path.glob(".morph.*"))  # no temporary folder left


def test_cli_bad_inputs(tmp_path):
    a = _patch_file(tmp_path / "a.json")
    unknown = tmp_path / "unknown_voice.json"
    unknown.write_text(json.dumps({"voice": "theremin", "format": 1, "params": {}}))
    out = tmp_path / "out"
    cases = [
        ([str(tmp_path / "missing.json"), str(a)], "no such file"),
        ([str(a), str(tmp_path / "missing.wav")], "no such file"),
        ([str(unknown), str(a)], "unknown voice"),
        ([str(a), str(a), "--steps", "0"], "--steps"),
        ([str(a), str(a), "--steps", "-3"], "--steps"),
        ([str(a), str(a), "--duration", "0"], "--duration"),
    ]
    for args, fragment in cases:
        _assert_usage_error(runner.invoke(app, ["morph", *args, "--out", str(out)]), fragment)
        assert not out.exists()


def test_a_sound_is_matched_first(tmp_path):
    truth = {**BASE_PATCH, "duree": DUREE_S, "osc_type": "square", "filter_cutoff": 2000.0}
    wav = tmp_path / "target.wav"
    sf.write(wav, render(truth, SR, N_SAMPLES), SR, subtype="FLOAT")
    end = load_end(wav, MatchSettings(optimizer="cma", budget=60, voice="subtractive"))
    assert end.voice == "subtractive"
    assert set(end.params) == set(BASE_PATCH)
    assert end.params["osc_freq"] == pytest.approx(440.0, rel=0.06)  # the f0 stage narrowed the pitch
    assert "matched" in end.source
    raced = load_end(wav, MatchSettings(optimizer="cma", budget=60))  # the default races the voices
    assert set(raced.params) == set(get_voice(raced.voice).space.names)


def _build_test_sine(pyo, patch, ctx):
    """A second voice for the tests: a sine under a fixed envelope."""
    env = pyo.Adsr(attack=0.01, decay=0.05, sustain=0.7, release=0.05, dur=float(patch["duree"]), mul=float(patch["master_vol"]))
    osc = pyo.Sine(freq=float(patch["osc_freq"]), mul=env)
    env.play()
    osc._matcher_keep = (env,)
    return osc


def test_different_voices_crossfade_and_share_their_common_parameters(monkeypatch):
    from synth.params import Param, ParamSpace
    from synth.voices import VOICES, Voice

    space = ParamSpace((Param("duree", "s", 0.05, 8.0, "log"), Param("osc_freq", "Hz", 40.0, 2000.0, "log"), Param("wobble", "", 0.0, 1.0), Param("master_vol", "", 0.0, 1.0)))
    monkeypatch.setitem(VOICES, "test-sine", Voice("test-sine", space, _build_test_sine, gain_param="master_vol"))
    a = _end(osc_freq=220.0, osc_type="saw")
    b = MorphEnd("test-sine", {"duree": DUREE_S, "osc_freq": 880.0, "wobble": 0.3, "master_vol": 0.5}, "test")
    steps = plan_morph(a, b, 2)
    mid = steps[1]
    assert mid.crossfaded and [s.voice for s in mid.sides] == ["subtractive", "test-sine"]
    side_a, side_b = (s.params for s in mid.sides)
    assert side_a["osc_freq"] == pytest.approx(440.0) and side_b["osc_freq"] == pytest.approx(440.0)  # shared: geometric on both sides
    assert side_a["filter_cutoff"] == a.params["filter_cutoff"] and side_b["wobble"] == 0.3  # own parameters stay
    audio, gains = render_morph(steps, SR, N_SAMPLES)
    np.testing.assert_array_equal(audio[-1], render(b.params, SR, N_SAMPLES, "test-sine"))
    ra, rb = render(side_a, SR, N_SAMPLES, "subtractive"), render(side_b, SR, N_SAMPLES, "test-sine")
    np.testing.assert_allclose(gains[1][0] * ra + gains[1][1] * rb, audio[1], atol=1e-5)
    assert gains[1][0] * rms(ra) == pytest.approx(gains[1][1] * rms(rb), rel=1e-3)  # level-matched halves


@pytest.mark.parametrize("voice_name", sorted(__import__("synth.voices", fromlist=["VOICES"]).VOICES))
def test_every_voice_morphs_with_steady_level(voice_name):
    from synth.voices import get_voice

    space = get_voice(voice_name).space
    a = MorphEnd(voice_name, {**space.decode(np.full(space.dim, 0.3)), "duree": DUREE_S})
    b = MorphEnd(voice_name, {**space.decode(np.full(space.dim, 0.7)), "duree": DUREE_S})
    steps = plan_morph(a, b, 3)
    audio, _ = render_morph(steps, SR, N_SAMPLES)
    np.testing.assert_array_equal(audio[0], render(a.params, SR, N_SAMPLES, voice_name))
    np.testing.assert_array_equal(audio[-1], render(b.params, SR, N_SAMPLES, voice_name))
    db = [20 * math.log10(rms(y)) for y in audio]
    np.testing.assert_allclose(db, np.linspace(db[0], db[-1], 4), atol=0.01)
    assert all(s.crossfaded == any(p.is_choice and a.params[p.name] != b.params[p.name] for p in space.params) for s in steps[1:-1])
