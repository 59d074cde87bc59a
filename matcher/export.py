"""``matcher export``: turn a patch into a standalone Pyo instrument script.

The script needs only Pyo and numpy.  It carries the patch, the source of the
voice's graph and of the renderer's context (wavetables, seeded noise) copied
from this project by :func:`matcher.source_closure.source_closure`, and a small
runtime (``templates/pyo_runtime.py.in``) that renders offline exactly as
:func:`synth.render.render` does (same server settings, same objects) or plays
the patch as an 8-voice MIDI instrument.  The export is generic: any voice in
:data:`synth.voices.VOICES` whose ``build`` uses only literals, the standard
library, numpy and functions or classes of this project exports the same way.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Mapping

from matcher.source_closure import ExportError, source_closure

__all__ = ["EXPORT_FORMATS", "pyo_script", "export_patch_file", "ExportError"]

EXPORT_FORMATS = ("pyo",)
"""Formats ``matcher export --format`` writes."""

_SCRIPT_IMPORTS = ("argparse", "contextlib", "io", "math", "os", "struct", "sys", "tempfile", "time")
"""Standard-library modules the runtime uses."""


def _runtime_source() -> str:
    return resources.files("matcher").joinpath("templates", "pyo_runtime.py.in").read_text(encoding="utf-8")


def pyo_script(voice_name: str, params: Mapping[str, float | str], sr: float | str | None, source_name: str = "patch.json") -> str:
    """The text of a standalone Pyo script that plays ``params``.

    Parameters
    ----------
    voice_name : str
        A name in :data:`synth.voices.VOICES`.
    params : mapping
        Every parameter of the voice (physical values, choices by name), as
        :func:`synth.patch_io.read_patch` returns them.
    sr : int or None
        The patch file's ``sr`` (the script's default rate), or ``None`` for 44100.
    source_name : str
        Shown in the script's docstring.

    Returns
    -------
    str
        Python source; ``python synth.py --wav out.wav`` renders the note.

    Raises
    ------
    ExportError
        The voice's graph needs something an exported script cannot carry.
    """
    from synth import render as render_module  # noqa: PLC0415
    from synth.voices import get_voice  # noqa: PLC0415

    voice = get_voice(voice_name)
    closure = source_closure([render_module.RenderContext, voice.build])
    imports = sorted(set(closure.imports) | {f"import {m}" for m in _SCRIPT_IMPORTS} | {"import numpy as np"})
    constants = [c for c in closure.constants if not c.startswith("BUFFER_SIZE ")]
    patch_items = "\n".join(f"    {name!r}: {value!r}," for name, value in params.items())
    units = {p.name: p.unit for p in voice.space.params}
    unit_lines = "\n".join(f"#   {name:<16} {value!r:<22} {units.get(name, '')}" for name, value in params.items())
    header = f'''#!/usr/bin/env python3
"""{voice.name} patch from {source_name}, exported by matcher as a standalone Pyo instrument.

Needs only pyo and numpy.

    python synth.py --wav out.wav [--sr HZ] [--duration S]   render the note offline (as `matcher render`)
    python synth.py --midi [--midi-device N]                  play it from MIDI: 8 voices, the patch's envelope per note
    python synth.py --midi-selftest                           build the MIDI graph offline and play one note
"""

from __future__ import annotations

{chr(10).join(imports)}

# ---------------------------------------------------------------------------
# The patch ({voice.name}: {voice.doc})
#   parameter        value                  unit
{unit_lines}
# ---------------------------------------------------------------------------

VOICE = {voice.name!r}
PATCH = {{
{patch_items}
}}
PATCH_SR = {(sr if sr is not None else 44100)!r}
"""Default sample rate in Hz (the patch file's ``sr``)."""

BUFFER_SIZE = {render_module.BUFFER_SIZE!r}
"""Pyo block size in samples (as matcher's renderer)."""

# ---------------------------------------------------------------------------
# The voice's graph and the renderer's context, copied from matcher:
#   {(chr(10) + "#   ").join(closure.origins)}
# ---------------------------------------------------------------------------

{chr(10).join(constants)}

'''
    definitions = "\n\n".join(closure.definitions)
    return f"{header}\n{definitions}\n\nBUILD = {voice.build.__name__}\n\"\"\"Builds the {voice.name} graph: ``BUILD(pyo, patch, ctx) -> PyoObject``.\"\"\"\n\n\n{_runtime_source()}"


def export_patch_file(patch_file: Path, out: Path, fmt: str = "pyo") -> str:
    """Read ``patch_file`` (as ``matcher render`` does) and write its script to ``out``.

    Returns
    -------
    str
        The script's text.

    Raises
    ------
    synth.patch_io.PatchFileError
        The patch file is missing or invalid (same messages as ``matcher render``).
    ExportError
        Unknown format, or the voice cannot be exported.
    """
    from synth.patch_io import read_patch, write_text_atomic  # noqa: PLC0415

    if fmt not in EXPORT_FORMATS:
        raise ExportError(f"unknown export format {fmt!r} (known: {', '.join(EXPORT_FORMATS)})")
    voice, params, doc = read_patch(patch_file)
    text = pyo_script(voice, params, doc.get("sr"), source_name=Path(patch_file).name)
    write_text_atomic(out, text)
    try:
        out.chmod(0o755)
    except OSError:
        pass
    return text


def script_summary(text: str) -> dict:
    """Size of an exported script: bytes and lines (for the docs' figures)."""
    return {"bytes": len(text.encode("utf-8")), "lines": text.count("\n")}

