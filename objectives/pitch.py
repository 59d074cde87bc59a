"""Fundamental-frequency estimation that survives filters removing the fundamental.

Period trackers such as ``librosa.pyin`` report the 2nd–5th harmonic when a
highpass or bandpass filter removes the fundamental of a saw or square note
(DESIGN §5 item 8).  This module combines evidence instead of trusting one
tracker:

1. a long-window, zero-padded magnitude spectrum of the loud part of the note,
   with peaks picked against a running-median noise floor and located by
   parabolic interpolation (precise partial frequencies);
2. candidates from every strong partial and its subharmonics ``p/1 … p/8``,
   from the spacing between adjacent partials, from the cepstrum and from a
   ``librosa.yin`` vote;
3. a harmonic-sieve score for every candidate: the share of partial weight it
   explains, minus a penalty for partials it predicts between the observed ones
   that are missing (so ``f/2`` loses to ``f`` and ``2f`` loses to ``f`` on an
   odd-harmonic square wave: spacing ``2f``, but harmonic numbers 3, 5, 7 of ``f``);
4. a least-squares refinement of every candidate on its explained partials
   (``p_k ≈ k · f0 · sqrt(1 + B k²)``, ``B`` a small stiff-string
   inharmonicity that stays 0 on our synth), so the higher partials set the
   precision and piano-like recordings are numbered correctly;
5. when the best score is weak (a pitch that moves: vibrato, glide), a second
   look at the steadiest 0.3 s;
6. when the confidence is still low, a frame-by-frame reading (nine 80 ms
   frames): if most frames agree, their median f0 replaces the long-window one
   (a deep vibrato smears a long window's partials but not a short frame's).

A note without prominent partials (noise only) comes back ``voiced=False``.
"""

from __future__ import annotations

from dataclasses import dataclass

import librosa
import numpy as np
import scipy.ndimage
import scipy.signal

__all__ = ["PitchEstimate", "estimate_pitch"]

_MAX_SECTION_S = 1.5
"""Longest stretch of audio analysed, in seconds (centred on the loud part)."""

_SECTION_DB = 20.0
"""Frames within this many dB of the loudest frame form the analysed section."""

_SHORT_SECTION_S = 0.3
"""Length of the second, shorter look at a note whose long spectrum is unclear, in seconds."""

_RETRY_BELOW_SCORE = 0.7
"""Best score under which the shorter section is analysed too."""

_ZERO_PAD = 4
"""Zero-padding factor of the long FFT (finer grid for peak interpolation)."""

_PEAK_MIN_PROMINENCE_DB = 17.0
"""A spectral peak must rise this far above the running-median floor.

White noise power per bin is exponential; its maxima over ~10^4 bins sit
about 11 dB above the median (measured on rendered filtered noise: up to 14.7 dB,
with the skirt of resonant filters), so 17 dB rejects chance noise peaks."""

_PEAK_DYNAMIC_RANGE_DB = 80.0
"""Peaks more than this far below the strongest one are ignored."""

_SIDEBAND_SEPARATION = 3.0
"""A peak closer than this many main-lobe half widths to a stronger one is a sidelobe."""

_MAX_PEAKS = 40
"""Strongest peaks kept for scoring."""

_N_SOURCE_PEAKS = 8
"""Strongest peaks whose subharmonics become candidates."""

_MAX_SUBHARMONIC = 8
"""Subharmonics p/1 … p/_MAX_SUBHARMONIC of a source peak are candidates."""

_HARMONIC_TOL = 0.035
"""Tolerance on ``|p / f0 − h|`` (fraction of a harmonic spacing) for a partial to be explained."""

_MISSING_WEIGHT = 0.45
"""Weight of the missing-partial fraction in the candidate score."""

_BELOW_WEIGHT = 0.1
"""Weight of the share of harmonics below the lowest explained one (all absent)."""

_MAX_INHARMONICITY = 2e-3
"""Largest stiff-string inharmonicity ``B`` fitted (piano bass strings are ~1e-4–1e-3)."""

_FRAMEWISE_BELOW_CONFIDENCE = 0.3
"""Below this confidence the note is also read frame by frame (:func:`_framewise_f0`)."""

