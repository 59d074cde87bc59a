"""Random *valid* patches: the in-domain targets and the training data.

A patch is valid when the note it plays is audible: the envelope fits in the
note, the noise does not mask the oscillator, the cutoff is in the voice's
range and below 0.4 × the rate, and the render is neither silent nor clipping.
Draws are broad (log-uniform frequencies and times, balanced choices) and the
rules reject; rejected draws are redrawn and counted by reason.

Two distributions are kept by name (:class:`SamplerSpec`):

- :data:`SAMPLER_V1`, the original one, whose rules also demanded an
  *identifiable* note (narrow cutoff/f0 windows, no pure sine without noise).
  The predictor shipped before it learned those windows and was wrong more
  often on what users bring (issue #8).
- :data:`SAMPLER_V2`, the default: broad windows, noiseless notes on half the
  draws, pure sines allowed, levels 0.5–1.  Some of its notes have a filter
  whose type cannot be heard; :func:`filter_audible` says which, so filter
  accuracy can be counted where the filter is audible.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, Mapping

import numpy as np

from synth.voices import FILTER_TYPES, OSC_TYPES, SUBTRACTIVE

__all__ = [
    "SamplerSpec", "SAMPLER_V1", "SAMPLER_V2", "SAMPLERS", "DEFAULT_SAMPLER", "get_sampler",
    "draw_patch", "rule_problems", "audio_problems", "sample_valid_patch", "draw_until_valid", "filter_audible",
    "FILTER_WINDOWS",
]


@dataclass(frozen=True)
class SamplerSpec:
    """One distribution of random patches: what is drawn and which rules reject.

    Attributes
    ----------
    name : str
        Registry name (``"v1"``, ``"v2"``), stored with datasets and models.
    filter_windows : mapping of str to (float, float)
        Allowed cutoff / f0 ratio per filter type (below: ``filter_cuts_note``,
        above: ``filter_inaudible``).
    f0_range_hz : (float, float)
        Pitch range, log-uniform.
    osc_vol_range, master_vol_range : (float, float)
        Uniform ranges of the two levels.
    noise_probability : float
        Fraction of draws with noise; the others have ``noise_vol`` exactly 0.
    noise_vol_range : (float, float)
        Uniform absolute ``noise_vol`` of a noisy draw (when
        ``noise_ratio_range`` is None).
    noise_ratio_range : (float, float) or None
        If set, a noisy draw's ``noise_vol`` is ``osc_vol`` times a log-uniform
        ratio in this range (never above the masking rule, so rejections do not
        tilt the noisy/noiseless balance).
    cutoff_in_window : bool
        Draw the cutoff log-uniform inside the filter's window times f0 (and the
        voice's cutoff range) (True), or log-uniform over the voice's whole cutoff range and
        let the window rule reject (False, V1).
    filter_res_range : (float, float)
        Resonance (Q), log-uniform.
    min_noise_for_sine : float or None
        If set, a sine with noise below this fraction of the oscillator level is
        rejected (``filter_unidentifiable``).
    max_noise_to_osc : float
        Noise level may be at most this fraction of the oscillator level.
    """

    name: str
    filter_windows: Mapping[str, tuple[float, float]]
    f0_range_hz: tuple[float, float] = (55.0, 1760.0)
    osc_vol_range: tuple[float, float] = (0.3, 1.0)
    master_vol_range: tuple[float, float] = (0.3, 1.0)
    noise_probability: float = 0.5
    noise_vol_range: tuple[float, float] = (0.01, 0.5)
    noise_ratio_range: tuple[float, float] | None = None
    cutoff_in_window: bool = False
    filter_res_range: tuple[float, float] = (0.5, 8.0)
    min_noise_for_sine: float | None = 0.05
    max_noise_to_osc: float = 0.5
    attack_range_s: tuple[float, float] = (0.002, 0.2)
    decay_range_s: tuple[float, float] = (0.02, 0.5)
    sustain_range: tuple[float, float] = (0.2, 1.0)
    release_range_s: tuple[float, float] = (0.02, 0.4)
    extra: Mapping[str, str] = field(default_factory=dict)


SAMPLER_V1 = SamplerSpec(
    name="v1",
    filter_windows={"lowpass": (2.0, 16.0), "highpass": (1.0, 6.0), "bandpass": (1.0, 8.0)},
)
"""The original distribution, exactly (same draws for the same generator state).

