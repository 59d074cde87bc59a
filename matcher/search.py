"""The match loop: pitch analysis, choice screening and continuous search.

Strategy (``screen``): the target's f0 narrows ``osc_freq`` to ± a semitone
around each plausible pitch candidate; every combination of choices
(pitch candidate × oscillator type × filter type) becomes an *arm*, a continuous
sub-space searched by its own optimiser instance.  Arms race by successive
halving: every round spends an equal share of the budget, then the best third of
the arms go on, until one arm has the rest of the budget.  All alive arms'
batches are evaluated together, so worker processes stay busy.

Whatever happens, the result is the best patch evaluated, and every evaluation
is reported to the callback (history, progress bar).
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np

from matcher.evaluator import Evaluator
from matcher.optimizers import DEFAULT_OPTIMIZER, OPTIMIZERS, Optimizer, make_optimizer
from objectives.distance import FitnessWeights
from objectives.envelope import AdsrFit, fit_adsr
from objectives.pitch import PitchEstimate, estimate_pitch
from synth.params import ParamSpace
from synth.voices import get_voice

__all__ = ["MatchConfig", "MatchResult", "Arm", "Evaluation", "run_match", "pitch_arms", "plausible_f0s", "SEMITONE"]

SEMITONE = 2.0 ** (1.0 / 12.0)
"""Frequency ratio of one equal-tempered semitone (the fine-tune range around an f0 estimate)."""


@dataclass(frozen=True)
class MatchConfig:
    """Settings of one match.

    Parameters
    ----------
    optimizer : str
        Registered optimiser name.
    budget : int
        Maximum number of evaluations (renders + fitness).
    time_limit_s : float or None
        Stop after this many seconds of search.
    seed : int
        Seed of every random choice of the search.
    jobs : int
        Worker processes for evaluation (does not change the result).
    voice : str
        Voice name.
    sr : int
        Working sample rate of the search, in Hz.
    eta : int
        Successive-halving reduction factor (keep ``1/eta`` of the arms each round).
    weights : FitnessWeights
        Fitness weights.
    screen_design : bool
        Screen every arm with a grid over filter settings before the race
        (otherwise round 0 evaluates only the seed patches, or each arm's centre).
    sigma0 : float
        Initial spread of each arm's optimiser around its start, in unit-cube coordinates.
    final_arms : int
        Arms still racing in the last round.  More than one hedges between
        near-twin arms (a square through a bandpass slopes like a highpassed
        triangle) at the cost of convergence; one measured better at budget 2000.
    keep_ratio : float or None
        When set, a first cut after round 0 (where every arm has rendered
        evidence) keeps the arms whose best distance is within ``keep_ratio`` ×
        the leader's, at least ``keep_arms[0]`` and at most ``keep_arms[1]`` of
        them, plus every favoured arm (see :func:`run_match`); the race then
        halves from there.  ``None``: the first round already halves all arms.
    keep_arms : (int, int)
        Least and most arms the first cut keeps.
    narrow_envelope : bool
        Narrow the amp ADSR around the fit of the target's RMS envelope
        (:func:`envelope_space`).  Off for a search whose seeds already carry an
        envelope fitted for what else shapes the RMS (a closing filter, a
        falling FM index), which the narrowed range might clip.
    """

    optimizer: str = DEFAULT_OPTIMIZER
    budget: int = 2000
    time_limit_s: float | None = None
    seed: int = 0
    jobs: int = 1
    voice: str = "subtractive"
    sr: int = 22050
    eta: int = 2
    weights: FitnessWeights = field(default_factory=FitnessWeights)
    screen_design: bool = True
    sigma0: float = 0.15
    final_arms: int = 1
    keep_ratio: float | None = None
    keep_arms: tuple[int, int] = (2, 4)
    narrow_envelope: bool = True


@dataclass(frozen=True)
class Evaluation:
    """One evaluation, as reported to callbacks and written to ``history.csv``."""

    eval: int
    wall_s: float
    loss: float
    best_loss: float
    arm: str
    patch: Mapping[str, float | str]
    objectives: tuple[float, float] | None = None  # (spectral, envelope) when the optimiser has two objectives (issue 11)
    voice: str | None = None
    """Voice of ``patch`` when a match races several (``--voice auto``); ``None``: the match's one voice."""
    judge: int = 0
    """Which fitness gave ``loss``: 0 the match's own; a race that changes its fitness
    (:mod:`matcher.voice_race`) numbers the next one 1.  Only losses of one judge compare."""


@dataclass
class Arm:
    """A choice combination searched in continuous space by its own optimiser."""

    label: str
    space: ParamSpace
    optimizer: Optimizer
    best_loss: float = math.inf
    evals: int = 0


@dataclass
class MatchResult:
    """Outcome of :func:`run_match`."""

    patch: dict[str, float | str]
    loss: float
    evals: int
    wall_s: float
    pitch: PitchEstimate
    arms: list[Arm]
    stopped_by: str
    voice: str | None = None
    """Voice of ``patch`` when the match raced several (``--voice auto``); ``None``: ``config.voice``."""


def plausible_f0s(pitch: PitchEstimate, max_candidates: int = 3) -> list[float]:
    """The f0 candidates worth an arm, best first: the estimate, and when it is doubtful
    (confidence below 0.5) the candidates scoring at least 80 % of the best; empty when unvoiced."""
    if not pitch.voiced or not pitch.candidates:
        return []
    best_score = pitch.candidates[0][1]
    chosen = [pitch.candidates[0][0]]
    if pitch.confidence < 0.5:
        chosen += [f for f, s in pitch.candidates[1:] if s >= 0.8 * best_score]
    return [float(f) for f in chosen[:max_candidates]]


def _seed_fits_arm(seed: Mapping[str, float | str], arm: "Arm") -> bool:
    """Whether a seed patch lies in the arm's pitch range (an arm narrows ``osc_freq`` around one f0 candidate).

    A seed made for another candidate would be clipped to this arm's range and
    told with a loss that is not its clipped point's, so it is kept to its own arm.
    """
    if "osc_freq" not in seed or "osc_freq" not in arm.space.names or "osc_freq" in arm.space.locked:
        return True
    p = arm.space["osc_freq"]
    return p.low / 1.001 <= float(seed["osc_freq"]) <= p.high * 1.001


def pitch_arms(pitch: PitchEstimate, space: ParamSpace, max_candidates: int = 3) -> list[tuple[str, ParamSpace]]:
    """Narrow ``osc_freq`` around each plausible pitch candidate.

    A confident estimate gives one arm (± a semitone); a doubtful one gives up to
    ``max_candidates`` arms, one per candidate scoring at least 80 % of the best;
    an unpitched target searches the whole log-frequency range.

    Returns
    -------
    list of (label, space)
    """
    freq = space["osc_freq"]
    chosen = plausible_f0s(pitch, max_candidates)
    if not chosen:
        return [("f0=?", space)]
    arms = []
    for f0_hz in chosen:
        if freq.low < f0_hz * SEMITONE and f0_hz / SEMITONE < freq.high:
            arms.append((f"f0={f0_hz:.1f}Hz", space.narrow("osc_freq", f0_hz / SEMITONE, f0_hz * SEMITONE)))
    return arms or [("f0=?", space)]


def _round_plan(n_arms: int, eta: int, final_arms: int = 1) -> list[int]:
    """Number of alive arms in each successive-halving round, ending with ``final_arms``."""
    plan = [n_arms]
    while plan[-1] > final_arms:
        plan.append(max(final_arms, math.ceil(plan[-1] / eta)))
    return plan


def envelope_space(space: ParamSpace, fit: AdsrFit, time_ratio: float = 1.6, sustain_span: float = 0.15) -> ParamSpace:
    """Narrow the ADSR parameters around an envelope fit.

    Times range over ``[t / time_ratio, t * time_ratio]`` and sustain over
    ``± sustain_span``; a poor fit (RMS error above 0.1 of the peak) widens both.
    """
    if fit.rms_error > 0.1:
        time_ratio, sustain_span = time_ratio**2, 2 * sustain_span
    for name, value in (("env_attack", fit.attack_s), ("env_decay", fit.decay_s), ("env_release", fit.release_s)):
        p = space[name]
        value = min(max(value, p.low), p.high)
        space = space.narrow(name, max(p.low, min(value / time_ratio, p.high / time_ratio**2)), min(p.high, max(value * time_ratio, p.low * time_ratio**2)))
    p = space["env_sustain"]
    lo = min(max(fit.sustain - sustain_span, p.low), p.high - 2 * sustain_span)
    return space.narrow("env_sustain", lo, lo + 2 * sustain_span)


SCREEN_CUTOFF_RATIOS = (1 / 1.5, 24.0)
"""Cutoff / f0 range the screening grid spans (log-spaced); the whole range when unpitched."""

SCREEN_CUTOFFS = 10
SCREEN_RES_Q = (0.7, 2.5, 8.0)
SCREEN_NOISE = (0.0, 0.2)


def _screen_design(arm: Arm, f0_hz: float | None) -> np.ndarray:
    """Grid over cutoff × resonance (noise alternating off/on), other free parameters at the centre.

    The cutoff grid is log-spaced over :data:`SCREEN_CUTOFF_RATIOS` × f0, where
    the filters of playable notes sit.

    Returns
    -------
    ndarray, shape (n_points, arm.space.dim)
    """
    space = arm.space
    names = [p.name for p in space.free]
    if "filter_cutoff" not in names:  # a voice without a filter: a space-filling design instead
        return _sobol_design(space.dim, SCREEN_CUTOFFS * len(SCREEN_RES_Q), seed=len(names))
    cut = space["filter_cutoff"]
    if f0_hz:
        lo, hi = max(cut.low, f0_hz * SCREEN_CUTOFF_RATIOS[0]), min(cut.high, f0_hz * SCREEN_CUTOFF_RATIOS[1])
    else:
        lo, hi = cut.low, cut.high
    cutoffs = np.geomspace(lo, hi, SCREEN_CUTOFFS) if hi > lo else [cut.low, cut.high]
    rows = []
    for i, (c, q) in enumerate(itertools.product(cutoffs, SCREEN_RES_Q)):
        u = np.full(space.dim, 0.5)
        values = {"filter_cutoff": c, "filter_res": q, "noise_vol": SCREEN_NOISE[i % 2], "osc_vol": 0.8}
        for name, value in values.items():
            if name in names:
                u[names.index(name)] = space[name].encode(value)
        rows.append(u)
    return np.array(rows)


def _sobol_design(dim: int, n_points: int, seed: int = 0) -> np.ndarray:
    """A scrambled Sobol design of ``n_points`` in the unit cube, shrunk halfway to its centre.

    Returns
    -------
    ndarray, shape (n_points, dim)
    """
    from scipy.stats import qmc  # noqa: PLC0415

    points = qmc.Sobol(d=dim, scramble=True, seed=seed).random_base2(max(0, math.ceil(math.log2(n_points))))[:n_points]
    return 0.25 + 0.5 * points


CLOSE_RATIO = 2.0
MAX_CLOSE_ARMS = 2
"""An arm within ``CLOSE_RATIO`` × the leader's distance is not cut, up to
``MAX_CLOSE_ARMS`` arms: near-twin arms (a square through a lowpass against a
triangle through a bandpass) can trail early and win with more evaluations, so
they race to the end while clearly worse arms are dropped."""

PITCH_SIGMA = 0.02
"""Initial spread of ``osc_freq`` around a voiced estimate, in unit-cube coordinates of its
± 1 semitone range (about 4 cents): the f0 stage is accurate to a fraction of a cent on
clean notes and the fitness is steep in pitch, so a wide start wastes evaluations."""


def _sigma_vector(space: ParamSpace, sigma0: float, voiced: bool, spread: Mapping[str, float] | None = None) -> np.ndarray:
    """Per-dimension initial spread in unit-cube coordinates.

    ``sigma0`` by default, :data:`PITCH_SIGMA` for a narrowed pitch, and for the
    parameters named in ``spread`` their own spread, given in natural units
    (octaves for a log-scaled parameter, the parameter's unit otherwise).
    """
    sigma = np.full(space.dim, float(sigma0))
    if voiced and any(p.name == "osc_freq" for p in space.free):
        sigma[space.index("osc_freq")] = min(PITCH_SIGMA, sigma0)
    free = {p.name for p in space.free if not p.is_choice}
    for name, value in (spread or {}).items():
        if name in free:
            p = space[name]
            sigma[space.index(name)] = min(max(value / p.width, 1e-4), 0.5)
    return sigma


@dataclass
class _Tally:
    """What the evaluations of one match have found so far (shared by its batches)."""

    n_evals: int = 0
    best_loss: float = math.inf
    best_patch: Mapping[str, float | str] | None = None
    objectives: list = field(default_factory=list)
    """Per arm of the last batch, its rows' (spectral, envelope) pairs, for two-objective optimisers."""


def _is_favoured(arm: Arm, favoured: Sequence[Mapping[str, str]], choice_names: Sequence[str]) -> bool:
    return any(all(arm.space.locked.get(n) == str(c.get(n)) for n in choice_names) for c in favoured)


def _first_cut(arms: Sequence[Arm], keep_ratio: float, keep_arms: tuple[int, int], favoured: Sequence[Arm]) -> list[Arm]:
    """Arms that go on after round 0: those near the leader by rendered evidence, and the favoured ones.

    Every arm has been evaluated at least once by then, so no arm is dropped
    without evidence against it (DESIGN §5.10).
    """
    ranked = sorted(arms, key=lambda a: a.best_loss)
    lo, hi = keep_arms
    near = [a for a in ranked if a.best_loss <= keep_ratio * ranked[0].best_loss][:hi]
    kept = ranked[: max(len(near), lo)]
    kept_ids = {id(a) for a in kept} | {id(a) for a in favoured}
    return [a for a in ranked if id(a) in kept_ids]


def run_match(
    target_audio: np.ndarray,
    config: MatchConfig = MatchConfig(),
    callback: Callable[[Sequence[Evaluation]], None] | None = None,
    pitch: PitchEstimate | None = None,
    seed_patches: Sequence[Mapping[str, float | str]] = (),
    combos: Sequence[Mapping[str, str]] | None = None,
    seed_losses: Sequence[float | None] | None = None,
    seed_spreads: Sequence[Mapping[str, float] | None] | None = None,
    adsr_fit: AdsrFit | None = None,
    favoured: Sequence[Mapping[str, str]] = (),
) -> MatchResult:
    """Search the voice's parameters that best reproduce ``target_audio``.

    Steps: f0 analysis narrows ``osc_freq``; an ADSR fit to the RMS envelope
    narrows the envelope; the gain parameter is solved per evaluation; each
    choice combination (an *arm*) is screened with a small quasi-random design
    over filter and noise settings; then arms race by successive halving, each
    searched by its own optimiser started at its best screened point.

    Parameters
    ----------
    target_audio : ndarray, shape (n_samples,), float32
        Target at ``config.sr``; its length is the note length (``duree``).
    config : MatchConfig
    callback : callable, optional
        Called after every evaluated batch with its :class:`Evaluation` rows.
    pitch : PitchEstimate, optional
        Precomputed f0 analysis (computed here otherwise).
    seed_patches : sequence of patch dicts
        Starting points (e.g. a predictor's guesses), each evaluated in round 0
        in the arm of its choices; an arm starts from its best round-0 point.
    combos : sequence of dicts, optional
        Restrict the arms to these choice combinations (e.g. ``{"osc_type": "saw",
        "filter_type": "lowpass"}``); all combinations otherwise.
    seed_losses : sequence of float or None, optional
        Losses of seed patches the caller has already evaluated (same order as
        ``seed_patches``, ``None`` where unknown): those are told to their arm's
        optimiser without being evaluated again (they count neither towards the
        budget nor towards the returned best, which the caller holds).
    seed_spreads : sequence of mapping or None, optional
        Per seed patch, how far from it the answer probably is, per parameter in
        natural units (octaves for log-scaled parameters): when an arm starts
        from that seed, its optimiser's initial spread uses these instead of
        ``config.sigma0`` (a precise seed then is not thrown away by wide first steps).
    adsr_fit : AdsrFit, optional
        The target's envelope fit, if the caller has it (computed here otherwise).
    favoured : sequence of dicts
        Choice combinations that survive the first cut (``config.keep_ratio``)
        whatever their round-0 evidence, e.g. the predictor's top guesses: they
        get a share of every round until the race itself drops them.

    Returns
    -------
    MatchResult
        The best evaluated patch; ``evals <= config.budget``.
    """
    if config.budget < 1:
        raise ValueError("budget must be positive")
    t0 = time.perf_counter()
    voice = get_voice(config.voice)
    sr, n_samples = config.sr, len(target_audio)
    duree_s = min(max(n_samples / sr, voice.space["duree"].low), voice.space["duree"].high)
    base = voice.space.lock(duree=duree_s)
    if voice.gain_param:
        base = base.lock(**{voice.gain_param: voice.space[voice.gain_param].high})
    pitch = pitch if pitch is not None else estimate_pitch(target_audio, sr)
    if config.narrow_envelope and all(n in base.names for n in ("env_attack", "env_decay", "env_sustain", "env_release")):
        base = envelope_space(base, adsr_fit or fit_adsr(target_audio, sr, duree_s, pitch.f0_hz))
    evaluator = Evaluator(target_audio, sr, config.voice, config.weights, config.jobs, solve_gain=True)

    choice_names = [p.name for p in base.free if p.is_choice]
    arms: list[Arm] = []
    if combos is None:
        combo_values = list(itertools.product(*(base[n].choices for n in choice_names)))
    else:
        combo_values = list(dict.fromkeys(tuple(str(c[n]) for n in choice_names) for c in combos))
    for (plabel, pspace), combo in itertools.product(pitch_arms(pitch, base), combo_values):
        arms.append(Arm(" ".join([*combo, plabel]), pspace.lock(**dict(zip(choice_names, combo))), None))  # type: ignore[arg-type]
    if not arms:
        raise ValueError("no choice combination to search")

    state = _Tally()
    two_objectives = getattr(OPTIMIZERS.get(config.optimizer), "n_objectives", 1) == 2  # issue 11

    def evaluate(batch: list[tuple[Arm, np.ndarray]]) -> list[np.ndarray]:
        """Evaluate every arm's rows (truncated to the budget); return each arm's losses."""
        room = config.budget - state.n_evals
        patches, owners = [], []
        for arm, u in batch:
            for row in u[: max(0, room - len(patches))]:
                patches.append(arm.space.decode(row))
                owners.append(arm)
        # -- two objectives (issue 11): the evaluator also returns (spectral, envelope) per patch --
        if two_objectives:
            losses, objectives, evaluated = evaluator.evaluate_objectives(patches)
        else:
            (losses, evaluated), objectives = evaluator.evaluate(patches), [None] * len(patches)
        # -- end of the two objectives --
        now = time.perf_counter() - t0
        rows = []
        for patch, arm, loss, objs in zip(evaluated, owners, losses, objectives):
            state.n_evals += 1
            arm.evals += 1
            arm.best_loss = min(arm.best_loss, float(loss))
            if loss < state.best_loss:
                state.best_loss, state.best_patch = float(loss), patch
            rows.append(Evaluation(state.n_evals, now, float(loss), state.best_loss, arm.label, patch, None if objs is None else (float(objs[0]), float(objs[1]))))
        if callback is not None and rows:
            callback(rows)
        out, start, state.objectives = [], 0, []
        for _, u in batch:
            out.append(losses[start : start + len(u)])
            state.objectives.append(objectives[start : start + len(u)])  # issue 11: per arm, for tell
            start += len(u)
        return out

    evaluator.warm_up()

    # Round 0: every arm's seed patches first (so a tight budget still evaluates them all),
    # then the same screening grid for every arm (or the centre of an arm with neither).
    known_losses = list(seed_losses) if seed_losses is not None else [None] * len(seed_patches)
    if len(known_losses) != len(seed_patches):
        raise ValueError("seed_losses must have one entry per seed patch")
    spreads = list(seed_spreads) if seed_spreads is not None else [None] * len(seed_patches)
    if len(spreads) != len(seed_patches):
        raise ValueError("seed_spreads must have one entry per seed patch")
    # per arm: the points told to its optimiser as (u, loss, spread of the seed it came from; None: grid)
    told: dict[int, list[tuple[np.ndarray, float, Mapping[str, float] | None]]] = {id(arm): [] for arm in arms}
    pending = []  # per arm: seeds still to evaluate (u, spreads), and whether the arm has any seed
    for arm in arms:
        mine = [(s, l, sp) for s, l, sp in zip(seed_patches, known_losses, spreads)
                if all(s.get(k) == v for k, v in arm.space.locked.items() if k in choice_names) and _seed_fits_arm(s, arm)]
        for s, l, sp in mine:
            if l is not None:
                told[id(arm)].append((arm.space.encode({**s, **arm.space.locked}), float(l), sp))
                arm.best_loss = min(arm.best_loss, float(l))
        todo = [(arm.space.encode({**s, **arm.space.locked}), sp) for s, l, sp in mine if l is None]
        pending.append((arm, np.array([u for u, _ in todo]).reshape(-1, arm.space.dim), [sp for _, sp in todo], bool(mine)))
    seed_batches = [(arm, u, sps) for arm, u, sps, _ in pending if len(u)]
    for (arm, u, sps), losses in zip(seed_batches, evaluate([(arm, u) for arm, u, _ in seed_batches])):
        told[id(arm)].extend(zip(u, map(float, losses), sps))  # zip stops where a truncated batch did
    grid_batches = [
        (arm, _screen_design(arm, pitch.f0_hz if pitch.voiced else None) if config.screen_design else np.full((0 if has_seeds else 1, arm.space.dim), 0.5))
        for arm, _, _, has_seeds in pending
    ]
    grid_batches = [(arm, u) for arm, u in grid_batches if len(u)]
    if grid_batches and state.n_evals < config.budget:
        for (arm, u), losses in zip(grid_batches, evaluate(grid_batches)):
            told[id(arm)].extend((x, float(loss), None) for x, loss in zip(u, losses))
    for i, arm in enumerate(arms):
        points = told[id(arm)]
        x0, _, spread = min(points, key=lambda p: p[1]) if points else (np.full(arm.space.dim, 0.5), None, None)
        sigma = _sigma_vector(arm.space, config.sigma0, pitch.voiced, spread)
        arm.optimizer = make_optimizer(config.optimizer, arm.space.dim, budget=config.budget, seed=config.seed * 7919 + i, x0=x0, sigma0=sigma)

    alive = list(arms)
    if config.keep_ratio is not None:
        alive = _first_cut(arms, config.keep_ratio, config.keep_arms, [a for a in arms if _is_favoured(a, favoured, choice_names)])
        plan = _round_plan(len(alive), config.eta, config.final_arms)
    else:
        plan = _round_plan(len(arms), config.eta, config.final_arms)[1:] or [len(arms)]
    spent0 = state.n_evals
    round_budget = (config.budget - spent0) / len(plan)
    stopped_by = "budget"
    for r, n_alive in enumerate(plan):
        ranked = sorted(alive, key=lambda a: a.best_loss)
        close = sum(a.best_loss <= CLOSE_RATIO * ranked[0].best_loss for a in ranked)
        alive = ranked[: max(n_alive, min(close, MAX_CLOSE_ARMS))]
        round_end = config.budget if r == len(plan) - 1 else min(config.budget, spent0 + round((r + 1) * round_budget))
        while state.n_evals < round_end:
            if config.time_limit_s is not None and time.perf_counter() - t0 >= config.time_limit_s:
                stopped_by = "time limit"
                break
            batch = [(arm, arm.optimizer.ask()) for arm in alive]
            for j, ((arm, u), losses) in enumerate(zip(batch, evaluate(batch))):
                if len(losses) == len(u):  # a truncated last batch is not told (the search ends there)
                    if two_objectives:  # issue 11
                        arm.optimizer.tell(u, losses, objectives=state.objectives[j])
                    else:
                        arm.optimizer.tell(u, losses)
        if stopped_by != "budget":
            break
    evaluator.close()
    assert state.best_patch is not None
    return MatchResult(dict(state.best_patch), state.best_loss, state.n_evals, time.perf_counter() - t0, pitch, arms, stopped_by)
