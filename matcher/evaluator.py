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

__all__ = ["Evaluator", "loss_of_patch", "start_workers", "stop_workers"]


_WORKER_CACHE: dict[str, tuple[Fitness, float]] = {}
"""In a worker process: the fitness and power of the last target seen, by target key."""

NEED_TARGET = "need-target"
"""What a worker answers a chunk whose target it has not seen (the caller sends it again with the audio)."""


def _evaluate_chunk(job: tuple) -> list[tuple[float, float | None]] | str:
    """Evaluate one chunk in a worker: ``(key, audio or None, sr, voice, weights, solve_gain, patches[, two_objectives])``.

    The audio travels once per worker and target (:meth:`Evaluator.warm_up`);
    later chunks carry only its key.  A worker that has not seen the key (a
    respawned one) answers :data:`NEED_TARGET`.
    """
    key, target_audio, sr, voice, weights, solve_gain, patches, *two = job
    cached = _WORKER_CACHE.get(key)
    if cached is None:
        if target_audio is None:
            return NEED_TARGET
        _WORKER_CACHE.clear()
        cached = _WORKER_CACHE[key] = (Fitness(analyse(target_audio, sr), weights), float(np.dot(target_audio, target_audio)))
    fitness, target_power = cached
    if two and two[0]:  # issue 11: (loss, gain, (spectral, envelope)) per patch
        return _with_objectives(fitness, patches, sr, voice, target_power if solve_gain else None)
    return [loss_of_patch(fitness, p, sr, fitness.features.n_samples, voice, target_power if solve_gain else None) for p in patches]


def _with_objectives(fitness: Fitness, patches, sr: int, voice: str, target_power: float | None) -> list[tuple[float, float | None, tuple[float, float]]]:
    """Issue 11: like :func:`loss_of_patch` for each patch, with its ``(spectral, envelope)`` objectives."""
    recorder = _ObjectiveRecorder(fitness)
    return [(*loss_of_patch(recorder, p, sr, fitness.features.n_samples, voice, target_power), recorder.last) for p in patches]


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


WORKER_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
"""Environment of the worker processes: one BLAS thread each (the workers are the parallelism)."""


def _executor(jobs: int):
    """joblib's shared loky executor with ``jobs`` workers (the same one for the same arguments)."""
    # joblib's own accessor to the shared loky executor: a bare loky executor lacks
    # the attributes a later joblib.Parallel call in this process expects.
    from joblib.executor import get_memmapping_executor  # noqa: PLC0415

    return get_memmapping_executor(jobs, env=WORKER_ENV, timeout=300)


def _start_worker(voice: str, sr: int) -> bool:
    """In a worker: import the render and fitness stack and boot the Pyo server at ``sr``."""
    render(get_voice(voice).space.decode(np.full(get_voice(voice).space.dim, 0.5)), sr, 256, voice)
    analyse(np.zeros(2048, dtype=np.float32) + 1e-3, sr)
    return True


def start_workers(jobs: int, voice: str = "subtractive", sr: int = 22050) -> None:
    """Start the ``jobs - 1`` worker processes of a ``jobs``-process evaluation now, without waiting for them.

    Their start-up (imports, Pyo boot) then overlaps the caller's own analysis
    before the first batch (a match's f0 stage, predictor and fits); an
    :class:`Evaluator` with the same ``jobs`` later finds them running.
    """
    if jobs > 1:
        ex = _executor(jobs - 1)
        for _ in range(jobs - 1):
            ex.submit(_start_worker, voice, int(sr))