Its windows exclude a lowpass far above f0 or a highpass/bandpass far above f0
(the filter type is hard to hear there) and a filter that removes the
harmonics that tell the waveform apart; a sine needs noise ≥ 5 % of the
oscillator level, whose spectrum the filter shapes audibly."""

SAMPLER_V2 = SamplerSpec(
    name="v2",
    filter_windows={"lowpass": (2.0, 24.0), "highpass": (0.5, 4.0), "bandpass": (1.0, 8.0)},
    osc_vol_range=(0.5, 1.0),
    master_vol_range=(0.5, 1.0),
    noise_ratio_range=(0.01, 0.5),
    cutoff_in_window=True,
    min_noise_for_sine=None,
)
"""The broad distribution users bring (issue #8), the default.

Noise on half the notes (``noise_vol`` exactly 0 on the others), pure sines
allowed, cutoff/f0 windows lowpass 2–24, highpass 0.5–4, bandpass 1–8,
oscillator and master levels uniform in 0.5–1.  A noisy note's noise is the
oscillator level times a log-uniform ratio in 0.01–0.5."""

SAMPLERS: dict[str, SamplerSpec] = {s.name: s for s in (SAMPLER_V1, SAMPLER_V2)}
"""Every distribution by name."""

DEFAULT_SAMPLER = SAMPLER_V2

FILTER_WINDOWS: Mapping[str, tuple[float, float]] = DEFAULT_SAMPLER.filter_windows
"""The default distribution's cutoff / f0 windows (kept for older callers)."""

F0_RANGE_HZ = SAMPLER_V1.f0_range_hz
MAX_NOISE_TO_OSC = SAMPLER_V1.max_noise_to_osc
MIN_NOISE_FOR_SINE = 0.05
"""Below this noise / oscillator ratio the noise is too faint to reveal the
filter (used by V1's rule and by :func:`filter_audible`)."""

SILENCE_PEAK = 0.02
"""A render whose peak is below this is rejected as silent."""

CLIP_PEAK = 0.99
"""A render whose peak reaches this is rejected as clipping."""

AUDIBLE_SPAN_DB = 50.0
"""Harmonics more than this below the strongest (after the filter) are ignored
by :func:`filter_audible`."""

SAME_FILTER_TOL_DB = 1.0
"""Two filters are heard alike on a noiseless note when, up to one gain, their
responses at every audible harmonic agree within this (about the level
difference one can hear on a single partial)."""


def get_sampler(spec: SamplerSpec | str | None) -> SamplerSpec:
    """The spec itself, the spec of that name, or the default for None."""
    if spec is None:
        return DEFAULT_SAMPLER
    if isinstance(spec, SamplerSpec):
        return spec
    try:
        return SAMPLERS[spec]
    except KeyError:
        raise ValueError(f"unknown sampler {spec!r} (expected one of {sorted(SAMPLERS)})") from None


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def _draw_v1_order(rng: np.random.Generator, duree_s: float, spec: SamplerSpec) -> dict[str, float | str]:
    """V1's draw, in V1's order of generator calls (so its patches never change)."""
    space = SUBTRACTIVE.space
    noisy = rng.random() < spec.noise_probability
    return {
        "duree": float(duree_s),
        "osc_freq": _log_uniform(rng, *spec.f0_range_hz),
        "osc_type": OSC_TYPES[int(rng.integers(len(OSC_TYPES)))],
        "osc_vol": float(rng.uniform(*spec.osc_vol_range)),
        "noise_vol": float(rng.uniform(*spec.noise_vol_range)) if noisy else 0.0,
        "filter_type": FILTER_TYPES[int(rng.integers(len(FILTER_TYPES)))],
        "filter_cutoff": _log_uniform(rng, space["filter_cutoff"].low, space["filter_cutoff"].high),
        **_draw_resonance_envelope_level(rng, spec),
    }


def _draw_resonance_envelope_level(rng: np.random.Generator, spec: SamplerSpec) -> dict[str, float]:
    """The last draws of every distribution, in this order: Q, the ADSR, the master level."""
    return {
        "filter_res": _log_uniform(rng, *spec.filter_res_range),
        "env_attack": _log_uniform(rng, *spec.attack_range_s),
        "env_decay": _log_uniform(rng, *spec.decay_range_s),
        "env_sustain": float(rng.uniform(*spec.sustain_range)),
        "env_release": _log_uniform(rng, *spec.release_range_s),
        "master_vol": float(rng.uniform(*spec.master_vol_range)),
    }


def draw_patch(rng: np.random.Generator, duree_s: float = 1.0, spec: SamplerSpec | str | None = None) -> dict[str, float | str]:
    """One broad random draw of the subtractive voice (may break the rules).

    Parameters
    ----------
    rng : numpy.random.Generator
    duree_s : float
        Note duration in seconds.
    spec : SamplerSpec or str, optional
        The distribution (default :data:`SAMPLER_V2`).
    """
    spec = get_sampler(spec)
    if not spec.cutoff_in_window and spec.noise_ratio_range is None:
        return _draw_v1_order(rng, duree_s, spec)
    space = SUBTRACTIVE.space
    noisy = rng.random() < spec.noise_probability
    f0_hz = _log_uniform(rng, *spec.f0_range_hz)
    osc_type = OSC_TYPES[int(rng.integers(len(OSC_TYPES)))]
    osc_vol = float(rng.uniform(*spec.osc_vol_range))
    if not noisy:
        noise_vol = 0.0
    elif spec.noise_ratio_range is not None:
        noise_vol = osc_vol * _log_uniform(rng, *spec.noise_ratio_range)
    else:
        noise_vol = float(rng.uniform(*spec.noise_vol_range))
    filter_type = FILTER_TYPES[int(rng.integers(len(FILTER_TYPES)))]
    if spec.cutoff_in_window:
        # Log-uniform over the window, intersected with the voice's cutoff range.
        lo, hi = spec.filter_windows[filter_type]
        cut = space["filter_cutoff"]
        cutoff_hz = _log_uniform(rng, max(cut.low, lo * f0_hz), min(cut.high, hi * f0_hz))
    else:
        cutoff_hz = _log_uniform(rng, space["filter_cutoff"].low, space["filter_cutoff"].high)
    return {
        "duree": float(duree_s),
        "osc_freq": f0_hz,
        "osc_type": osc_type,
        "osc_vol": osc_vol,
        "noise_vol": float(noise_vol),
        "filter_type": filter_type,
        "filter_cutoff": float(cutoff_hz),
        **_draw_resonance_envelope_level(rng, spec),
    }


def rule_problems(patch: Mapping[str, float | str], sr: int = 22050, spec: SamplerSpec | str | None = None) -> list[str]:
    """Reasons (short keys) why a patch is not a valid target of ``spec``; empty if valid.

    These rules need no render.

    Parameters
    ----------
    patch : mapping
    sr : int
        Render rate in Hz (the cutoff must stay below 0.4 × ``sr``).
    spec : SamplerSpec or str, optional
        The distribution whose rules apply (default :data:`SAMPLER_V2`).
    """
    spec = get_sampler(spec)
    problems = []
    f0 = float(patch["osc_freq"])
    cutoff_hz = float(patch["filter_cutoff"])
    ratio = cutoff_hz / f0
    lo, hi = spec.filter_windows[str(patch["filter_type"])]
    if ratio < lo:
        problems.append("filter_cuts_note")
    elif ratio > hi:
        problems.append("filter_inaudible")
    if cutoff_hz > 0.4 * sr:
        problems.append("cutoff_near_nyquist")
    cut = SUBTRACTIVE.space["filter_cutoff"]
    if not cut.low <= cutoff_hz <= cut.high:
        problems.append("cutoff_out_of_range")
    env_s = float(patch["env_attack"]) + float(patch["env_decay"]) + float(patch["env_release"])
    if env_s > 0.9 * float(patch["duree"]):
        problems.append("envelope_longer_than_note")
    if float(patch["noise_vol"]) > spec.max_noise_to_osc * float(patch["osc_vol"]):
        problems.append("noise_masks_note")
    if (
        spec.min_noise_for_sine is not None
        and patch["osc_type"] == "sine"
        and float(patch["noise_vol"]) < spec.min_noise_for_sine * float(patch["osc_vol"])
    ):
        problems.append("filter_unidentifiable")
    return problems


def audio_problems(audio: np.ndarray) -> list[str]:
    """Reasons why a rendered note is not a valid target (silent or clipping)."""
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak < SILENCE_PEAK:
        return ["silent"]
    if peak >= CLIP_PEAK:
        return ["clipping"]
    return []


def sample_valid_patch(
    rng: np.random.Generator,
    render_fn: Callable[[Mapping[str, float | str], int, int], np.ndarray],
    sr: int = 22050,
    duree_s: float = 1.0,
    rejections: Counter | None = None,
    max_draws: int = 10_000,
    spec: SamplerSpec | str | None = None,
) -> tuple[dict[str, float | str], np.ndarray]:
    """Draw until a patch passes every rule; return it with its render.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness (the result is a pure function of its state).
    render_fn : callable
        ``render_fn(patch, sr, n_samples) -> ndarray`` (e.g. :func:`synth.render.render`).
    sr : int
        Sample rate in Hz.
    duree_s : float
        Note duration and render length in seconds.
    rejections : collections.Counter, optional
        Incremented by reason for every rejected draw.
    max_draws : int
        Give up (RuntimeError) after this many draws.
    spec : SamplerSpec or str, optional
        The distribution (default :data:`SAMPLER_V2`).

    Returns
    -------
    patch : dict
    audio : ndarray, shape (round(duree_s * sr),), float32
    """
    spec = get_sampler(spec)
    return draw_until_valid(lambda: draw_patch(rng, duree_s, spec), lambda patch: rule_problems(patch, sr, spec),
                            render_fn, sr, duree_s, rejections, max_draws, "no valid patch")


def draw_until_valid(
    draw: Callable[[], dict[str, float | str]],
    rules: Callable[[Mapping[str, float | str]], list[str]],
    render_fn: Callable[[Mapping[str, float | str], int, int], np.ndarray],
    sr: int,
    duree_s: float,
    rejections: Counter | None,
    max_draws: int,
    what: str,
) -> tuple[dict[str, float | str], np.ndarray]:
    """The rejection loop every sampler shares: draw, check the rules, render, check the audio.

    ``draw()`` makes one patch, ``rules(patch)`` lists its problems (empty: it
    may be rendered); the render must pass :func:`audio_problems`.  Rejections
    are counted by reason; after ``max_draws`` draws ``RuntimeError(f"{what} in
    {max_draws} draws")``.  Returns the patch and its render, ``round(duree_s * sr)`` samples.
    """
    n_samples = int(round(duree_s * sr))
    for _ in range(max_draws):
        patch = draw()
        problems = rules(patch)
        audio = None
        if not problems:
            audio = render_fn(patch, sr, n_samples)
            problems = audio_problems(audio)
        if not problems:
            return patch, audio
        if rejections is not None:
            rejections.update(problems)
    raise RuntimeError(f"{what} in {max_draws} draws")


@lru_cache(maxsize=8)
def _filter_grid_db(filter_type: str, sr: int, n_cutoff: int = 241, n_q: int = 25) -> tuple[np.ndarray, np.ndarray]:
    """Cutoffs and Qs of a grid over the voice's filter range (log-spaced)."""
    cut, res = SUBTRACTIVE.space["filter_cutoff"], SUBTRACTIVE.space["filter_res"]
    cutoffs_hz = np.geomspace(cut.low, min(cut.high, 0.45 * sr), n_cutoff)
    qs = np.geomspace(res.low, res.high, n_q)
    return cutoffs_hz, qs


def filter_audible(patch: Mapping[str, float | str], sr: int = 22050) -> bool:
    """Whether the patch's filter *type* can be heard (so a wrong type label is an error).

    A filter shapes what passes through it: the oscillator's harmonics and the
    white noise.  The type is judged inaudible when another filter type, at some
    cutoff and Q of the voice's range and up to one overall gain, gives the same
    note:

    - **Noise at least** :data:`MIN_NOISE_FOR_SINE` **× the oscillator level**:
      audible.  Filtered white noise shows the response over the whole band, and
      no lowpass, highpass and bandpass have the same response.
    - **Otherwise** (no noise, or noise too faint to reveal the filter): only the
      filter's gains at the harmonics are heard.  Inaudible when another type
      matches those gains within :data:`SAME_FILTER_TOL_DB` at every harmonic
      within :data:`AUDIBLE_SPAN_DB` of the strongest one (searched on a grid of
      241 cutoffs × 25 Qs).  A pure sine (one harmonic) is always inaudible; so
      is, e.g., a saw through a lowpass far above its audible harmonics, which
      a highpass far below f0 imitates.

    Parameters
    ----------
    patch : mapping
        A subtractive patch.
    sr : int
        Render rate in Hz: harmonics up to 0.45 × ``sr`` count.

    Returns
    -------
    bool
    """
    from objectives.filter_fit import biquad_power  # noqa: PLC0415 - the voice's biquad model
    from synth.render import harmonic_amplitudes  # noqa: PLC0415

    osc_vol = float(patch["osc_vol"])
    if float(patch["noise_vol"]) >= MIN_NOISE_FOR_SINE * osc_vol:
        return True
    f0_hz = float(patch["osc_freq"])
    osc_type = str(patch["osc_type"])
    n_harm = 1 if osc_type == "sine" else max(1, int(0.45 * sr / f0_hz))
    amps = np.abs(harmonic_amplitudes(osc_type, n_harm)[1:])
    ks = np.nonzero(amps)[0] + 1
    freqs_hz = ks * f0_hz
    cutoff_hz = min(float(patch["filter_cutoff"]), 0.45 * sr)  # as the renderer clamps it
    gain_db = 10 * np.log10(np.maximum(biquad_power(freqs_hz, cutoff_hz, float(patch["filter_res"]), str(patch["filter_type"]), sr), 1e-30))
    level_db = 20 * np.log10(amps[ks - 1]) + gain_db
    heard = level_db >= level_db.max() - AUDIBLE_SPAN_DB
    if heard.sum() <= 1:
        return False
    freqs_hz, gain_db = freqs_hz[heard], gain_db[heard]
    for other in FILTER_TYPES:
        if other == patch["filter_type"]:
            continue
        cutoffs_hz, qs = _filter_grid_db(other, sr)
        g = 10 * np.log10(np.maximum(biquad_power(freqs_hz[None, None, :], cutoffs_hz[:, None, None], qs[None, :, None], other, sr), 1e-30))
        diff = g - gain_db
        # Best overall gain for a max-abs error: the midrange of the differences.
        err_db = (diff.max(axis=-1) - diff.min(axis=-1)) / 2
        if float(err_db.min()) <= SAME_FILTER_TOL_DB:
            return False
    return True
