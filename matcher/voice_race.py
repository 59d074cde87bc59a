"""``--voice auto``: the voices race as arms of one match, so the budget goes to the voice that fits.

A target from another engine or a microphone may move in ways the
subtractive voice cannot play (a closing filter, a pitch drop, vibrato, FM),
and which voice fits is not known before rendering.  The race:

1. **base**: the subtractive voice runs the match's strategy (by default the
   hybrid: predictor, render-free fits, a race of its 12 combinations) on
   :data:`BASE_SHARE` of the budget;
2. **challengers** (:data:`CHALLENGERS`): each starts from the base's best
   patch carried into its own space (:func:`carry_patch`, which for the
   analog voice renders the very same samples), plus the movements the voice
   can play (``Voice.motion_seeds``: closing filters, detune, pitch drops,
   vibrato, FM ratios), every one evaluated as a seed, then searches from the
   best of them on its share; in a hybrid race also from its own predictor's
   patches and the pitch envelope, vibrato and detune fitted to the target's
   motion (:mod:`matcher.motion_fit`);
3. **leader**: the voice with the best distance so far gets the rest of the
   budget but :data:`SNAP_EVALS`, searching on from its best patch;
4. **snap**: the leader's patch with its nearly-off parts switched off
   (:func:`snapped_patches`: a second oscillator mixed in at 2 %, a pulse
   width a hair off square, a noise floor) is evaluated, and replaces the
   leader's where it is within :data:`SNAP_SLACK` of it.  A search never lands exactly on
   a boundary or a neutral value, and the remnants it leaves (a faint noise
   floor, a slight pulse) are heard on a clean note.

So no voice is dropped without rendered evidence, and the budget follows the
distances.  A base already within :data:`SETTLED_LOSS` (an in-domain note) skips
the challengers: its voice reproduces the target and gets the rest.

**Two judges.**  The base runs with the match's own fitness (by default the
noise-robust pooled terms the in-domain figures were tuned with), and a
settled race keeps it to the end.  A race that is not settled is judged from
then on by :data:`RACE_WEIGHTS`, whose per-frame ``frames`` term ranks matches
of sounds our voice did not make the way the per-frame metrics do: the
base's best is evaluated again under it (one evaluation of the budget), then
the challengers and the leader search with it.  The ledger starts its running
best afresh at that evaluation (``MatchResult.info["judged_from_eval"]``) and numbers
the rows it judges (``Evaluation.judge``), so distances of the two are never compared.

Every evaluation row carries its voice (``Evaluation.voice``), so an
interrupted race still knows how to render its best patch.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from typing import Callable, Mapping, Sequence

import numpy as np

from matcher.search import Evaluation, MatchConfig, MatchResult, run_match
from matcher.strategies import AUTO_VOICE
from objectives.distance import FitnessWeights
from objectives.envelope import AdsrFit, correct_adsr, fit_adsr
from objectives.pitch import PitchEstimate, estimate_pitch
from synth.voices import get_voice

__all__ = ["AUTO_VOICE", "BASE_VOICE", "RACE_WEIGHTS", "BASE_SHARE", "CHALLENGERS", "SETTLED_LOSS", "VoiceBest", "carry_patch", "race_voices", "run_voice_race"]

BASE_VOICE = "subtractive"
"""The voice that runs the match's own strategy first; the others start from its answer."""

BASE_SHARE = 0.45
"""Share of the budget the base voice gets."""

CHALLENGERS: tuple[tuple[str, float], ...] = (("analog", 0.30), ("fm", 0.10))
"""(voice, share of the budget) of each challenger, in order; the leader gets what is left (0.15)."""

SETTLED_LOSS = 0.5
"""A base distance (with the match's own fitness, by default :class:`~objectives.distance.FitnessWeights`)
at or below this skips the challengers.  On tuning suite seed 7 (``in-domain:14``, ``scsynth:6``,
``faust:6``, ``gm:6``, ``sox:4``; the hybrid on 900 evaluations, the base's share of 2000) the base
ended at 0.001-0.22 on the 14 in-domain notes and at 1.06 or more on 21 of the 22 foreign ones (the
22nd, a Faust sine with a slight vibrato, at 0.13).  With the race's weights the seed-11 sweep had
put in-domain bases at 0.00-0.38 and foreign ones at 0.83 or more; at 0.05 the race spent 55 % of
the budget on challengers for 13 of 18 in-domain trials."""