def stop_workers(jobs: int) -> None:
    """Stop the workers of a ``jobs``-process evaluation now, killing them rather than waiting for their clean exit.

    For a command that is about to end (``matcher match``): otherwise the
    interpreter's exit waits for each worker to shut down its Pyo server and
    interpreter, measured 0.25-0.4 s after the output was written.
    """
    if jobs > 1:
        _executor(jobs - 1).shutdown(wait=False, kill_workers=True)


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
        Processes that evaluate: this one and ``jobs - 1`` workers; 1 evaluates in this process only.
    solve_gain : bool
        Solve the voice's ``gain_param`` in closed form (see :func:`loss_of_patch`);
        the patches returned by :meth:`evaluate` then carry the solved value.

    Notes
    -----
    With workers, the target travels to each worker once (:meth:`warm_up`, or
    the first chunk a worker gets); every later chunk carries only its key and
    the patches, so a batch costs the transfer of a few dicts, not of the audio.
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
        self._executor = _executor(self.jobs - 1) if self.jobs > 1 else None  # this process is one of the jobs
        self._local: Fitness | None = None
        self._blas = None  # threadpoolctl's controller of this process's BLAS libraries, made at the first batch
        self._warm: list = []  # futures of the warm-up jobs (the target sent to each worker)
        self._target_power = float(np.dot(self.target_audio, self.target_audio))

    def _job(self, patches: Sequence[Mapping[str, float | str]], with_audio: bool = False, two: bool = False) -> tuple:
        return (self._key, self.target_audio if with_audio else None, self.sr, self.voice, self.weights, self.solve_gain, list(patches), *((True,) if two else ()))

    def _evaluate_here(self, patches: Sequence[Mapping[str, float | str]], two: bool = False) -> list[tuple]:
        # One BLAS thread, as in the workers (WORKER_ENV): a threaded matrix product sums in
        # another order, and the losses must not depend on where a patch was evaluated.
        # The controller is made once: threadpool_limits() scans the loaded libraries on
        # every call (0.9 ms, a match's 140 batches 0.13 s); limiting through it costs 0.01 ms.
        if self._blas is None:
            from threadpoolctl import ThreadpoolController  # noqa: PLC0415

            self._blas = ThreadpoolController()
        with self._blas.limit(limits=1, user_api="blas"):
            if self._local is None:
                self._local = Fitness(analyse(self.target_audio, self.sr), self.weights)
            power = self._target_power if self.solve_gain else None
            if two:  # issue 11
                return _with_objectives(self._local, patches, self.sr, self.voice, power)
            return [loss_of_patch(self._local, p, self.sr, self.n_samples, self.voice, power) for p in patches]

    def evaluate(self, patches: Sequence[Mapping[str, float | str]]) -> tuple[np.ndarray, list[dict[str, float | str]]]:
        """Evaluate ``patches`` in order.

        Returns
        -------
        losses : ndarray, shape (len(patches),)
        patches : list of dict
            The patches as evaluated (with the solved gain when ``solve_gain``).
        """
        if self._executor is None or len(patches) < 2:
            results = self._evaluate_here(patches)
        else:
            results = self._evaluate_shared(list(patches))
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
        if self._executor is None or len(patches) < 2:
            results = self._evaluate_here(patches, two=True)
        else:
            results = self._evaluate_shared(list(patches), two=True)
        gain_param = get_voice(self.voice).gain_param
        out = [dict(p) if g is None else {**p, gain_param: g} for p, (_, g, _) in zip(patches, results)]
        objectives = np.array([o for _, _, o in results], dtype=float).reshape(-1, 2)
        return np.array([loss for loss, _, _ in results], dtype=float), objectives, out
    # -- end of the two objectives --

    def _evaluate_shared(self, patches: list[Mapping[str, float | str]], two: bool = False) -> list[tuple]:
        """Evaluate in this process and the workers together: one equal share each.

        The workers' shares are submitted first, each as a single job, then
        this process evaluates its own share and waits for theirs.  One job
        per worker and batch, not many small ones: while this process renders,
        Pyo holds the GIL, so loky's feeder thread cannot hand out further jobs
        and a worker waiting for its next small chunk sits idle.  A worker that
        has not finished starting (:meth:`workers_ready`) is not waited for: the
        batch is then evaluated here.
        """
        if not self.workers_ready():
            return self._evaluate_here(patches, two=two)
        bounds = np.linspace(0, len(patches), self.jobs + 1).round().astype(int)
        shares = [patches[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
        futures = [self._executor.submit(_evaluate_chunk, self._job(s, two=two)) for s in shares[1:] if s]
        answers = [self._evaluate_here(shares[0], two=two)]
        for share, future in zip([s for s in shares[1:] if s], futures):
            answer = future.result()
            answers.append(self._evaluate_here(share, two=two) if isinstance(answer, str) else answer)  # str: that worker lacked the target
        return [x for answer in answers for x in answer]

    def workers_ready(self) -> bool:
        """Whether every worker has started and analysed the target (:meth:`warm_up` has finished)."""
        if not self._warm:
            self.warm_up()
        return all(f.done() for f in self._warm)

    def warm_up(self) -> None:
        """Send the target to every worker (each analyses it once), without waiting for them."""
        if self._executor is not None and not self._warm:
            self._warm = [self._executor.submit(_evaluate_chunk, self._job([], with_audio=True)) for _ in range(self.jobs - 1)]

    def close(self) -> None:
        """Nothing to release per match: loky keeps its workers for reuse and stops them at exit."""
        self._executor = None
