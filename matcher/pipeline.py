"""The match API: one target in, a patch, its render, metrics and history out.

``matcher match``, the web app and ``matcher morph`` all call
:func:`match_target` and write what it returns with :func:`outcome_files`, so
none of them re-implements a step of the match::

    target = load_target(path, sr=settings.sr, max_duration_s=MAX_DURATION_S)
    outcome = match_target(target, settings, on_batch=print_progress)
    publish_folder(outcome_files(outcome), out_dir)

Steps: f0 analysis, the strategy's search at the working rate (and, when the
target's rate differs, a polish at the target's rate), the render of the best
patch at the target's rate, and the evaluation metrics the search did not see.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from matcher.strategies import AUTO_VOICE, DEFAULT_STRATEGY

__all__ = ["MatchSettings", "MatchOutcome", "MatchInterrupted", "match_target", "default_jobs", "outcome_files", "history_csv", "publish_folder", "MAX_DURATION_S", "DEFAULT_SR", "DEFAULT_BUDGET", "DEFAULT_VOICE"]

DEFAULT_SR = 22050
"""Working sample rate of the commands that have no target to take it from (e.g. ``matcher predict``), in Hz."""

DEFAULT_BUDGET = 2000
"""Evaluations of a default match."""

DEFAULT_VOICE = AUTO_VOICE
"""The voice ``matcher match`` plays unless told: ``auto`` races the voices (:mod:`matcher.voice_race`).
On sounds other engines made it ends closer than the subtractive voice by MFCC and MSS on every
foreign suite, and on fresh in-domain notes as close (docs/benchmarks.md, issue 9)."""

MAX_DURATION_S = 8.0
"""Longest target accepted, in seconds."""

MIN_PARALLEL_BUDGET = 300
"""Below this many evaluations a match runs in one process by default: starting workers would not pay."""


def default_jobs(budget: int) -> int:
    """Worker processes a match uses when ``--jobs`` is not given: every usable core, or 1 for a small budget."""
    if budget < MIN_PARALLEL_BUDGET:
        return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, cores)


@dataclass(frozen=True)
class MatchSettings:
    """What a user chooses for one match (the CLI's options).

    Parameters
    ----------
    optimizer : str
        Strategy or optimiser name (``matcher.cli.known_optimizers()``).
    budget : int
        Evaluations in all, polish included.
    time_limit_s : float or None
        Stop the search after this many seconds.
    seed : int
        Seed of the search (same seed and budget give the same patch).
    jobs : int or None
        Worker processes (do not change the result); ``None``: :func:`default_jobs`.
    voice : str
        Voice name, or ``"auto"``: the voices race (:mod:`matcher.voice_race`)
        and the outcome names the winner.
    sr : int or None
        Working sample rate of the search, in Hz; ``None`` (the default): the
        target's own rate, at most 48 kHz, so the fitness sees its whole band.
    """

    optimizer: str = DEFAULT_STRATEGY
    budget: int = DEFAULT_BUDGET
    time_limit_s: float | None = None
    seed: int = 0
    jobs: int | None = None
    voice: str = DEFAULT_VOICE
    sr: int | None = None


@dataclass
class MatchOutcome:
    """Everything a match produced.

    Attributes
    ----------
    target : objectives.audio_io.Target
        The loaded target (working-rate and original audio).
    settings : MatchSettings
    patch : dict
        Best patch (physical values, choices by name).
    loss : float
        Its fitness distance at ``distance_sr``.
    distance_sr : int
        Rate in Hz at which ``loss`` was measured.
    rows : list of matcher.search.Evaluation
        Every evaluation, in order (``history.csv``).
    polish_evals : int
        How many of ``rows`` were the polish at the target's rate.
    match_audio : ndarray, shape (n_samples,), float32
        The best patch rendered at the target's own rate and length.
    metrics : dict
        Evaluation metrics of ``match_audio`` against the target (not the fitness).
    pitch : objectives.pitch.PitchEstimate
    stopped_by : str
        ``budget``, ``time limit`` or ``interrupted``.
    search_wall_s : float
        Seconds from the start of the search to its last evaluation.
    info : dict
        What the strategy reported (probabilities, fits, ...), JSON-safe where possible.
    voice : str
        Voice of ``patch`` (the winner when ``settings.voice`` is ``"auto"``).
    """

    target: Any
    settings: MatchSettings
    patch: dict
    loss: float
    distance_sr: int
    rows: list
    polish_evals: int
    match_audio: np.ndarray
    metrics: dict
    pitch: Any
    stopped_by: str
    search_wall_s: float
    info: dict = field(default_factory=dict)
    front: Any = None  # issue 11: matcher.pareto.ParetoFront of a two-objective match (nsga2), whose knee is ``patch``
    voice: str = ""

    def __post_init__(self) -> None:
        if not self.voice:
            self.voice = self.settings.voice

    @property
    def voice_losses(self) -> dict[str, float] | None:
        """Each raced voice's best distance (``--voice auto``), else ``None``."""
        return self.info.get("voice_losses")

    @property
    def evals(self) -> int:
        """Evaluations done."""
        return len(self.rows)

    def document(self) -> dict:
        """The ``patch.json`` document of this match."""
        from synth.patch_io import patch_document  # noqa: PLC0415

        s = self.settings
        extra = {
            "target": str(self.target.path),
            "optimizer": s.optimizer,
            "budget": s.budget,
            "seed": s.seed,
            "evals": self.evals,
            "stopped_by": self.stopped_by,
            "f0_estimate_hz": self.pitch.f0_hz,
            "distance_sr": self.distance_sr,
            "polish_evals": self.polish_evals,
            "metrics": self.metrics,
        }
        if self.voice_losses is not None:
            extra["voice_race"] = {"voices": dict(self.voice_losses), "evals": dict(self.info.get("voice_evals", {}))}
        if self.front is not None:  # issue 11
            from matcher.pareto import KNEE_RULE  # noqa: PLC0415

            knee = self.front.knee_point
            extra["pareto"] = {"front_size": len(self.front), "knee": KNEE_RULE, "spectral": knee.spectral, "envelope": knee.envelope}
        return patch_document(self.patch, self.voice, self.target.orig_sr, self.loss, **extra)


class MatchInterrupted(Exception):
    """The match was interrupted before its first evaluation: there is nothing to keep."""


def match_target(
    target: Any,
    settings: MatchSettings = MatchSettings(),
    on_batch: Callable[[Sequence[Any]], None] | None = None,
    on_phase: Callable[[str], None] | None = None,
) -> MatchOutcome:
    """Match a loaded target.

    Parameters
    ----------
    target : objectives.audio_io.Target
        From :func:`objectives.audio_io.load_target` at ``settings.sr``; the search runs at ``target.sr``.
    settings : MatchSettings
    on_batch : callable, optional
        Called with each evaluated batch of :class:`matcher.search.Evaluation` rows.
    on_phase : callable, optional
        Called with a short description when the match enters a new phase (e.g. the polish).

    Returns
    -------
    MatchOutcome
        ``stopped_by`` is ``"interrupted"`` when a ``KeyboardInterrupt`` ended the
        search after at least one evaluation: the best patch so far is kept.

    Raises
    ------
    MatchInterrupted
        When interrupted before the first evaluation.
    """
    from matcher.polish import polish_at_rate, polish_budget  # noqa: PLC0415
    from matcher.search import MatchConfig  # noqa: PLC0415
    from matcher.strategies import run_strategy  # noqa: PLC0415
    from objectives.metrics import all_metrics  # noqa: PLC0415
    from objectives.pitch import estimate_pitch  # noqa: PLC0415
    from synth.render import render  # noqa: PLC0415

    from matcher.evaluator import start_workers  # noqa: PLC0415
    from matcher.pareto import front_of_rows, is_two_objective  # noqa: PLC0415
    from matcher.voice_race import BASE_VOICE  # noqa: PLC0415

    s = settings
    sr = int(target.sr)
    jobs = default_jobs(s.budget) if s.jobs is None else s.jobs
    start_workers(jobs, BASE_VOICE if s.voice == AUTO_VOICE else s.voice, sr)  # their start-up overlaps the analysis below
    two_objectives = is_two_objective(s.optimizer)  # issue 11: the knee of the front is the match, never re-polished on one objective
    n_polish = 0 if two_objectives else polish_budget(s.budget, sr, target.orig_sr)
    config = MatchConfig(optimizer=s.optimizer, budget=s.budget - n_polish, time_limit_s=s.time_limit_s, seed=s.seed, jobs=jobs, voice=s.voice, sr=sr)
    rows: list = []

    def collect(batch: Sequence[Any]) -> None:
        rows.extend(batch)
        if on_batch is not None:
            on_batch(batch)

    pitch = estimate_pitch(target.audio, sr)
    stopped_by = "budget"
    info: dict = {}
    polish_label = f"polish@{target.orig_sr}Hz"
    try:
        result = run_strategy(target.audio, config, callback=collect, pitch=pitch)
        stopped_by = result.stopped_by
        info = dict(getattr(result, "info", {}) or {})
        if n_polish and rows and stopped_by == "budget":
            if on_phase is not None:
                on_phase(f"polishing at {target.orig_sr} Hz")
            judged = replace(config, voice=result.voice or config.voice, weights=info.get("weights", config.weights))  # as the race ended judging
            polish_at_rate(result, target.orig_audio, target.orig_sr, judged, n_polish, collect, first_eval=len(rows), t0=time.perf_counter() - rows[-1].wall_s)
    except KeyboardInterrupt:
        stopped_by = "interrupted"
    if not rows:
        raise MatchInterrupted("interrupted before the first evaluation")
    # Polish rows are distances at the target's rate: the best of those wins when there are any.
    # A race that changed its fitness (matcher.voice_race) compares only the distances of its last one.
    polished = [r for r in rows if r.arm == polish_label]
    last_judge = max(r.judge for r in rows)
    best_row = min(polished or [r for r in rows if r.judge == last_judge], key=lambda r: r.loss)
    patch, loss = dict(best_row.patch), float(best_row.loss)
    voice = best_row.voice or s.voice  # a raced match's rows name their voice
    front = front_of_rows(rows) if two_objectives else None  # issue 11
    if front is not None:
        patch, loss = dict(front.knee_point.patch), front.knee_point.fitness
    match_audio = render(patch, target.orig_sr, len(target.orig_audio), voice)
    scores = all_metrics(match_audio, target.orig_audio, target.orig_sr)  # at the target's own rate
    metrics = {
        "mfcc_distance": scores["mfcc"],
        "log_spectral_distance_db": scores["lsd_db"],
        "mrstft_distance": scores["mrstft"],
        "multiscale_spectral_distance": scores["mss"],
    }
    return MatchOutcome(
        target=target, settings=s, patch=patch, loss=loss, distance_sr=target.orig_sr if polished else sr,
        rows=rows, polish_evals=len(polished), match_audio=match_audio, metrics=metrics, pitch=pitch,
        stopped_by=stopped_by, search_wall_s=rows[-1].wall_s, info=info, front=front, voice=voice,
    )


def history_csv(rows: Sequence[Any], param_names: Sequence[str]) -> str:
    """``history.csv`` text: ``eval, wall_s, loss, best_loss, arm`` and the patch's parameters.

    A parameter a row's patch does not have (another voice's, in a raced match) is left empty.
    """
    import csv  # noqa: PLC0415
    import io  # noqa: PLC0415

    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["eval", "wall_s", "loss", "best_loss", "arm", *param_names])
    for r in rows:
        w.writerow([r.eval, f"{r.wall_s:.4f}", f"{r.loss:.6g}", f"{r.best_loss:.6g}", r.arm, *("" if n not in r.patch else r.patch[n] if isinstance(r.patch[n], str) else f"{r.patch[n]:.6g}" for n in param_names)])
    return buf.getvalue()