CARRIED_SIGMA = 0.03
"""Initial spread of a challenger's optimiser, in unit-cube coordinates, along the parameters
carried over from the base patch (they are already fitted)."""

MOVEMENT_SIGMA = 0.15
"""Initial spread along the parameters the base voice does not have (the movements)."""

LEADER_SIGMA = 0.05
"""Initial spread of the leader's last search around its best patch."""

SETTLED_SIGMA = 0.01
"""The same when the race is settled (the base voice reproduces the target; only the base raced).
On in-domain:6 of tuning suite seed 7 (budget 2000, 3 seeds) the race's median MFCC was 0.0029 with
0.05, 0.0024 with 0.02 and 0.0018 with 0.01, against 0.0011 for the plain hybrid; refining the
base's best arm with the polish instead measured 0.024."""

RACE_WEIGHTS = FitnessWeights(spectral=0.25, coarse=0.1, time=0.0, frames=1.0, envelope=0.25)
"""The fitness of a race that is not settled (unless the caller sets other weights): mostly the
per-frame ``frames`` term (64 mel bands per frame, floor 80 dB below the target's loudest cell),
with a quarter of the pooled spectrum and of the RMS envelope.  The race compares voices whose
timbre moves, and the pooled spectrum that dominates the default weights cannot tell a closing
filter or a vibrato from a static average.  Measured with ``python -m experiments.race_fitness``
(about 60 candidate matches of every voice per target from a 600-evaluation race; scsynth:6,
faust:6, gm:6, sox:4): on tuning suite seed 0 the median Spearman correlation per suite with the
per-frame metrics' consensus (MFCC, MSS, MR-STFT) is 0.86-0.96 (default weights 0.71-0.93, the
race's weights before this term 0.73-0.91), and the fitness's best candidate has 1.02-1.17 times
the MFCC of the candidates' best (default 1.22-1.94); on fresh suite seed 11, 0.87-0.94 (default
0.77-0.87) and 1.05-1.22 (1.14-1.60)."""

SNAP_TOLERANCE = 0.05
"""A parameter within this distance (unit-cube coordinates) of its voice's ``neutral`` value is snapped to it."""

OFF_LEVELS: dict[str, float] = {"noise_vol": 0.0}
"""Levels a second snapped candidate also switches off, wherever they are: a noise floor the
search added to cover what its voice's timbre missed."""

SNAP_SLACK = 0.01
"""A snapped patch within this fraction of the leader's distance replaces it: a cleaner patch that
sounds the same (a user reading ``fenv_amount_oct`` 0.0067 and ``pitch_env_st`` 0.17 would look
for movements that are not there)."""

SNAP_EVALS = 2
"""Evaluations the race keeps back for the snapped candidates (:func:`snapped_patches`)."""

CHALLENGER_OPTIMIZER = "diagonal-cma"
"""What a challenger and the leader search with when the match's optimiser is a strategy (the hybrid)."""


@dataclass(frozen=True)
class VoiceBest:
    """A voice's best patch so far in the race.

    Attributes
    ----------
    voice : str
    patch : dict
        Physical values, choices by name.
    loss : float
        Fitness distance at the match's working rate.
    evals : int
        Evaluations this voice has had.
    """

    voice: str
    patch: dict
    loss: float
    evals: int


def carry_patch(patch: Mapping[str, float | str], voice_name: str) -> dict[str, float | str]:
    """A patch of one voice as a patch of ``voice_name``.

    Shared parameters keep their values (clipped to this voice's range); the
    others take the voice's ``neutral`` value, or the centre of their range.
    """
    voice = get_voice(voice_name)
    out: dict[str, float | str] = {}
    for p in voice.space.params:
        value = patch.get(p.name, voice.neutral.get(p.name))
        if p.is_choice:
            out[p.name] = str(value) if value in p.choices else p.choices[0]
        elif value is None:
            out[p.name] = p.decode(0.5)
        else:
            out[p.name] = float(min(max(float(value), p.low), p.high))
    return out


