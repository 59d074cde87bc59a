"""``matcher export``: the standalone script renders exactly what ``matcher render`` renders."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from matcher.cli import app
from matcher.export import pyo_script
from matcher.source_closure import ExportError, source_closure
from synth.patch_io import write_patch
from synth.render import render
from synth.voices import VOICES, get_voice

runner = CliRunner()


def _patch_for(voice_name: str, seed: int) -> dict:
    """A patch of any voice: the space decoded at a seeded point, with some noise if it has noise."""
    space = get_voice(voice_name).space
    u = np.random.default_rng(seed).uniform(0.2, 0.8, space.dim)
    patch = space.decode(u)
    if "duree" in patch:
        patch["duree"] = 0.4
    return patch


def _run_script(script: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    # A clean environment: the script must not need this project on the path.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([sys.executable, "-I", str(script), *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=120, check=False)


@pytest.mark.parametrize("voice_name", list(VOICES))
@pytest.mark.parametrize("sr", [22050, 44100])
def test_exported_script_renders_the_same_samples_as_matcher_render(tmp_path, voice_name, sr):
    patch = _patch_for(voice_name, seed=sr)
    patch_file = tmp_path / "patch.json"
    write_patch(patch_file, patch, voice_name, sr=sr)
    result = runner.invoke(app, ["export", str(patch_file), "--format", "pyo", "-o", str(tmp_path / "synth.py")])
    assert result.exit_code == 0, result.output
    proc = _run_script(tmp_path / "synth.py", "--wav", "out.wav", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    exported, exported_sr = sf.read(tmp_path / "out.wav", dtype="float32")
    assert exported_sr == sr
    expected = render(patch, sr, int(round(float(patch.get("duree", 1.0)) * sr)), voice_name)
    assert np.max(np.abs(expected)) > 1e-3  # an audible note, so equality means something
    np.testing.assert_array_equal(exported, expected)


def test_script_options_and_bad_arguments_give_the_render_commands_errors(tmp_path, patch):
    write_patch(tmp_path / "patch.json", patch(noise_vol=0.2), "subtractive", sr=22050)
    assert runner.invoke(app, ["export", str(tmp_path / "patch.json"), "-o", str(tmp_path / "synth.py")]).exit_code == 0
    proc = _run_script(tmp_path / "synth.py", "--wav", "long.wav", "--sr", "16000", "--duration", "0.75", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    audio, rate = sf.read(tmp_path / "long.wav", dtype="float32")
    assert rate == 16000 and len(audio) == 12000
    np.testing.assert_array_equal(audio, render(patch(noise_vol=0.2), 16000, 12000))
    render_result = runner.invoke(app, ["render", str(tmp_path / "patch.json"), str(tmp_path / "r.wav"), "--duration", "0"])
    script_result = _run_script(tmp_path / "synth.py", "--wav", "x.wav", "--duration", "0", cwd=tmp_path)
    assert render_result.exit_code == 2 and script_result.returncode == 2
    assert script_result.stderr.strip() == "error: --duration must be within (0, 60] seconds, got 0.0"
    assert "--duration must be within (0, 60] seconds, got 0.0" in render_result.output
    bad_sr = _run_script(tmp_path / "synth.py", "--wav", "x.wav", "--sr", "100", cwd=tmp_path)
    assert bad_sr.returncode == 2 and "sample rate must be an integer from 8000 to 192000 Hz, got 100" in bad_sr.stderr
    to_dir = _run_script(tmp_path / "synth.py", "--wav", str(tmp_path), cwd=tmp_path)
    assert to_dir.returncode == 2 and to_dir.stderr.strip() == f"error: {tmp_path}: is a directory"
    assert not list(tmp_path.glob("x.wav")) and not list(tmp_path.glob(".tmp-*"))


@pytest.mark.parametrize("voice_name", list(VOICES))
def test_midi_instrument_builds_offline_plays_a_note_and_releases_it(tmp_path, voice_name):
    write_patch(tmp_path / "patch.json", _patch_for(voice_name, seed=3), voice_name, sr=22050)
    assert runner.invoke(app, ["export", str(tmp_path / "patch.json"), "-o", str(tmp_path / "synth.py")]).exit_code == 0
    proc = _run_script(tmp_path / "synth.py", "--midi-selftest", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("midi selftest ok: 8 voices")


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "no such file"),
        ("{not json", "not valid JSON"),
        ('{"voice": "nope", "params": {}}', "unknown voice 'nope'"),
        ('{"voice": "subtractive", "params": {"duree": 1.0}}', ""),
    ],
)
def test_bad_patch_files_get_the_same_error_as_matcher_render(tmp_path, content, problem):
    patch_file = tmp_path / "patch.json"
    if content is not None:
        patch_file.write_text(content)
    exported = runner.invoke(app, ["export", str(patch_file), "-o", str(tmp_path / "synth.py")])
    rendered = runner.invoke(app, ["render", str(patch_file), str(tmp_path / "out.wav")])
    assert exported.exit_code == rendered.exit_code == 2
    export_line = exported.output.strip().splitlines()[-1]
    assert export_line == rendered.output.strip().splitlines()[-1]
    assert export_line.startswith(f"error: {patch_file}: ") and problem in export_line
    assert not (tmp_path / "synth.py").exists()


def test_unknown_format_is_a_one_line_error(tmp_path, patch):
    write_patch(tmp_path / "patch.json", patch(), "subtractive")
    result = runner.invoke(app, ["export", str(tmp_path / "patch.json"), "--format", "vst", "-o", str(tmp_path / "s.py")])
    assert result.exit_code == 2 and "unknown export format 'vst' (known: pyo)" in result.output
    assert not (tmp_path / "s.py").exists()


def test_script_is_readable_python_that_imports_only_pyo_numpy_and_the_standard_library(patch):
    text = pyo_script("subtractive", patch(), 44100)
    tree = ast.parse(text)
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert imported - set(sys.stdlib_module_names) == {"numpy", "pyo"}
    assert "'osc_type': 'saw'" in text and "filter_cutoff" in text


def test_source_closure_refuses_what_a_script_cannot_carry():
    from objectives.audio_io import write_wav_atomic  # imports soundfile in its body

    with pytest.raises(ExportError, match="imports soundfile"):
        source_closure([write_wav_atomic])
    with pytest.raises(ExportError, match="not defined in this project"):
        source_closure([_patch_for])


FIXTURE_SOURCE = '''
import functools
import numpy as np

GAINS = np.array([0.5, 0.25], dtype=np.float32)
NAMES = ("a", "b")


@functools.cache
def table(n: int = len(NAMES)) -> np.ndarray:
    return np.arange(n, dtype=np.float32) * GAINS[: n]


def build(scale: float) -> list:
    return (table() * scale).tolist()
'''


def test_source_closure_carries_cached_helpers_array_constants_and_default_values(tmp_path, monkeypatch):
    import importlib.util  # noqa: PLC0415

    path = tmp_path / "fixture_voice.py"
    path.write_text(FIXTURE_SOURCE)
    spec = importlib.util.spec_from_file_location("synth._export_fixture", path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "synth._export_fixture", module)
    spec.loader.exec_module(module)
    closure = source_closure([module.build])
    code = "\n".join(["from __future__ import annotations", *closure.imports, *closure.constants, *closure.definitions])
    namespace: dict = {}
    exec(compile(code, "exported", "exec"), namespace)  # the code under test
    assert namespace["build"](2.0) == module.build(2.0) == [0.0, 0.5]
    assert "import functools" in closure.imports and any(c.startswith("GAINS = np.array(") for c in closure.constants)
