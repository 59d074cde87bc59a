"""The ``matcher`` command line: ``match``, ``render``, ``voices``.

Bad input ends with a one-line ``error: <file>: <problem>`` on stderr and exit
status 2, without a traceback and without creating the output folder.
"""

from __future__ import annotations

import atexit
import importlib
import os
import sys
import threading
import time
from pathlib import Path
from typing import Optional

import numpy as np
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from matcher.optimizers import OPTIMIZERS
from matcher.pipeline import DEFAULT_BUDGET, DEFAULT_VOICE, MAX_DURATION_S, publish_folder
from matcher.strategies import AUTO_VOICE, DEFAULT_STRATEGY
from synth.voices import VOICES

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Find the synth patch that reproduces a target sound.")
out_console = Console()
err_console = Console(stderr=True)



class UsageError(Exception):
    """Bad input: printed as one line, exit status 2."""


def fail(message: str) -> None:
    """Print ``error: message`` on stderr and exit with status 2."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def known_optimizers() -> list[str]:
    """Names accepted by ``--optimizer``."""
    from matcher.strategies import STRATEGIES  # noqa: PLC0415

    return [*OPTIMIZERS, *STRATEGIES]


def _check_match_args(optimizer: str, voice: str, budget: int, time_limit: float | None, jobs: int) -> None:
    if optimizer not in known_optimizers():
        raise UsageError(f"unknown optimizer {optimizer!r} (known: {', '.join(known_optimizers())})")
    if voice not in VOICES and voice != AUTO_VOICE:
        raise UsageError(f"unknown voice {voice!r} (known: {', '.join(VOICES)}, or {AUTO_VOICE} to race them)")
    if budget < 1:
        raise UsageError(f"--budget must be a positive number of evaluations, got {budget}")
    if time_limit is not None and not time_limit > 0:
        raise UsageError(f"--time-limit must be positive seconds, got {time_limit}")
    if jobs < 1:
        raise UsageError(f"--jobs must be at least 1, got {jobs}")


def _output_problem(path: Path) -> str | None:
    """Why ``path`` cannot be created because an existing ancestor is not a folder, else ``None``."""
    for parent in path.parents:
        if parent.exists():
            return None if parent.is_dir() else f"{parent} exists and is not a folder"
    return None


def output_folder(out: Path | None, default_parent: str, target: Path) -> Path:
    """The output folder of a command on ``target`` (``default_parent/<stem>`` unless given).

    Checked before any work: exits with status 2 when it exists as a file or
    cannot be created because an ancestor is a file.
    """
    out = out if out is not None else Path(default_parent) / target.stem
    if out.exists() and not out.is_dir():
        fail(f"{out}: exists and is not a folder")
    problem = _output_problem(out)
    if problem:
        fail(f"{out}: cannot create the output folder ({problem})")
    return out


def _summary_table(voice_name: str, patch: dict, loss: float, evals: int, wall_s: float, extra: dict[str, str]) -> Table:
    from synth.voices import get_voice  # noqa: PLC0415

    space = get_voice(voice_name).space
    table = Table(title=f"match ({voice_name})", show_header=True)
    table.add_column("parameter")
    table.add_column("value", justify="right")
    table.add_column("unit")
    for p in space.params:
        v = patch[p.name]
        table.add_row(p.name, v if isinstance(v, str) else f"{v:.4g}", p.unit)
    table.add_section()
    table.add_row("distance", f"{loss:.4g}", "")
    table.add_row("evaluations", str(evals), "")
    table.add_row("wall time", f"{wall_s:.2f}", "s")
    for k, v in extra.items():
        table.add_row(k, v, "")
    return table


@app.command()
def match(
    target: Path = typer.Argument(..., help="Target sound (WAV, FLAC or OGG; any rate; mono or stereo)."),
    optimizer: str = typer.Option(DEFAULT_STRATEGY, "--optimizer", "-o", help="Search method: " + ", ".join(OPTIMIZERS) + " (and strategies, see docs)."),
    budget: int = typer.Option(DEFAULT_BUDGET, "--budget", "-b", help="Maximum number of evaluations (renders)."),
    time_limit: Optional[float] = typer.Option(None, "--time-limit", help="Stop the search after this many seconds."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed and budget give the same patch)."),
    jobs: Optional[int] = typer.Option(None, "--jobs", "-j", help="Worker processes for evaluation (does not change the result) (default: one per core, 1 below a budget of 300)."),
    voice: str = typer.Option(DEFAULT_VOICE, "--voice", help=f"{AUTO_VOICE}: race the voices and keep the one that fits (the summary gives each voice's best distance), or one voice: " + ", ".join(VOICES) + "."),
    out: Optional[Path] = typer.Option(None, "--out", help="Output folder (default: matches/<target-stem>/)."),
    sr: Optional[int] = typer.Option(None, "--sr", help="Working sample rate of the search (Hz) (default: the target's own rate, at most 48 kHz); match.wav uses the target's rate."),
) -> None:
    """Find the patch that reproduces TARGET; write patch.json, match.wav, history.csv and report.png."""
    from matcher.pipeline import MatchInterrupted, MatchSettings, match_target, outcome_files  # noqa: PLC0415
    from objectives.audio_io import TargetError, load_target  # noqa: PLC0415

    t_start = time.perf_counter()
    try:
        _check_match_args(optimizer, voice, budget, time_limit, 1 if jobs is None else jobs)
        if sr is not None and sr < 8000:
            raise UsageError(f"--sr must be at least 8000 Hz, got {sr}")
        tgt = load_target(target, sr=sr, max_duration_s=MAX_DURATION_S)
    except (UsageError, TargetError) as exc:
        fail(str(exc))
    out = output_folder(out, "matches", target)  # checked now, not after the whole search

    settings = MatchSettings(optimizer=optimizer, budget=budget, time_limit_s=time_limit, seed=seed, jobs=jobs, voice=voice, sr=sr)
    progress = Progress(
        TextColumn("[bold]{task.description}[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("evals  best distance [cyan]{task.fields[best]}[/]"),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
    )
    with progress:
        task = progress.add_task("matching", total=budget, best="–")

        def on_batch(batch: list) -> None:
            progress.update(task, completed=batch[-1].eval, best=f"{batch[-1].best_loss:.4g}")

        try:
            outcome = match_target(tgt, settings, on_batch, on_phase=lambda text: progress.update(task, description=text))
        except MatchInterrupted:
            outcome = None
        if outcome is not None and outcome.stopped_by == "budget":
            progress.update(task, completed=budget)  # the hybrid charges its analysis render to the budget
    if outcome is None:
        err_console.print("interrupted before the first evaluation; nothing written")
        raise typer.Exit(130)
    try:
        files = outcome_files(outcome, target.name)
        publish_folder(files, out)
    except OSError as exc:
        fail(f"{out}: cannot write the results ({exc.strerror or exc})")
    finally:
        _stop_workers(outcome.settings)
    pitch = outcome.pitch
    f0_text = f"{pitch.f0_hz:.2f} Hz" if pitch.voiced and pitch.f0_hz else "unpitched"
    if outcome.voice_losses:
        race = ", ".join(f"{v} {d:.4g}" for v, d in sorted(outcome.voice_losses.items(), key=lambda kv: kv[1]))
        out_console.print(f"voice race: {outcome.voice} wins; best distance per voice: {race}")
    out_console.print(
        _summary_table(
            outcome.voice,
            outcome.patch,
            outcome.loss,
            outcome.evals,
            outcome.search_wall_s,
            {"distance at": f"{outcome.distance_sr} Hz", "f0 estimate": f0_text, "MFCC distance": f"{outcome.metrics['mfcc_distance']:.3f}", "multi-scale spectral distance": f"{outcome.metrics['multiscale_spectral_distance']:.3f}", "stopped by": outcome.stopped_by},
        )
    )
    out_console.print(f"wrote {out}/{', '.join(files)}  ({time.perf_counter() - t_start:.1f} s in all)")
    if outcome.stopped_by == "interrupted":
        raise typer.Exit(130)


def _stop_workers(settings) -> None:
    """End a match's worker processes now: the command is about to exit and will not reuse them."""
    from matcher.evaluator import stop_workers  # noqa: PLC0415
    from matcher.pipeline import default_jobs  # noqa: PLC0415

    stop_workers(default_jobs(settings.budget) if settings.jobs is None else settings.jobs)


