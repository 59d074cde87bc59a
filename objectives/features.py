"""Target analysis (once per target) and the fast per-candidate feature extractor.

The fitness runs once per candidate, right after a ~1 ms Pyo render, so its
feature extraction must cost a fraction of that.  :class:`Featurizer` is built
once for a given ``(sr, n_samples)`` and holds everything that does not depend
on the audio: a zero-padded input buffer per resolution with its strided frame
view, the periodic Hann window, mel filterbanks from :func:`librosa.filters.mel`
and the Parseval weights that turn a power spectrum into a frame's mean square.
A call then costs, per resolution: one copy, one window multiply, one batched
real FFT (:func:`scipy.fft.rfft`, ``workers=1``), one squared magnitude, a sum
over pooled frames and one small matrix product per band set, all float32,
with no Python loop over frames.  Pooling is done on the power spectrum
*before* the mel projection (the two are linear and commute), so a long pool
makes the matrix product almost free.

:func:`analyse` runs the same featurizer on the target, so a candidate
identical to the target yields bit-identical features (distance exactly 0).

Default resolutions (chosen by measurement, see ``experiments/noise_floor.py``
and the module docstring of :mod:`objectives.distance`):

* ``freq``: n_fft 1024 / hop 512 (46 ms window), power pooled over blocks of
  up to 1 s, projected on 64 mel bands (``freq64``: harmonic positions, pitch)
  and on 16 mel bands (``freq16``: the smooth spectral envelope, i.e. filter
  cutoff and type).  A 2048-point STFT with 128 bands was measured too: twice
  the FFT cost and worse noise robustness.
* ``time``: n_fft 256 / hop 128 (11.6 ms window, 5.8 ms hop), 12 mel bands
  pooled over 8 frames (46 ms) (``time12``: spectral change over the note),
  and the RMS envelope per 5.8 ms frame, from the same power spectra, its mean
  square smoothed by a 4-frame (23 ms) moving average.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft
from numpy.lib.stride_tricks import sliding_window_view

__all__ = ["Resolution", "DEFAULT_RESOLUTIONS", "Featurizer", "Features", "analyse", "FLOOR_DB", "ENVELOPE_TERM"]

FLOOR_DB = 60.0
"""Energy floor, in dB below the target's maximum of each term (mel power, or frame mean square)."""

ENVELOPE_TERM = "envelope"
"""Name of the RMS-envelope term."""


@dataclass(frozen=True)
class Resolution:
    """One STFT resolution and what is read off its power spectra.

    Parameters
    ----------
    name : str
        Short name; a band set's term is named ``f"{name}{n_mels}"``.
    n_fft : int
        FFT and (periodic Hann) window length in samples.
    hop : int
        Hop between frames in samples.
    pool_s : float
        Duration in seconds of the blocks of consecutive frames whose power is
        summed before the mel projection (rounded to whole frames, at least 1,
        at most the number of frames).  Pooling averages the noise realisation
        out of the spectrum.
    bands : tuple of (int, str)
        Band sets: ``(n_mels, weight_name)``; ``weight_name`` is the field of
        :class:`objectives.distance.FitnessWeights` that weights the term.
    envelope : bool
        Whether this resolution also yields the RMS envelope (per frame, not
        pooled).  Exactly one resolution should.
    envelope_smooth : int
        Length in frames of the moving average applied to the frame mean
        square (1: none).  Averages the noise realisation out of the envelope.
    """

    name: str
    n_fft: int
    hop: int
    pool_s: float
    bands: tuple[tuple[int, str], ...]
    envelope: bool = False
    envelope_smooth: int = 1

    def pool_frames(self, sr: int) -> int:
        """Pool size in frames at sample rate ``sr`` (before capping at the frame count)."""
        return max(1, int(round(self.pool_s * sr / self.hop)))


DEFAULT_RESOLUTIONS: tuple[Resolution, ...] = (
    Resolution("freq", n_fft=1024, hop=512, pool_s=1.0, bands=((64, "spectral"), (16, "coarse"))),
    Resolution("time", n_fft=256, hop=128, pool_s=8 * 128 / 22050, bands=((12, "time"),), envelope=True, envelope_smooth=4),
)
"""The resolutions :func:`analyse` uses unless told otherwise."""


