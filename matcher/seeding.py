"""Starting points of the hybrid search, built and evaluated before it starts.

Every voice with a predictor gets the predicted patch of each of its choice
combinations (:meth:`SeedRun.add_predicted`).  A voice whose
:attr:`synth.voices.Voice.fit_seeds` names a seeder of :data:`FIT_SEEDERS`
gets that seeder's seeds instead; ``"biquad"`` (the subtractive voice, whose
biquad and wavetables the fits model) is :meth:`SeedRun.add_fitted`.  For
each searched (oscillator, filter) combination:

1. the predictor's patch (its spread: the model's held-out errors per parameter);
2. that patch with the render-free fits: the envelope of
   :func:`objectives.envelope.fit_adsr` and the cutoff, Q and noise level of
   :func:`objectives.filter_fit.fit_filters`, one seed per noise hypothesis;
3. the better of those with its envelope corrected for the fit's bias
   (:func:`objectives.envelope.correct_adsr`): the seed is rendered once,
   its envelope fitted, and the difference from the known envelope removed
   from the target's fit.

Every seed is evaluated here (so the search is told their losses and does not
evaluate them again); the analysis render of step 3 is charged to the budget
like an evaluation.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np

from matcher.evaluator import Evaluator
from matcher.predictor import Prediction
from matcher.search import Evaluation, MatchConfig
from objectives.envelope import AdsrFit, correct_adsr, fit_adsr
from objectives.filter_fit import fit_filters
from objectives.pitch import PitchEstimate
from synth.render import render
from synth.voices import get_voice

__all__ = ["Seed", "SeedRun", "FIT_SPREAD", "UNFITTED_FILTER_SPREAD", "FIT_SEEDERS", "clip_patch"]

FIT_SPREAD = {"filter_cutoff": 0.05, "filter_res": 0.1, "noise_vol": 0.02, "osc_freq": 0.002,
              "env_attack": 0.15, "env_decay": 0.06, "env_sustain": 0.005, "env_release": 0.02}
"""Initial spread of the search around a fitted seed, in octaves (cutoff, Q, pitch, times) or
level units (noise, sustain): a few times the fits' typical errors (``experiments.seed_accuracy``),
far below the unit cube's 0.05 (0.4 octave of cutoff) that would throw the fit away in the first steps."""


UNFITTED_FILTER_SPREAD = {**FIT_SPREAD, "filter_cutoff": 1.0, "filter_res": 1.0, "noise_vol": 0.05}
"""Spread around a seed whose filter could not be fitted (:func:`objectives.filter_fit.transparent_fit`, a
single partial): an octave of cutoff and Q, since the spectrum said nothing about them; the envelope keeps its fit's spread."""


@dataclass(frozen=True)
class Seed:
    """An evaluated starting point.

    Attributes
    ----------
    patch : dict
        The patch as evaluated (solved gain included).
    loss : float
    label : str
        Where it comes from: ``predict``, ``fit``, ``fit+envelope``.
    spread : mapping or None
        Initial spread of the search around it (see :data:`FIT_SPREAD`); ``None``: the search's default.
    """

    patch: dict
    loss: float
    label: str
    spread: Mapping[str, float] | None = None