_FRAME_S = 0.08
"""Length of one frame of the frame-wise reading, in seconds: short enough that a 5-6 Hz vibrato
moves the pitch little within it."""

_N_FRAMES = 9
"""Frames of the frame-wise reading, evenly spaced over the loud section."""

_FRAME_AGREEMENT_CENTS = 100.0
"""A frame agrees with the frames' median f0 when within this many cents (a vibrato's depth)."""

_MIN_FRAME_AGREEMENT = 0.6
"""Share of agreeing frames the frame-wise f0 needs to replace the long-window one."""

_MAX_CANDIDATES = 6
"""Length of :attr:`PitchEstimate.candidates`."""

_VOICED_PROMINENCE_DB = (18.0, 30.0)
"""Prominence of the strongest explained partial mapping to confidence 0 … 1."""


@dataclass(frozen=True)
class PitchEstimate:
    """Result of :func:`estimate_pitch`.

    Attributes
    ----------
    f0_hz : float or None
        Best fundamental-frequency estimate in Hz; ``None`` if unpitched.
    candidates : tuple of (float, float)
        ``(f0_hz, score)`` pairs, best first, at most six; includes the
        plausible octave and subharmonic alternatives.  Scores are in [0, 1]
        (share of partial weight explained minus a missing-partial penalty).
    confidence : float
        In [0, 1]: how pitched the note is and how clearly the best candidate
        beats the others.
    voiced : bool
        Whether the note has a pitch at all.
    """

    f0_hz: float | None
    candidates: tuple[tuple[float, float], ...]
    confidence: float
    voiced: bool


@dataclass(frozen=True)
class _Partials:
    """Spectral peaks of the analysed section.

    Attributes
    ----------
    freq_hz : ndarray, shape (n_peaks,)
        Interpolated peak frequencies in Hz, ascending.
    weight : ndarray, shape (n_peaks,)
        Non-negative importance of each peak (dB above the detection threshold, capped).
    prominence_db : ndarray, shape (n_peaks,)
        Height above the running-median noise floor in dB.
    resolution_hz : float
        Main-lobe half width of the analysis window in Hz.
    """

    freq_hz: np.ndarray
    weight: np.ndarray
    prominence_db: np.ndarray
    resolution_hz: float


def _to_mono(y: np.ndarray) -> np.ndarray:
    """Mono float64 copy; 2-D input is ``(channels, samples)`` as in librosa."""
    y = np.asarray(y, dtype=np.float64)
    if y.ndim == 2:
        y = y.mean(axis=0)
    if y.ndim != 1:
        raise ValueError(f"expected 1-D or (channels, samples) audio, got shape {y.shape}")
    return y


def _loud_section(y: np.ndarray, sr: int, max_samples: int | None = None) -> np.ndarray:
    """The contiguous loud part of the note around its loudest frame.

    Parameters
    ----------
    y : ndarray, shape (n_samples,)
    sr : int
        Sample rate in Hz.
    max_samples : int, optional
        Longest section; default ``_MAX_SECTION_S`` seconds.

    Returns
    -------
    ndarray, shape (n_section,)
        At most ``max_samples`` samples of ``y``.
    """
    hop = 256
    if len(y) < 4 * hop:
        return y
    rms = librosa.feature.rms(y=y, frame_length=1024, hop_length=hop, center=True)[0]
    rms_db = 20.0 * np.log10(np.maximum(rms, 1e-12))
    loud = rms_db >= rms_db.max() - _SECTION_DB
    peak = int(np.argmax(rms_db))
    start = peak
    while start > 0 and loud[start - 1]:
        start -= 1
    stop = peak
    while stop < len(loud) - 1 and loud[stop + 1]:
        stop += 1
    max_frames = max(1, int((max_samples or _MAX_SECTION_S * sr) / hop))
    if stop - start + 1 > max_frames:
        # Keep the most energetic window of max_frames frames.
        energy = np.convolve(rms[start : stop + 1] ** 2, np.ones(max_frames), mode="valid")
        start += int(np.argmax(energy))
        stop = start + max_frames - 1
    return y[start * hop : min(len(y), (stop + 1) * hop)]


