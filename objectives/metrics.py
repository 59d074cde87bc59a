"""Evaluation metrics, kept apart from the fitness.

A benchmark must not be judged by the quantity its optimiser minimised
(DESIGN §5.6), so these metrics share no code with :mod:`objectives.distance`:
different transforms (MFCC, linear-frequency STFT), no pooling, no floor
relative to the target.  They run once per match, so they favour clarity over
speed.

All functions take two mono signals at the same rate; the shorter one is
zero-padded to the longer one's length.  The second argument is the reference
(the target) where a metric is not symmetric.
"""

from __future__ import annotations

import numpy as np

__all__ = ["mfcc_distance", "log_spectral_distance", "multires_stft_distance", "multiscale_spectral_distance", "MSS_SCALES", "all_metrics"]

_EPS_POWER = 1e-10
"""Power floor (−100 dB re full scale) of the log-spectral distance."""

_EPS_MAG = 1e-7
"""Magnitude floor of the multi-resolution STFT log term (as the naive fitness of DESIGN §5.7)."""

MSS_SCALES: tuple[tuple[float, int], ...] = ((0.010, 32), (0.025, 64), (0.100, 128))
"""(window in s, mel bands) of the multi-scale spectral distance (Hayes et al. 2025)."""

_MSS_EPS_MEL = 1e-5
"""Floor (−100 dB re a full-scale sine's bin magnitude ~ 1) added to the mel magnitudes before the log."""


def _pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a, dtype=np.float32).reshape(-1)
    b = np.asarray(b, dtype=np.float32).reshape(-1)
    if a.size == 0 or b.size == 0:
        raise ValueError("empty signal")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError("signal contains NaN or infinite samples")
    n = max(a.size, b.size)
    if a.size < n:
        a = np.pad(a, (0, n - a.size))
    if b.size < n:
        b = np.pad(b, (0, n - b.size))
    return a, b


def _power(y: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    import librosa  # noqa: PLC0415

    return np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop, window="hann", center=True)) ** 2


def mfcc_distance(a: np.ndarray, b: np.ndarray, sr: int, n_mfcc: int = 13, n_fft: int = 2048, hop: int = 512) -> float:
    """Mean over frames of the Euclidean distance between MFCC vectors.

    The MFCCs are librosa's defaults (128 mel bands, power → dB, DCT-II
    orthonormal), 13 coefficients including c0, as in SpiegeLib's MFCC
    evaluation, so the numbers are of the same kind as the ones published with it.

    Parameters
    ----------
    a, b : ndarray, shape (n,)
        Mono signals at ``sr``.
    sr : int
        Sample rate in Hz.
    n_mfcc : int
        Number of coefficients.
    n_fft, hop : int
        STFT size and hop in samples.

    Returns
    -------
    float
        ``>= 0``, symmetric, 0 for identical signals (MFCC units).
    """
    import librosa  # noqa: PLC0415

    a, b = _pair(a, b)
    ma = librosa.feature.mfcc(y=a, sr=sr, n_mfcc=n_mfcc, n_fft=n_fft, hop_length=hop)
    mb = librosa.feature.mfcc(y=b, sr=sr, n_mfcc=n_mfcc, n_fft=n_fft, hop_length=hop)
    return float(np.mean(np.sqrt(np.sum((ma.astype(np.float64) - mb) ** 2, axis=0))))


def log_spectral_distance(a: np.ndarray, b: np.ndarray, sr: int, n_fft: int = 2048, hop: int = 512) -> float:
    """Log-spectral distance (LSD) in dB.

    ``mean over frames of sqrt(mean over bins of (10 log10(P_a / P_b))²)`` with
    power spectra ``P`` floored at 1e-10 (−100 dB).

    Parameters
    ----------
    a, b : ndarray, shape (n,)
        Mono signals at ``sr``.
    sr : int
        Sample rate in Hz (unused by the formula; kept for a uniform signature).
    n_fft, hop : int
        STFT size and hop in samples.

    Returns
    -------
    float
        ``>= 0`` dB, symmetric, 0 for identical signals.
    """
    a, b = _pair(a, b)
    la = 10.0 * np.log10(_power(a, n_fft, hop).astype(np.float64) + _EPS_POWER)
    lb = 10.0 * np.log10(_power(b, n_fft, hop).astype(np.float64) + _EPS_POWER)
    return float(np.mean(np.sqrt(np.mean((la - lb) ** 2, axis=0))))


