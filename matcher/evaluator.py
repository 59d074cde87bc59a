"""Evaluate candidate patches against one target, in this process or in workers.

Worker processes come from joblib's reusable loky executor and live as long as
this process: each boots its own Pyo server on first render and keeps the
:class:`objectives.distance.Fitness` of the last target it saw (keyed by a hash
of the target), so analysis runs once per worker and target.
"""

from __future__ import annotations

import hashlib
from typing import Mapping, Sequence

import numpy as np

from objectives.distance import Fitness, FitnessWeights
from objectives.features import analyse
from synth.render import render
from synth.voices import get_voice

__all__ = ["Evaluator", "loss_of_patch"]

CHUNKS_PER_WORKER = 4
"""A batch is cut into this many chunks per worker process (dynamic load balancing)."""

_WORKER_CACHE: dict[str, Fitness] = {}
"""In a worker process: the fitness of the last target seen, by target key."""


def _evaluate_chunk(job: tuple) -> list[tuple[float, float | None]]:
    key, target_audio, sr, voice, weights, solve_gain, patches, *two = job
    fitness = _WORKER_CACHE.get(key)
    if fitness is None:
        _WORKER_CACHE.clear()
        fitness = _WORKER_CACHE[key] = Fitness(analyse(target_audio, sr), weights)
    target_power = float(np.dot(target_audio, target_audio)) if solve_gain else 0.0
    # -- two objectives (issue 11): (loss, gain, (spectral, envelope)) per patch when asked --
    if two and two[0]:
        recorder = _ObjectiveRecorder(fitness)
        return [(*loss_of_patch(recorder, p, sr, len(target_audio), voice, target_power if solve_gain else None), recorder.last) for p in patches]
    # -- end of the two objectives --
    return [loss_of_patch(fitness, p, sr, len(target_audio), voice, target_power if solve_gain else None) for p in patches]


class _ObjectiveRecorder:
    """A :class:`Fitness` stand-in whose distance is the sum of the two objectives, which it keeps (issue 11)."""

    def __init__(self, fitness: Fitness) -> None:
        self.fitness = fitness
        self.last: tuple[float, float] | None = None

    def __call__(self, audio: np.ndarray) -> float:
        self.last = self.fitness.objectives(audio)
        return self.last[0] + self.last[1]


def loss_of_patch(
    fitness: Fitness,
    patch: Mapping[str, float | str],
    sr: int,
    n_samples: int,
    voice: str,
    target_power: float | None = None,
) -> tuple[float, float | None]:
    """Render ``patch`` and return its fitness (lower is better).

    Parameters
    ----------
    target_power : float, optional
        Sum of squares of the target.  When given, the voice's ``gain_param``
        (which the output is proportional to) is solved in closed form: the
        patch is rendered with gain 1 and scaled to the target's energy, the
        gain clipped to the parameter's range.

    Returns
    -------
    loss : float
    gain : float or None
        The solved gain (``None`` when not solving).
    """
    if target_power is None:
        return float(fitness(render(patch, sr, n_samples, voice))), None
    v = get_voice(voice)
    p = v.space[v.gain_param]
    audio = render({**patch, v.gain_param: 1.0}, sr, n_samples, voice)
    power = float(np.dot(audio, audio))
    gain = min(max(np.sqrt(target_power / power), p.low), p.high) if power > 0 and np.isfinite(power) else p.high
    audio *= np.float32(gain)
    return float(fitness(audio)), float(gain)


