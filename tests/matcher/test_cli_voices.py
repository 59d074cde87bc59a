"""``matcher voices --json`` describes every voice; ``matcher render`` plays a patch of any voice."""

from __future__ import annotations

import json

import numpy as np
import soundfile as sf
from typer.testing import CliRunner

from matcher.cli import app
from synth.patch_io import read_patch, write_patch
from synth.render import render
from synth.voices import VOICES, get_voice

runner = CliRunner()


def test_voices_json_lists_every_voice_with_its_parameters():
    result = runner.invoke(app, ["voices", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert list(doc) == ["voices"]
    assert [v["name"] for v in doc["voices"]] == list(VOICES) and len(doc["voices"]) >= 3
    for entry in doc["voices"]:
        assert set(entry) == {"name", "doc", "params"} and entry["doc"]
        space = get_voice(entry["name"]).space
        assert [p["name"] for p in entry["params"]] == space.names
        for p in entry["params"]:
            param = space[p["name"]]
            if param.is_choice:
                assert set(p) == {"name", "unit", "choices"} and p["choices"] == list(param.choices)
            else:
                assert set(p) == {"name", "unit", "low", "high", "scale"}
                assert (p["low"], p["high"], p["scale"], p["unit"]) == (param.low, param.high, param.scale, param.unit)
                assert p["low"] < p["high"] and p["scale"] in ("lin", "log")




def test_render_plays_a_patch_of_every_voice(tmp_path):
    rng = np.random.default_rng(5)
    for name, voice in VOICES.items():
        space = voice.space.lock(duree=0.3)
        params = space.decode(rng.uniform(size=space.dim))
        patch_file = tmp_path / f"{name}.json"
        write_patch(patch_file, params, name, sr=22050)
        assert read_patch(patch_file)[0] == name
        out_wav = tmp_path / f"{name}.wav"
        result = runner.invoke(app, ["render", str(patch_file), str(out_wav)])
        assert result.exit_code == 0, result.output
        y, sr = sf.read(out_wav, dtype="float32")
        assert sr == 22050 and len(y) == round(0.3 * 22050)
        np.testing.assert_allclose(y, render(params, 22050, len(y), name), atol=1e-4)


def test_a_patch_with_a_parameter_of_another_voice_is_refused(tmp_path):
    params = get_voice("fm").space.decode(np.full(get_voice("fm").space.dim, 0.5))
    patch_file = tmp_path / "p.json"
    write_patch(patch_file, params, "analog", sr=22050)
    result = runner.invoke(app, ["render", str(patch_file), str(tmp_path / "o.wav")])
    assert result.exit_code == 2 and "parameter" in result.output and not (tmp_path / "o.wav").exists()
