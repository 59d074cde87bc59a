"""``matcher bench`` and ``matcher report``: benchmark sweeps and their HTML report.

Registered on the main CLI by :func:`register` (see ``matcher.cli.EXTENSIONS``).
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import List, Optional

import numpy as np
import typer

__all__ = ["register", "bench", "report"]


def bench(
    suite: List[str] = typer.Option(["in-domain:10"], "--suite", "-s", help="Target suite, repeatable: in-domain:N, sox:N, scsynth:N (SuperCollider), faust:N (Faust via DawDreamer), gm:N (General MIDI one-shots via fluidsynth), dir:PATH. See docs/foreign_suites.md."),
    optimizers: Optional[str] = typer.Option(None, "--optimizers", "-o", help="Comma-separated strategies, each NAME or NAME@VOICE (e.g. cma@analog) (default: every known one, subtractive voice)."),
    budget: int = typer.Option(1000, "--budget", "-b", help="Evaluations per trial."),
    seeds: int = typer.Option(3, "--seeds", help="Seeds 0..N-1 per (target, optimiser)."),
    out: Path = typer.Option(..., "--out", help="Run folder (store.sqlite, trials.csv); re-running continues it."),
    workers: int = typer.Option(2, "--workers", "-j", help="Worker processes (loky backend)."),
    backend: str = typer.Option("loky", "--backend", help="joblib backend: loky (this machine) or dask (a dask.distributed cluster)."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Dask scheduler address, tcp://HOST:PORT (with --backend dask)."),
    suite_seed: int = typer.Option(0, "--suite-seed", help="Seed of the random suites (in-domain, sox, scsynth, faust, gm)."),
    sr: int = typer.Option(22050, "--sr", help="Sample rate of the targets and the search (Hz)."),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="Run again the trials stored as failed."),
) -> None:
    """Run every (target × optimiser × seed) trial not yet in OUT's store; export OUT/trials.csv."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn  # noqa: PLC0415

    from experiments.bench import BACKENDS, plan_sweep, run_sweep, split_method  # noqa: PLC0415
    from experiments.sox_suite import SuiteError, load_suite  # noqa: PLC0415
    from experiments.store import Store  # noqa: PLC0415
    from experiments.sweep_report import summary_markdown  # noqa: PLC0415
    from matcher.cli import err_console, fail, known_optimizers, out_console  # noqa: PLC0415

    known = known_optimizers()
    names = [o.strip() for o in optimizers.split(",") if o.strip()] if optimizers else known
    unknown = [o for o in names if split_method(o)[0] not in known]
    if unknown:
        fail(f"unknown optimizer {unknown[0]!r} (known: {', '.join(known)})")
    from matcher.strategies import AUTO_VOICE  # noqa: PLC0415
    from synth.voices import VOICES  # noqa: PLC0415

    unknown_voices = [o for o in names if split_method(o)[1] not in (*VOICES, AUTO_VOICE)]
    if unknown_voices:
        fail(f"unknown voice in {unknown_voices[0]!r} (known: {', '.join(VOICES)}, {AUTO_VOICE}); write a method as NAME or NAME@VOICE")
    if budget < 1:
        fail(f"--budget must be a positive number of evaluations, got {budget}")
    if seeds < 1:
        fail(f"--seeds must be at least 1, got {seeds}")
    if workers < 1:
        fail(f"--workers must be at least 1, got {workers}")
    if backend not in BACKENDS:
        fail(f"unknown backend {backend!r} (known: {', '.join(BACKENDS)})")
    if backend == "dask" and not scheduler:
        fail("--backend dask needs --scheduler tcp://HOST:PORT (see docs/benchmarks.md)")
    if backend == "dask":
        try:
            import dask.distributed  # noqa: F401, PLC0415
        except ImportError as exc:
            fail(f"--backend dask needs dask.distributed, which is not installed ({exc}); pip install 'matcher[dask]'")
    if out.exists() and not out.is_dir():
        fail(f"{out}: exists and is not a folder")
    targets = []
    try:
        for spec in suite:
            ts = load_suite(spec, seed=suite_seed, sr=sr)
            targets.append((spec, ts))
    except SuiteError as exc:
        fail(str(exc))

    store = Store(out)
    targets = _stored_versions(store, targets, err_console)
    command = "matcher bench " + " ".join(shlex.quote(a) for a in sys.argv[2:]) if len(sys.argv) > 1 and sys.argv[1] == "bench" else "matcher bench"
    version = _code_version()
    if version:
        command += f"  # at {version}"
    sweeps = store.get_meta("sweeps", [])
    if command not in sweeps:
        store.set_meta("sweeps", [*sweeps, command])
    if retry_failed:
        with store.conn:
            store.conn.execute("DELETE FROM trials WHERE status = 'error'")
    all_targets = [t for _, ts in targets for t in ts]
    plan = plan_sweep(store, all_targets, names, range(seeds), budget)
    err_console.print(
        f"{len(plan.trials)} trials ({len(all_targets)} targets × {len(names)} optimisers × {seeds} seeds, budget {budget}); "
        f"{plan.done} already in {out}/store.sqlite, {len(plan.todo)} to run on {backend}" + (f" at {scheduler}" if backend == "dask" else f" with {workers} workers"),
        highlight=False,
    )
    failures = [0]
    progress = Progress(
        TextColumn("[bold]bench[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("trials  last [cyan]{task.fields[last]}[/]"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
    )
    interrupted, backend_error = False, None
    with progress:
        task = progress.add_task("bench", total=len(plan.trials), completed=plan.done, last="–")

        def on_trial(outcome, done: int, total: int) -> None:
            r = outcome.record
            if r["status"] != "ok":
                failures[0] += 1
                err_console.print(f"[yellow]failed:[/] {r['target']} {r['optimizer']} seed {r['seed']}: {r.get('error')}", highlight=False)
            progress.update(task, completed=done, last=f"{r['optimizer']} {r['target']} {r.get('final_loss') or float('nan'):.3g}")

        try:
            run_sweep(store, all_targets, names, range(seeds), budget, workers=workers, backend=backend, scheduler=scheduler, on_trial=on_trial)
        except KeyboardInterrupt:
            interrupted = True
        except (OSError, TimeoutError, ValueError) as exc:
            backend_error = exc
    if backend_error is not None:
        store.export_csv(out / "trials.csv")
        store.close()
        fail(f"{backend} backend: {backend_error}")
    n_rows = store.export_csv(out / "trials.csv")
    trials = [t for t in store.trials() if t["budget"] == budget and t["optimizer"] in names and t["target"] in {x.name for x in all_targets}]
    store.close()
    if interrupted:
        err_console.print(f"interrupted: {n_rows} trials are stored in {out}/store.sqlite; run the same command again to continue")
        raise typer.Exit(130)
    if trials:
        out_console.print(summary_markdown(trials), highlight=False, soft_wrap=True)
    out_console.print(f"wrote {out}/store.sqlite and {out}/trials.csv ({n_rows} trials" + (f", {failures[0]} failed this run" if failures[0] else "") + f"); next: matcher report {out}")


def _stored_versions(store, targets: list, console) -> list:
    """Record new targets; for targets already in the store, use the stored audio.

    A resumed sweep must match the same sounds as the trials already stored,
    even when the code that makes a suite has changed since (a voice fix changes
    every in-domain render): the store's copy is authoritative, and a target that
    would now come out differently is reported.
    """
    from experiments.suites import SuiteTarget  # noqa: PLC0415

    stored = {t["name"]: t for t in store.targets()}
    out, changed = [], []
    for spec, ts in targets:
        store.add_targets([t for t in ts if t.name not in stored], spec)
        kept = []
        for t in ts:
            s = stored.get(t.name)
            if s is None:
                kept.append(t)
                continue
            if s["sr"] != t.sr or len(s["audio"]) != len(t.audio) or not np.array_equal(s["audio"], np.asarray(t.audio, dtype=np.float32)):
                changed.append(t.name)
            kept.append(SuiteTarget(t.name, s["audio"], s["sr"], s["true_patch"], s["labels"]))
        out.append((spec, kept))
    if changed:
        console.print(
            f"[yellow]warning:[/] {len(changed)} target(s) would now be made differently than the stored ones ({', '.join(changed[:3])}{', ...' if len(changed) > 3 else ''}): "
            "the sweep goes on with the stored sounds; use a new --out to benchmark the current suite",
            highlight=False,
        )
    return out


def _code_version() -> str | None:
    """``git describe``-like id of the code running the sweep (``+dirty`` with local changes); None outside a checkout."""
    import subprocess  # noqa: PLC0415

    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if head.returncode != 0:
        return None
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def report(
    run: Path = typer.Argument(..., help="Run folder written by 'matcher bench'."),
    examples: int = typer.Option(3, "--examples", help="Targets shown with audio players and spectrograms."),
) -> None:
    """Write RUN/report.html (offline: plots, audio and spectrograms as files in RUN/report_files/) and RUN/summary.md."""
    from experiments.sweep_report import write_report  # noqa: PLC0415
    from matcher.cli import fail, out_console  # noqa: PLC0415

    if not run.is_dir():
        fail(f"{run}: not a folder")
    try:
        page, md = write_report(run, n_examples=examples)
    except (FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    out_console.print(md, highlight=False, soft_wrap=True)
    out_console.print(f"wrote {page}, {run}/summary.md and {run}/report_files/")


def register(app: typer.Typer) -> None:
    """Add ``bench`` and ``report`` to the ``matcher`` CLI."""
    app.command("bench")(bench)
    app.command("report")(report)