class _Plan:
    """Buffers and constants of one resolution for one ``(sr, n_samples)``."""

    def __init__(self, res: Resolution, sr: int, n_samples: int) -> None:
        import librosa  # noqa: PLC0415 - slow import, only needed at construction

        self.res = res
        n_fft, hop = res.n_fft, res.hop
        self.n_env = 1 + n_samples // hop  # librosa's frame count with center=True
        # Even blocks close to pool_s: a 44-frame note with a 43-frame pool is one block of 44.
        self.n_blocks = max(1, int(round(self.n_env / res.pool_frames(sr))))
        self.pool = -(-self.n_env // self.n_blocks)
        n_frames = self.n_blocks * self.pool
        self.offset = n_fft // 2  # centred frames, zero padded at both ends
        self.buf = np.zeros((n_frames - 1) * hop + n_fft, dtype=np.float32)
        self.n_copy = min(n_samples, self.buf.shape[0] - self.offset)
        self.frames = sliding_window_view(self.buf, n_fft)[::hop]  # (n_frames, n_fft), a view
        self.window = np.hanning(n_fft + 1)[:-1].astype(np.float32)  # periodic Hann, as librosa
        self.windowed = np.empty((n_frames, n_fft), dtype=np.float32)
        n_bins = n_fft // 2 + 1
        # The spectrum is squared in its interleaved (re, im) float32 view and projected
        # without first adding re² + im²: each weight row is repeated for re and im.
        self.mels = [
            np.ascontiguousarray(np.repeat(librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels).T, 2, axis=0), dtype=np.float32)
            for n_mels, _ in res.bands
        ]  # each (2 * n_bins, n_mels)
        self.term_names = [f"{res.name}{n_mels}" for n_mels, _ in res.bands]
        self.weight_names = [w for _, w in res.bands]
        if res.envelope:
            # Parseval: sum_n (w x)^2 = (|X_0|^2 + 2 sum_k |X_k|^2 + |X_N/2|^2) / N; divided by
            # sum w^2 it is the window-weighted mean square of the frame (amplitude^2).
            parseval = np.full(n_bins, 2.0)
            parseval[0] = parseval[-1] = 1.0
            parseval /= n_fft * float(np.sum(self.window.astype(np.float64) ** 2))
            self.parseval = np.repeat(parseval, 2).astype(np.float32)  # (2 * n_bins,)
            self.smooth = np.full(res.envelope_smooth, 1.0 / res.envelope_smooth, dtype=np.float32)
            self.term_names.append(ENVELOPE_TERM)
            self.weight_names.append(ENVELOPE_TERM)

    def __call__(self, y: np.ndarray, out: list) -> None:
        n = min(self.n_copy, y.shape[0])
        self.buf[self.offset : self.offset + n] = y[:n]
        if n < self.n_copy:
            self.buf[self.offset + n : self.offset + self.n_copy] = 0.0
        np.multiply(self.frames, self.window, out=self.windowed)
        spec = scipy.fft.rfft(self.windowed, axis=1, workers=1)  # complex64, (n_frames, n_bins)
        sq = spec.view(np.float32)  # (n_frames, 2 * n_bins): re, im interleaved
        np.square(sq, out=sq)  # re², im²
        pooled = sq if self.pool == 1 else sq.reshape(self.n_blocks, self.pool, -1).sum(axis=1)
        for mel in self.mels:
            out.append(pooled @ mel)
        if self.res.envelope:
            env = sq[: self.n_env] @ self.parseval
            out.append(env if self.smooth.shape[0] == 1 else np.convolve(env, self.smooth, mode="same"))


class Featurizer:
    """Precomputed multi-resolution analysis of audio of one length and rate.

    Not thread-safe (it reuses its buffers); give each thread or process its
    own.  Pickling sends only the configuration; buffers are rebuilt on load.

    Parameters
    ----------
    sr : int
        Sample rate in Hz.
    n_samples : int
        Length of the audio it analyses; shorter input is zero-padded, longer
        input is truncated.
    resolutions : tuple of Resolution
        The STFT resolutions.

    Attributes
    ----------
    term_names : tuple of str
        Names of the arrays :meth:`powers` returns, in order (e.g.
        ``("freq64", "freq16", "time12", "envelope")``).
    weight_names : tuple of str
        For each term, the :class:`~objectives.distance.FitnessWeights` field weighting it.
    """

    def __init__(self, sr: int, n_samples: int, resolutions: tuple[Resolution, ...] = DEFAULT_RESOLUTIONS) -> None:
        if n_samples < 1:
            raise ValueError("n_samples must be positive")
        if sum(r.envelope for r in resolutions) != 1:
            raise ValueError("exactly one resolution must yield the envelope")
        self.sr = int(sr)
        self.n_samples = int(n_samples)
        self.resolutions = tuple(resolutions)
        self._plans = [_Plan(r, self.sr, self.n_samples) for r in self.resolutions]
        self.term_names = tuple(n for p in self._plans for n in p.term_names)
        self.weight_names = tuple(n for p in self._plans for n in p.weight_names)
        env_plan = next(p for p in self._plans if p.res.envelope)
        self.envelope_hop_s = env_plan.res.hop / self.sr

    def __getstate__(self) -> dict:
        return {"sr": self.sr, "n_samples": self.n_samples, "resolutions": self.resolutions}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["sr"], state["n_samples"], state["resolutions"])

    def powers(self, y: np.ndarray) -> list[np.ndarray]:
        """Linear band powers of ``y``, one array per term.

        Parameters
        ----------
        y : ndarray, shape (n,), float32
            Mono audio; zero-padded or truncated to ``n_samples``.

        Returns
        -------
        list of ndarray, float32, in the order of :attr:`term_names`
            Mel terms: shape (n_blocks, n_mels), mel-band power (amplitude²,
            summed over the frames of a pooled block).  Envelope: shape
            (1 + n_samples // hop,), the frame mean square (RMS², amplitude²).
            The arrays are freshly allocated.
        """
        out: list[np.ndarray] = []
        for plan in self._plans:
            plan(y, out)
        return out