def publish_folder(files: dict[str, Callable[[Path], None]], out: Path) -> None:
    """Write files into a temporary sibling folder, then move them into ``out``.

    ``files`` maps a file name to a function that writes it given its path.
    Nothing appears in ``out`` until every file is complete.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        for name, write in files.items():
            write(tmp / name)
        if not out.exists():
            os.replace(tmp, out)
            return
        for name in files:
            os.replace(tmp / name, out / name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)



def outcome_files(outcome: MatchOutcome, title_name: str | None = None) -> dict[str, Callable[[Path], None]]:
    """Writers of ``patch.json``, ``match.wav``, ``history.csv``, ``report.png`` (and ``pareto.csv`` for a two-objective match), by file name.

    Each writer takes the path to write; use with :func:`publish_folder`.
    """
    from objectives.audio_io import write_wav_atomic  # noqa: PLC0415
    from synth.patch_io import write_text_atomic  # noqa: PLC0415
    from synth.voices import get_voice  # noqa: PLC0415

    s, tgt = outcome.settings, outcome.target
    name = title_name or Path(str(tgt.path)).name
    voices = list(dict.fromkeys(r.voice or s.voice for r in outcome.rows)) or [outcome.voice]
    param_names = list(dict.fromkeys(n for v in voices for n in get_voice(v).space.names))  # every raced voice's columns
    polished = outcome.polish_evals

    def write_report(path: Path) -> None:
        from matcher.report import plot_match_report  # noqa: PLC0415

        plot_match_report(
            path, tgt.orig_audio, outcome.match_audio, tgt.orig_sr, [r.best_loss for r in outcome.rows],
            title=f"{name}: distance {outcome.loss:.4g} at {outcome.distance_sr} Hz ({s.optimizer}, {outcome.voice}, {outcome.evals} evals)",
            polish_start=outcome.evals - polished + 1 if polished else None,
            front=None if outcome.front is None else outcome.front.objectives(),
            knee=None if outcome.front is None else outcome.front.knee,
            judge_start=next((i + 1 for i, r in enumerate(outcome.rows) if r.judge > 0), None),
        )

    files = {
        "patch.json": lambda p: write_text_atomic(p, json.dumps(outcome.document(), indent=2) + "\n"),
        "match.wav": lambda p: write_wav_atomic(p, outcome.match_audio, tgt.orig_sr),
        "history.csv": lambda p: write_text_atomic(p, history_csv(outcome.rows, param_names)),
        "report.png": write_report,
    }
    if outcome.front is not None:  # issue 11
        from matcher.pareto import pareto_csv  # noqa: PLC0415

        files["pareto.csv"] = lambda p: write_text_atomic(p, pareto_csv(outcome.front, param_names))
    return files