@app.command("render")
def render_cmd(
    patch_file: Path = typer.Argument(..., help="patch.json to render."),
    out_wav: Path = typer.Argument(..., help="WAV file to write."),
    sr: Optional[int] = typer.Option(None, "--sr", help="Sample rate in Hz (default: the patch's sr, else 44100)."),
    duration: Optional[float] = typer.Option(None, "--duration", help="Length in seconds (default: the note's duree)."),
) -> None:
    """Render PATCH_FILE to OUT_WAV."""
    from objectives.audio_io import write_wav_atomic  # noqa: PLC0415
    from synth.patch_io import PatchFileError, read_patch  # noqa: PLC0415
    from synth.render import render  # noqa: PLC0415

    try:
        voice, params, doc = read_patch(patch_file)
        rate = sr if sr is not None else doc.get("sr", 44100)
        if isinstance(rate, bool) or not isinstance(rate, int) or not 8000 <= rate <= 192000:
            raise UsageError(f"{patch_file}: sample rate must be an integer from 8000 to 192000 Hz, got {rate!r}")
        length_s = duration if duration is not None else float(params.get("duree", 1.0))
        if not (np.isfinite(length_s) and 0 < length_s <= 60):
            raise UsageError(f"--duration must be within (0, 60] seconds, got {length_s}")
        if out_wav.is_dir():
            raise UsageError(f"{out_wav}: is a directory")
        problem = _output_problem(out_wav)
        if problem:
            raise UsageError(f"{out_wav}: cannot write ({problem})")
    except (PatchFileError, UsageError) as exc:
        fail(str(exc))
    audio = render(params, rate, max(1, int(round(length_s * rate))), voice)
    try:
        out_wav.parent.mkdir(parents=True, exist_ok=True)
        write_wav_atomic(out_wav, audio, rate)
    except OSError as exc:
        fail(f"{out_wav}: cannot write ({exc.strerror or exc})")
    out_console.print(f"wrote {out_wav} ({length_s:.3g} s at {rate} Hz, peak {float(np.max(np.abs(audio))):.3f})")