@dataclass(frozen=True)
class Features:
    """Everything a distance needs about one target, computed once.

    Attributes
    ----------
    sr : int
        Sample rate in Hz.
    n_samples : int
        Target length in samples.
    featurizer : Featurizer
        The extractor (built for ``sr`` and ``n_samples``) to apply to candidates.
    powers : tuple of ndarray, float32
        The target's :meth:`Featurizer.powers`, read-only.
    floors : tuple of float
        Per term: the target's largest value of that term times ``10**(-floor_db/10)``
        (amplitude²); added before the log so that differences far below the
        target's loudest band (or frame) do not count.
    levels_db : tuple of ndarray, float32
        Per term: ``10 log10(power + floor)`` in dB (for the envelope, the RMS in dB re 1).
    floor_db : float
        The floors' distance below the target's maxima, dB.
    """

    sr: int
    n_samples: int
    featurizer: Featurizer
    powers: tuple[np.ndarray, ...]
    floors: tuple[float, ...]
    levels_db: tuple[np.ndarray, ...]
    floor_db: float = FLOOR_DB

    @property
    def term_names(self) -> tuple[str, ...]:
        """Names of the terms, as :attr:`Featurizer.term_names`."""
        return self.featurizer.term_names

    @property
    def duration_s(self) -> float:
        """Target duration in seconds."""
        return self.n_samples / self.sr

    def level_db(self, term: str) -> np.ndarray:
        """The target's level in dB of one term (e.g. ``"freq64"``, ``"envelope"``)."""
        return self.levels_db[self.term_names.index(term)]

    @property
    def rms_db(self) -> np.ndarray:
        """RMS envelope in dB re amplitude 1, shape (1 + n_samples // hop,), floored."""
        return self.level_db(ENVELOPE_TERM)

    @property
    def envelope_hop_s(self) -> float:
        """Hop of the RMS envelope in seconds."""
        return self.featurizer.envelope_hop_s


def analyse(
    y: np.ndarray,
    sr: int,
    resolutions: tuple[Resolution, ...] = DEFAULT_RESOLUTIONS,
    floor_db: float = FLOOR_DB,
) -> Features:
    """Analyse a target once.

    Parameters
    ----------
    y : ndarray, shape (n_samples,)
        Mono target audio (converted to float32), finite.
    sr : int
        Sample rate in Hz.
    resolutions : tuple of Resolution
        STFT resolutions.
    floor_db : float
        Energy floor in dB below the target's maximum of each term.

    Returns
    -------
    Features

    Raises
    ------
    ValueError
        If ``y`` is empty or has NaN or infinite samples.
    """
    y = np.ascontiguousarray(y, dtype=np.float32).reshape(-1)
    if y.size == 0 or not np.all(np.isfinite(y)):
        raise ValueError("target audio is empty or contains NaN or infinite samples")
    feat = Featurizer(sr, y.shape[0], resolutions)
    powers = feat.powers(y)
    # A silent target still needs a positive floor; 1e-12 is -120 dB re full scale.
    floors = tuple(max(float(p.max()) * 10.0 ** (-floor_db / 10.0), 1e-12) for p in powers)
    levels = tuple((10.0 * np.log10(p + np.float32(f))).astype(np.float32) for p, f in zip(powers, floors))
    for p in powers:
        p.setflags(write=False)
    return Features(
        sr=int(sr),
        n_samples=int(y.shape[0]),
        featurizer=feat,
        powers=tuple(powers),
        floors=floors,
        levels_db=levels,
        floor_db=float(floor_db),
    )
