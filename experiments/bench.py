"""Benchmark sweeps: trials of (target × optimiser × seed × budget), run through joblib, committed to a store.

A *trial* matches one target with one strategy (any name of
``matcher.cli.known_optimizers()``) at one seed and budget, with one evaluation
process (``jobs=1``), so trials are independent and reproducible: the same
trial gives the same final loss wherever it runs.  It records the final loss,
evaluations, wall time, the best patch, the evaluation metrics of the final
render (:func:`objectives.metrics.all_metrics`, which the fitness never saw),
parameter errors against the truth where the suite knows it, and the
best-so-far curve at log-spaced evaluation counts.  A two-objective optimiser
(``nsga2``) answers with the knee of its Pareto front (:mod:`matcher.pareto`),
as ``matcher match`` does, and records the front's size as the metric
``front_size``.

:func:`run_sweep` runs the trials missing from the store on joblib's ``loky``
backend (one machine) or ``dask`` backend (a ``dask.distributed`` scheduler),
and commits each finished trial in one transaction as it arrives, so an
interrupted sweep resumes where it stopped (DESIGN §7).
"""

from __future__ import annotations

import itertools
import math
import os
import signal
import socket
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from experiments.store import Store, TrialKey
from experiments.suites import SuiteTarget

__all__ = ["Trial", "TrialOutcome", "SweepPlan", "curve_grid", "run_trial", "score_labels", "score_patch", "plan_sweep", "run_sweep", "split_method", "BACKENDS"]


def split_method(method: str, voice: str = "subtractive") -> tuple[str, str]:
    """``"NAME"`` or ``"NAME@VOICE"`` -> (strategy, voice); the sweep's voice when none is named.

    One sweep can so compare voices side by side (``cma@analog``) while its
    trials stay keyed by the method text.
    """
    name, _, named = method.partition("@")
    return name, (named or voice)

BACKENDS = ("loky", "dask")

PAUSE_ENV = "MATCHER_BENCH_PAUSE_AFTER"
"""Test hook: with this set to N > 0, :func:`run_sweep` stops after committing N
trials and waits for a signal (Ctrl-C, a kill), so a test can interrupt a sweep
mid-run without depending on how fast the trials are."""

AUDIBLE_PARAMS = ("filter_cutoff", "filter_res", "env_attack", "env_decay", "env_sustain", "env_release")
"""Continuous parameters scored in the unit cube against the true patch (with the noise mix, see :func:`score_patch`).

Left out: ``duree`` (locked to the target's length), ``osc_freq`` (scored in
cents) and the three volumes, which multiply (DESIGN §5.9): only the noise
share ``noise_vol / (osc_vol + noise_vol)`` is audible apart from loudness."""


@dataclass(frozen=True)
class Trial:
    """One (target, optimiser, seed, budget) combination."""

    target: SuiteTarget
    optimizer: str
    seed: int
    budget: int

    @property
    def key(self) -> TrialKey:
        return TrialKey(self.target.name, self.optimizer, self.seed, self.budget)


@dataclass
class TrialOutcome:
    """What a worker sends back: the store record and the subsampled curve."""

    record: dict
    curve: list[tuple[int, float, float]] = field(default_factory=list)


def curve_grid(budget: int, n_points: int = 40) -> np.ndarray:
    """Log-spaced evaluation counts from 1 to ``budget`` (unique integers, ``budget`` included)."""
    return np.unique(np.round(np.geomspace(1, max(1, budget), n_points)).astype(int))


def _cents(found_hz: float, true_hz: float) -> float:
    return abs(1200.0 * math.log2(float(found_hz) / float(true_hz)))


