"""Strategies that use the predictor: ``predict`` (no search) and ``hybrid`` (predict, then search).

Both take the voice from ``config.voice`` and its model from
:attr:`synth.voices.Voice.predictor_model` (:func:`matcher.predictor.load_voice_model`).

``predict`` evaluates the predicted patch once (InverSynth-style pure regression).

``hybrid`` (a voice without a predictor runs the plain search instead):

1. f0 analysis (as every strategy) and the predictor's output, a probability
   for each choice combination of the voice (subtractive: the 12 (oscillator,
   filter) combinations; analog 16; fm one);
2. the predicted patch of the most probable combination is evaluated first
   (evaluation 1): the result is never worse than it;
3. every combination gets rendered evidence before any is dropped (DESIGN
   §5.10).  A voice whose :attr:`synth.voices.Voice.fit_seeds` names fits
   (the subtractive voice: ``"biquad"``) gets its seeds from the render-free
   filter/noise fits (one per noise hypothesis) and the envelope fit
   (:mod:`matcher.seeding`); any other voice gets the predicted patch of
   every combination, with the predictor's spread.  The top-k
   combinations by probability (until their probabilities sum to 0.99, at
   most :data:`HYBRID_K`) are *favoured*: they survive the first cut (and,
   with the fits, also get their predicted patch and an envelope-corrected seed);
4. :func:`matcher.search.run_match` races the combinations from their seeds:
   the first cut keeps those within :data:`HYBRID_KEEP_RATIO` of the best
   seed (:data:`HYBRID_KEEP_ARMS`) plus the favoured ones, then successive
   halving; each arm's optimiser (:data:`HYBRID_OPTIMIZER`, a diagonal
   CMA-ES) starts at its best seed, with a spread per parameter matched to
   the fits' errors when that seed is a fitted one.  f0 still narrows
   ``osc_freq`` and the envelope fit narrows the ADSR there.

So the learning orders the search and shares the budget, but a confidently
wrong prediction cannot hide the right combination: it is rendered, and the
race keeps it when its evidence is good.

Both return a :class:`matcher.search.MatchResult`; they also set ``result.info``
(probabilities, the seed's loss, network and feature times).
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Callable, Sequence

import numpy as np

from matcher.predictor import Prediction, Predictor, features_f0, load_voice_model
from matcher.search import Evaluation, MatchConfig, MatchResult, plausible_f0s, run_match
from matcher.seeding import FIT_SEEDERS, SeedRun
from objectives.pitch import PitchEstimate, estimate_pitch
from synth.voices import get_voice

__all__ = ["run_predict", "run_hybrid", "HYBRID_KEEP_RATIO", "HYBRID_KEEP_ARMS", "HYBRID_K", "HYBRID_MASS", "HYBRID_SIGMA", "HYBRID_OPTIMIZER", "HYBRID_SCREEN", "HYBRID_FIT_SEEDS", "HYBRID_FIT_SPREAD", "HYBRID_CORRECT_ENVELOPE"]

HYBRID_K = 3
"""At most this many (oscillator, filter) combinations are searched."""

HYBRID_MASS = 0.99
"""Combinations are added, most probable first, until their probabilities sum to this."""

HYBRID_SIGMA = 0.05
"""Initial spread around the seed, in unit-cube coordinates of each arm's (narrowed) space, for the
parameters :data:`matcher.seeding.FIT_SPREAD` does not set
(0.05 beat 0.1 at budget 300 on tuning suite 4242 once the fitted seeds existed: 0.105 vs 0.137)."""

HYBRID_OPTIMIZER = "diagonal-cma"
"""Optimiser that refines the seeds.  On tuning suite 4242 at budget 3000, evaluations for the
median curve to reach plain cma's final distance: diagonal-cma 437, cma 491, Nevergrad's
MetaModel 518 (3x the wall time), cma with a population of 6: 790."""

HYBRID_SCREEN = False
"""Whether run_match also screens each arm with its 30-point grid: it helped the predicted seed
alone, it no longer helps next to the fitted seeds (tuning suite 4242: 0.155 with, 0.137 without
at budget 300; see docs/learning.md)."""

HYBRID_KEEP_RATIO = 4.0
"""After every combination's seeds are evaluated, the combinations within this factor of the best
seed's distance go on racing (with the predictor's favoured ones), between :data:`HYBRID_KEEP_ARMS`.
4 and (3, 6) rather than 3 and (2, 4): on suite 201 at 44.1 kHz a square through a bandpass whose
seeds trailed a triangle through a highpass was cut with the tighter rule (2.32 against cma's 0.20)
and won with this one (0.18)."""

HYBRID_KEEP_ARMS = (3, 6)
"""Least and most combinations the first cut keeps (the favoured ones come on top)."""

HYBRID_FIT_SEEDS = True
"""Whether each arm is also seeded with the render-free filter and envelope fits."""

HYBRID_FIT_SPREAD = True
"""Whether an arm that starts from a fitted seed uses :data:`matcher.seeding.FIT_SPREAD` as its initial spread."""

HYBRID_CORRECT_ENVELOPE = True
"""Whether the best fitted seed also gets its envelope corrected for the fit's bias (one render)."""


def _predict(target_audio: np.ndarray, config: MatchConfig, pitch: PitchEstimate, predictor: Predictor | None) -> tuple[Prediction, dict]:
    predictor = predictor or load_voice_model(config.voice)
    if predictor.voice != config.voice:
        raise ValueError(f"the predictor is a model of voice {predictor.voice!r}, the match searches {config.voice!r}")
    sr = config.sr
    f0 = pitch.f0_hz if pitch.voiced and pitch.f0_hz else None
    t0 = time.perf_counter()
    x = predictor.features(target_audio, sr, f0)  # resampled to the model's training rate, its feature version
    t1 = time.perf_counter()
    pred = predictor.predict_features(x, f0 if f0 else features_f0(x), len(target_audio) / sr)
    t2 = time.perf_counter()
    info = {
        "features_ms": 1000 * (t1 - t0),
        "network_ms": 1000 * (t2 - t1),
        "osc_probs": pred.osc_probs,
        "filter_probs": pred.filter_probs,
        "choice_probs": pred.choice_probs,
        "combo_probs": [[list(c), p] for c, p in pred.combo_probs],
    }
    return pred, info


def run_predict(
    target_audio: np.ndarray,
    config: MatchConfig,
    callback: Callable[[Sequence[Evaluation]], None] | None = None,
    pitch: PitchEstimate | None = None,
    predictor: Predictor | None = None,
) -> MatchResult:
    """Evaluate the predicted patch only (one evaluation, whatever the budget)."""
    t0 = time.perf_counter()
    pitch = pitch if pitch is not None else estimate_pitch(target_audio, config.sr)
    pred, info = _predict(target_audio, config, pitch, predictor)
    run = SeedRun(target_audio, replace(config, budget=1), callback, t0)
    (seed,) = run.evaluate([pred.patch()], "predict")
    run.close()
    result = MatchResult(dict(seed.patch), seed.loss, 1, time.perf_counter() - t0, pitch, [], "budget")
    result.info = {**info, "seed_loss": seed.loss}  # type: ignore[attr-defined]
    return result


def run_hybrid(
    target_audio: np.ndarray,
    config: MatchConfig,
    callback: Callable[[Sequence[Evaluation]], None] | None = None,
    pitch: PitchEstimate | None = None,
    predictor: Predictor | None = None,
    k_max: int = HYBRID_K,
    mass: float = HYBRID_MASS,
    sigma0: float = HYBRID_SIGMA,
    screen: bool = HYBRID_SCREEN,
    optimizer: str = HYBRID_OPTIMIZER,
    fit_seeds: bool = HYBRID_FIT_SEEDS,
    fit_spread: bool = HYBRID_FIT_SPREAD,
    correct_envelope: bool = HYBRID_CORRECT_ENVELOPE,
    keep_ratio: float = HYBRID_KEEP_RATIO,
    keep_arms: tuple[int, int] = HYBRID_KEEP_ARMS,
) -> MatchResult:
    """Predict, evaluate the prediction and the fitted seeds, then search the top-k combinations from them.

    The result is the best of every evaluation; it uses at most
    ``config.budget`` evaluations (analysis renders included) and is
    reproducible for a ``config.seed``.  A voice that ships no predictor
    (``Voice.predictor_model`` is ``None``) runs the plain search, unless a
    ``predictor`` is given.  ``fit_seeds`` (and ``correct_envelope``) apply to
    a voice with fits (``Voice.fit_seeds``); a voice without them seeds every
    combination with its predicted patch, and ``fit_seeds=False`` then
    searches only the top-k combinations from their predicted patches.
    """
    voice = get_voice(config.voice)
    if voice.predictor_model is None and predictor is None:  # no trained seeds for this voice: search from its screening design
        return run_match(target_audio, replace(config, optimizer=optimizer), callback=callback, pitch=pitch)
    t0 = time.perf_counter()
    pitch = pitch if pitch is not None else estimate_pitch(target_audio, config.sr)
    predictor = predictor or load_voice_model(config.voice)
    pred, info = _predict(target_audio, config, pitch, predictor)
    top = [c for c, _ in pred.top_combos(k_max, mass)]
    every = [c for c, _ in pred.combo_probs]  # all combinations, most probable first
    run = SeedRun(target_audio, config, callback, t0, predicted_spread=predictor.spread())
    (first,) = run.evaluate([pred.patch()], "predict", run.predicted_spread)
    info = {**info, "seed_loss": first.loss, "combos_favoured": [list(c) for c in top],
            "combos_searched": [list(c) for c in (every if fit_seeds else top)]}
    if fit_seeds and run.room > 0:
        if voice.fit_seeds is not None:  # the voice's render-free fits (e.g. the subtractive biquad's)
            add_fits = getattr(run, FIT_SEEDERS[voice.fit_seeds])
            add_fits(pitch, pred, every, correct_envelope=correct_envelope, predicted=top)
            adsr_fit = run.adsr_fit
            for f0_hz in plausible_f0s(pitch)[1:]:  # a doubtful pitch: each other candidate's arms get fitted seeds too
                if run.room > 0:
                    add_fits(replace(pitch, f0_hz=f0_hz), replace(pred, f0_hz=f0_hz), every, correct_envelope=False, predicted=[])
            run.adsr_fit = adsr_fit
        else:  # no fits model this voice: the predicted patch of every combination is its rendered evidence
            run.add_predicted(pred, every)
    run.close()
    info.update(run.info)
    res = None
    if run.room > 0:
        n_seed_evals, best_seed = run.evals, run.best.loss
        seed_wall = time.perf_counter() - t0

        def shifted(rows: Sequence[Evaluation]) -> None:
            if callback is not None:
                callback([replace(r, eval=r.eval + n_seed_evals, wall_s=r.wall_s + seed_wall, best_loss=min(r.best_loss, best_seed)) for r in rows])

        search_config = replace(config, optimizer=optimizer, budget=run.room, sigma0=sigma0, screen_design=screen,
                                keep_ratio=keep_ratio, keep_arms=keep_arms,
                                time_limit_s=None if config.time_limit_s is None else max(1e-3, config.time_limit_s - seed_wall))
        # Every combination races (the seeds gave each rendered evidence); the predictor's top ones are favoured.
        res = run_match(
            target_audio, search_config, callback=shifted, pitch=pitch,
            seed_patches=[s.patch for s in run.seeds], seed_losses=[s.loss for s in run.seeds],
            seed_spreads=[s.spread if fit_spread else None for s in run.seeds], adsr_fit=run.adsr_fit,
            combos=[predictor.layout.choices_of(c) for c in (every if fit_seeds else top)],
            favoured=[predictor.layout.choices_of(c) for c in top],
        )
    best = run.best
    if res is not None and res.loss < best.loss:
        patch, loss = res.patch, res.loss
    else:
        patch, loss = dict(best.patch), best.loss
    evals = run.evals + (res.evals if res is not None else 0)
    result = MatchResult(patch, loss, evals, time.perf_counter() - t0, pitch, res.arms if res else [], res.stopped_by if res else "budget")
    result.info = info  # type: ignore[attr-defined]
    return result