def _spectrum_partials(section: np.ndarray, sr: int, fmin_hz: float) -> tuple[_Partials, np.ndarray, float]:
    """Find the partials of a section by peak picking on a long zero-padded FFT.

    Parameters
    ----------
    section : ndarray, shape (n,)
    sr : int
        Sample rate in Hz.
    fmin_hz : float
        Peaks below ``0.9 * fmin_hz`` are ignored.

    Returns
    -------
    partials : _Partials
    spec_db : ndarray, shape (n_bins,)
        Magnitude spectrum in dB on the zero-padded grid (for cepstrum).
    bin_hz : float
        Spacing of the zero-padded grid in Hz.
    """
    n = len(section)
    window = scipy.signal.get_window("hann", n, fftbins=True)
    n_fft = int(2 ** np.ceil(np.log2(n * _ZERO_PAD)))
    mag = np.abs(np.fft.rfft(section * window, n=n_fft))
    spec_db = 20.0 * np.log10(np.maximum(mag, 1e-12 * max(mag.max(), 1e-30)))
    bin_hz = sr / n_fft
    resolution_hz = 2.0 * sr / n  # Hann main-lobe half width

    # Noise floor: running median over a band several main lobes wide, computed
    # on a decimated grid (one value per unpadded bin) for speed.
    step = max(1, n_fft // max(n, 1))
    coarse_db = spec_db[::step]
    floor_width_hz = max(12.0 * resolution_hz, 25.0)
    size = max(5, int(round(floor_width_hz / (bin_hz * step))) | 1)
    coarse_floor = scipy.ndimage.median_filter(coarse_db, size=size, mode="nearest")
    floor_db = np.interp(np.arange(len(spec_db)), np.arange(len(coarse_db)) * step, coarse_floor)

    lo_bin = max(1, int(0.9 * fmin_hz / bin_hz))
    hi_bin = len(spec_db) - 2
    top_db = spec_db[lo_bin:hi_bin].max()
    idx, _ = scipy.signal.find_peaks(spec_db[lo_bin:hi_bin], height=top_db - _PEAK_DYNAMIC_RANGE_DB)
    idx = idx + lo_bin
    prom = spec_db[idx] - floor_db[idx]
    keep = prom >= _PEAK_MIN_PROMINENCE_DB
    idx, prom = idx[keep], prom[keep]
    # Strongest first; drop peaks on the skirt of a stronger one (window side
    # lobes, envelope sidebands), then keep the strongest _MAX_PEAKS.
    order = np.argsort(spec_db[idx])[::-1]
    idx, prom = idx[order], prom[order]
    min_sep_bins = _SIDEBAND_SEPARATION * resolution_hz / bin_hz
    accepted: list[int] = []
    for i in range(len(idx)):
        if all(abs(idx[i] - idx[j]) > min_sep_bins for j in accepted):
            accepted.append(i)
            if len(accepted) == _MAX_PEAKS:
                break
    idx, prom = idx[accepted], prom[accepted]
    # Parabolic interpolation on the dB magnitude.
    a, b, c = spec_db[idx - 1], spec_db[idx], spec_db[idx + 1]
    denom = a - 2.0 * b + c
    delta = np.where(np.abs(denom) > 1e-12, 0.5 * (a - c) / np.where(denom == 0, 1.0, denom), 0.0)
    freq = (idx + np.clip(delta, -0.5, 0.5)) * bin_hz
    level_db = b - 0.25 * (a - c) * delta
    order = np.argsort(freq)
    freq, prom, level_db = freq[order], prom[order], level_db[order]
    # Weight: loudness relative to the strongest peak, compressed, and tied to prominence.
    rel_db = level_db - (level_db.max() if len(level_db) else 0.0)
    weight = np.clip(np.minimum(prom - _PEAK_MIN_PROMINENCE_DB + 6.0, rel_db + 60.0), 0.0, 40.0)
    return _Partials(freq, weight, prom, resolution_hz), spec_db, bin_hz


def _candidate_pool(partials: _Partials, fmin_hz: float, fmax_hz: float, extra_hz: list[float]) -> np.ndarray:
    """Candidate fundamentals from peaks, subharmonics, spacings and other trackers.

    Returns
    -------
    ndarray, shape (n_candidates,)
        Candidate f0 in Hz within ``[fmin_hz, fmax_hz]``, merged within 0.2 %.
    """
    f = partials.freq_hz
    strongest = np.argsort(partials.weight)[::-1][:_N_SOURCE_PEAKS]
    cands = [f[i] / k for i in strongest for k in range(1, _MAX_SUBHARMONIC + 1)]
    strong = np.sort(f[np.argsort(partials.weight)[::-1][:12]])
    if len(strong) >= 2:
        spacing = np.diff(strong)
        cands += list(spacing) + list(spacing / 2.0)
        cands.append(float(np.median(spacing)))
    cands += [x for x in extra_hz if np.isfinite(x)]
    cands = np.asarray(cands, dtype=float)
    cands = cands[(cands >= fmin_hz) & (cands <= fmax_hz)]
    if len(cands) == 0:
        return cands
    cands = np.sort(cands)
    merged = [cands[0]]
    for x in cands[1:]:
        if x > merged[-1] * 1.002:
            merged.append(x)
    return np.asarray(merged)


def _harmonic_numbers(freq_hz: np.ndarray, f0_hz: float, inharmonicity: float) -> np.ndarray:
    """Continuous harmonic numbers of partials under a stiff-string model.

    Partial ``k`` of the model sits at ``k · f0 · sqrt(1 + B k²)``; ``B = 0`` is
    a harmonic series.

    Parameters
    ----------
    freq_hz : ndarray, shape (n,)
    f0_hz : float
    inharmonicity : float
        ``B`` (dimensionless, >= 0).

    Returns
    -------
    ndarray, shape (n,)
    """
    x = freq_hz / f0_hz
    if inharmonicity <= 0.0:
        return x
    b = inharmonicity
    return np.sqrt((np.sqrt(1.0 + 4.0 * b * x**2) - 1.0) / (2.0 * b))


def _fit(freq_hz: np.ndarray, k: np.ndarray, weight: np.ndarray) -> tuple[float, float]:
    """Weighted least-squares fit of ``p_k = k f0 sqrt(1 + B k²)``.

    ``B`` is fitted (and clipped to ``[0, _MAX_INHARMONICITY]``) only with three
    or more distinct harmonic numbers; the higher partials weigh more (their
    position divided by ``k`` is more precise).

    Returns
    -------
    f0_hz : float
    inharmonicity : float
    """
    b = 0.0
    if len(np.unique(k)) >= 3:
        # p² / k² = f0² + f0² B k²: a line in k².
        xs, ys, ws = k**2, (freq_hz / k) ** 2, weight * k**2 + 1e-9
        xm, ym = np.average(xs, weights=ws), np.average(ys, weights=ws)
        var = np.average((xs - xm) ** 2, weights=ws)
        if var > 0:
            slope = np.average((xs - xm) * (ys - ym), weights=ws) / var
            intercept = ym - slope * xm
            if intercept > 0:
                b = float(np.clip(slope / intercept, 0.0, _MAX_INHARMONICITY))
    g = k * np.sqrt(1.0 + b * k**2)
    w = weight + 1e-9
    return float(np.sum(w * freq_hz * g) / np.sum(w * g**2)), b


def _score(f0_hz: float, partials: _Partials) -> tuple[float, float, np.ndarray]:
    """Harmonic-sieve score of one candidate, refined.

    Parameters
    ----------
    f0_hz : float
        Candidate fundamental in Hz.
    partials : _Partials

    Returns
    -------
    score : float
        Explained weight share minus ``_MISSING_WEIGHT`` × missing-partial share
        minus ``_BELOW_WEIGHT`` × share of absent harmonics below the lowest one.
        ``-1`` when the candidate explains nothing.
    refined_hz : float
        Frequency of harmonic 1 of the fitted (possibly slightly stiff) series.
    explained : ndarray of bool, shape (n_peaks,)
    """
    f, w = partials.freq_hz, partials.weight
    total = w.sum()
    f0, b = f0_hz, 0.0

    def sieve(f0: float, b: float) -> tuple[np.ndarray, np.ndarray]:
        kc = _harmonic_numbers(f, f0, b)
        k = np.maximum(np.round(kc), 1.0)
        tol = max(_HARMONIC_TOL, 0.75 * partials.resolution_hz / f0)
        return k, (np.abs(kc - k) <= tol) & (kc >= 0.97)

    # Refine on the low harmonics first, so that a slightly-off candidate (or a
    # stiff string) does not mis-number the high ones; later passes use more.
    for h_max in (4.0, 8.0, 16.0, 32.0, np.inf, np.inf):
        k, explained = sieve(f0, b)
        fit = explained & (k <= h_max)
        if not fit.any():
            continue
        f0, b = _fit(f[fit], k[fit], w[fit])
        if h_max <= 4.0:
            b = 0.0
    k, explained = sieve(f0, b)
    if not explained.any():
        return -1.0, f0_hz, explained
    share = float(w[explained].sum() / total) if total > 0 else 0.0
    # Harmonics predicted between the lowest and highest explained partial.
    k_exp = k[explained].astype(int)
    k_lo, k_hi = k_exp.min(), k_exp.max()
    n_pred = k_hi - k_lo + 1
    missing = (n_pred - len(np.unique(k_exp))) / n_pred
    # Parsimony: a fundamental whose lowest harmonics are all absent is less likely.
    below = (k_lo - 1) / k_hi
    return share - _MISSING_WEIGHT * missing - _BELOW_WEIGHT * below, f0 * np.sqrt(1.0 + b), explained


def _yin_vote(y: np.ndarray, sr: int, fmin_hz: float, fmax_hz: float) -> float:
    """Median ``librosa.yin`` f0 in Hz over the section (a period-based vote)."""
    frame = 2048 if sr <= 24000 else 4096
    if len(y) < frame:
        return float("nan")
    fmin = max(fmin_hz, 2.0 * sr / frame)
    fmax = min(fmax_hz, sr / 4.0)
    if fmin >= fmax:
        return float("nan")
    f0 = librosa.yin(y, fmin=fmin, fmax=fmax, sr=sr, frame_length=frame, hop_length=frame // 2, center=False)
    return float(np.median(f0)) if len(f0) else float("nan")


def _cepstrum_vote(spec_db: np.ndarray, bin_hz: float, fmin_hz: float, fmax_hz: float) -> float:
    """f0 in Hz at the highest real-cepstrum peak of the log spectrum."""
    n_fft = 2 * (len(spec_db) - 1)
    sr = bin_hz * n_fft
    ceps = np.fft.irfft(spec_db, n=n_fft)
    q_lo = int(np.ceil(sr / fmax_hz))
    q_hi = min(int(sr / fmin_hz), n_fft // 2 - 1)
    if q_hi <= q_lo + 2:
        return float("nan")
    q = q_lo + int(np.argmax(ceps[q_lo:q_hi]))
    return sr / q


def _analyse(section: np.ndarray, sr: int, fmin_hz: float, fmax_hz: float) -> list[tuple[float, float, float]]:
    """Score every candidate fundamental of one section.

    Parameters
    ----------
    section : ndarray, shape (n,)
    sr : int
        Sample rate in Hz.
    fmin_hz, fmax_hz : float
        Range of fundamentals considered, in Hz.

    Returns
    -------
    list of (score, f0_hz, prominence_db)
        Distinct candidates (more than 24 cents apart), best score first, with
        the prominence of the strongest partial each explains; empty if none.
    """
    partials, spec_db, bin_hz = _spectrum_partials(section, sr, fmin_hz)
    if len(partials.freq_hz) == 0:
        return []
    extra = [_yin_vote(section, sr, fmin_hz, fmax_hz), _cepstrum_vote(spec_db, bin_hz, fmin_hz, fmax_hz)]
    scored: list[tuple[float, float, float]] = []
    for cand in _candidate_pool(partials, fmin_hz, fmax_hz, extra):
        score, refined, explained = _score(float(cand), partials)
        if score <= -1.0 or not (fmin_hz <= refined <= fmax_hz):
            continue
        scored.append((score, refined, float(partials.prominence_db[explained].max())))
    # Merge candidates that refined to the same f0; keep the higher score.
    scored.sort(key=lambda t: -t[0])
    unique: list[tuple[float, float, float]] = []
    for score, f0, prom in scored:
        if all(abs(np.log2(f0 / g)) > 0.02 for _, g, _ in unique):
            unique.append((score, f0, prom))
    return unique


def _framewise_f0(section: np.ndarray, sr: int, fmin_hz: float, fmax_hz: float) -> tuple[float, float] | None:
    """The median of the best f0 of :data:`_N_FRAMES` short frames, and the share of frames within
    :data:`_FRAME_AGREEMENT_CENTS` of it; ``None`` when the section is too short or no frame is pitched.

    A vibrato smears the partials of a long window (harmonic k spreads over k times
    the depth), so the long-window sieve can prefer a wrong candidate with
    little confidence (a 40-cent vibrato on a 330 Hz saw read as 3.6 kHz); each
    short frame sees a nearly steady pitch, and their median is the vibrato's centre.
    """
    frame = int(_FRAME_S * sr)
    if len(section) < 2 * frame:
        return None
    picks = []
    for start in np.linspace(0, len(section) - frame, _N_FRAMES).astype(int):
        found = _analyse(section[start : start + frame], sr, fmin_hz, fmax_hz)
        if found:
            picks.append(found[0][1])
    if not picks:
        return None
    cents = 1200.0 * np.log2(np.asarray(picks))
    centre = float(np.median(cents))
    agreement = float(np.sum(np.abs(cents - centre) <= _FRAME_AGREEMENT_CENTS)) / _N_FRAMES
    return float(2.0 ** (centre / 1200.0)), agreement


def estimate_pitch(y: np.ndarray, sr: int, fmin_hz: float = 30.0, fmax_hz: float = 4000.0) -> PitchEstimate:
    """Estimate the fundamental frequency of a one-shot note.

    Parameters
    ----------
    y : ndarray, shape (n_samples,) or (n_channels, n_samples)
        Audio, any scale; channels are averaged.
    sr : int
        Sample rate in Hz.
    fmin_hz, fmax_hz : float
        Range of fundamentals considered, in Hz.

    Returns
    -------
    PitchEstimate
        Best f0 (``None`` when unvoiced), up to six scored candidates, a
        confidence in [0, 1] and the voicing decision.
    """
    y = _to_mono(y)
    fmax_hz = min(fmax_hz, 0.45 * sr)
    unvoiced = PitchEstimate(None, (), 0.0, False)
    if len(y) < 64 or not np.any(np.isfinite(y)) or np.max(np.abs(y)) == 0.0:
        return unvoiced
    section = _loud_section(y, sr)
    unique = _analyse(section, sr, fmin_hz, fmax_hz)
    # A note whose pitch moves (vibrato, glide) smears the long spectrum: when
    # the evidence is weak, look again at a shorter, steadier stretch.
    short_n = int(_SHORT_SECTION_S * sr)
    if (not unique or unique[0][0] < _RETRY_BELOW_SCORE) and len(section) > 2 * short_n:
        short = _analyse(_loud_section(section, sr, short_n), sr, fmin_hz, fmax_hz)
        if short and (not unique or short[0][0] > unique[0][0]):
            unique = short
    if not unique:
        return unvoiced
    best_score, best_hz, best_prom = unique[0]

    lo, hi = _VOICED_PROMINENCE_DB
    pitched = float(np.clip((best_prom - lo) / (hi - lo), 0.0, 1.0))
    runner_up = unique[1][0] if len(unique) > 1 else 0.0
    margin = float(np.clip((best_score - runner_up) / 0.2, 0.0, 1.0))
    confidence = float(np.clip(pitched * (0.5 + 0.5 * margin) * np.clip(best_score, 0.0, 1.0), 0.0, 1.0))
    voiced = bool(pitched > 0.0 and best_score > 0.3)
    candidates = tuple((float(f), float(np.clip(s, 0.0, 1.0))) for s, f, _ in unique[:_MAX_CANDIDATES])
    if voiced and confidence < _FRAMEWISE_BELOW_CONFIDENCE:
        framed = _framewise_f0(section, sr, fmin_hz, fmax_hz)
        if framed is not None and framed[1] >= _MIN_FRAME_AGREEMENT and abs(np.log2(framed[0] / best_hz)) > 0.02:
            f0_hz, agreement = framed
            others = tuple(c for c in candidates if abs(np.log2(c[0] / f0_hz)) > 0.02)
            return PitchEstimate(f0_hz, ((f0_hz, agreement), *others)[:_MAX_CANDIDATES], agreement, True)
    return PitchEstimate(float(best_hz) if voiced else None, candidates, confidence, voiced)
