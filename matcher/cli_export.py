"""``matcher export PATCH.json --format pyo [-o synth.py]``: a patch as a standalone Pyo script."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

__all__ = ["register", "export"]


def export(
    patch_file: Path = typer.Argument(..., help="patch.json to export."),
    fmt: str = typer.Option("pyo", "--format", help="Output format: pyo (a Python script needing only pyo and numpy)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Script to write (default: synth.py)."),
) -> None:
    """Write PATCH_FILE as a standalone instrument: `python synth.py --wav out.wav` or `--midi`."""
    from matcher.cli import UsageError, _output_problem, fail, out_console  # noqa: PLC0415
    from matcher.export import ExportError, export_patch_file, script_summary  # noqa: PLC0415
    from synth.patch_io import PatchFileError  # noqa: PLC0415

    out = out if out is not None else Path("synth.py")
    try:
        if out.is_dir():
            raise UsageError(f"{out}: is a directory")
        problem = _output_problem(out)
        if problem:
            raise UsageError(f"{out}: cannot write ({problem})")
        out.parent.mkdir(parents=True, exist_ok=True)
        text = export_patch_file(patch_file, out, fmt)
    except (PatchFileError, UsageError, ExportError) as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"{out}: cannot write ({exc.strerror or exc})")
    size = script_summary(text)
    out_console.print(f"wrote {out} ({size['lines']} lines, {size['bytes']} bytes): python {out} --wav out.wav | --midi")


def register(app: typer.Typer) -> None:
    """Add ``export`` to the ``matcher`` app."""
    app.command("export")(export)