def _inner_optimizer(optimizer: str) -> str | None:
    """What the challengers search with: the match's optimiser, or :data:`CHALLENGER_OPTIMIZER` for the hybrid; ``None``: no search (``predict``)."""
    from matcher.strategies import STRATEGIES  # noqa: PLC0415

    if optimizer == "predict":
        return None
    return CHALLENGER_OPTIMIZER if optimizer in STRATEGIES else optimizer


class _Ledger:
    """Numbers the evaluations of every stage as one match and tracks each voice's best."""

    def __init__(self, callback: Callable[[Sequence[Evaluation]], None] | None, t0: float) -> None:
        self.callback = callback
        self.t0 = t0
        self.evals = 0
        self.best_loss = math.inf
        self.best: dict[str, VoiceBest] = {}
        self.arms: dict[str, list] = {}
        """Per voice, the arms of its latest search (the polish at the target's rate refines the winner's)."""
        self.judged_from = 0
        """First evaluation (0-based) judged by the current fitness."""
        self.judge = 0
        """Number of the current fitness (``Evaluation.judge``)."""
        self.spent: dict[str, int] = {}
        """Per voice, every evaluation it has had (across judges)."""

    def rejudge(self) -> None:
        """From the next evaluation on, distances come from another fitness: forget the bests so far."""
        self.judged_from = self.evals
        self.judge += 1
        self.best_loss = math.inf
        self.best = {}
        self.arms = {}

    def reporter(self, voice: str) -> Callable[[Sequence[Evaluation]], None]:
        """A callback for one stage: renumbers its rows and labels them with the voice."""
        first, offset_s = self.evals, time.perf_counter() - self.t0

        def report(rows: Sequence[Evaluation]) -> None:
            out = []
            for r in rows:
                self.best_loss = min(self.best_loss, float(r.loss))
                self.evals += 1
                out.append(replace(r, eval=first + r.eval, wall_s=offset_s + r.wall_s, best_loss=self.best_loss, arm=f"{voice} {r.arm}", voice=voice, judge=self.judge))
            if self.callback is not None and out:
                self.callback(out)

        return report

    def record(self, voice: str, result: MatchResult) -> None:
        if result.arms:
            self.arms[voice] = list(result.arms)
        old = self.best.get(voice)
        evals = self.spent[voice] = self.spent.get(voice, 0) + result.evals
        if old is None or result.loss < old.loss:
            self.best[voice] = VoiceBest(voice, dict(result.patch), float(result.loss), evals)
        else:
            self.best[voice] = replace(old, evals=evals)

    def adopt(self, voice: str, result: MatchResult) -> None:
        """Make ``result`` ``voice``'s best even where it is not the closest (a snapped patch within the slack)."""
        self.best[voice] = replace(self.best[voice], patch=dict(result.patch), loss=float(result.loss))

    def leader(self) -> VoiceBest:
        return min(self.best.values(), key=lambda b: b.loss)


def _spreads(voice_name: str, base_names: set[str], carried_sigma: float | None, movement_sigma: float) -> dict[str, float]:
    """The initial spread of a search in ``voice_name``, per parameter, in natural units.

    The base voice's parameters (carried over from its fitted patch) get
    ``carried_sigma`` of their range (``None``: left to the optimiser's own
    ``sigma0``); the others ``movement_sigma`` of theirs, except where the
    voice names its own spread (``Voice.motion_spreads``: an FM ratio just off
    an integer makes the partials inharmonic).  ``osc_freq`` is left out: the
    search narrows the pitch to a semitone around the f0 estimate with its own
    spread (``matcher.search.PITCH_SIGMA``, about 4 cents), where a share of the
    voice's whole pitch range would be two semitones.
    """
    voice = get_voice(voice_name)
    out = {}
    for p in voice.space.params:
        if p.is_choice or p.name == "osc_freq":
            continue
        if p.name in voice.motion_spreads:
            out[p.name] = float(voice.motion_spreads[p.name])
        elif p.name not in base_names:
            out[p.name] = movement_sigma * p.width
        elif carried_sigma is not None:
            out[p.name] = carried_sigma * p.width
    return out