def score_labels(found: Mapping[str, float | str], labels: Mapping[str, Any], voice: str = "subtractive") -> dict[str, float]:
    """Label errors of a found patch of ``voice``: ``osc_ok``, ``filter_ok``, ``choices_ok``, ``f0_cents``, ``f0_ok``.

    Each only where the target has the label and the found patch has the
    parameter (an FM note has no waveform label; a GM one-shot has only
    ``f0_hz``; a voice without a filter has no ``filter_type``).  ``filter_ok``
    compares filter families: the voice's own name for its filter is mapped
    to its family first (``Voice.filter_family``: the analog voice's 24 dB
    ``lowpass24`` is a lowpass, as another engine's ladder lowpass is labelled).
    ``f0_cents`` compares the pitch the patch plays (``Voice.f0_hz``: a detuned
    pair's centre, as the foreign suites label it).  ``f0_ok``: within 50 cents.
    """
    from synth.voices import get_voice  # noqa: PLC0415

    out: dict[str, float] = {}
    if "osc_type" in labels and "osc_type" in found:
        out["osc_ok"] = float(found["osc_type"] == labels["osc_type"])
    if "filter_type" in labels and "filter_type" in found:
        out["filter_ok"] = float(get_voice(voice).filter_family(str(found["filter_type"])) == labels["filter_type"])
    if "osc_ok" in out and "filter_ok" in out:
        out["choices_ok"] = float(out["osc_ok"] and out["filter_ok"])
    if "f0_hz" in labels and "osc_freq" in found:
        out["f0_cents"] = _cents(get_voice(voice).f0_hz(found), float(labels["f0_hz"]))
        out["f0_ok"] = float(out["f0_cents"] <= 50.0)
    return out


def score_patch(found: Mapping[str, float | str], target: SuiteTarget, voice: str = "subtractive") -> dict[str, float]:
    """Parameter errors of a found patch of ``voice`` against what the suite knows about the target.

    From labels (in-domain, SoX and the foreign suites): :func:`score_labels`.
    From a true patch (in-domain only): ``param_mae``, the
    mean absolute unit-cube error over :data:`AUDIBLE_PARAMS` and the noise share.
    A target without labels or truth gets an empty dict.
    """
    out = score_labels(found, dict(target.labels), voice)
    if target.true_patch is not None:
        from synth.voices import get_voice  # noqa: PLC0415

        space = get_voice("subtractive").space
        truth = target.true_patch
        errs = [abs(space[n].encode(float(found[n])) - space[n].encode(float(truth[n]))) for n in AUDIBLE_PARAMS if n in found and n in truth]

        def share(p: Mapping) -> float:
            total = float(p["osc_vol"]) + float(p["noise_vol"])
            return float(p["noise_vol"]) / total if total > 0 else 0.0

        errs.append(abs(share(found) - share(truth)))
        out["param_mae"] = float(np.mean(errs))
    return out


def run_trial(target: SuiteTarget, optimizer: str, seed: int, budget: int, voice: str = "subtractive") -> TrialOutcome:
    """Run one trial; never raises (a failure comes back with ``status="error"`` and the traceback's last line).

    ``optimizer`` may name a voice, ``NAME@VOICE`` (:func:`split_method`); the record keeps the text as given.
    """
    record: dict = {"target": target.name, "optimizer": optimizer, "seed": int(seed), "budget": int(budget), "host": f"{socket.gethostname()}:{os.getpid()}"}
    optimizer, voice = split_method(optimizer, voice)
    try:
        from matcher.pareto import front_of_rows  # noqa: PLC0415
        from matcher.search import MatchConfig  # noqa: PLC0415
        from matcher.strategies import run_strategy  # noqa: PLC0415
        from objectives.metrics import all_metrics  # noqa: PLC0415
        from synth.render import render  # noqa: PLC0415

        evals: list[int] = []
        walls: list[float] = []
        bests: list[float] = []
        t0 = time.perf_counter()
        best = [math.inf]
        judge = [0]
        scored: list = []  # rows with (spectral, envelope) objectives: a two-objective optimiser's front

        def on_batch(rows: Sequence) -> None:
            now = time.perf_counter() - t0
            scored.extend(r for r in rows if getattr(r, "objectives", None) is not None)
            for r in rows:
                if r.judge != judge[0]:  # a race judging by another fitness from here on (matcher.voice_race)
                    judge[0], best[0] = r.judge, math.inf
                best[0] = min(best[0], float(r.loss))
                evals.append(len(evals) + 1)
                walls.append(now)
                bests.append(best[0])

        config = MatchConfig(optimizer=optimizer, budget=int(budget), seed=int(seed), jobs=1, sr=int(target.sr), voice=voice)
        result = run_strategy(np.asarray(target.audio, dtype=np.float32), config, callback=on_batch)
        wall_s = time.perf_counter() - t0
        patch, final_loss = dict(result.patch), float(result.loss)
        front = front_of_rows(scored)
        if front is not None:  # a two-objective optimiser: the trial's answer is the knee, as in `matcher match`
            patch, final_loss = dict(front.knee_point.patch), front.knee_point.fitness
        played_by = result.voice or voice  # a raced trial (NAME@auto) names its winner
        match = render(patch, target.sr, len(target.audio), played_by)
        metrics = all_metrics(match, target.audio, target.sr)
        metrics.update(score_patch(patch, target, played_by))
        if front is not None:
            metrics["front_size"] = float(len(front))
        curve = []
        if evals:
            for e in curve_grid(len(evals)):
                curve.append((int(e), float(walls[e - 1]), float(bests[e - 1])))
        if result.voice is not None:
            patch = {**patch, "voice": played_by}
            metrics.update({f"distance_{v}": float(d) for v, d in (getattr(result, "info", {}) or {}).get("voice_losses", {}).items()})
        record.update(status="ok", final_loss=final_loss, evals=int(result.evals), wall_s=float(wall_s), patch=patch, metrics=metrics)
        return TrialOutcome(record, curve)
    except Exception as exc:  # noqa: BLE001 - one failing strategy must not end a sweep
        last = traceback.format_exception_only(type(exc), exc)[-1].strip()
        record.update(status="error", error=last, metrics={})
        return TrialOutcome(record, [])