class Evaluator:
    """Batch loss of patches against a target.

    Parameters
    ----------
    target_audio : ndarray, shape (n_samples,), float32
        Target at the working rate.
    sr : int
        Working sample rate in Hz.
    voice : str
        Voice name.
    weights : FitnessWeights
        Fitness weights.
    jobs : int
        Worker processes; 1 evaluates in this process.
    solve_gain : bool
        Solve the voice's ``gain_param`` in closed form (see :func:`loss_of_patch`);
        the patches returned by :meth:`evaluate` then carry the solved value.
    """

    def __init__(
        self,
        target_audio: np.ndarray,
        sr: int,
        voice: str = "subtractive",
        weights: FitnessWeights = FitnessWeights(),
        jobs: int = 1,
        solve_gain: bool = False,
    ) -> None:
        self.sr = int(sr)
        self.n_samples = len(target_audio)
        self.voice = voice
        self.jobs = max(1, int(jobs))
        self.weights = weights
        self.solve_gain = bool(solve_gain and get_voice(voice).gain_param)
        self.target_audio = np.ascontiguousarray(target_audio, dtype=np.float32)
        self._key = hashlib.sha1(self.target_audio.tobytes() + repr((self.sr, voice, weights)).encode()).hexdigest()
        self._executor = None
        if self.jobs > 1:
            # joblib's own accessor to the shared loky executor: a bare loky executor lacks
            # the attributes a later joblib.Parallel call in this process expects.
            from joblib.executor import get_memmapping_executor  # noqa: PLC0415

            self._executor = get_memmapping_executor(
                self.jobs,
                env={"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"},
                timeout=300,
            )

    def _job(self, patches: Sequence[Mapping[str, float | str]]) -> tuple:
        return (self._key, self.target_audio, self.sr, self.voice, self.weights, self.solve_gain, list(patches))

    def evaluate(self, patches: Sequence[Mapping[str, float | str]]) -> tuple[np.ndarray, list[dict[str, float | str]]]:
        """Evaluate ``patches`` in order.

        Returns
        -------
        losses : ndarray, shape (len(patches),)
        patches : list of dict
            The patches as evaluated (with the solved gain when ``solve_gain``).
        """
        if self._executor is None or len(patches) < 2:
            results = _evaluate_chunk(self._job(patches))
        else:
            # A few chunks per worker, so a worker slowed by other load hands work to the other.
            n_chunks = min(len(patches), CHUNKS_PER_WORKER * self.jobs)
            bounds = np.linspace(0, len(patches), n_chunks + 1).round().astype(int)
            jobs = [self._job(patches[a:b]) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
            results = [x for chunk in self._executor.map(_evaluate_chunk, jobs) for x in chunk]
        gain_param = get_voice(self.voice).gain_param
        out = [dict(p) if g is None else {**p, gain_param: g} for p, (_, g) in zip(patches, results)]
        return np.array([loss for loss, _ in results], dtype=float), out

    # -- two objectives (issue 11) --
    def evaluate_objectives(self, patches: Sequence[Mapping[str, float | str]]) -> tuple[np.ndarray, np.ndarray, list[dict[str, float | str]]]:
        """Like :meth:`evaluate`, and also each patch's ``(spectral, envelope)`` objectives.

        Returns
        -------
        losses : ndarray, shape (n,)
            ``spectral + envelope``: the fitness, up to float rounding.
        objectives : ndarray, shape (n, 2)
        patches : list of dict
        """
        job = lambda chunk: (*self._job(chunk), True)  # noqa: E731
        if self._executor is None or len(patches) < 2:
            results = _evaluate_chunk(job(patches))
        else:
            n_chunks = min(len(patches), CHUNKS_PER_WORKER * self.jobs)
            bounds = np.linspace(0, len(patches), n_chunks + 1).round().astype(int)
            results = [x for chunk in self._executor.map(_evaluate_chunk, [job(patches[a:b]) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]) for x in chunk]
        gain_param = get_voice(self.voice).gain_param
        out = [dict(p) if g is None else {**p, gain_param: g} for p, (_, g, _) in zip(patches, results)]
        objectives = np.array([o for _, _, o in results], dtype=float).reshape(-1, 2)
        return np.array([loss for loss, _, _ in results], dtype=float), objectives, out
    # -- end of the two objectives --

    def warm_up(self, patch: Mapping[str, float | str]) -> None:
        """Start the workers, boot their Pyo servers and analyse the target, by evaluating ``patch`` once each."""
        if self._executor is not None:
            list(self._executor.map(_evaluate_chunk, [self._job([patch])] * self.jobs))

    def close(self) -> None:
        """Nothing to release per match: loky keeps its workers for reuse and stops them at exit."""
        self._executor = None