def snapped_patches(patch: Mapping[str, float | str], voice_name: str, tolerance: float = SNAP_TOLERANCE) -> list[dict[str, float | str]]:
    """The patch with its nearly-off parts switched off: at most :data:`SNAP_EVALS` candidates, none equal to ``patch``.

    1. Every parameter within ``tolerance`` (unit-cube coordinates) of the
       voice's ``neutral`` value takes that value.
    2. That, with :data:`OFF_LEVELS` (the noise) switched off as well.

    Parameters
    ----------
    patch : mapping
        Physical values of ``voice_name``'s parameters, choices by name.
    voice_name : str
    tolerance : float
        In unit-cube coordinates (a share of the parameter's range, in octaves for log-scaled ones).

    Returns
    -------
    list of dict
        Distinct candidates, each different from ``patch``.
    """
    voice = get_voice(voice_name)
    near = {}
    for name, value in voice.neutral.items():
        if name not in patch or voice.space[name].is_choice:
            continue
        p = voice.space[name]
        if abs(p.encode(float(patch[name])) - p.encode(float(value))) <= tolerance:
            near[name] = float(value)
    candidates = [{**patch, **near}, {**patch, **near, **{k: v for k, v in OFF_LEVELS.items() if k in patch}}]
    out: list[dict[str, float | str]] = []
    for c in candidates:
        if c != dict(patch) and c not in out:
            out.append(c)
    return out


def _envelope_corrected(variants: Sequence[Mapping[str, float | str]], voice_name: str, target_audio: np.ndarray, sr: int,
                        pitch: PitchEstimate, target_fit: AdsrFit) -> list[dict[str, float | str]]:
    """Each movement seed with its amp ADSR refitted for the movement.

    A closing filter or a falling FM index also lowers the RMS, so the ADSR
    fitted to the target with a static timbre is wrong under it: one render of
    the seed measures the difference, and :func:`objectives.envelope.correct_adsr`
    removes it (the renders are analysis, like the hybrid's envelope correction).
    ``target_fit`` is the target's own fit (:func:`objectives.envelope.fit_adsr`).
    """
    from synth.render import render  # noqa: PLC0415

    n, f0_hz = len(target_audio), pitch.f0_hz if pitch.voiced else None
    if not variants or not all(k in variants[0] for k in ("env_attack", "env_decay", "env_sustain", "env_release")):
        return []
    out = []
    for v in variants:
        rendered = render(v, sr, n, voice_name)
        if not np.any(rendered):
            continue
        out.append(carry_patch({**v, **correct_adsr(target_fit, fit_adsr(rendered, sr, n / sr, f0_hz), dict(v))}, voice_name))
    return out


PREDICTED_SEEDS = 2
"""A challenger of a hybrid race also starts from its own predictor's patch for this many of its most probable choice combinations."""


def _predicted_seeds(voice_name: str, target_audio: np.ndarray, sr: int, pitch: PitchEstimate, n: int = PREDICTED_SEEDS) -> list[dict[str, float | str]]:
    """The voice's predictor's patches for its ``n`` most probable combinations (none when it ships no predictor)."""
    from matcher.predictor import ModelFileError, load_voice_model  # noqa: PLC0415

    try:
        pred = load_voice_model(voice_name).predict(target_audio, sr, pitch)
    except ModelFileError:
        return []
    return [carry_patch(pred.patch(combo), voice_name) for combo, _ in pred.combo_probs[:n]]  # carry_patch clips to the voice's ranges


def _fitted_motion(target_audio: np.ndarray, sr: int, pitch: PitchEstimate) -> list[dict[str, float]]:
    """The pitch envelope, vibrato and detune fitted to the target's motion (:mod:`matcher.motion_fit`); none when unvoiced."""
    from matcher.motion_fit import fit_pitch_motion  # noqa: PLC0415

    return fit_pitch_motion(target_audio, sr, pitch.f0_hz) if pitch.voiced else []


def _motion_around(fitted: Sequence[Mapping[str, float]], carried: Mapping[str, float | str]) -> list[dict[str, float]]:
    """The fitted motion seeds, and each detuned pair among them also centred on the carried patch's pitch (which the base searched)."""
    from matcher.motion_fit import recentred  # noqa: PLC0415

    out = [dict(m) for m in fitted]
    if "osc_freq" in carried:
        out += [recentred(m, float(carried["osc_freq"])) for m in fitted if "osc2_detune_cents" in m]
    return out


