"""patch.json: round trip, atomic writes, and a one-line PatchFileError naming the file for every bad input."""

from __future__ import annotations

import json
import math
import os

import pytest

from synth.patch_io import PATCH_FORMAT, PatchFileError, patch_document, read_patch, write_patch, write_text_atomic
from synth.voices import SUBTRACTIVE


def test_write_then_read_round_trips(tmp_path, patch):
    p = patch(osc_type="square", filter_type="bandpass", osc_freq=123.456789)
    path = tmp_path / "patch.json"
    write_patch(path, p, "subtractive", sr=44100, distance=0.25, note="hi")
    voice, params, doc = read_patch(path)
    assert voice == "subtractive"
    assert params == p
    assert doc["format"] == PATCH_FORMAT and doc["sr"] == 44100 and doc["distance"] == 0.25 and doc["note"] == "hi"
    raw = json.loads(path.read_text())
    assert raw["params"]["osc_type"] == "square"  # choices are stored by name
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_document_holds_plain_json_values(patch):
    import numpy as np

    p = {k: (np.float32(v) if not isinstance(v, str) else v) for k, v in patch().items()}
    doc = patch_document(p, "subtractive", sr=np.int64(22050), distance=float("inf"))
    text = json.dumps(doc, allow_nan=False)  # no numpy scalars, no NaN/inf
    assert json.loads(text)["distance"] is None
    assert all(isinstance(v, (float, str)) for v in doc["params"].values())


def test_atomic_write_replaces_and_cleans_up(tmp_path):
    path = tmp_path / "a.txt"
    write_text_atomic(path, "one")
    write_text_atomic(path, "two")
    assert path.read_text() == "two"
    assert os.listdir(tmp_path) == ["a.txt"]


def test_atomic_write_leaves_the_old_file_on_failure(tmp_path):
    path = tmp_path / "a.txt"
    write_text_atomic(path, "old")
    with pytest.raises(TypeError):
        write_text_atomic(path, 12345)  # type: ignore[arg-type]
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["a.txt"]


def test_missing_voice_and_format_default_to_the_current_ones(tmp_path, patch):
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"params": patch()}))
    voice, params, _ = read_patch(path)
    assert voice == "subtractive" and params == patch()


def _doc(patch, **params):
    return {"voice": "subtractive", "format": 1, "params": patch(**params)}


BAD = {
    "not_json": ("{voice: subtractive", "not valid JSON"),
    "truncated_json": ('{"voice": "subtractive", "params": {', "not valid JSON"),
    "empty": ("", "not valid JSON"),
    "a_list": ("[1, 2, 3]", "expected a JSON object"),
    "a_string": ('"patch"', "expected a JSON object"),
    "null": ("null", "expected a JSON object"),
}


@pytest.mark.parametrize("name", list(BAD))
def test_bad_text(tmp_path, name):
    text, fragment = BAD[name]
    path = tmp_path / f"{name}.json"
    path.write_text(text)
    _assert_error(path, fragment)


def _assert_error(path, fragment):
    with pytest.raises(PatchFileError) as exc:
        read_patch(path)
    msg = str(exc.value)
    assert str(path) in msg and fragment in msg, msg
    assert "\n" not in msg


@pytest.mark.parametrize(
    "mutate, fragment",
    [
        (lambda d: d.update(voice="fm9000"), "unknown voice"),
        (lambda d: d.update(voice=3), "'voice' must be a string"),
        (lambda d: d.update(format=2), "unsupported patch format"),
        (lambda d: d.pop("params"), "no 'params'"),
        (lambda d: d.update(params=[1, 2]), "params must be an object"),
        (lambda d: d["params"].update(osc_type="sawtooth"), "unknown choice"),
        (lambda d: d["params"].update(filter_type="notch"), "unknown choice"),
        (lambda d: d["params"].pop("filter_res"), "missing parameter(s): filter_res"),
        (lambda d: d["params"].update(wobble=1.0), "unknown parameter(s): wobble"),
        (lambda d: d["params"].update(osc_freq="440"), "expected a number"),
        (lambda d: d["params"].update(osc_vol=None), "expected a number"),
        (lambda d: d["params"].update(osc_vol=True), "expected a number"),
        (lambda d: d["params"].update(osc_type=1), "expected one of"),
        (lambda d: d["params"].update(osc_freq=1e5), "out of range"),
        (lambda d: d["params"].update(master_vol=-0.1), "out of range"),
    ],
    ids=[
        "unknown_voice", "voice_not_string", "format", "no_params", "params_list", "unknown_osc", "unknown_filter",
        "missing", "extra", "string_number", "null_number", "bool_number", "int_choice", "too_high", "negative",
    ],
)
def test_bad_documents(tmp_path, patch, mutate, fragment):
    doc = _doc(patch)
    mutate(doc)
    path = tmp_path / "patch.json"
    path.write_text(json.dumps(doc))
    _assert_error(path, fragment)


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_json_constants(tmp_path, patch, token):
    text = json.dumps(_doc(patch)).replace('"osc_freq": 440.0', f'"osc_freq": {token}')
    assert token in text
    path = tmp_path / "patch.json"
    path.write_text(text)
    _assert_error(path, "not finite")


def test_missing_file_directory_and_binary(tmp_path):
    _assert_error(tmp_path / "nope.json", "no such file")
    d = tmp_path / "dir.json"
    d.mkdir()
    _assert_error(d, "is a directory")
    b = tmp_path / "bin.json"
    b.write_bytes(b"\xff\xfe\x00\x81\x82")
    _assert_error(b, "cannot read as UTF-8")


def test_values_at_the_bounds_are_accepted(tmp_path, patch):
    space = SUBTRACTIVE.space
    p = patch(osc_freq=space["osc_freq"].high, filter_res=space["filter_res"].low, noise_vol=0, master_vol=1)
    path = tmp_path / "p.json"
    path.write_text(json.dumps(_doc(lambda **kw: {**p, **kw})))
    _, params, _ = read_patch(path)
    assert params["osc_freq"] == space["osc_freq"].high and math.isfinite(params["filter_res"])
    assert isinstance(params["noise_vol"], float)