@dataclass
class SweepPlan:
    """The trials of a sweep, and which are still to run."""

    trials: list[Trial]
    todo: list[Trial]

    @property
    def done(self) -> int:
        return len(self.trials) - len(self.todo)


def plan_sweep(store: Store, targets: Sequence[SuiteTarget], optimizers: Sequence[str], seeds: Sequence[int], budget: int) -> SweepPlan:
    """All trials (target-major order so early results cover every optimiser), minus those in the store."""
    finished = store.finished_keys()
    trials = [Trial(t, o, int(s), int(budget)) for t, s, o in itertools.product(targets, seeds, optimizers)]
    return SweepPlan(trials, [tr for tr in trials if tr.key not in finished])


def run_sweep(
    store: Store,
    targets: Sequence[SuiteTarget],
    optimizers: Sequence[str],
    seeds: Sequence[int],
    budget: int,
    workers: int = 2,
    backend: str = "loky",
    scheduler: str | None = None,
    on_trial: Callable[[TrialOutcome, int, int], None] | None = None,
    voice: str = "subtractive",
) -> SweepPlan:
    """Run every trial missing from ``store``, committing each as it finishes.

    Parameters
    ----------
    store : Store
        Targets must already be recorded (:meth:`Store.add_targets`).
    workers : int
        loky: worker processes.  dask: ignored (the cluster's workers decide).
    backend : {"loky", "dask"}
    scheduler : str, optional
        ``tcp://HOST:PORT`` of a ``dask.distributed`` scheduler (dask only).
    on_trial : callable, optional
        ``on_trial(outcome, n_done, n_total)`` after each commit (progress bars).

    Returns
    -------
    SweepPlan
        The plan as it was before running (``todo`` lists what this call ran).

    Ctrl-C stops the sweep: trials already committed stay, the running ones are lost.
    With the environment variable :data:`PAUSE_ENV` set to N, the sweep waits
    for a signal once this call has committed N trials (a test hook).
    """
    from joblib import Parallel, delayed, parallel_config  # noqa: PLC0415

    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r} (known: {', '.join(BACKENDS)})")
    plan = plan_sweep(store, targets, optimizers, seeds, budget)
    total, done = len(plan.trials), plan.done
    pause_after = int(os.environ.get(PAUSE_ENV) or 0)
    if not plan.todo:
        return plan
    tasks = (delayed(run_trial)(tr.target, tr.optimizer, tr.seed, tr.budget, voice) for tr in plan.todo)
    client = None
    if backend == "dask":
        if not scheduler:
            raise ValueError("the dask backend needs a scheduler address (tcp://HOST:PORT)")
        from dask.distributed import Client  # noqa: PLC0415

        client = Client(scheduler, timeout=30)
        config = parallel_config(backend="dask", n_jobs=-1)
    else:
        config = parallel_config(backend="loky", n_jobs=max(1, int(workers)))
    try:
        with config:
            for outcome in Parallel(return_as="generator_unordered", batch_size=1, pre_dispatch="n_jobs")(tasks):
                store.add_trial(outcome.record, outcome.curve)
                done += 1
                if on_trial is not None:
                    on_trial(outcome, done, total)
                if pause_after > 0 and done - plan.done == pause_after:
                    _wait_for_signal()
    finally:
        if client is not None:
            client.close()
    return plan


def _wait_for_signal() -> None:
    """Block until a signal's handler raises (SIGINT: KeyboardInterrupt) or the process is killed."""
    if hasattr(signal, "pause"):
        while True:
            signal.pause()
    threading.Event().wait()