def _search_from(
    target_audio: np.ndarray, config: MatchConfig, voice_name: str, seeds: Sequence[Mapping[str, float | str]], budget: int,
    optimizer: str, sigma0: float, spread: Mapping[str, float] | None, ledger: _Ledger, pitch: PitchEstimate, deadline: float | None,
    seed_losses: Sequence[float | None] | None = None,
) -> MatchResult | None:
    """Evaluate ``seeds`` in ``voice_name`` and search on from the best of each choice combination.

    ``spread``: the initial spread of a search from any of them (natural units, see
    :func:`matcher.search.run_match`'s ``seed_spreads``); ``None``: ``sigma0`` everywhere.
    ``seed_losses``: losses of seeds already evaluated under the current judge (not evaluated again).
    """
    if budget < 1:
        return None
    voice = get_voice(voice_name)
    choice_names = [p.name for p in voice.space.params if p.is_choice]
    combos = list({tuple(str(s[n]) for n in choice_names): {n: str(s[n]) for n in choice_names} for s in seeds}.values()) if choice_names else None
    time_left = None if deadline is None else max(1e-3, deadline - time.perf_counter())
    stage = replace(config, voice=voice_name, optimizer=optimizer, budget=int(budget), sigma0=sigma0, screen_design=False, keep_ratio=None,
                    time_limit_s=time_left, narrow_envelope=False)
    result = run_match(target_audio, stage, callback=ledger.reporter(voice_name), pitch=pitch, seed_patches=list(seeds),
                       seed_spreads=[spread] * len(seeds), combos=combos, seed_losses=seed_losses)
    ledger.record(voice_name, result)
    return result


def _lead_and_snap(target_audio: np.ndarray, config: MatchConfig, ledger: _Ledger, total: int, inner: str, sigma: float,
                   pitch: PitchEstimate, deadline: float | None) -> str:
    """The race's last stages: the leader searches on, its snapped patches are tried, any evaluations left go to the best.

    Returns the stopping reason of the last search (``"budget"`` when it ran to its budget).
    """
    base_names = set(get_voice(BASE_VOICE).space.names)
    stopped_by = "budget"

    def go_on() -> bool:
        return stopped_by == "budget" and (deadline is None or time.perf_counter() < deadline)

    lead = ledger.leader()
    spread = _spreads(lead.voice, base_names, None, sigma)
    budget = total - ledger.evals - SNAP_EVALS
    if budget >= 1:
        res = _search_from(target_audio, config, lead.voice, [lead.patch], budget, inner, sigma, spread, ledger, pitch, deadline)
        stopped_by = res.stopped_by if res is not None else stopped_by
    lead = ledger.leader()
    snapped = snapped_patches(lead.patch, lead.voice)[: total - ledger.evals]
    if snapped and go_on():
        res = _search_from(target_audio, config, lead.voice, snapped, len(snapped), inner, SETTLED_SIGMA, None, ledger, pitch, deadline)
        stopped_by = res.stopped_by if res is not None else stopped_by
        if res is not None and res.loss <= (1.0 + SNAP_SLACK) * lead.loss:  # as close, and cleaner
            ledger.adopt(lead.voice, res)
    lead = ledger.leader()
    if total - ledger.evals >= 1 and go_on():
        res = _search_from(target_audio, config, lead.voice, [lead.patch], total - ledger.evals, inner, sigma,
                           _spreads(lead.voice, base_names, None, sigma), ledger, pitch, deadline, seed_losses=[lead.loss])
        stopped_by = res.stopped_by if res is not None else stopped_by
    return stopped_by