def multires_stft_distance(
    a: np.ndarray, b: np.ndarray, sr: int, fft_sizes: tuple[int, ...] = (512, 1024, 2048)
) -> float:
    """Multi-resolution STFT distance: spectral convergence + log-magnitude L1.

    For each FFT size ``N`` (hop ``N/4``, Hann window):
    ``|| |A| - |B| ||_F / || |B| ||_F + mean | ln(|A| + 1e-7) - ln(|B| + 1e-7) |``,
    averaged over the sizes (the auxiliary loss of Parallel WaveGAN / DDSP).

    Parameters
    ----------
    a : ndarray, shape (n,)
        Mono candidate at ``sr``.
    b : ndarray, shape (n,)
        Mono reference (target) at ``sr``: the spectral convergence is relative
        to its magnitude, so the metric is not symmetric.
    sr : int
        Sample rate in Hz (unused by the formula; kept for a uniform signature).
    fft_sizes : tuple of int
        FFT sizes in samples.

    Returns
    -------
    float
        ``>= 0``, 0 for identical signals.
    """
    a, b = _pair(a, b)
    total = 0.0
    for n_fft in fft_sizes:
        ma = np.sqrt(_power(a, n_fft, n_fft // 4).astype(np.float64))
        mb = np.sqrt(_power(b, n_fft, n_fft // 4).astype(np.float64))
        ref = float(np.linalg.norm(mb))
        sc = float(np.linalg.norm(ma - mb)) / ref if ref > 0 else float(np.linalg.norm(ma) > 0)
        log_mag = float(np.mean(np.abs(np.log(ma + _EPS_MAG) - np.log(mb + _EPS_MAG))))
        total += sc + log_mag
    return total / len(fft_sizes)


def multiscale_spectral_distance(a: np.ndarray, b: np.ndarray, sr: int, scales: tuple[tuple[float, int], ...] = MSS_SCALES) -> float:
    """Multi-scale spectral distance ("MSS") of Hayes, Saitis and Fazekas (ISMIR 2025).

    The L1 distance of log-mel spectrograms at three scales: windows of 10, 25
    and 100 ms with 32, 64 and 128 mel bands.  The choices the paper leaves
    open are made here as follows:

    - window: Hann of ``round(window_s * sr)`` samples, FFT of the same size,
      hop a quarter of the window (2.5, 6.25, 25 ms), frames centred
      (librosa's ``center=True``, zero padding);
    - mel: librosa's Slaney-normalised filterbank from 0 Hz to ``sr / 2``,
      applied to the STFT *magnitude* (``power=1``);
    - log: natural log of ``mel + 1e-5`` (an absolute floor, about −100 dB,
      not relative to the target, so the metric shares nothing with the fitness);
    - averaging: the mean absolute difference over every (band, frame) cell of
      a scale, then the plain mean of the three scales.

    Parameters
    ----------
    a, b : ndarray, shape (n,)
        Mono signals at ``sr`` (the shorter one is zero-padded).
    sr : int
        Sample rate in Hz; compute it at the target's own rate.
    scales : tuple of (float, int)
        ``(window_s, n_mels)`` pairs.

    Returns
    -------
    float
        ``>= 0`` (nepers of mel magnitude), symmetric, 0 for identical signals.
    """
    import librosa  # noqa: PLC0415

    a, b = _pair(a, b)
    total = 0.0
    for window_s, n_mels in scales:
        n_fft = max(16, int(round(window_s * sr)))
        hop = max(1, n_fft // 4)
        logs = []
        for y in (a, b):
            mel = librosa.feature.melspectrogram(
                y=y, sr=sr, n_fft=n_fft, hop_length=hop, win_length=n_fft, window="hann", center=True,
                power=1.0, n_mels=n_mels, fmin=0.0, fmax=sr / 2.0,
            )
            logs.append(np.log(mel.astype(np.float64) + _MSS_EPS_MEL))
        total += float(np.mean(np.abs(logs[0] - logs[1])))
    return total / len(scales)


def all_metrics(candidate: np.ndarray, target: np.ndarray, sr: int) -> dict[str, float]:
    """Every metric of this module, by name: ``mfcc``, ``lsd_db``, ``mrstft``, ``mss``."""
    return {
        "mfcc": mfcc_distance(candidate, target, sr),
        "lsd_db": log_spectral_distance(candidate, target, sr),
        "mrstft": multires_stft_distance(candidate, target, sr),
        "mss": multiscale_spectral_distance(candidate, target, sr),
    }
