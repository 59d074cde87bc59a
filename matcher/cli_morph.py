"""``matcher morph A B --steps N --out DIR``: a morph between two patches or sounds.

Registered on the main CLI by :func:`register` (see ``matcher.cli.EXTENSIONS``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

import typer

__all__ = ["register", "morph"]

DEFAULT_MORPH_SR = 44100
"""Sample rate of a morph's files without ``--sr``, in Hz."""

MAX_MORPH_DURATION_S = 60.0
"""Longest ``--duration`` accepted, in seconds."""


def morph(
    a: Path = typer.Argument(..., help="Start: a patch.json, or a sound (matched first with the default settings)."),
    b: Path = typer.Argument(..., help="End: a patch.json, or a sound (matched first with the default settings)."),
    steps: int = typer.Option(8, "--steps", "-n", help="Steps from A to B (at least 1): writes N + 1 files, step_00 (A) … step_NN (B)."),
    out: Path = typer.Option(..., "--out", help="Output folder (step_XX.wav/json, morph.wav, morph.png)."),
    duration: Optional[float] = typer.Option(None, "--duration", help="Note length of every step in seconds (default: each end's own duree, interpolated)."),
    sr: int = typer.Option(DEFAULT_MORPH_SR, "--sr", help="Sample rate of the renders (Hz)."),
) -> None:
    """Morph from A to B in N steps; write each step's render and patch, morph.wav and morph.png to OUT."""
    from matcher.cli import UsageError, err_console, fail, out_console, _output_problem  # noqa: PLC0415
    from matcher.morph import MAX_STEPS, plan_morph, render_morph  # noqa: PLC0415
    from matcher.morph_files import MorphInputError, load_end, morph_files  # noqa: PLC0415
    from matcher.pipeline import publish_folder  # noqa: PLC0415
    from synth.voices import get_voice  # noqa: PLC0415

    try:
        if not 1 <= steps <= MAX_STEPS:
            raise UsageError(f"--steps must be from 1 to {MAX_STEPS}, got {steps}")
        if duration is not None and not (math.isfinite(duration) and 0 < duration <= MAX_MORPH_DURATION_S):
            raise UsageError(f"--duration must be within (0, {MAX_MORPH_DURATION_S:g}] seconds, got {duration}")
        if not 8000 <= sr <= 192000:
            raise UsageError(f"--sr must be from 8000 to 192000 Hz, got {sr}")
        if out.exists() and not out.is_dir():
            raise UsageError(f"{out}: exists and is not a folder")
        problem = _output_problem(out)
        if problem:
            raise UsageError(f"{out}: cannot create the output folder ({problem})")
        for path in (a, b):  # both checked before a long match of either
            if not path.exists():
                raise UsageError(f"{path}: no such file")
        on_phase = lambda text: err_console.print(f"{text} (default match settings) …")  # noqa: E731
        end_a, end_b = load_end(a, on_phase=on_phase), load_end(b, on_phase=on_phase)
    except (UsageError, MorphInputError) as exc:
        fail(str(exc))
    plan = plan_morph(end_a, end_b, steps, duration)
    if duration is not None:
        length_s = duration
    else:
        durees = [float(s.params["duree"]) for s in (*plan[0].sides, *plan[-1].sides) if "duree" in get_voice(s.voice).space.names]
        length_s = max(durees) if durees else 1.0
    n_samples = max(1, int(round(length_s * sr)))
    audio, gains = render_morph(plan, sr, n_samples)
    try:
        publish_folder(morph_files(plan, audio, gains, sr, (end_a, end_b)), out)
    except OSError as exc:
        fail(f"{out}: cannot write the results ({exc.strerror or exc})")
    mixed = sum(s.crossfaded for s in plan)
    out_console.print(
        f"wrote {out}/step_00 … step_{steps:02d} (.wav, .json), morph.wav, morph.png: {steps + 1} steps of {length_s:.3g} s at {sr} Hz"
        + (f", {mixed} crossfaded (A and B differ in a choice or voice)" if mixed else "")
    )


def register(app: typer.Typer) -> None:
    """Add ``morph`` to ``app``."""
    app.command("morph")(morph)