def race_voices(
    target_audio: np.ndarray,
    config: MatchConfig,
    callback: Callable[[Sequence[Evaluation]], None] | None = None,
    pitch: PitchEstimate | None = None,
) -> tuple[MatchResult, dict[str, VoiceBest]]:
    """Race the voices on one target; see the module docstring.

    Parameters
    ----------
    target_audio : ndarray, shape (n_samples,), float32
        Target at ``config.sr``.
    config : MatchConfig
        ``config.voice`` is ignored (every voice races); ``config.optimizer`` is
        the base voice's strategy; ``config.weights`` judge the base, and when
        they are the default, :data:`RACE_WEIGHTS` judge a race that is not settled.

    Returns
    -------
    result : MatchResult
        The best patch of any voice; ``result.voice`` names it.
    best : dict
        Each voice's :class:`VoiceBest`, by name.
    """
    from matcher.strategies import run_strategy  # noqa: PLC0415

    t0 = time.perf_counter()
    race_weights = RACE_WEIGHTS if config.weights == FitnessWeights() else config.weights
    deadline = None if config.time_limit_s is None else t0 + config.time_limit_s
    pitch = pitch if pitch is not None else estimate_pitch(target_audio, config.sr)
    ledger = _Ledger(callback, t0)
    inner = _inner_optimizer(config.optimizer)
    total = int(config.budget)
    base_budget = total if inner is None else max(1, int(round(BASE_SHARE * total)))
    base = run_strategy(target_audio, replace(config, voice=BASE_VOICE, budget=base_budget), callback=ledger.reporter(BASE_VOICE), pitch=pitch)
    ledger.record(BASE_VOICE, base)
    stopped_by, info = base.stopped_by, dict(getattr(base, "info", {}) or {})

    def out_of_time() -> bool:
        return deadline is not None and time.perf_counter() >= deadline

    settled = base.loss <= SETTLED_LOSS  # our voice reproduces the target: no challengers, the same judge to the end
    if inner is not None and stopped_by == "budget" and not settled:
        if race_weights != config.weights and total - ledger.evals > 1:
            config = replace(config, weights=race_weights)
            ledger.rejudge()
            _search_from(target_audio, config, BASE_VOICE, [base.patch], 1, inner, LEADER_SIGMA, None, ledger, pitch, deadline)
        base_names = set(get_voice(BASE_VOICE).space.names)
        target_fit = fit_adsr(target_audio, config.sr, len(target_audio) / config.sr, pitch.f0_hz if pitch.voiced else None)  # once for every challenger
        fitted_motion = _fitted_motion(target_audio, config.sr, pitch) if config.optimizer == "hybrid" else []
        for voice_name, share in CHALLENGERS:
            if out_of_time() or total - ledger.evals < 1:
                break
            voice = get_voice(voice_name)
            carried = carry_patch(base.patch, voice_name)
            variants = [carry_patch({**carried, **v}, voice_name) for v in (voice.motion_seeds(carried) if voice.motion_seeds else ())]
            if config.optimizer == "hybrid":  # the learning and the fits seed every voice of a hybrid race
                variants += _predicted_seeds(voice_name, target_audio, config.sr, pitch)
                variants += [carry_patch({**carried, **m}, voice_name) for m in _motion_around(fitted_motion, carried) if set(m) <= set(voice.space.names)]
            variants = [*variants, *_envelope_corrected(variants, voice_name, target_audio, config.sr, pitch, target_fit)]
            budget = min(total - ledger.evals, int(round(share * total)))
            res = _search_from(target_audio, config, voice_name, [carried, *variants], budget, inner, MOVEMENT_SIGMA,
                               _spreads(voice_name, base_names, CARRIED_SIGMA, MOVEMENT_SIGMA), ledger, pitch, deadline)
            if res is not None:
                stopped_by = res.stopped_by
    if inner is not None and stopped_by == "budget" and total - ledger.evals >= 1 and not out_of_time():
        stopped_by = _lead_and_snap(target_audio, config, ledger, total, inner, SETTLED_SIGMA if settled else LEADER_SIGMA, pitch, deadline)
    if out_of_time() and stopped_by == "budget" and ledger.evals < total:
        stopped_by = "time limit"
    lead = ledger.leader()
    result = MatchResult(dict(lead.patch), lead.loss, ledger.evals, time.perf_counter() - t0, pitch, ledger.arms.get(lead.voice, []), stopped_by, voice=lead.voice)
    info.update(voice=lead.voice, voice_losses={v: b.loss for v, b in ledger.best.items()}, voice_evals={v: b.evals for v, b in ledger.best.items()},
                judged_from_eval=ledger.judged_from, weights=config.weights)
    result.info = info  # type: ignore[attr-defined]
    return result, dict(ledger.best)


def run_voice_race(
    target_audio: np.ndarray,
    config: MatchConfig,
    callback: Callable[[Sequence[Evaluation]], None] | None = None,
    pitch: PitchEstimate | None = None,
) -> MatchResult:
    """:func:`race_voices` with the signature of a strategy (what :func:`matcher.strategies.run_strategy` calls for ``voice="auto"``)."""
    return race_voices(target_audio, config, callback, pitch)[0]