@dataclass
class SeedRun:
    """Evaluates seeds in this process, numbers them, reports them and keeps the best.

    Parameters
    ----------
    target_audio : ndarray, shape (n_samples,)
        Target at ``config.sr``.
    config : MatchConfig
        Its ``budget`` bounds the evaluations plus analysis renders spent here.
    callback : callable, optional
        Receives an :class:`matcher.search.Evaluation` row per evaluation.
    t0 : float
        ``time.perf_counter()`` at the start of the match (row wall times count from it).
    predicted_spread : mapping, optional
        Spread of the search around a predicted patch (:meth:`matcher.predictor.Predictor.spread`).
    """

    target_audio: np.ndarray
    config: MatchConfig
    callback: Callable[[Sequence[Evaluation]], None] | None = None
    t0: float = field(default_factory=time.perf_counter)
    predicted_spread: Mapping[str, float] | None = None
    seeds: list[Seed] = field(default_factory=list)
    spent: int = 0
    info: dict = field(default_factory=dict)
    adsr_fit: AdsrFit | None = None
    """The target's envelope fit, once :meth:`add_fitted` has made it (the search reuses it)."""

    def __post_init__(self) -> None:
        self._evaluator = Evaluator(self.target_audio, self.config.sr, self.config.voice, self.config.weights, jobs=self.config.jobs, solve_gain=True)
        self._evaluator.warm_up()

    @property
    def room(self) -> int:
        """Evaluations left in the budget."""
        return self.config.budget - self.spent

    @property
    def evals(self) -> int:
        """Evaluations done (analysis renders excluded)."""
        return len(self.seeds)

    @property
    def best(self) -> Seed:
        """The seed with the lowest loss so far."""
        return min(self.seeds, key=lambda s: s.loss)

    def evaluate(self, patches: Sequence[dict], label: str, spread: Mapping[str, float] | Sequence[Mapping[str, float] | None] | None = None) -> list[Seed]:
        """Evaluate as many of ``patches`` as the budget allows; return their seeds.

        ``spread`` is one spread for every patch, or a list with one per patch.
        """
        patches = list(patches)[: max(0, self.room)]
        if not patches:
            return []
        spreads = list(spread) if isinstance(spread, (list, tuple)) else [spread] * len(patches)
        losses, evaluated = self._evaluator.evaluate(patches)
        now = time.perf_counter() - self.t0
        out, rows = [], []
        best = min([s.loss for s in self.seeds], default=np.inf)
        for loss, patch, sp in zip(losses, evaluated, spreads):
            self.spent += 1
            seed = Seed(dict(patch), float(loss), label, sp)
            self.seeds.append(seed)
            out.append(seed)
            best = min(best, seed.loss)
            rows.append(Evaluation(len(self.seeds), now, seed.loss, best, label, seed.patch))
        if self.callback is not None:
            self.callback(rows)
        return out

    def add_fitted(self, pitch: PitchEstimate, pred: Prediction, combos: Sequence[tuple[str, str]], correct_envelope: bool = True,
                   envelope_passes: int = 1, predicted: Sequence[tuple[str, str]] | None = None) -> None:
        """Evaluate the fitted seeds of every combination, and the predicted patch of the ``predicted`` ones.

        Parameters
        ----------
        combos : sequence of (osc_type, filter_type)
            Every combination the search may race: each gets its fitted seeds
            (rendered evidence before any can be dropped).
        predicted : sequence of (osc_type, filter_type), optional
            The predictor's top combinations (all of ``combos`` by default): each also
            gets its predicted patch (unless evaluated already) and an envelope-corrected seed.
        """
        sr, audio = self.config.sr, self.target_audio
        f0_hz = pitch.f0_hz if pitch.voiced else None
        predicted = [tuple(c) for c in (combos if predicted is None else predicted)]
        t0 = time.perf_counter()
        adsr_fit = self.adsr_fit = fit_adsr(audio, sr, len(audio) / sr, f0_hz)
        # Full refinement for the predicted combinations, one least-squares start for the others.
        envelope = adsr_fit.curve(len(audio), sr)
        fits = fit_filters(audio, sr, f0_hz, list(combos), n_starts=[3 if tuple(c) in predicted else 1 for c in combos], envelope=envelope)
        self.info["fit_ms"] = 1000 * (time.perf_counter() - t0)
        self.info["filter_fits"] = [[f.__dict__ for f in combo_fits] for combo_fits in fits]
        self.info["adsr_fit"] = adsr_fit.__dict__
        evaluated = [(s.patch["osc_type"], s.patch["filter_type"]) for s in self.seeds if s.label == "predict"]
        # One batch for the predicted patches and one for every fitted seed (worker processes stay busy).
        todo = [c for c in predicted if c in map(tuple, combos) and c not in evaluated]
        self.evaluate([pred.patch(c) for c in todo], "predict", self.predicted_spread)
        fitted_patches, owners, spreads = [], [], []
        for combo, combo_fits in zip(combos, fits):
            base = pred.patch(combo)
            for f in combo_fits:
                fitted_patches.append(clip_patch({**base, **adsr_fit.as_patch(), **f.as_patch(float(base["osc_vol"]) or 0.8)}, self.config.voice))
                owners.append(tuple(combo))
                spreads.append(FIT_SPREAD if np.isfinite(f.rms_error_db) else UNFITTED_FILTER_SPREAD)
        best_fitted: dict[tuple[str, str], Seed] = {}
        for combo, seed in zip(owners, self.evaluate(fitted_patches, "fit", spreads)):
            if combo not in best_fitted or seed.loss < best_fitted[combo].loss:
                best_fitted[combo] = seed
        if not correct_envelope or not best_fitted:
            return
        # The envelope correction: for the predicted combinations and for the best fitted seed of all,
        # each pass one batch (its analysis renders charged like evaluations).
        leader = min(best_fitted, key=lambda c: best_fitted[c].loss)
        best = {c: best_fitted[c] for c in dict.fromkeys([*[c for c in predicted if c in best_fitted], leader])}
        for _ in range(envelope_passes):
            chosen = list(best)[: max(0, self.room // 2)]
            if not chosen:
                return
            corrected = []
            for combo in chosen:
                self.spent += 1  # the analysis render below
                rendered = render(best[combo].patch, sr, len(audio), self.config.voice)
                fix = correct_adsr(adsr_fit, fit_adsr(rendered, sr, len(audio) / sr, f0_hz), best[combo].patch)
                corrected.append(clip_patch({**best[combo].patch, **fix}, self.config.voice))
            for combo, refined in zip(chosen, self.evaluate(corrected, "fit+envelope", FIT_SPREAD)):
                best[combo] = min(best[combo], refined, key=lambda s: s.loss)

    def add_predicted(self, pred: Prediction, combos: Sequence[tuple[str, ...]]) -> None:
        """Evaluate the predicted patch of every combination in ``combos`` not evaluated yet, in one batch.

        The seeds of a voice without fits: each combination gets rendered
        evidence (its predicted patch, with the predictor's spread) before the
        race may drop it.
        """
        evaluated = {tuple(str(s.patch[n]) for n in pred_choice_names(pred)) for s in self.seeds if s.label == "predict"}
        todo = [tuple(c) for c in combos if tuple(c) not in evaluated]
        self.evaluate([pred.patch(c) for c in todo], "predict", self.predicted_spread)

    def close(self) -> None:
        self._evaluator.close()


def pred_choice_names(pred: Prediction) -> tuple[str, ...]:
    """The choice parameters a prediction's combinations name, in order."""
    from matcher.predictor_layout import layout_for  # noqa: PLC0415

    return layout_for(pred.voice).choice_names


FIT_SEEDERS: dict[str, str] = {"biquad": "add_fitted"}
"""Render-free seeders by the name a voice gives in :attr:`synth.voices.Voice.fit_seeds`, each the
:class:`SeedRun` method that adds its seeds (called as ``method(pitch, pred, combos, correct_envelope=..., predicted=...)``).
``biquad``: the filter, noise and ADSR fits of :mod:`objectives.filter_fit` and :mod:`objectives.envelope`,
which model the subtractive voice's biquad and wavetables."""


def clip_patch(patch: dict, voice: str = "subtractive") -> dict:
    """The patch with its continuous values clipped to the voice's ranges (fits can land just outside)."""
    space = get_voice(voice).space
    return {k: (min(max(float(v), space[k].low), space[k].high) if k in space.names and not space[k].is_choice else v) for k, v in patch.items()}
