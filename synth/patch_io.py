"""Patch files (``patch.json``): read with validation, write atomically.

Format 1 (DESIGN.md §4)::

    {"voice": "subtractive", "format": 1, "params": {...}, "sr": 22050, "distance": 0.12}

Choices are stored by name (``"saw"``, ``"lowpass"``).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Mapping

from synth.params import PatchValueError
from synth.voices import get_voice

__all__ = ["PatchFileError", "PATCH_FORMAT", "read_patch", "write_patch", "patch_document", "write_text_atomic"]

PATCH_FORMAT = 1


class PatchFileError(Exception):
    """A patch file cannot be used; the message is one line naming the file and the problem."""


def patch_document(params: Mapping[str, float | str], voice: str, sr: int | None = None, distance: float | None = None, **extra: Any) -> dict:
    """The JSON document of a patch (values as plain floats and strings)."""
    doc: dict[str, Any] = {"voice": voice, "format": PATCH_FORMAT, "params": {k: (v if isinstance(v, str) else float(v)) for k, v in params.items()}}
    if sr is not None:
        doc["sr"] = int(sr)
    if distance is not None:
        doc["distance"] = float(distance) if math.isfinite(distance) else None
    doc.update(extra)
    return doc


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, then rename it into place."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_patch(path: str | os.PathLike, params: Mapping[str, float | str], voice: str, sr: int | None = None, distance: float | None = None, **extra: Any) -> None:
    """Write a patch file atomically."""
    write_text_atomic(path, json.dumps(patch_document(params, voice, sr, distance, **extra), indent=2) + "\n")


def read_patch(path: str | os.PathLike) -> tuple[str, dict[str, float | str], dict]:
    """Read and validate a patch file.

    Returns
    -------
    voice : str
    params : dict
        Every parameter of the voice, checked for type, finiteness and range.
    document : dict
        The whole JSON document (``sr``, ``distance``, ...).

    Raises
    ------
    PatchFileError
        Not found, not JSON, not an object, unknown voice or format, or a bad parameter.
    """
    path = Path(path)
    name = str(path)
    if not path.exists():
        raise PatchFileError(f"{name}: no such file")
    if path.is_dir():
        raise PatchFileError(f"{name}: is a directory, not a patch file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PatchFileError(f"{name}: cannot read as UTF-8 text ({exc.__class__.__name__})") from None
    try:
        doc = json.loads(text, parse_constant=lambda c: float(c))
    except json.JSONDecodeError as exc:
        raise PatchFileError(f"{name}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    if not isinstance(doc, dict):
        raise PatchFileError(f"{name}: expected a JSON object, got {type(doc).__name__}")
    fmt = doc.get("format", PATCH_FORMAT)
    if fmt != PATCH_FORMAT:
        raise PatchFileError(f"{name}: unsupported patch format {fmt!r} (this version reads format {PATCH_FORMAT})")
    voice_name = doc.get("voice", "subtractive")
    if not isinstance(voice_name, str):
        raise PatchFileError(f"{name}: 'voice' must be a string, got {voice_name!r}")
    try:
        voice = get_voice(voice_name)
    except KeyError as exc:
        raise PatchFileError(f"{name}: {exc.args[0]}") from None
    if "params" not in doc:
        raise PatchFileError(f"{name}: no 'params' object")
    try:
        params = voice.space.check(doc["params"])
    except PatchValueError as exc:
        raise PatchFileError(f"{name}: {exc}") from None
    return voice.name, params, doc