@app.command()
def voices(as_json: bool = typer.Option(False, "--json", help="Print the voices as JSON: {\"voices\": [{\"name\", \"doc\", \"params\"}]}.")) -> None:
    """List the voices and their parameters with units and ranges."""
    if as_json:
        import json  # noqa: PLC0415

        def describe(p) -> dict:
            if p.is_choice:
                return {"name": p.name, "unit": p.unit, "choices": list(p.choices)}
            return {"name": p.name, "unit": p.unit, "low": p.low, "high": p.high, "scale": p.scale}

        doc = {"voices": [{"name": v.name, "doc": v.doc, "params": [describe(p) for p in v.space.params]} for v in VOICES.values()]}
        typer.echo(json.dumps(doc, indent=2))
        return
    for v in VOICES.values():
        table = Table(title=f"{v.name}: {v.doc}")
        table.add_column("parameter")
        table.add_column("range")
        table.add_column("unit")
        table.add_column("meaning")
        for p in v.space.params:
            table.add_row(p.name, p.describe(), p.unit, p.doc)
        out_console.print(table)


EXTENSIONS = ("matcher.cli_learn", "experiments.cli_bench", "matcher.cli_export", "matcher.cli_serve", "matcher.cli_morph")
"""Modules that add commands: each defines ``register(app)``."""


def _register_extensions() -> None:
    for name in EXTENSIONS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        module.register(app)


_register_extensions()


def _exit_status(code: object) -> int:
    """The process exit status for ``SystemExit(code)``, as the interpreter maps it."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def main() -> None:
    """Console entry point: run the command, then end the process without tearing the interpreter down.

    When a command returns, its files are written and closed and its workers are
    stopped; tearing down the modules a match imports (numpy, scipy, numba,
    matplotlib, Pyo) would keep the user waiting another 0.3-0.6 s.  The exit
    handlers still run (they flush logs and join child processes) and stdout and
    stderr are flushed.  Non-daemon threads are joined first, as the
    interpreter's exit joins them (an executor's manager thread ends once the
    threading module's exit callbacks have told it to).  An uncaught exception
    propagates with its traceback, as without this.
    """
    try:
        app()
        code = 0
    except SystemExit as exc:
        code = _exit_status(exc.code)
    # What the interpreter's exit runs, in its order, minus the teardown: the threading
    # module's exit callbacks (they tell executors' manager threads to stop), joining the
    # non-daemon threads, then the atexit handlers.
    threading._shutdown()  # noqa: SLF001
    atexit._run_exitfuncs()  # noqa: SLF001
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: nothing left to say
            pass
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    main()
